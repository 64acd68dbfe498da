package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/events"
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

// testCopier: a log that takes copied events keeps the recording times
// given, in the append's result and in every read, recognises a retry, and
// refuses times that do not match the events.
func testCopier(t *testing.T, h Harness, cp eventlog.Copier) {
	ctx := context.Background()
	at := []time.Time{
		time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	evs := []events.Event{Event(1), Event(2)}
	res, err := cp.AppendCopied(ctx, "customer-corp1-copied", eventlog.ExpectNoStream, at, evs...)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, recs []events.Recorded) {
		t.Helper()
		if len(recs) != len(at) {
			t.Fatalf("%s: %d events, want %d", what, len(recs), len(at))
		}
		for i, r := range recs {
			if !r.RecordedAt.Equal(at[i]) {
				t.Fatalf("%s: event %d recorded at %s, want the source's %s", what, i, r.RecordedAt, at[i])
			}
		}
	}
	check("append result", res.Events)
	stored, err := h.Log.ReadStream(ctx, "customer-corp1-copied", 0)
	if err != nil {
		t.Fatal(err)
	}
	check("ReadStream", stored)
	all, err := h.Log.ReadAll(ctx, events.Start, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var mine []events.Recorded
	for _, r := range all {
		if r.Stream == "customer-corp1-copied" {
			mine = append(mine, r)
		}
	}
	check("ReadAll", mine)
	again, err := cp.AppendCopied(ctx, "customer-corp1-copied", eventlog.ExpectNoStream, at, evs...)
	if err != nil {
		t.Fatalf("retry of a copied append: %v", err)
	}
	check("retry", again.Events)
	one := Event(5)
	one.Subject, one.PII = "customer/corp1/copied", []byte(`{"name":"x"}`)
	single, err := cp.AppendCopied(ctx, "customer-corp1-copied", eventlog.ExpectVersion(1), at[1:], one)
	if err != nil {
		t.Fatalf("copy of one event: %v", err)
	}
	if got := single.Events; len(got) != 1 || !got[0].RecordedAt.Equal(at[1]) || got[0].StreamVersion != 2 || string(got[0].PII) != `{"name":"x"}` {
		t.Fatalf("copy of one event: %+v", got)
	}
	if _, err := cp.AppendCopied(ctx, "customer-corp1-copied", eventlog.ExpectVersion(2), at[:1], Event(3), Event(4)); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Fatalf("one time for two events: %v, want ErrInvalidEvent", err)
	}
}
