package kurrent_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestCallersGoingAwayDoNotMakeTheServerLookStuck: subscribers and readers
// whose contexts end while their call is under way (a relay stopping, an
// HTTP request cancelled) say nothing about the server. Other calls must
// keep working instead of failing with "server not answering" (it did:
// a cancelled subscription start marked the client stuck, and a
// concurrent writer's read failed with ErrUnavailable).
func TestCallersGoingAwayDoNotMakeTheServerLookStuck(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	l := productionLog(t, srv.URL(), kurrent.Options{})
	ctx := ctxT(t)
	if _, err := l.Append(ctx, "customer-c-1", eventlog.ExpectNoStream, storetest.Event(1)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 150 {
				c, cancel := context.WithCancel(ctx)
				if g%2 == 0 {
					go cancel() // ends the subscription while it starts
					_ = l.Subscribe(c, events.Start, func(events.Recorded) error { return nil })
				} else {
					go cancel() // ends the read while it runs
					_, _ = l.ReadStream(c, "customer-c-1", 0)
				}
				cancel()
				// A call of a caller still there must get through.
				if _, err := l.ReadStream(ctx, "customer-c-1", 0); err != nil {
					t.Errorf("goroutine %d, round %d: read after a cancelled call: %v", g, i, err)
					return
				}
				if errors.Is(ctx.Err(), context.Canceled) {
					return
				}
			}
		})
	}
	wg.Wait()
}
