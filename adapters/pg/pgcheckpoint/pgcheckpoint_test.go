package pgcheckpoint_test

import (
	"context"
	"testing"

	"github.com/custody/custody/adapters/pg/pgcheckpoint"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestLoadSaveNeverBackwards(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for range 2 { // migrating twice is a no-op
		if err := pgcheckpoint.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	a, err := pgcheckpoint.New(pool, "slot-keeper")
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgcheckpoint.New(pool, "other")
	if err != nil {
		t.Fatal(err)
	}
	if pos, err := a.Load(ctx); err != nil || pos != events.Start {
		t.Fatalf("fresh checkpoint %v, %v", pos, err)
	}
	p5, p9 := events.Position{Commit: 5, Prepare: 5}, events.Position{Commit: 9, Prepare: 7}
	for _, p := range []events.Position{p5, p9, p5} {
		if err := a.Save(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if pos, err := a.Load(ctx); err != nil || pos != p9 {
		t.Fatalf("after saving 5, 9, 5: %v, %v; want %v", pos, err, p9)
	}
	if pos, err := b.Load(ctx); err != nil || pos != events.Start {
		t.Fatalf("another name sees %v, %v", pos, err)
	}
	if _, err := pgcheckpoint.New(pool, ""); err == nil {
		t.Fatal("empty name accepted")
	}
}

func TestMoveAll(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := pgcheckpoint.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	a, _ := pgcheckpoint.New(pool, "a")
	b, _ := pgcheckpoint.New(pool, "b")
	if err := a.Save(ctx, events.Position{Commit: 90, Prepare: 90}); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, events.Position{Commit: 10, Prepare: 10}); err != nil {
		t.Fatal(err)
	}
	to := events.Position{Commit: 50, Prepare: 50}
	if n, err := pgcheckpoint.MoveAll(ctx, pool, to); err != nil || n != 2 {
		t.Fatalf("MoveAll: %d, %v; want 2", n, err)
	}
	for _, s := range []*pgcheckpoint.Store{a, b} {
		if pos, err := s.Load(ctx); err != nil || pos != to {
			t.Fatalf("after MoveAll: %v, %v; want %v (backwards and forwards)", pos, err, to)
		}
	}
}
