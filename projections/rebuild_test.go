package projections

import (
	"context"
	"errors"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/events"
)

func TestRebuildWhileServing(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := memlog.New()
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: 10000, Writers: 4, Staff: 20, Customers: 300, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	runCtx, stopRunner := context.WithCancel(ctx)
	r, err := NewRunner(pool, log, Options{BatchSize: 500, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(runCtx) }()
	head, _ := log.Head(ctx)
	if err := r.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}

	// Mark the old generation of the relations tables: one stale row in each.
	// Readers must see all three marks (old tables) or none (new tables).
	for _, sql := range []string{
		`INSERT INTO projections.relations (corp_id, customer_id, staff_id, status, started_at, started_by, updated_at)
			VALUES ('c1', '__stale__', '__stale__', 'active', now(), 'added', now())`,
		`INSERT INTO projections.ownership_intervals (corp_id, customer_id, staff_id, started_at, started_by, start_commit, start_prepare)
			VALUES ('c1', '__stale__', '__stale__', now(), 'added', -1, -1)`,
		`INSERT INTO projections.unassigned_relations (corp_id, customer_id, staff_id, departed_at, started_at)
			VALUES ('c1', '__stale__', '__stale__', now(), now())`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}

	sawSwap := make(chan struct{}, 3)
	var rebuilding atomic.Bool
	var readsDuringRebuild, swapsSeen atomic.Int64
	stopReaders := make(chan struct{})
	var wg sync.WaitGroup
	readErrs := make(chan error, 8)
	for range 3 {
		wg.Go(func() {
			rd := NewReader(pool)
			sawNew := false
			for {
				select {
				case <-stopReaders:
					return
				default:
				}
				var a, b, c int
				err := pool.QueryRow(ctx, `SELECT
					(SELECT count(*) FROM projections.relations WHERE customer_id = '__stale__'),
					(SELECT count(*) FROM projections.ownership_intervals WHERE start_commit = -1),
					(SELECT count(*) FROM projections.unassigned_relations WHERE customer_id = '__stale__')`).Scan(&a, &b, &c)
				if err == nil {
					_, err = rd.StaffCustomers(ctx, "c1", "s1", nil, Page{Limit: 20})
				}
				if err != nil {
					readErrs <- err
					return
				}
				switch {
				case a == 1 && b == 1 && c == 1:
					if sawNew {
						readErrs <- errors.New("old tables seen again after the new ones")
						return
					}
				case a == 0 && b == 0 && c == 0:
					if !sawNew {
						swapsSeen.Add(1)
						sawSwap <- struct{}{}
					}
					sawNew = true
				default:
					readErrs <- errors.New("a reader saw old and new tables at once")
					return
				}
				if rebuilding.Load() {
					readsDuringRebuild.Add(1)
				}
			}
		})
	}

	// Writers keep appending while the rebuild runs, so the swap has to take
	// in events that arrived after the shadow caught up.
	writeCtx, stopWriting := context.WithCancel(ctx)
	writerDone := make(chan error, 1)
	go func() {
		_, err := generate(writeCtx, log, genOptions{Corp: "c2", Events: 4000, Writers: 2, Staff: 5, Customers: 100, Seed: 12})
		writerDone <- err
	}()

	rebuilding.Store(true)
	res, err := Rebuild(ctx, pool, log, []Projection{Relations{}}, RebuildOptions{BatchSize: 1000, Logger: discardLogger()})
	rebuilding.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	stopWriting()
	if err := <-writerDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	head, _ = log.Head(ctx)
	if err := r.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuilt in %v", res.Duration)
	for range 3 { // every reader reaches the new tables
		select {
		case <-sawSwap:
		case err := <-readErrs:
			t.Fatal(err)
		}
	}
	close(stopReaders)
	wg.Wait()
	close(readErrs)
	for err := range readErrs {
		t.Error(err)
	}
	stopRunner()
	if err := <-runDone; !errors.Is(err, context.Canceled) {
		t.Errorf("runner: %v", err)
	}
	if readsDuringRebuild.Load() == 0 {
		t.Error("no read answered during the rebuild")
	}
	if swapsSeen.Load() != 3 {
		t.Errorf("%d readers saw the swap, want 3", swapsSeen.Load())
	}
	if res.Applied < 10000 || res.Resumed {
		t.Errorf("rebuild result %+v", res)
	}
	assertEqualsCleanRebuild(t, pool, log, All())
	var schemas int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'projections\_%'`).Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("%d leftover rebuild schemas (%v)", schemas, err)
	}
}

func TestRebuildResumesAndRefusesTwins(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := memlog.New()
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: 5000, Writers: 2, Staff: 8, Customers: 100, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, pool, log, 1000)
	catchUp(t, r)
	indexes := rows(t, pool, `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'projections' ORDER BY 1, 2`)

	// Interrupt the first build after two shadow batches.
	cctx, cancel := context.WithCancel(ctx)
	_, err := Rebuild(cctx, pool, log, []Projection{Groups{}, Relations{}, Consents{}}, RebuildOptions{BatchSize: 500, Logger: discardLogger(),
		Progress: func(n int64, _ events.Position) {
			if n >= 1000 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rebuild: %v", err)
	}

	// A second rebuild of the same projection waits for nobody: it is refused.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext('custody-rebuild-groups'))"); err != nil {
		t.Fatal(err)
	}
	if _, err := Rebuild(ctx, pool, log, []Projection{Staff{}, Groups{}}, RebuildOptions{Logger: discardLogger()}); !errors.Is(err, ErrRebuildRunning) {
		t.Errorf("twin rebuild: %v, want ErrRebuildRunning", err)
	}
	conn.Exec(ctx, "SELECT pg_advisory_unlock(hashtext('custody-rebuild-groups'))")
	conn.Release()

	res, err := Rebuild(ctx, pool, log, []Projection{Groups{}, Relations{}, Consents{}}, RebuildOptions{BatchSize: 500, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Applied >= 5000 {
		t.Errorf("second rebuild %+v, want a resumed one", res)
	}
	// Every projection at once.
	if _, err := Rebuild(ctx, pool, log, All(), RebuildOptions{Logger: discardLogger()}); err != nil {
		t.Fatalf("rebuild all: %v", err)
	}
	assertEqualsCleanRebuild(t, pool, log, All())
	assertRows(t, "indexes after the swap", rows(t, pool, `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'projections' ORDER BY 1, 2`), indexes)
	var unlogged int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'projections' AND c.relpersistence <> 'p'`).Scan(&unlogged); err != nil || unlogged != 0 {
		t.Errorf("%d unlogged relations after the swap (%v)", unlogged, err)
	}
	head, _ := log.Head(ctx)
	lags, err := Status(ctx, pool, log, All(), StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lags {
		if l.Position != head || l.EventsBehind != 0 || l.EventsApplied == 0 {
			t.Errorf("after rebuild: %+v", l)
		}
	}
}

func TestStatusCountsLag(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	w := newWorld(t)
	for i := range 30 {
		w.add(i, &events.StaffJoined{StaffID: "s" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	lags, err := Status(ctx, pool, w.log, All(), StatusOptions{ScanLimit: 20, PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lags {
		if l.EventsBehind != 20 || !l.Capped {
			t.Errorf("capped status %+v", l)
		}
	}
	lags, err = Status(ctx, pool, w.log, All(), StatusOptions{PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lags {
		if l.EventsBehind != 30 || l.Capped {
			t.Errorf("status %+v", l)
		}
	}
	if _, err := Status(ctx, pool, w.log, []Projection{Activity{}, fakeProjection{}}, StatusOptions{}); !errors.Is(err, ErrNotMigrated) {
		t.Errorf("unmigrated projection: %v", err)
	}
}

type fakeProjection struct{ Staff }

func (fakeProjection) Name() string { return "fake" }

// TestRebuildGCPercent: a rebuild sets the collector's target it is given
// for its own duration only, and refuses one out of range before doing
// anything.
func TestRebuildGCPercent(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := memlog.New()
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: 500, Writers: 1, Staff: 4, Customers: 20, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	before := debug.SetGCPercent(137)
	defer debug.SetGCPercent(before)
	var during int
	_, err := Rebuild(ctx, pool, log, []Projection{Staff{}}, RebuildOptions{Fresh: true, Logger: discardLogger(), GCPercent: 400,
		Progress: func(int64, events.Position) {
			during = debug.SetGCPercent(-1)
			debug.SetGCPercent(during)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if during != 400 {
		t.Errorf("GC percent during the rebuild = %d, want 400", during)
	}
	if after := debug.SetGCPercent(137); after != 137 {
		t.Errorf("GC percent after the rebuild = %d, want 137 as before it", after)
	}
	for _, bad := range []int{-1, 10001} {
		if _, err := Rebuild(ctx, pool, log, []Projection{Staff{}}, RebuildOptions{Logger: discardLogger(), GCPercent: bad}); err == nil ||
			!strings.Contains(err.Error(), "GC percent") {
			t.Errorf("GCPercent %d: %v, want it refused", bad, err)
		}
	}
}

// TestRebuildSwapSurvivesADeadlock: a transaction that read a live table
// and then waits for the checkpoint row the swap holds (what a live batch
// that loads rows before it locks its checkpoints does) deadlocks with the
// swap, which waits for that table; when PostgreSQL aborts the swap, the
// rebuild tries it again and succeeds.
func TestRebuildSwapSurvivesADeadlock(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := memlog.New()
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: 500, Writers: 1, Staff: 4, Customers: 20, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	catchUp(t, newRunner(t, pool, log, 1000))

	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(ctx)
	if _, err := reader.Exec(ctx, `SELECT count(*) FROM projections.staff`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Rebuild(ctx, pool, log, []Projection{Staff{}}, RebuildOptions{Fresh: true, Logger: discardLogger()})
		done <- err
	}()
	// The swap holds the checkpoint row and waits for the reader's lock on
	// the table.
	deadline := time.Now().Add(time.Minute)
	for {
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND locktype = 'relation'
			AND relation = 'projections.staff'::regclass AND mode = 'AccessExclusiveLock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the swap never waited for the table")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Now the reader waits for the swap's row: a deadlock. The swap waited
	// first, so its backend finds it and is the one aborted.
	if _, err := reader.Exec(ctx, `SELECT 1 FROM projections.projection_checkpoints WHERE name = 'staff' FOR UPDATE`); err != nil {
		t.Fatalf("the reader was aborted instead of the swap: %v", err)
	}
	if err := reader.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("rebuild after a deadlocked swap: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM projections.staff`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("staff after the rebuild: %d rows, %v", n, err)
	}
}
