package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/custody/custody/events/eventlog"
)

// testIdentity: a log that knows its identity gives a non-zero one, the
// same on every call (also to concurrent first callers), and another log
// has another.
func testIdentity(t *testing.T, a, b Harness) {
	ia, ok := a.Log.(eventlog.Identifier)
	if !ok {
		t.Fatalf("%T does not implement eventlog.Identifier", a.Log)
	}
	ib := b.Log.(eventlog.Identifier)
	ctx := context.Background()
	ids := make([]eventlog.Identity, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { ids[i], errs[i] = ia.Identity(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Identity call %d: %v", i, err)
		}
		if ids[i].IsZero() || ids[i].Kind == "" || ids[i].ID == "" {
			t.Fatalf("Identity call %d: %+v names no log", i, ids[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("concurrent Identity calls disagree: %v and %v", ids[0], ids[i])
		}
	}
	again, err := ia.Identity(ctx)
	if err != nil || again != ids[0] {
		t.Fatalf("Identity changed: %v, then %v (%v)", ids[0], again, err)
	}
	other, err := ib.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if other == ids[0] {
		t.Fatalf("two logs have the same identity %v", other)
	}
}
