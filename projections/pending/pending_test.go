package pending_test

import (
	"context"
	"testing"
	"time"

	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/pending"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestPendingHandovers: every pending handover due by the time is
// returned, past the first page, of the asked corp only; a zero time
// means any deadline.
func TestPendingHandovers(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := projections.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// c1: 1500 due, 5 due later, 7 completed; c2: 3 due.
	if _, err := pool.Exec(ctx, `
		INSERT INTO projections.handovers (corp_id, handover_id, customer_id, kind, from_staff_id, to_staff_id, status, requested_at, deadline)
		SELECT 'c1', 'h' || i, 'cu' || i, 'resigned', 's1', 's2', 'pending', $1::timestamptz - interval '2 days', $1::timestamptz - i * interval '1 second'
		FROM generate_series(1, 1500) i
		UNION ALL SELECT 'c1', 'later' || i, 'cl' || i, 'resigned', 's1', 's2', 'pending', $1, $1::timestamptz + interval '1 hour'
		FROM generate_series(1, 5) i
		UNION ALL SELECT 'c1', 'done' || i, 'cd' || i, 'resigned', 's1', 's2', 'completed', $1, $1::timestamptz - interval '1 hour'
		FROM generate_series(1, 7) i
		UNION ALL SELECT 'c2', 'x' || i, 'cx' || i, 'in_service', 's3', 's4', 'pending', $1, $1::timestamptz - interval '1 hour'
		FROM generate_series(1, 3) i`, now); err != nil {
		t.Fatal(err)
	}
	p := pending.Handovers{Pool: pool}
	for _, c := range []struct {
		corp  string
		dueBy time.Time
		want  int
	}{
		{"c1", now, 1500},
		{"c1", time.Time{}, 1505},
		{"c2", now, 3},
		{"c3", now, 0},
	} {
		hs, err := p.PendingHandovers(ctx, c.corp, c.dueBy)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != c.want {
			t.Errorf("%s due by %v: %d handovers, want %d", c.corp, c.dueBy, len(hs), c.want)
		}
		for _, h := range hs {
			if h.CorpID != c.corp || h.FromStaffID == "" || h.Deadline.IsZero() {
				t.Errorf("%s: handover %+v", c.corp, h)
				break
			}
		}
	}
}
