package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// subscribeN subscribes from `from` until n events arrived and returns them.
func subscribeN(t *testing.T, log eventlog.EventLog, from events.Position, n int) []events.Recorded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	enough := errors.New("enough")
	var got []events.Recorded
	err := log.Subscribe(ctx, from, func(r events.Recorded) error {
		got = append(got, r)
		if len(got) == n {
			return enough
		}
		return nil
	})
	if !errors.Is(err, enough) {
		t.Fatalf("subscribe from %v: %v after %d of %d events", from, err, len(got), n)
	}
	return got
}

// subscriber records what one subscription delivered.
type subscriber struct {
	mu     sync.Mutex
	got    []events.Recorded
	cancel context.CancelFunc
	done   chan error
}

func startSubscriber(log eventlog.EventLog, from events.Position) *subscriber {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	s := &subscriber{cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- log.Subscribe(ctx, from, func(r events.Recorded) error {
			s.mu.Lock()
			s.got = append(s.got, r)
			s.mu.Unlock()
			return nil
		})
	}()
	return s
}

// stopAt waits until the subscriber delivered n events or reached last
// (having skipped some), then stops it and returns what it delivered.
func (s *subscriber) stopAt(t *testing.T, n int, last events.Position) ([]events.Recorded, error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		s.mu.Lock()
		k := len(s.got)
		reached := k >= n || (k > 0 && !s.got[k-1].Position.Less(last))
		s.mu.Unlock()
		if reached || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-s.done:
			s.done <- err
			deadline = time.Now() // it ended by itself: report what it has
		case <-time.After(2 * time.Millisecond): // polling a condition
		}
	}
	s.cancel()
	err := <-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got, err
}

// testSubscribeGapFree: Writers append concurrently while one subscriber
// follows from the start and another joins half-way; both see every event
// exactly once, in ReadAll's order, with increasing positions.
func testSubscribeGapFree(t *testing.T, h Harness) {
	log := h.Log
	total := Writers * EventsPerWriter

	early := startSubscriber(log, events.Start)
	defer early.cancel()
	var (
		wg      sync.WaitGroup
		written atomic.Int64
		late    atomic.Pointer[subscriber]
		errs    = make(chan error, Writers)
	)
	for w := range Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxFor(t)
			for i := 0; i < EventsPerWriter; {
				// Mix single appends, small batches, several streams and
				// expectations so transactions overlap in every way.
				n := min(1+(i+w)%3, EventsPerWriter-i)
				stream := fmt.Sprintf("w%d-s%d", w, i%5)
				if _, err := log.Append(ctx, stream, eventlog.ExpectAny, batch(w*100000+i, n)...); err != nil {
					errs <- err
					return
				}
				i += n
				if written.Add(int64(n)) >= int64(total/2) && late.Load() == nil {
					// A second subscriber joins mid-flight: it must catch
					// up and then switch to live without a gap.
					if s := startSubscriber(log, events.Start); !late.CompareAndSwap(nil, s) {
						s.cancel()
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	defer late.Load().cancel()

	want := readAllEventually(t, log, total)
	last := want[total-1].Position
	for name, sub := range map[string]*subscriber{"early": early, "late": late.Load()} {
		got, err := sub.stopAt(t, total, last)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s subscriber ended with %v after %d of %d events", name, err, len(got), total)
		}
		seen := make(map[uuid.UUID]bool, total)
		for i, rec := range got {
			if seen[rec.ID] {
				t.Fatalf("%s subscriber got event %s twice", name, rec.ID)
			}
			seen[rec.ID] = true
			if i > 0 && !got[i-1].Position.Less(rec.Position) {
				t.Fatalf("%s subscriber: position %v after %v", name, rec.Position, got[i-1].Position)
			}
		}
		if len(got) != total {
			t.Fatalf("%s subscriber got %d events, want %d: it skipped some", name, len(got), total)
		}
		if !reflect.DeepEqual(ids(got), ids(want)) {
			t.Fatalf("%s subscriber's order differs from ReadAll's", name)
		}
	}
}

// readAllEventually pages through the log until it holds n events.
func readAllEventually(t *testing.T, log eventlog.EventLog, n int) []events.Recorded {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := readAll(t, log, 500)
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("ReadAll finds %d events, want %d", len(got), n)
			}
			return got
		}
		time.Sleep(2 * time.Millisecond) // polling a condition, not synchronising
	}
}

// testSubscribeResume: a subscription resumed from a handled position
// continues right after it; cancelling returns the context's error.
func testSubscribeResume(t *testing.T, h Harness) {
	log := h.Log
	var want []uuid.UUID
	for i := range 10 {
		evs := batch(i*10, 2)
		mustAppend(t, log, fmt.Sprintf("r-%d", i%3), eventlog.ExpectAny, evs...)
		want = append(want, eventIDs(evs)...)
	}
	first := subscribeN(t, log, events.Start, 7)
	if !reflect.DeepEqual(ids(first), want[:7]) {
		t.Fatalf("first 7 events %v, want %v", ids(first), want[:7])
	}
	// Resume from the last handled position: delivery continues right
	// after it, including events appended since.
	more := batch(500, 3)
	mustAppend(t, log, "r-late", eventlog.ExpectNoStream, more...)
	want = append(want, eventIDs(more)...)
	rest := subscribeN(t, log, first[6].Position, len(want)-7)
	if !reflect.DeepEqual(ids(rest), want[7:]) {
		t.Fatalf("resumed events %v, want %v", ids(rest), want[7:])
	}

	// A cancelled subscription returns the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- log.Subscribe(ctx, rest[len(rest)-1].Position, func(events.Recorded) error {
			return errors.New("no event was expected after the head")
		})
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled subscription returned %v, want context.Canceled", err)
	}
}
