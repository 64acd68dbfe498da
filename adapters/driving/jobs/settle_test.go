package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/jobs"
	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/pending"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSettleCompletesDueHandovers: a handover whose 24-hour window has
// passed is completed by one settle round, in the corp the projections
// name; a second round finds nothing; one not yet due is left alone.
func TestSettleCompletesDueHandovers(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := projections.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	log := memlog.New()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	cmds, err := commands.New(commands.Options{Log: log, Eraser: log, Settings: commands.DefaultSettings{},
		Clock: commands.ClockFunc(func() time.Time { return now }), Pending: pending.Handovers{Pool: pool}})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := projections.NewRunner(pool, log, projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	meta := func(corp string) commands.Meta { return commands.Meta{CorpID: corp} }
	for _, s := range []string{"s1", "s2"} {
		if _, err := cmds.JoinStaff(ctx, commands.JoinStaff{Meta: meta("c1"), StaffID: s}); err != nil {
			t.Fatal(err)
		}
	}
	handover := func(corp, customer string) {
		t.Helper()
		if _, err := cmds.StartRelation(ctx, commands.StartRelation{Meta: meta(corp), CustomerID: customer, StaffID: "s1", Initiator: events.InitiatorStaff}); err != nil {
			t.Fatal(err)
		}
		if _, err := cmds.RequestHandover(ctx, commands.RequestHandover{Meta: meta(corp), Kind: events.HandoverInService,
			FromStaffID: "s1", ToStaffID: "s2", CustomerIDs: []string{customer}}); err != nil {
			t.Fatal(err)
		}
	}
	handover("c1", "cu1")
	now = now.Add(25 * time.Hour) // cu1's window has passed
	handover("c1", "cu2")         // cu2's has not
	if _, err := runner.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	job := jobs.Settle{Commands: cmds, Pool: pool, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	n, err := job.Once(ctx)
	if err != nil || n != 1 {
		t.Fatalf("first round settled %d (err %v), want 1", n, err)
	}
	if _, err := runner.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := job.Once(ctx); err != nil || n != 0 {
		t.Fatalf("second round settled %d (err %v), want 0", n, err)
	}
	var statuses []string
	rows, err := pool.Query(ctx, `SELECT customer_id || ' ' || status FROM projections.handovers ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, s)
	}
	if len(statuses) != 2 || statuses[0] != "cu1 completed" || statuses[1] != "cu2 pending" {
		t.Fatalf("handovers after settling: %v", statuses)
	}
}
