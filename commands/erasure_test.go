package commands_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestEraseCustomer(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
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
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
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

func TestEraseStaff(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		f.must(f.h.CreateGroupChat(f.ctx, commands.CreateGroupChat{Meta: meta(), ChatID: "g1", OwnerID: "a", Name: "VIP"}))
		member := func(id, typ, nick string) {
			f.must(f.h.JoinGroupChat(f.ctx, commands.JoinGroupChat{
				Meta: meta(), ChatID: "g1", MemberID: id, MemberType: typ, JoinScene: events.JoinInvited, Nickname: nick,
			}))
		}
		member("a", events.MemberStaff, "店长小张")
		member("b", events.MemberStaff, "小李")
		member("c1", events.MemberCustomer, "王五")
		// A member custody never saw join is a data subject through their
		// group nickname alone.
		member("x", events.MemberStaff, "外援")

		cmd := commands.EraseStaff{Meta: meta(), StaffID: "a"}
		cmd.CommandID = "erase-staff-1"
		res, err := f.h.EraseStaff(f.ctx, cmd)
		if err != nil || len(res.Events) != 1 || res.Events[0].Type != "staff.erased" {
			t.Fatalf("erase: %+v %v", res, err)
		}
		again := commands.EraseStaff{Meta: meta(), StaffID: "a"}
		if res, err := f.h.EraseStaff(f.ctx, again); err != nil || len(res.Events) != 0 {
			t.Fatalf("second erasure (new command id): %+v %v", res, err)
		}
		subject := events.StaffSubject(corpID, "a")
		if len(f.eraser.subjects) != 2 || f.eraser.subjects[0] != subject || f.eraser.subjects[1] != subject {
			t.Fatalf("eraser calls %v", f.eraser.subjects)
		}
		recs := f.stream(events.StaffStream(corpID, "a"))
		if got := types(recs); !equal(got, []string{"staff.joined", "staff.slot_reserved", "staff.erased"}) {
			t.Fatalf("stream %v", got)
		}
		if !recs[0].PIIErased || strings.Contains(string(recs[0].PII), "name of a") {
			t.Fatalf("staff name still readable: erased=%v pii=%s", recs[0].PIIErased, recs[0].PII)
		}
		if !f.staff("a").Erased() || f.staff("b").Erased() {
			t.Fatal("Erased() after erasing a but not b")
		}
		nicks := map[string]events.Recorded{}
		for _, r := range f.stream(events.GroupChatStream(corpID, "g1")) {
			if r.Type == "groupchat.member_joined" {
				nicks[decode(t, r).(*events.GroupChatMemberJoined).MemberID] = r
			}
		}
		if r := nicks["a"]; !r.PIIErased || strings.Contains(string(r.PII), "小张") {
			t.Fatalf("erased member's nickname still readable: erased=%v pii=%s", r.PIIErased, r.PII)
		}
		for _, id := range []string{"b", "c1"} {
			if r := nicks[id]; r.PIIErased || len(r.PII) == 0 {
				t.Fatalf("%s's nickname lost with a's erasure: erased=%v pii=%s", id, r.PIIErased, r.PII)
			}
		}

		// The erased member keeps serving: customers, capacity, departure.
		f.add("c2", "a")
		f.must(f.h.ChangeStaffCapacity(f.ctx, commands.ChangeStaffCapacity{Meta: meta(), StaffID: "a", Capacity: 50}))
		f.must(f.h.DepartStaff(f.ctx, commands.DepartStaff{Meta: meta(), StaffID: "a"}))

		// The never-joined member: erased, then joining with a name is
		// refused (no name is sealed again); joining without one is not.
		f.must(f.h.EraseStaff(f.ctx, commands.EraseStaff{Meta: meta(), StaffID: "x"}))
		if r := nicks["x"]; len(r.PII) == 0 {
			t.Fatal("x's nickname was not readable before the erasure")
		}
		if _, err := f.h.JoinStaff(f.ctx, commands.JoinStaff{Meta: meta(), StaffID: "x", Name: "外援"}); !errors.Is(err, staff.ErrErased) {
			t.Fatalf("join with a name after erasure: %v", err)
		}
		f.must(f.h.JoinStaff(f.ctx, commands.JoinStaff{Meta: meta(), StaffID: "x", Capacity: 5}))
		for _, r := range f.stream(events.GroupChatStream(corpID, "g1")) {
			if r.Type == "groupchat.member_joined" && decode(t, r).(*events.GroupChatMemberJoined).MemberID == "x" && !r.PIIErased {
				t.Fatalf("x's nickname readable after x's erasure: %s", r.PII)
			}
		}
	})
}
