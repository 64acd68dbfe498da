package commands_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/outreach"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func sendTo(msg string, customers ...string) commands.Outreach {
	return commands.Outreach{Meta: meta(), MessageID: msg, Channel: events.ChannelMassMessage, StaffID: "zs", CustomerIDs: customers}
}

// ledger is a customer's outreach ledger as the log holds it.
func (f *fixture) ledger(customerID string) *outreach.Ledger {
	f.t.Helper()
	l, err := outreach.RehydrateLedger(f.stream(events.OutreachCustomerStream(corpID, customerID)))
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

// TestOutreachConcurrentToolsNeverExceedTheCap: 16 marketing tools record
// sends of their own messages to overlapping audiences at once, on the
// real PostgreSQL log (and the in-memory one). Every customer ends with
// exactly min(cap, tools that targeted it) deliveries; every other attempt
// was refused for the cap; each tool's outcome matches the ledgers.
func TestOutreachConcurrentToolsNeverExceedTheCap(t *testing.T) {
	const tools, customers, audience, dayCap = 16, 40, 25, 3
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{MassMessageCapDay: dayCap})
		f.join("zs")
		ids := make([]string, customers)
		for i := range ids {
			ids[i] = fmt.Sprintf("c%02d", i)
			f.add(ids[i], "zs")
		}
		targeted := map[string]int{}
		audiences := make([][]string, tools)
		for i := range tools {
			for k := range audience {
				c := ids[(i*3+k)%customers]
				audiences[i] = append(audiences[i], c)
				targeted[c]++
			}
		}
		outcomes := make([]commands.OutreachOutcome, tools)
		errs := make([]error, tools)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range tools {
			wg.Go(func() {
				<-start
				cmd := sendTo(fmt.Sprintf("tool%02d-msg", i), audiences[i]...)
				cmd.CommandID = fmt.Sprintf("tool%02d-cmd", i)
				outcomes[i], errs[i] = f.h.RecordOutreach(f.ctx, cmd)
			})
		}
		close(start)
		wg.Wait()

		reached := map[string]int{}
		for i, o := range outcomes {
			if errs[i] != nil {
				t.Fatalf("tool %d: %v", i, errs[i])
			}
			if len(o.Reached)+len(o.Refused) != audience {
				t.Fatalf("tool %d: %d reached + %d refused of %d", i, len(o.Reached), len(o.Refused), audience)
			}
			for _, c := range o.Reached {
				reached[c]++
			}
			for _, r := range o.Refused {
				if !slices.Equal(r.Reasons, []string{events.OutreachCapDay}) {
					t.Fatalf("tool %d: %s refused for %v", i, r.CustomerID, r.Reasons)
				}
			}
		}
		day0, day1 := outreach.Bounds(corp.WindowDay, t0, f.set.Location())
		for _, c := range ids {
			l := f.ledger(c)
			want := min(dayCap, targeted[c])
			if n := l.Count(day0, day1); n != want || reached[c] != want {
				t.Errorf("%s: %d deliveries on the ledger, %d reported reached; want %d (targeted %d times)", c, n, reached[c], want, targeted[c])
			}
			// The delivery that used the last message says so, once.
			capped := 0
			for _, typ := range types(f.stream(events.OutreachCustomerStream(corpID, c))) {
				if typ == "outreach.cap_reached" {
					capped++
				}
			}
			if wantCapped := map[bool]int{true: 1, false: 0}[want == dayCap]; capped != wantCapped {
				t.Errorf("%s: %d outreach.cap_reached, want %d", c, capped, wantCapped)
			}
		}
		// Each message stream summarises its tool's outcome.
		for i, o := range outcomes {
			var sent, refused int
			for _, r := range f.stream(events.OutreachMessageStream(corpID, fmt.Sprintf("tool%02d-msg", i))) {
				p, err := events.DecodeRecorded(r)
				if err != nil {
					t.Fatal(err)
				}
				switch e := p.(type) {
				case *events.OutreachSent:
					sent += len(e.CustomerIDs)
				case *events.OutreachRefused:
					refused += len(e.Refused)
				}
			}
			if sent != len(o.Reached) || refused != len(o.Refused) {
				t.Errorf("tool %d: message stream %d sent / %d refused, outcome %d / %d", i, sent, refused, len(o.Reached), len(o.Refused))
			}
		}
	})
}

// TestOutreachConsentWithdrawnBetweenPlanAndSend: the plan says yes, the
// customer withdraws marketing consent, the send refuses them and records
// why; the other customer is reached.
func TestOutreachConsentWithdrawnBetweenPlanAndSend(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("zs")
		f.add("c1", "zs")
		f.add("c2", "zs")
		_, verdicts, err := f.h.PlanOutreach(f.ctx, commands.PlanOutreach{Outreach: sendTo("spring", "c1", "c2"), Text: "春季新品上市"})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range verdicts {
			if len(v.Reasons) != 0 || len(v.Allowances) != 1 || v.Allowances[0].Remaining() != 31 {
				t.Fatalf("plan verdict %+v", v)
			}
		}
		f.clock.add(time.Hour)
		f.must(f.h.RecordConsent(f.ctx, commands.RecordConsent{Meta: meta(), CustomerID: "c1",
			Purpose: events.PurposeMarketing, State: events.ConsentDisagree}))
		f.clock.add(time.Hour)
		out, err := f.h.RecordOutreach(f.ctx, sendTo("spring", "c1", "c2"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.Reached, []string{"c2"}) || len(out.Refused) != 1 || out.Refused[0].CustomerID != "c1" ||
			!slices.Equal(out.Refused[0].Reasons, []string{events.OutreachConsentWithdrawn}) {
			t.Fatalf("outcome %+v", out)
		}
		if got := types(f.stream(events.OutreachMessageStream(corpID, "spring"))); !slices.Equal(got,
			[]string{"outreach.planned", "outreach.sent", "outreach.refused"}) {
			t.Fatalf("message stream %v", got)
		}
		if n := len(f.stream(events.OutreachCustomerStream(corpID, "c1"))); n != 0 {
			t.Fatalf("refused customer has %d ledger events", n)
		}
		// The plan is made once; a send through another member contradicts it.
		if _, _, err := f.h.PlanOutreach(f.ctx, commands.PlanOutreach{Outreach: sendTo("spring", "c1")}); !errors.Is(err, outreach.ErrAlreadyPlanned) {
			t.Fatalf("second plan: %v", err)
		}
		other := sendTo("spring", "c2")
		other.StaffID = "ls"
		var fe *commands.FieldError
		if _, err := f.h.RecordOutreach(f.ctx, other); !errors.As(err, &fe) || fe.Field != "staff_id" {
			t.Fatalf("send through another member: %v", err)
		}
	})
}

// TestOutreachCapChangedMidMonth: with the corp's settings read from its
// settings stream, lowering the month cap mid-month to the old rule (4)
// applies to what remains; the last message of March at 23:59:59 Beijing
// time is refused, the first of April at 00:00:00 reaches the customer.
func TestOutreachCapChangedMidMonth(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		h, err := commands.New(commands.Options{Log: log, Eraser: eraser, Clock: f.clock, Settings: &commands.LogSettings{Log: log}})
		if err != nil {
			t.Fatal(err)
		}
		f.h = h
		f.join("zs")
		f.add("c1", "zs")
		bj := time.FixedZone("CST", 8*3600)
		send := func(msg string, at time.Time) commands.OutreachOutcome {
			t.Helper()
			f.clock.set(at.Add(time.Minute))
			cmd := sendTo(msg, "c1")
			cmd.OccurredAt = at
			out, err := f.h.RecordOutreach(f.ctx, cmd)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		for d := 2; d <= 4; d++ {
			if out := send(fmt.Sprintf("m%d", d), time.Date(2026, 3, d, 10, 0, 0, 0, bj)); len(out.Reached) != 1 {
				t.Fatalf("March %d: %+v", d, out)
			}
		}
		f.must(f.h.ChangeCorpSettings(f.ctx, commands.ChangeCorpSettings{Meta: meta(),
			Changes: map[string]string{"mass_message_cap_month": "4"}}))
		if out := send("m5", time.Date(2026, 3, 5, 10, 0, 0, 0, bj)); len(out.Reached) != 1 {
			t.Fatalf("the fourth of March under cap 4: %+v", out)
		}
		out := send("m31", time.Date(2026, 3, 31, 23, 59, 59, 0, bj))
		if len(out.Refused) != 1 || !slices.Equal(out.Refused[0].Reasons, []string{events.OutreachCapMonth}) {
			t.Fatalf("March 31st 23:59:59: %+v", out)
		}
		if out := send("apr1", time.Date(2026, 4, 1, 0, 0, 0, 0, bj)); len(out.Reached) != 1 {
			t.Fatalf("April 1st 00:00:00: %+v", out)
		}
	})
}

// TestOutreachRetriesAndReports: a retried command changes nothing; WeCom
// reporting the same send records nothing twice; WeCom reporting a send
// over the cap records it flagged.
func TestOutreachRetriesAndReports(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{MassMessageCapDay: 1})
		f.join("zs")
		f.add("c1", "zs")
		cmd := sendTo("m1", "c1")
		cmd.CommandID = "tool-1"
		first, err := f.h.RecordOutreach(f.ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		again, err := f.h.RecordOutreach(f.ctx, cmd)
		if err != nil || !again.Replayed || !slices.Equal(again.Reached, first.Reached) {
			t.Fatalf("retry: %+v, %v", again, err)
		}
		report := sendTo("m1", "c1")
		report.ReportedByWeCom = true
		out, err := f.h.RecordOutreach(f.ctx, report)
		if err != nil || !slices.Equal(out.Reached, []string{"c1"}) || len(out.Events) != 0 {
			t.Fatalf("WeCom's report of a recorded send: %+v, %v", out, err)
		}
		over := sendTo("m2", "c1")
		over.ReportedByWeCom = true
		out, err = f.h.RecordOutreach(f.ctx, over)
		if err != nil || len(out.Flagged) != 1 || !slices.Equal(out.Flagged[0].Reasons, []string{events.OutreachCapDay}) {
			t.Fatalf("WeCom's report over the cap: %+v, %v", out, err)
		}
		if got := types(f.stream(events.OutreachCustomerStream(corpID, "c1"))); !slices.Equal(got,
			[]string{"outreach.delivered", "outreach.cap_reached", "outreach.delivered"}) {
			t.Fatalf("ledger %v", got)
		}
		if vs, err := f.h.CheckOutreach(f.ctx, sendTo("m3", "c1")); err != nil || !slices.Equal(vs[0].Reasons, []string{events.OutreachCapDay}) ||
			vs[0].Allowances[0].Used != 2 {
			t.Fatalf("check after: %+v, %v", vs, err)
		}
	})
}

// TestOutreachBadInput: malformed commands are refused with the field,
// and nothing is recorded.
func TestOutreachBadInput(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		head := f.head()
		many := make([]string, commands.MaxOutreachRecipients+1)
		for i := range many {
			many[i] = fmt.Sprint(i)
		}
		for _, tc := range []struct {
			field string
			cmd   commands.Outreach
		}{
			{"message_id", commands.Outreach{Meta: meta(), Channel: events.ChannelMassMessage, StaffID: "zs", CustomerIDs: []string{"c1"}}},
			{"staff_id", commands.Outreach{Meta: meta(), MessageID: "m", Channel: events.ChannelMassMessage, CustomerIDs: []string{"c1"}}},
			{"channel", commands.Outreach{Meta: meta(), MessageID: "m", Channel: "sms", StaffID: "zs", CustomerIDs: []string{"c1"}}},
			{"customer_ids", sendTo("m")},
			{"customer_ids", sendTo("m", "c1", "")},
			{"customer_ids", sendTo("m", "c\x00")},
			{"customer_ids", sendTo("m", many...)},
			{"chat_ids", commands.Outreach{Meta: meta(), MessageID: "m", Channel: events.ChannelMassMessage, StaffID: "zs",
				CustomerIDs: []string{"c1"}, ChatIDs: []string{"g"}}},
			{"chat_ids", commands.Outreach{Meta: meta(), MessageID: "m", Channel: events.ChannelGroupMassMessage, StaffID: "zs"}},
		} {
			var fe *commands.FieldError
			if _, err := f.h.RecordOutreach(f.ctx, tc.cmd); !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, tc.field) {
				t.Errorf("%s: %v", tc.field, err)
			}
		}
		var fe *commands.FieldError
		if _, _, err := f.h.PlanOutreach(f.ctx, commands.PlanOutreach{Outreach: sendTo("m", "c1"), Text: "a\rb"}); !errors.As(err, &fe) || fe.Field != "text" {
			t.Errorf("text: %v", err)
		}
		if f.head() != head {
			t.Fatal("a refused command recorded something")
		}
	})
}

// TestOutreachDepartedMember: a departed member's relations stay
// (unassigned) but nothing is sent through the member.
func TestOutreachDepartedMember(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("zs")
		f.add("c1", "zs")
		f.must(f.h.DepartStaff(f.ctx, commands.DepartStaff{Meta: meta(), StaffID: "zs"}))
		out, err := f.h.RecordOutreach(f.ctx, sendTo("m1", "c1"))
		if err != nil || len(out.Refused) != 1 || !slices.Equal(out.Refused[0].Reasons, []string{events.OutreachStaffDeparted}) {
			t.Fatalf("send through a departed member: %+v, %v", out, err)
		}
	})
}

// TestOutreachPersonalText: a text flagged personal is kept out of the
// event's data and sealed under the sending member; an unflagged one is
// plain data.
func TestOutreachPersonalText(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("zs")
		f.add("c1", "zs")
		for _, personal := range []bool{true, false} {
			msg := fmt.Sprintf("m-%v", personal)
			if _, _, err := f.h.PlanOutreach(f.ctx, commands.PlanOutreach{Outreach: sendTo(msg, "c1"), Text: "王五您好", Personal: personal}); err != nil {
				t.Fatal(err)
			}
			recs := f.stream(events.OutreachMessageStream(corpID, msg))
			if len(recs) != 1 {
				t.Fatalf("%d events", len(recs))
			}
			inData := strings.Contains(string(recs[0].Data), "王五")
			if inData == personal || (personal && recs[0].Subject != events.StaffSubject(corpID, "zs")) {
				t.Fatalf("personal=%v: data %s, subject %q", personal, recs[0].Data, recs[0].Subject)
			}
			p, err := events.DecodeRecorded(recs[0])
			if err != nil {
				t.Fatal(err)
			}
			if e := p.(*events.OutreachPlanned); e.Text+e.PII.Text != "王五您好" {
				t.Fatalf("personal=%v: read back %+v", personal, e)
			}
		}
	})
}
