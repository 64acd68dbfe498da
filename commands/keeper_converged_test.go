package commands_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// failingStaffLog fails the next append to a staff stream, as a process
// dying between a command's customer append and its slot append would.
type failingStaffLog struct {
	eventlog.EventLog
	mu   sync.Mutex
	fail bool
}

func (l *failingStaffLog) Append(ctx context.Context, stream string, exp eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	l.mu.Lock()
	fail := l.fail && strings.HasPrefix(stream, "staff-")
	if fail {
		l.fail = false
	}
	l.mu.Unlock()
	if fail {
		return eventlog.AppendResult{}, errors.New("injected: staff append failed")
	}
	return l.EventLog.Append(ctx, stream, exp, evs...)
}

// TestSlotKeeperPassesOverPairsConverged: the keeper of the process whose
// command converged a relation start's pair reads nothing for that
// relation start (its customer event and its slot event); a pair another
// process's command converged, or one whose convergence failed, the
// keeper converges as before.
func TestSlotKeeperPassesOverPairsConverged(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		fl := &failingStaffLog{EventLog: log}
		cl := &countingLog{EventLog: fl, reads: map[string]int{}}
		f := newFixture(t, cl, eraser, corp.Settings{})
		cp := &commands.MemoryCheckpoint{}
		start := f.head()
		if err := cp.Save(f.ctx, start); err != nil {
			t.Fatal(err)
		}
		k, err := commands.NewSlotKeeper(f.h, commands.SlotKeeperOptions{Checkpoint: cp, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		catchUp := func() map[string]int {
			t.Helper()
			cl.reset()
			if err := k.CatchUp(f.ctx); err != nil {
				t.Fatal(err)
			}
			return cl.reset()
		}
		f.join("a")
		catchUp()

		f.add("c1", "a")
		if got := catchUp(); got["customer"] != 0 || got["staff"] != 0 {
			t.Errorf("keeper reads after a relation start this process converged: %v, want none", got)
		}

		// Another process's command: this keeper converges its pair.
		other := newFixture(t, log, eraser, corp.Settings{})
		other.add("c2", "a")
		if got := catchUp(); got["customer"] == 0 {
			t.Errorf("keeper reads after another process's relation start: %v, want the customer's stream read", got)
		}

		// This process's command whose slot append failed: the keeper
		// reserves the slot.
		fl.mu.Lock()
		fl.fail = true
		fl.mu.Unlock()
		_, err = f.h.StartRelation(f.ctx, commands.StartRelation{Meta: meta(), CustomerID: "c3", StaffID: "a", Initiator: events.InitiatorStaff})
		if err == nil {
			t.Fatal("the relation start whose slot append failed succeeded")
		}
		if got := catchUp(); got["customer"] == 0 {
			t.Errorf("keeper reads after a failed convergence: %v, want the customer's stream read", got)
		}
		s := f.staff("a")
		for _, c := range []string{"c1", "c2", "c3"} {
			if !s.Holds(c) {
				t.Errorf("a holds no slot for %s", c)
			}
		}
		f.checkInvariant(t, start, corpID)
	})
}
