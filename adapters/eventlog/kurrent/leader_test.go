package kurrent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestLeaderChangesUnderLoad runs the adapter against a three-node
// cluster of the protocol-level stand-in (a KurrentDB cluster cannot run
// here) while writers append with exact expectations, a subscriber
// follows and pollers ask for the head. The leadership moves four times;
// twice the leader commits an append and dies before answering (its caller
// sees the call fail). The adapter must retry on the leader the follower
// names and after the lost answer, so that every append succeeds exactly
// once: each stream holds its writer's events once each, in order, and the
// subscriber gets every event once, in $all order.
func TestLeaderChangesUnderLoad(t *testing.T) {
	c, err := kurrentstandin.StartCluster(3, kurrentstandin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l := productionLog(t, c.Node(0).URL(), kurrent.Options{
		ResubscribeMin: 10 * time.Millisecond, ResubscribeMax: 100 * time.Millisecond,
		RetryWait: 20 * time.Millisecond,
	})

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var (
		mu  sync.Mutex
		got []events.Recorded
	)
	subErr := make(chan error, 1)
	go func() {
		subErr <- l.Subscribe(ctx, events.Position{}, func(r events.Recorded) error {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
			return nil
		})
	}()
	var wg sync.WaitGroup
	var heads atomic.Int64
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := l.Head(ctx); err == nil {
					heads.Add(1)
				}
				time.Sleep(3 * time.Millisecond)
			}
		})
	}

	const writers, perWriter = 6, 60
	want := make([][]uuid.UUID, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("customer-leader-w%d", w)
			for i := range perWriter {
				e := storetest.Event(w*1_000 + i)
				res, err := l.Append(ctx, stream, eventlog.ExpectVersion(int64(i)-1), e)
				if err != nil {
					errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
				if res.Events[0].StreamVersion != int64(i) || res.Events[0].ID != e.ID {
					errs <- fmt.Errorf("writer %d append %d: stored as %s v%d", w, i, res.Events[0].ID, res.Events[0].StreamVersion)
					return
				}
				mu.Lock()
				want[w] = append(want[w], e.ID)
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}

	// The leadership moves while the writers run, each step once the
	// writers have made progress since the previous one.
	acked := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, w := range want {
			n += len(w)
		}
		return n
	}
	steps := []func(){
		func() { c.Elect(1) },
		func() { c.LoseNextAppendAck() }, // the leader (1) dies after a commit: 2 leads
		func() { c.Elect(0) },
		func() { c.LoseNextAppendAck() }, // 0 dies after a commit: 1 leads
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for next := 0; acked() < writers*perWriter; {
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(2 * time.Millisecond):
		}
		if next < len(steps) && acked() >= (next+1)*writers*perWriter/(len(steps)+2) {
			steps[next]()
			next++
		}
		if ctx.Err() != nil {
			t.Fatalf("writers did not finish: %d of %d appended", acked(), writers*perWriter)
		}
	}
	if got := c.Leader(); got != 1 {
		t.Fatalf("leader is node %d, want 1: the lost answers did not move the leadership", got)
	}

	// Every stream holds its writer's events once each, in order.
	for w := range writers {
		recs, err := l.ReadStream(ctx, fmt.Sprintf("customer-leader-w%d", w), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != perWriter {
			t.Fatalf("writer %d: stream has %d events, want %d", w, len(recs), perWriter)
		}
		for i, r := range recs {
			if r.ID != want[w][i] {
				t.Fatalf("writer %d: event %d is %s, want %s", w, i, r.ID, want[w][i])
			}
		}
	}
	// The subscriber gets all of them, once each, in order.
	total := writers * perWriter
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= total {
			break
		}
		select {
		case err := <-subErr:
			t.Fatalf("subscription ended: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if ctx.Err() != nil {
			t.Fatalf("subscriber saw %d of %d events", n, total)
		}
	}
	cancel()
	<-done
	if err := <-subErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription ended with %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != total {
		t.Fatalf("subscriber got %d events, want %d", len(got), total)
	}
	seen := map[uuid.UUID]bool{}
	for i, r := range got {
		if seen[r.ID] {
			t.Fatalf("event %s delivered twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 && !got[i-1].Position.Less(r.Position) {
			t.Fatalf("delivery %d at %s is not after %s", i, r.Position, got[i-1].Position)
		}
	}
	if heads.Load() == 0 {
		t.Fatal("no Head call succeeded")
	}
}
