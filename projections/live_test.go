package projections

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/custody/custody/adapters/eventlog/memlog"
)

// longScenarioEvents sizes TestLiveEqualsRebuilt: CUSTODY_LONG_EVENTS, else
// 100,000 (20,000 with -short).
func longScenarioEvents(t *testing.T) int {
	if v := os.Getenv("CUSTODY_LONG_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("CUSTODY_LONG_EVENTS: %v", err)
		}
		return n
	}
	if testing.Short() {
		return 20_000
	}
	return 100_000
}

// TestLiveEqualsRebuilt runs the projector live while many goroutines
// append a long randomized history, then checks every live table equals a
// from-scratch rebuild, row for row.
func TestLiveEqualsRebuilt(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	log := memlog.New()
	// Two runners, as two custody instances would run: the checkpoint row
	// locks make them take turns, and neither applies an event twice.
	r, err := NewRunner(pool, log, Options{BatchSize: 2000, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewRunner(pool, log, Options{BatchSize: 700, Parallel: 2, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- r.Run(runCtx) }()
	go func() { done <- r2.Run(runCtx) }()

	t0 := time.Now()
	n, err := generate(ctx, log, genOptions{Corp: "c1", Events: longScenarioEvents(t), Writers: 16, Staff: 40, Customers: 400, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Runner{r, r2} {
		if err := r.WaitFor(ctx, head); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	for range 2 {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("runner: %v", err)
		}
	}
	t.Logf("%d events appended by 16 writers and projected live by two runners in %v", n, time.Since(t0))

	// The history must exercise what it claims to.
	for _, c := range []struct{ what, sql string }{
		{"churn by customer", `SELECT sum(deleted_by_customer) FROM projections.daily_staff_activity`},
		{"churn by staff", `SELECT sum(deleted_by_staff) FROM projections.daily_staff_activity`},
		{"completed handovers", `SELECT count(*) FROM projections.handovers WHERE status = 'completed'`},
		{"refused handovers", `SELECT count(*) FROM projections.handovers WHERE status = 'refused'`},
		{"failed handovers", `SELECT count(*) FROM projections.handovers WHERE status = 'failed'`},
		{"resigned handovers", `SELECT count(*) FROM projections.handovers WHERE kind = 'resigned'`},
		{"departures", `SELECT count(*) FROM projections.staff WHERE status = 'departed'`},
		{"unassigned", `SELECT count(*) FROM projections.unassigned_relations`},
		{"group leaves", `SELECT count(*) FROM projections.group_membership_history WHERE left_at IS NOT NULL`},
		{"opt-outs", `SELECT count(*) FROM projections.moments_opt_outs WHERE opted_out`},
		{"erasures", `SELECT count(*) FROM projections.customers WHERE erased`},
	} {
		var v int64
		if err := pool.QueryRow(ctx, c.sql).Scan(&v); err != nil || v == 0 {
			t.Errorf("%s: %d (%v), want some", c.what, v, err)
		}
	}
	t0 = time.Now()
	rowsCompared := assertEqualsCleanRebuild(t, pool, log, All())
	t.Logf("%d live rows equal a clean rebuild (rebuild took %v)", rowsCompared, time.Since(t0))
}
