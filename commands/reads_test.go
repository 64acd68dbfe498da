package commands_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// countingLog counts the ReadStream calls per kind of stream ("customer",
// "staff", ...: the stream name up to its first '-').
type countingLog struct {
	eventlog.EventLog
	mu    sync.Mutex
	reads map[string]int
}

func (l *countingLog) ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error) {
	l.mu.Lock()
	kind, _, _ := strings.Cut(stream, "-")
	l.reads[kind]++
	l.mu.Unlock()
	return l.EventLog.ReadStream(ctx, stream, from)
}

func (l *countingLog) reset() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reads
	l.reads = map[string]int{}
	return r
}

// A relation start reads the customer stream once, to decide: the slot
// step decides on the customer as the command appended it instead of
// reading the stream again. With the member's aggregate cached, it does not
// read the member's stream either: the slot is appended at the cached
// version. When another process appended to the member's stream meanwhile,
// that append conflicts and the slot step reads both streams and decides
// again.
func TestStartRelationReads(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		cl := &countingLog{EventLog: log, reads: map[string]int{}}
		f := newFixture(t, cl, eraser, corp.Settings{})
		f.join("a")
		f.add("c0", "a") // the member's aggregate is cached now
		cl.reset()
		f.add("c1", "a")
		got := cl.reset()
		if got["customer"] != 1 || got["staff"] != 0 {
			t.Errorf("reads of a relation start: %v, want customer 1, staff 0", got)
		}

		// Another process adds to the same member: this Handler's
		// aggregate is stale.
		other := newFixture(t, log, eraser, corp.Settings{})
		other.add("c2", "a")
		cl.reset()
		f.add("c3", "a")
		got = cl.reset()
		if got["customer"] != 2 || got["staff"] != 1 {
			t.Errorf("reads of a relation start on a stale aggregate: %v, want customer 2, staff 1", got)
		}
		s := f.staff("a")
		for _, c := range []string{"c0", "c1", "c2", "c3"} {
			if _, held := s.Slot(c); !held {
				t.Errorf("no slot for %s", c)
			}
		}
		if s.Used() != 4 {
			t.Errorf("%d slots, want 4", s.Used())
		}
	})
}
