package commands_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// countingLog counts the ReadStream calls, and the events they returned,
// per kind of stream ("customer", "staff", ...: the stream name up to its
// first '-').
type countingLog struct {
	eventlog.EventLog
	mu         sync.Mutex
	reads, evs map[string]int
}

func (l *countingLog) ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error) {
	recs, err := l.EventLog.ReadStream(ctx, stream, from)
	kind, _, _ := strings.Cut(stream, "-")
	l.mu.Lock()
	if l.reads == nil {
		l.reads, l.evs = map[string]int{}, map[string]int{}
	}
	l.reads[kind]++
	l.evs[kind] += len(recs)
	l.mu.Unlock()
	return recs, err
}

// reset returns the reads counted since the last reset, and starts again.
func (l *countingLog) reset() map[string]int {
	reads, _ := l.resetWithEvents()
	return reads
}

// resetWithEvents is reset, also returning the events the reads returned.
func (l *countingLog) resetWithEvents() (reads, evs map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reads, evs = l.reads, l.evs
	l.reads, l.evs = map[string]int{}, map[string]int{}
	return reads, evs
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
		cl := &countingLog{EventLog: log}
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

// A SlotKeeper sharing the Handler of the commands (one process) does not
// converge again the pairs of the customer events whose slot step those
// commands completed: it reads no customer stream for them, only for the
// slot events, each once, and reads the member's stream once per slot
// event to see that nothing changed. A keeper of another process (another
// Handler) converges them all, and both record nothing.
func TestSlotKeeperSkipsWhatItsCommandsConverged(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		const adds = 20
		cl := &countingLog{EventLog: log}
		f := newFixture(t, cl, eraser, corp.Settings{})
		f.join("a")
		from := f.head()
		for i := range adds {
			f.add(fmt.Sprintf("c%d", i), "a")
		}
		head := f.headAfter(events.StaffStream(corpID, "a"))
		catchUp := func(h *commands.Handler) map[string]int {
			t.Helper()
			cp := &commands.MemoryCheckpoint{}
			if err := cp.Save(f.ctx, from); err != nil {
				t.Fatal(err)
			}
			k, err := commands.NewSlotKeeper(h, commands.SlotKeeperOptions{Checkpoint: cp, Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			cl.reset()
			if err := k.CatchUp(f.ctx); err != nil {
				t.Fatal(err)
			}
			return cl.reset()
		}
		// Each slot event: one look at the customer's tail, which is
		// still where the event was decided (see slotBasisMemo).
		if got := catchUp(f.h); got["customer"] != adds || got["staff"] != 0 {
			t.Errorf("reads of the commands' own keeper: %v, want customer %d (a look at the tail per slot event), staff 0", got, adds)
		}
		other, err := commands.New(commands.Options{Log: cl, Eraser: eraser, Clock: f.clock, Settings: commands.SettingsMap{corpID: f.set}})
		if err != nil {
			t.Fatal(err)
		}
		if got := catchUp(other); got["customer"] < 2*adds {
			t.Errorf("reads of another process's keeper: %v, want at least %d customer reads (every relation start and slot event)", got, 2*adds)
		}
		if after := f.headAfter(events.StaffStream(corpID, "a")); after != head {
			t.Errorf("the keepers recorded something: head %v, was %v", after, head)
		}
	})
}

// A slot event of the commands' own Handler whose customer moved on after
// the decision (here an edit behind the Handler's back, which by itself
// changes no slot and is not converged) is converged again by the keeper:
// the customer may have changed in a way the decision did not see.
func TestSlotKeeperConvergesSlotEventsWhoseCustomerMovedOn(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		cl := &countingLog{EventLog: log}
		f := newFixture(t, cl, eraser, corp.Settings{})
		f.join("a")
		from := f.head()
		f.add("c1", "a")
		f.add("c2", "a")
		f.raw(events.CustomerStream(corpID, "c1"), &events.CustomerRelationEdited{CustomerID: "c1", StaffID: "a", Tags: []string{"vip"}})
		cp := &commands.MemoryCheckpoint{}
		if err := cp.Save(f.ctx, from); err != nil {
			t.Fatal(err)
		}
		k, err := commands.NewSlotKeeper(f.h, commands.SlotKeeperOptions{Checkpoint: cp, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		cl.reset()
		if err := k.CatchUp(f.ctx); err != nil {
			t.Fatal(err)
		}
		// c2: a look at its tail. c1: a look, then the convergence reads
		// the member's new events (there are none to read, but it asks)
		// and the customer.
		if got := cl.reset(); got["customer"] != 3 || got["staff"] != 1 {
			t.Errorf("keeper reads %v, want customer 3 and staff 1 (c1 converged again, c2 only looked at)", got)
		}
	})
}

// heldAppendLog holds the first append to one stream, after it is stored,
// until released: the command that made it is between its customer append
// and its slot step.
type heldAppendLog struct {
	eventlog.EventLog
	stream  string
	stored  chan struct{}
	release chan struct{}
	once    sync.Once
}

func (l *heldAppendLog) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	res, err := l.EventLog.Append(ctx, stream, expected, evs...)
	if stream == l.stream {
		l.once.Do(func() {
			close(l.stored)
			<-l.release
		})
	}
	return res, err
}

// A slot this process decided on a customer stream that another process
// changed meanwhile is converged by this process's keeper: a relation
// start records its customer event; before its slot step, another process
// ends the relation (its convergence finds no slot to release) and this
// process's keeper handles both customer events (nothing to do yet); the
// slot step then reserves a slot on the customer as the command appended
// it. The keeper, handling that slot event, finds the customer's stream
// moved on since the decision and releases the slot.
func TestSlotKeeperConvergesASlotDecidedOnAStaleCustomer(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		held := &heldAppendLog{EventLog: log, stream: events.CustomerStream(corpID, "c1"),
			stored: make(chan struct{}), release: make(chan struct{})}
		f := newFixture(t, held, eraser, corp.Settings{})
		f.join("a")
		cp := &commands.MemoryCheckpoint{}
		if err := cp.Save(f.ctx, f.head()); err != nil {
			t.Fatal(err)
		}
		k, err := commands.NewSlotKeeper(f.h, commands.SlotKeeperOptions{Checkpoint: cp, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan error, 1)
		go func() {
			_, err := f.h.StartRelation(f.ctx, commands.StartRelation{Meta: meta(), CustomerID: "c1", StaffID: "a",
				Initiator: events.InitiatorStaff, AddWay: 1})
			started <- err
		}()
		<-held.stored
		other := newFixture(t, log, eraser, corp.Settings{})
		other.must(other.h.EndRelation(other.ctx, commands.EndRelation{Meta: meta(), CustomerID: "c1", StaffID: "a",
			Reason: events.EndDeletedByCustomer}))
		if err := k.CatchUp(f.ctx); err != nil {
			t.Fatal(err)
		}
		close(held.release)
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		if _, held := f.staff("a").Slot("c1"); !held {
			t.Fatal("the slot step did not reserve on the customer as the command appended it: the test does not build the race")
		}
		if err := k.CatchUp(f.ctx); err != nil {
			t.Fatal(err)
		}
		if _, held := f.staff("a").Slot("c1"); held {
			t.Error("a holds a slot for c1 after the keeper caught up, though the relation ended")
		}
	})
}
