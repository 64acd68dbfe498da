package commands_test

import (
	"context"
	"errors"
	"github.com/custody/custody/adapters/testkit/poll"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// startKeeper runs a SlotKeeper of a fresh handler (a process of its own)
// until the test ends and returns it with its checkpoint.
func (f *fixture) startKeeper(t *testing.T, from events.Position) (*commands.SlotKeeper, *commands.MemoryCheckpoint, func() error) {
	t.Helper()
	h, err := commands.New(commands.Options{Log: f.log, Eraser: f.eraser, Clock: f.clock, Settings: commands.SettingsMap{corpID: f.set}, SnapshotEvery: testSnapshotEvery})
	if err != nil {
		t.Fatal(err)
	}
	commands.DeltasOften(h)
	cp := &commands.MemoryCheckpoint{}
	if err := cp.Save(f.ctx, from); err != nil {
		t.Fatal(err)
	}
	k, err := commands.NewSlotKeeper(h, commands.SlotKeeperOptions{Checkpoint: cp, Logger: quietLogger, SaveEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return k, cp, stop
}

// TestSlotKeeperRunCompletesAKilledRequest: a process is killed between
// recording a handover and reserving its slot, as in the report (a batch
// to b without Idempotency-Key, kill -9). A restarted process's keeper,
// following the log live, reserves the slot without anyone retrying, and
// goes on converging drift that appears while it runs.
func TestSlotKeeperRunCompletesAKilledRequest(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		start := f.head()
		f.join("a", "b")
		for _, c := range []string{"c1", "c2", "c3"} {
			f.add(c, "a")
		}
		killed := &crashLog{EventLog: log, allow: 1}
		h, err := commands.New(commands.Options{Log: killed, Eraser: eraser, Clock: f.clock, Settings: commands.SettingsMap{corpID: f.set}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.RequestHandover(f.ctx, commands.RequestHandover{Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: []string{"c1", "c2", "c3"}})
		if !errors.Is(err, errKilled) {
			t.Fatalf("the killed request returned %v", err)
		}
		if v := slotViolations(f.since(start), corpID, f.set); len(v) != 1 {
			t.Fatalf("after the kill: %q, want the pending handover of c1 without a slot", v)
		}

		k, cp, stop := f.startKeeper(t, start)
		poll.Until(t, "the keeper reserved the slot", func() bool {
			return len(slotViolations(f.since(start), corpID, f.set)) == 0
		})
		if !f.staff("b").Holds("c1") {
			t.Fatal("b holds no slot for c1")
		}

		// Drift appearing while the keeper runs is converged too.
		f.raw(events.CustomerStream(corpID, "c9"), &events.CustomerRelationStarted{CustomerID: "c9", StaffID: "b", Initiator: events.InitiatorStaff, StartedBy: events.StartedByAdd})
		poll.Until(t, "the keeper took the slot of a live add", func() bool { return f.staff("b").Holds("c9") })

		head := f.head()
		poll.Until(t, "the keeper reached the head", func() bool { return !k.Position().Less(head) })
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
		if pos, _ := cp.Load(f.ctx); pos != k.Position() || pos.Less(head) {
			t.Fatalf("checkpoint %v, keeper at %v, head %v", pos, k.Position(), head)
		}
		f.checkInvariant(t, start, corpID)
	})
}
