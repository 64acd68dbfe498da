package kurrent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestServerRestartsUnderLoad stops and restarts the server (the
// protocol-level stand-in; a KurrentDB server cannot run here) three times
// while writers append, a subscriber follows and pollers ask for the head,
// as custody serve's relay, projector and readiness check do. The client
// gives up on its connection while the server is away, so the adapter
// builds new clients while other goroutines still hold the old one; that
// must never crash the process (it did: "send on closed channel" inside
// the client), and afterwards every acknowledged event must have reached
// the subscriber exactly once, in order.
func TestServerRestartsUnderLoad(t *testing.T) {
	srv := startStandin(t, kurrentstandin.Options{})
	conf, err := esdb.ParseConnectionString(srv.URL() + "&maxDiscoverAttempts=1&discoveryInterval=10&gossipTimeout=1")
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	l, err := kurrent.New(*conf, kurrent.Options{
		Keyring: pii.NewMemoryKeyring(), Logger: quiet,
		ResubscribeMin: 10 * time.Millisecond, ResubscribeMax: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu    sync.Mutex
		acked = map[uuid.UUID]bool{}
		got   []events.Recorded
	)
	var wg sync.WaitGroup
	subErr := make(chan error, 1)
	go func() {
		subErr <- l.Subscribe(ctx, events.Position{}, func(r events.Recorded) error {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
			return nil
		})
	}()
	var heads, headErrs atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, stop := context.WithTimeout(ctx, 2*time.Second)
				if _, err := l.Head(c); err != nil {
					headErrs.Add(1)
				} else {
					heads.Add(1)
				}
				stop()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	var appendErrs atomic.Int64
	writing, stopWriting := context.WithCancel(ctx)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; writing.Err() == nil; i++ {
				e := storetest.Event(w*1_000_000 + i)
				stream := fmt.Sprintf("customer-w%d-%d", w, i)
				c, stop := context.WithTimeout(ctx, 2*time.Second)
				_, err := l.Append(c, stream, eventlog.ExpectNoStream, e)
				stop()
				if err != nil {
					// Unacknowledged: it may or may not be stored; the
					// subscriber's copy is checked only for acknowledged ones.
					appendErrs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[e.ID] = true
				mu.Unlock()
			}
		}()
	}

	for range 3 {
		time.Sleep(300 * time.Millisecond)
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	stopWriting()

	// After the last restart the log must work again: one more append.
	last := storetest.Event(99_999_999)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, stop := context.WithTimeout(ctx, 2*time.Second)
		_, err := l.Append(c, "customer-last", eventlog.ExpectNoStream, last)
		stop()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("append after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	acked[last.ID] = true
	mu.Unlock()

	// Wait for the subscriber to see the last event.
	for {
		mu.Lock()
		seen := false
		for _, r := range got {
			if r.ID == last.ID {
				seen = true
			}
		}
		mu.Unlock()
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscriber never saw the event appended after the restarts")
		}
		select {
		case err := <-subErr:
			t.Fatalf("subscription ended: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
	if err := <-subErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription ended with %v, want context.Canceled", err)
	}

	mu.Lock()
	defer mu.Unlock()
	seen := map[uuid.UUID]int{}
	for i, r := range got {
		seen[r.ID]++
		if i > 0 && !got[i-1].Position.Less(r.Position) {
			t.Fatalf("delivery %d at %s is not after %s", i, r.Position, got[i-1].Position)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	missing := 0
	for id := range acked {
		if seen[id] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events never reached the subscriber", missing, len(acked))
	}
	if headErrs.Load() == 0 || appendErrs.Load() == 0 {
		t.Errorf("the server was never seen away (head errors %d, append errors %d): the test did not exercise a restart", headErrs.Load(), appendErrs.Load())
	}
	t.Logf("%d acknowledged appends, %d failed while away; %d heads, %d failed", len(acked), appendErrs.Load(), heads.Load(), headErrs.Load())
}
