package projections

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
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
			src := &subscribedSource{Source: w.log}
			r, err := NewRunner(pool, src, Options{Projections: []Projection{Staff{}}, Linger: c.linger, Logger: discardLogger()})
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

			// Events appended once the runner subscribed reach it live,
			// not through its catch-up (which never waits).
			poll.Until(t, "the runner subscribes", src.subscribed.Load)
			for i, id := range []string{"s1", "s2", "s3"} {
				if i > 0 {
					time.Sleep(gap)
				}
				w.add(i+1, &events.StaffJoined{StaffID: id})
			}
			waitStaffRows(t, pool, 3)
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

// subscribedSource tells when a runner subscribed to its Source.
type subscribedSource struct {
	Source
	subscribed atomic.Bool
}

func (s *subscribedSource) Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error {
	s.subscribed.Store(true)
	return s.Source.Subscribe(ctx, from, handle)
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
