package commands_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

func TestEraseCustomer(t *testing.T) {
	eachLog(t, func(t *testing.T, log commands.EventLog, eraser commands.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		f.add("c1", "a")
		f.must(f.h.OptOutMoments(f.ctx, commands.OptOutMoments{Meta: meta(), CustomerID: "c1", StaffID: "a", Source: "tool"}))
		cmd := commands.EraseCustomer{Meta: meta(), CustomerID: "c1"}
		cmd.CommandID = "erase-1"
		res, err := f.h.EraseCustomer(f.ctx, cmd)
		if err != nil || len(res.Events) != 1 || res.Events[0].Type != "customer.erased" {
			t.Fatalf("erase: %+v %v", res, err)
		}
		if _, err := f.h.EraseCustomer(f.ctx, cmd); err != nil {
			t.Fatal(err)
		}
		subject := events.CustomerSubject(corpID, "c1")
		if len(f.eraser.subjects) != 2 || f.eraser.subjects[0] != subject {
			t.Fatalf("eraser calls %v", f.eraser.subjects)
		}
		recs := f.stream(events.CustomerStream(corpID, "c1"))
		if got := types(recs); !equal(got, []string{tStarted, "moments.opted_out", "customer.erased"}) {
			t.Fatalf("stream %v", got)
		}
		if !recs[0].PIIErased || strings.Contains(string(recs[0].PII), "老客户") {
			t.Fatalf("personal data still readable: erased=%v pii=%s", recs[0].PIIErased, recs[0].PII)
		}
		if _, err := f.h.StartRelation(f.ctx, commands.StartRelation{Meta: meta(), CustomerID: "c1", StaffID: "b", Initiator: events.InitiatorCustomer}); !errors.Is(err, customer.ErrErased) {
			t.Fatalf("relation after erasure: %v", err)
		}
		if _, err := f.h.RecordConsent(f.ctx, commands.RecordConsent{Meta: meta(), CustomerID: "c1", Purpose: events.PurposeMarketing, State: events.ConsentDisagree}); err != nil {
			t.Fatalf("withdrawing consent after erasure: %v", err)
		}
		if _, err := f.h.EndRelation(f.ctx, commands.EndRelation{Meta: meta(), CustomerID: "c1", StaffID: "a", Reason: events.EndDeletedByStaff}); err != nil {
			t.Fatalf("ending a relation after erasure: %v", err)
		}
	})
}

func TestMomentsAndConsentCommands(t *testing.T) {
	eachLog(t, func(t *testing.T, log commands.EventLog, eraser commands.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		f.add("c1", "a")
		out := commands.OptOutMoments{Meta: meta(), CustomerID: "c1", StaffID: "a"}
		f.must(f.h.OptOutMoments(f.ctx, out))
		if res, err := f.h.OptOutMoments(f.ctx, out); err != nil || len(res.Events) != 0 {
			t.Fatalf("second opt-out: %+v %v", res, err)
		}
		f.must(f.h.OptInMoments(f.ctx, commands.OptInMoments{Meta: meta(), CustomerID: "c1", StaffID: "a"}))
		f.must(f.h.RecordConsent(f.ctx, commands.RecordConsent{Meta: meta(), CustomerID: "c1", Purpose: events.PurposeChatArchive, State: events.ConsentAgree}))
		recs := f.stream(events.CustomerStream(corpID, "c1"))
		if got := types(recs); !equal(got, []string{tStarted, "moments.opted_out", "moments.opted_in", "consent.recorded"}) {
			t.Fatalf("stream %v", got)
		}
		if c := decode(t, recs[3]).(*events.ConsentRecorded); !c.ChangedAt.Equal(t0) || c.State != events.ConsentAgree {
			t.Fatalf("consent %+v", c)
		}
	})
}
