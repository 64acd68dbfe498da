package logbinding_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/custody/custody/adapters/pg/logbinding"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/internal/pgmigrate"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestCheckBindsOnceThenRefusesAnotherLog(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pgmigrate.Run(ctx, pool, logbinding.Migrations()); err != nil {
		t.Fatal(err)
	}
	pg := eventlog.Identity{Kind: "postgresql", ID: "11111111-1111-1111-1111-111111111111"}
	kd := eventlog.Identity{Kind: "kurrentdb", ID: "22222222-2222-2222-2222-222222222222"}

	if _, ok, err := logbinding.Current(ctx, pool); err != nil || ok {
		t.Fatalf("a new database has a binding: %v, %v", ok, err)
	}
	// Concurrent first starts: exactly one binds, all agree.
	var wg sync.WaitGroup
	var mu sync.Mutex
	binds := 0
	for range 8 {
		wg.Go(func() {
			bound, err := logbinding.Check(ctx, pool, pg)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if bound {
				binds++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if binds != 1 {
		t.Fatalf("%d of 8 concurrent first checks bound the database, want 1", binds)
	}
	if bound, err := logbinding.Check(ctx, pool, pg); err != nil || bound {
		t.Fatalf("check against the bound log: %v, %v", bound, err)
	}

	// Another log is refused, saying which logs and what to run.
	_, err := logbinding.Check(ctx, pool, kd)
	var ce *logbinding.ChangedError
	if !errors.Is(err, logbinding.ErrChanged) || !errors.As(err, &ce) || ce.Bound != pg || ce.Current != kd {
		t.Fatalf("check against another log: %v", err)
	}
	for _, want := range []string{pg.ID, kd.ID, "custody log rebind", "CUSTODY_EVENT_LOG"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not mention %q: %v", want, err)
		}
	}

	// Rebinding moves it; the old log is now the refused one.
	if err := logbinding.Bind(ctx, pool, kd, "custody log rebind"); err != nil {
		t.Fatal(err)
	}
	if _, err := logbinding.Check(ctx, pool, kd); err != nil {
		t.Fatalf("check after rebinding: %v", err)
	}
	if _, err := logbinding.Check(ctx, pool, pg); !errors.Is(err, logbinding.ErrChanged) {
		t.Fatalf("the old log after rebinding: %v", err)
	}
	cur, ok, err := logbinding.Current(ctx, pool)
	if err != nil || !ok || cur.Log != kd || cur.How != "custody log rebind" {
		t.Fatalf("current binding %+v, %v, %v", cur, ok, err)
	}
	if _, err := logbinding.Check(ctx, pool, eventlog.Identity{}); err == nil {
		t.Fatal("a check against no log passed")
	}
	if err := logbinding.Bind(ctx, pool, eventlog.Identity{}, "x"); err == nil {
		t.Fatal("binding to no log passed")
	}
}
