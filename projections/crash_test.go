package projections

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/events"
)

// upTo shows a Source only up to a position: a clean rebuild "as of" a
// checkpoint.
type upTo struct {
	Source
	pos events.Position
}

func (u upTo) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	recs, err := u.Source.ReadAll(ctx, from, limit)
	for i, r := range recs {
		if u.pos.Less(r.Position) {
			return recs[:i], err
		}
	}
	return recs, err
}

// failingReads fails its n-th ReadAll: the projector dies between two
// batches.
type failingReads struct {
	Source
	calls, failAt int
}

var errCrash = errors.New("simulated crash")

func (f *failingReads) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	f.calls++
	if f.calls == f.failAt {
		return nil, errCrash
	}
	return f.Source.ReadAll(ctx, from, limit)
}

func storedCheckpoints(t *testing.T, pool Querier) map[string]Checkpoint {
	t.Helper()
	cps, err := readCheckpoints(context.Background(), pool, names(All()), false)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

func TestCrashSafety(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := memlog.New()
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: 6000, Writers: 4, Staff: 12, Customers: 150, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// checkAsOfCheckpoint: whatever the crash, each projection's tables
	// equal a clean rebuild up to its stored checkpoint, row for row. It
	// returns the smallest checkpoint.
	checkAsOfCheckpoint := func(t *testing.T, wantMoved bool, before events.Position) events.Position {
		t.Helper()
		waitIdle(t, pool)
		cps := storedCheckpoints(t, pool)
		pos := minPosition(cps)
		// A batch commits every projection's rows and checkpoint at once:
		// a crash leaves them all at the same position.
		for _, cp := range cps {
			if cp.Position != pos {
				t.Errorf("checkpoints differ after the crash (one batch is one transaction): %v", cps)
				break
			}
		}
		if wantMoved && !before.Less(pos) {
			t.Errorf("checkpoints did not all move past %s: %v", before, cps)
		}
		byPos := map[events.Position][]Projection{}
		for _, p := range All() {
			cp := cps[p.Name()].Position
			byPos[cp] = append(byPos[cp], p)
		}
		for cp, ps := range byPos {
			if n := assertEqualsCleanRebuild(t, pool, upTo{log, cp}, ps); n == 0 && !cp.IsZero() {
				t.Errorf("%v: compared no rows", names(ps))
			}
		}
		return pos
	}

	var pos events.Position
	t.Run("between batches", func(t *testing.T) {
		src := &failingReads{Source: log, failAt: 9}
		r := newRunner(t, pool, src, 97)
		if _, err := r.CatchUp(ctx); !errors.Is(err, errCrash) {
			t.Fatalf("catch-up: %v, want the crash", err)
		}
		pos = checkAsOfCheckpoint(t, true, pos)
	})
	t.Run("cancel mid-transaction", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := newRunner(t, pool, log, 101)
		var txs atomic.Int32
		r.beforeCommit = func(ctx context.Context, tx pgx.Tx) error {
			if txs.Add(1) == 7 {
				cancel() // the rows of this batch are written, not committed
			}
			return ctx.Err()
		}
		if _, err := r.CatchUp(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("catch-up: %v, want cancelled", err)
		}
		pos = checkAsOfCheckpoint(t, true, pos)
	})
	t.Run("backend terminated mid-transaction", func(t *testing.T) {
		r := newRunner(t, pool, log, 89)
		var txs atomic.Int32
		r.beforeCommit = func(ctx context.Context, tx pgx.Tx) error {
			if txs.Add(1) != 5 {
				return nil
			}
			var pid int
			if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			_, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
			return err
		}
		if _, err := r.CatchUp(ctx); err == nil {
			t.Fatal("catch-up survived its backend's termination")
		}
		pos = checkAsOfCheckpoint(t, true, pos)
	})
	t.Run("Run retries after a dropped connection", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r, err := NewRunner(pool, log, Options{BatchSize: 113, RetryDelay: 1, MaxRetryDelay: 1, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		var batches, kills atomic.Int32
		r.beforeCommit = func(ctx context.Context, tx pgx.Tx) error {
			if n := batches.Add(1); n != 4 && n != 9 {
				return nil
			}
			kills.Add(1)
			var pid int
			if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			_, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
			return err
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(cctx) }()
		if err := r.WaitFor(ctx, head); err != nil {
			t.Fatal(err)
		}
		// Live events after the catch-up go through the subscription.
		w := &world{t: t, log: log}
		last := w.add(9000, &events.StaffJoined{StaffID: "late", PII: events.StaffPII{Name: "Late"}})
		if err := r.WaitFor(ctx, last.Position); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
		if kills.Load() != 2 {
			t.Errorf("%d connections killed, want 2", kills.Load())
		}
		if got := checkAsOfCheckpoint(t, true, pos); got != last.Position {
			t.Errorf("checkpoint %s, want %s", got, last.Position)
		}
	})
}
