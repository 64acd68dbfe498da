package projections

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/testkit/poll"
	"github.com/custody/custody/events"
)

// TestLingerGathersEventsIntoOneBatch appends three events 300 ms apart
// to a live runner: with a linger longer than that they are applied in
// one transaction (their rows share xmin), and the last one is applied
// although nothing follows it; without a linger they are applied as they
// arrive, not together.
func TestLingerGathersEventsIntoOneBatch(t *testing.T) {
	const gap = 300 * time.Millisecond
	for _, c := range []struct {
		linger time.Duration
		one    bool // the three rows written in one transaction
	}{
		{linger: 2 * time.Second, one: true},
		{linger: 0, one: false},
	} {
		t.Run(c.linger.String(), func(t *testing.T) {
			pool := newDB(t)
			w := newWorld(t)
			r, err := NewRunner(pool, w.log, Options{Projections: []Projection{Staff{}}, Linger: c.linger, Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			defer func() {
				stop()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("runner: %v", err)
				}
			}()

			// The first event is applied by catch-up or live; the runner
			// is live once it is.
			w.add(0, &events.StaffJoined{StaffID: "s0"})
			waitStaffRows(t, pool, 1)
			for i, id := range []string{"s1", "s2", "s3"} {
				if i > 0 {
					time.Sleep(gap)
				}
				w.add(i+1, &events.StaffJoined{StaffID: id})
			}
			waitStaffRows(t, pool, 4)
			var txs int
			if err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT xmin::text) FROM projections.staff
				WHERE staff_id IN ('s1', 's2', 's3')`).Scan(&txs); err != nil {
				t.Fatal(err)
			}
			if (txs == 1) != c.one {
				t.Fatalf("linger %v: the three events 300 ms apart were applied in %d transactions, want one: %v", c.linger, txs, c.one)
			}
		})
	}
}

// waitStaffRows waits until projections.staff holds n rows.
func waitStaffRows(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	poll.Until(t, fmt.Sprintf("projections.staff holds %d rows", n), func() bool {
		var got int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM projections.staff`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got >= n
	})
}
