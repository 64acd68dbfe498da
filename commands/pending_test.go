package commands_test

import (
	"testing"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestLogScanFindsPendingHandoversPerCorpAndDeadline(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		other, err := commands.New(commands.Options{Log: log, Eraser: eraser, Clock: f.clock, Settings: commands.DefaultSettings{}})
		if err != nil {
			t.Fatal(err)
		}
		f.join("a", "b")
		f.add("c1", "a")
		f.add("c2", "a")
		f.request(events.HandoverInService, "a", "b", "c1")
		f.clock.add(time.Hour)
		b := f.request(events.HandoverInService, "a", "b", "c2")
		f.must(f.h.RefuseHandover(f.ctx, commands.RefuseHandover{Meta: meta(), CustomerID: "c2", HandoverID: b.Outcomes[0].HandoverID}))
		f.request(events.HandoverInService, "a", "b", "c2")
		// Another corp's handover is not this corp's business.
		om := commands.Meta{CorpID: "corp2"}
		f.must(other.JoinStaff(f.ctx, commands.JoinStaff{Meta: om, StaffID: "a"}))
		f.must(other.JoinStaff(f.ctx, commands.JoinStaff{Meta: om, StaffID: "b"}))
		f.must(other.StartRelation(f.ctx, commands.StartRelation{Meta: om, CustomerID: "c1", StaffID: "a", Initiator: events.InitiatorStaff}))
		f.must(other.RequestHandover(f.ctx, commands.RequestHandover{Meta: om, Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: []string{"c1"}}))

		scan := &commands.LogScan{Log: log, PageSize: 3}
		all, err := scan.PendingHandovers(f.ctx, corpID, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0].CustomerID != "c1" || all[1].CustomerID != "c2" || all[1].ToStaffID != "b" {
			t.Fatalf("pending %+v", all)
		}
		due, err := scan.PendingHandovers(f.ctx, corpID, t0.Add(24*time.Hour))
		if err != nil || len(due) != 1 || due[0].CustomerID != "c1" || !due[0].Deadline.Equal(t0.Add(24*time.Hour)) {
			t.Fatalf("due %+v %v", due, err)
		}
	})
}
