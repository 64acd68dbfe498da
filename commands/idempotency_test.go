package commands_test

import (
	"sync"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestSameCommandIDTwiceRecordsOnce(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")

		start := commands.StartRelation{Meta: meta(), CustomerID: "c1", StaffID: "a", Initiator: events.InitiatorCustomer, Remark: "r"}
		start.CommandID = "cmd-start-1"
		first, err := f.h.StartRelation(f.ctx, start)
		if err != nil || first.Replayed || len(first.Events) != 1 {
			t.Fatalf("first: %+v %v", first, err)
		}
		streams := []string{events.CustomerStream(corpID, "c1"), events.StaffStream(corpID, "a"), events.StaffStream(corpID, "b")}
		head := f.headAfter(streams...)
		second, err := f.h.StartRelation(f.ctx, start)
		if err != nil || !second.Replayed || len(second.Events) != 1 || second.Events[0].ID != first.Events[0].ID {
			t.Fatalf("second: %+v %v", second, err)
		}
		if f.headAfter(streams...) != head {
			t.Fatal("the retried command appended")
		}

		req := commands.RequestHandover{Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: []string{"c1"}}
		req.CommandID = "cmd-handover-1"
		b1, err := f.h.RequestHandover(f.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		head = f.headAfter(streams...)
		b2, err := f.h.RequestHandover(f.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if f.headAfter(streams...) != head {
			t.Fatal("the retried handover request appended")
		}
		o1, o2 := b1.Outcomes[0], b2.Outcomes[0]
		if b1.BatchID != b2.BatchID || o1.HandoverID != o2.HandoverID || o2.Status != customer.StatusPending || !o2.Replayed || o1.Replayed || !o1.Deadline.Equal(o2.Deadline) {
			t.Fatalf("outcomes differ:\n%+v\n%+v", o1, o2)
		}
		if got := f.customerTypes("c1"); !equal(got, []string{tStarted, tRequested}) {
			t.Fatalf("customer stream %v", got)
		}
		if got := types(f.stream(events.StaffStream(corpID, "b"))); !equal(got, []string{tJoined, tReserved}) {
			t.Fatalf("target stream %v", got)
		}
	})
}

// TestSameCommandIDConcurrently: the same command delivered twice at once
// (a client retrying while the first is still running) records once.
func TestSameCommandIDConcurrently(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		for i := range 20 {
			cmd := commands.StartRelation{Meta: meta(), CustomerID: "c" + itoa(i), StaffID: "a", Initiator: events.InitiatorStaff}
			cmd.CommandID = "cmd-" + itoa(i)
			var wg sync.WaitGroup
			results := make([]commands.Result, 4)
			for j := range results {
				wg.Go(func() {
					var err error
					if results[j], err = f.h.StartRelation(f.ctx, cmd); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := f.customerTypes(cmd.CustomerID); !equal(got, []string{tStarted}) {
				t.Fatalf("%s: %v", cmd.CustomerID, got)
			}
			for _, r := range results {
				if len(r.Events) != 1 || r.Events[0].ID != results[0].Events[0].ID {
					t.Fatalf("results differ: %+v", results)
				}
			}
		}
		if used := f.staff("a").Used(); used != 20 {
			t.Fatalf("slots %d, want 20", used)
		}
	})
}
