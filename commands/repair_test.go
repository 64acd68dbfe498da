package commands_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// raw appends what an older custody (or a process killed between two
// appends) left in the log, behind the handler's back.
func (f *fixture) raw(stream string, p events.Payload) {
	f.t.Helper()
	ev, err := events.New(uuid.New(), events.Meta{CorpID: corpID, OccurredAt: t0, Actor: "system"}, p)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.log.Append(f.ctx, stream, eventlog.ExpectAny, ev); err != nil {
		f.t.Fatal(err)
	}
}

// TestRepairSlotsConvergesDriftedLogs builds the drift the old write order
// left behind and a crash can still leave (a reservation for a handover
// never recorded, a relation without a slot, a slot kept after its
// relation ended, pending handovers without a slot, one of them to a full
// target) and shows that RepairSlots fixes all of it, and that a second
// repair changes nothing.
func TestRepairSlotsConvergesDriftedLogs(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		start := f.head()
		f.join("a")
		f.must(f.h.JoinStaff(f.ctx, commands.JoinStaff{Meta: meta(), StaffID: "b", Capacity: 2}))
		cust := func(id string) string { return events.CustomerStream(corpID, id) }
		staffB := events.StaffStream(corpID, "b")
		deadline := t0.Add(24 * time.Hour)

		// c1: a relation without a slot (killed before the slot).
		f.raw(cust("c1"), &events.CustomerRelationStarted{CustomerID: "c1", StaffID: "a", Initiator: events.InitiatorStaff, StartedBy: events.StartedByAdd})
		// c2: an orphan reservation on b for a handover never recorded.
		f.add("c2", "a")
		f.raw(staffB, &events.StaffSlotReserved{StaffID: "b", CustomerID: "c2", Reason: events.SlotForHandover, HandoverID: "ghost"})
		// c3: the relation ended, its slot was never released.
		f.add("c3", "a")
		f.raw(cust("c3"), &events.CustomerRelationEnded{CustomerID: "c3", StaffID: "a", Reason: events.EndDeletedByCustomer})
		// c4, c5, c6: handovers to b recorded, their reservations never
		// made; b has room for two once the orphan is gone.
		for _, c := range []string{"c4", "c5", "c6"} {
			f.add(c, "a")
			f.raw(cust(c), &events.HandoverRequested{HandoverID: "h-" + c, CustomerID: c, Kind: events.HandoverInService,
				FromStaffID: "a", ToStaffID: "b", Deadline: deadline})
		}

		wantBefore := []string{
			"a follows c1 without a slot",
			"a holds a slot for c3 (added ) without an active relation or a pending handover",
			"b has a pending handover of c4 without a slot",
			"b has a pending handover of c5 without a slot",
			"b has a pending handover of c6 without a slot",
			"b holds a slot for c2 (handover ghost) without an active relation or a pending handover",
		}
		if got := slotViolations(f.since(start), corpID, f.set); fmt.Sprint(got) != fmt.Sprint(wantBefore) {
			t.Fatalf("the drifted log:\n got %q\nwant %q", got, wantBefore)
		}

		rep, err := f.h.RepairSlots(f.ctx, corpID)
		if err != nil {
			t.Fatal(err)
		}
		f.checkInvariant(t, start, corpID)
		got := map[string]string{}
		for _, r := range rep.Repairs {
			var s string
			for _, e := range r.Events {
				switch p := decode(t, e).(type) {
				case *events.StaffSlotReserved:
					s += "reserved/" + p.Reason + " "
				case *events.StaffSlotReleased:
					s += "released/" + p.Reason + " "
				case *events.HandoverFailed:
					s += "failed/" + p.Reason + " "
				}
			}
			got[r.CustomerID+"/"+r.StaffID] = s
		}
		want := map[string]string{
			"c1/a": "reserved/added ",
			"c2/b": "released/orphaned ",
			"c3/a": "released/relation_ended ",
			"c4/b": "reserved/handover ",
			"c5/b": "reserved/handover ",
			"c6/b": "failed/target_at_capacity ",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("repairs\n got %v\nwant %v", got, want)
		}
		if rep.Pairs != 10 || fmt.Sprint(rep.Corps) != "["+corpID+"]" {
			t.Fatalf("report: %d pairs in %v", rep.Pairs, rep.Corps)
		}

		head := f.head()
		again, err := f.h.RepairSlots(f.ctx, "")
		if err != nil || len(again.Repairs) != 0 || f.head() != head {
			t.Fatalf("second repair: %+v %v (head moved: %v)", again.Repairs, err, f.head() != head)
		}
	})
}

// TestRepairSlotsOfUnknownCorp: asked for a corp the settings do not
// know, repair says so; asked for every corp, it skips it.
func TestRepairSlotsOfUnknownCorp(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		ev, err := events.New(uuid.New(), events.Meta{CorpID: "other", OccurredAt: t0, Actor: "system"},
			&events.CustomerRelationStarted{CustomerID: "c1", StaffID: "a", Initiator: events.InitiatorStaff, StartedBy: events.StartedByAdd})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(f.ctx, events.CustomerStream("other", "c1"), eventlog.ExpectAny, ev); err != nil {
			t.Fatal(err)
		}
		if _, err := f.h.RepairSlots(f.ctx, "other"); err == nil {
			t.Fatal("repair of an unknown corp succeeded")
		}
		rep, err := f.h.RepairSlots(f.ctx, "")
		if err != nil || fmt.Sprint(rep.Skipped) != "[other]" || len(rep.Repairs) != 0 {
			t.Fatalf("repair of every corp: %+v %v", rep, err)
		}
	})
}
