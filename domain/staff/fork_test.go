package staff_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// replay appends ps to s as recorded events after its version.
func replay(t *testing.T, s *staff.Staff, ps ...events.Payload) {
	t.Helper()
	for _, p := range ps {
		enc, err := events.Encode("corp", p)
		if err != nil {
			t.Fatal(err)
		}
		rec := events.Recorded{Event: events.Event{Type: enc.Type, SchemaVersion: enc.SchemaVersion, OccurredAt: t0.Add(time.Duration(s.Version()+1) * time.Hour), Data: enc.Data}, StreamVersion: s.Version() + 1}
		if err := s.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
}

// TestForkChangesOnItsOwn: events replayed on a fork change the fork as
// they change the member (same state as the member given the same
// events), and leave the member as it was — on a member rebuilt from
// events and on one restored from a snapshot (slots in its read-only
// base), and on a fork of a fork.
func TestForkChangesOnItsOwn(t *testing.T) {
	given := []events.Payload{joined(3), slot("c1", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h2"),
		slot("c5", events.SlotForAdd, ""), &events.StaffSlotReleased{StaffID: "b", CustomerID: "c5", Reason: events.SlotReleasedRelationEnded}}
	more := []events.Payload{
		slot("c3", events.SlotForAdd, ""),
		&events.StaffSlotReleased{StaffID: "b", CustomerID: "c1", Reason: events.SlotReleasedRelationEnded},
		slot("c2", events.SlotForAdd, ""), // an add takes over the handover's slot
		slot("c5", events.SlotForAdd, ""),
		&events.StaffCapacityChanged{StaffID: "b", Capacity: 5},
	}
	rebuilt := load(t, given...)
	restored, err := staff.FromSnapshot("b", rebuilt.Version(), rebuilt.MarshalSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*staff.Staff{"rebuilt": rebuilt, "restored": restored} {
		t.Run(name, func(t *testing.T) {
			before := state(s)
			want := load(t, append(append([]events.Payload{}, given...), more...)...)

			f := s.Fork()
			replay(t, f, more[:2]...)
			ff := f.Fork()
			replay(t, ff, more[2:]...)
			if !reflect.DeepEqual(state(ff), state(want)) {
				t.Fatalf("fork of a fork: %v, want %v", state(ff), state(want))
			}
			mid := load(t, append(append([]events.Payload{}, given...), more[:2]...)...)
			if !reflect.DeepEqual(state(f), state(mid)) {
				t.Fatalf("fork after its own events and its fork's: %v, want %v", state(f), state(mid))
			}
			if !reflect.DeepEqual(state(s), before) {
				t.Fatalf("member changed by its forks: %v, want %v", state(s), before)
			}
			// Capacity counts the fork's own slots: full at 3 of 3 on the
			// fork, 2 of 3 on the member.
			replay(t, f, slot("c4", events.SlotForAdd, ""))
			if _, err := f.ReserveForHandover("c9", "h9", corpSettings()); err == nil {
				t.Fatal("the fork with 3 slots of 3 reserved a slot for a handover")
			}
			if pays, err := s.ReserveForHandover("c9", "h9", corpSettings()); err != nil || len(pays) != 1 {
				t.Fatalf("the member with 2 slots of 3: %v, %v", pays, err)
			}
		})
	}
}

func corpSettings() corp.Settings { return corp.Defaults() }
