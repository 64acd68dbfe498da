package outreach_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/outreach"
	"github.com/custody/custody/events"
)

const cust, staff = "wmCust", "zhangsan"

var sh = mustLoc("Asia/Shanghai")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// cst is a wall-clock time in Beijing.
func cst(y int, m time.Month, d, h, min, s int) time.Time {
	return time.Date(y, m, d, h, min, s, 0, sh)
}

type fact struct {
	at time.Time
	p  events.Payload
}

func recorded(t *testing.T, stream string, facts []fact) []events.Recorded {
	t.Helper()
	out := make([]events.Recorded, len(facts))
	for i, f := range facts {
		enc, err := events.Encode("corp", f.p)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = events.Recorded{
			Event: events.Event{Type: enc.Type, SchemaVersion: enc.SchemaVersion, CorpID: "corp", OccurredAt: f.at.UTC(),
				Data: enc.Data, PII: enc.PII, Subject: enc.Subject},
			Stream: stream, StreamVersion: int64(i),
		}
	}
	return out
}

// follower is a customer with an active relation with staff.
func follower(t *testing.T, extra ...fact) *customer.Customer {
	t.Helper()
	facts := append([]fact{{cst(2025, 12, 1, 9, 0, 0), &events.CustomerRelationStarted{CustomerID: cust, StaffID: staff,
		Initiator: events.InitiatorStaff, AddWay: 1, StartedBy: events.StartedByAdd}}}, extra...)
	c, err := customer.Rehydrate(cust, recorded(t, events.CustomerStream("corp", cust), facts))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sentAt is a ledger with one counted mass message at each time.
func sentAt(t *testing.T, times ...time.Time) *outreach.Ledger {
	t.Helper()
	var facts []fact
	for i, at := range times {
		facts = append(facts, fact{at, &events.OutreachDelivered{MessageID: "m" + string(rune('a'+i%26)) + at.Format("150405.000000"),
			Channel: events.ChannelMassMessage, StaffID: staff, CustomerID: cust, ReportedBy: events.ReportedByCustody, Counted: true}})
	}
	l, err := outreach.RehydrateLedger(recorded(t, events.OutreachCustomerStream("corp", cust), facts))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// daily returns n times, one per day from the first.
func daily(first time.Time, n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = first.AddDate(0, 0, i)
	}
	return out
}

func settings(t *testing.T, changes map[string]string) corp.Settings {
	t.Helper()
	s, err := corp.Defaults().Apply(changes)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func send(at time.Time) outreach.Send {
	return outreach.Send{MessageID: "new", Channel: events.ChannelMassMessage, StaffID: staff, At: at, ReportedBy: events.ReportedByCustody}
}

// TestCapEdges decides sends at the edges of the cap windows.
func TestCapEdges(t *testing.T) {
	defaults := corp.Defaults()
	week7 := settings(t, map[string]string{"mass_message_cap_week": "7"})
	old4 := settings(t, map[string]string{"mass_message_cap_month": "4"})
	day1 := settings(t, map[string]string{"mass_message_cap_day": "1"})
	utc := settings(t, map[string]string{"time_zone": "UTC"})
	jan30 := daily(cst(2026, 1, 1, 10, 0, 0), 30) // Jan 1..30, 10:00 Beijing

	cases := []struct {
		name    string
		ledger  *outreach.Ledger
		set     corp.Settings
		at      time.Time
		reasons []string
		// capReached is the window whose last message this send uses, and
		// until its end (Beijing time).
		capReached string
		until      time.Time
	}{
		{"31st of January at 23:59:59 Beijing is January's last", sentAt(t, jan30...), defaults,
			cst(2026, 1, 31, 23, 59, 59), nil, "month", cst(2026, 2, 1, 0, 0, 0)},
		{"a 32nd in January is refused", sentAt(t, append(jan30, cst(2026, 1, 31, 8, 0, 0))...), defaults,
			cst(2026, 1, 31, 23, 59, 59), []string{events.OutreachCapMonth}, "", time.Time{}},
		{"February 1st 00:00:00 Beijing starts a new month", sentAt(t, append(jan30, cst(2026, 1, 31, 8, 0, 0))...), defaults,
			cst(2026, 2, 1, 0, 0, 0), nil, "", time.Time{}},
		{"16:30 UTC on January 31st is February in Beijing", sentAt(t, append(jan30, cst(2026, 1, 31, 8, 0, 0))...), defaults,
			time.Date(2026, 1, 31, 16, 30, 0, 0, time.UTC), nil, "", time.Time{}},
		{"the same instant is still January for a corp on UTC", sentAt(t, append(jan30, cst(2026, 1, 31, 8, 0, 0))...), utc,
			time.Date(2026, 1, 31, 16, 30, 0, 0, time.UTC), []string{events.OutreachCapMonth}, "", time.Time{}},
		{"February's days_in_month is 28", sentAt(t, daily(cst(2026, 2, 1, 9, 0, 0), 28)...), defaults,
			cst(2026, 2, 28, 23, 0, 0), []string{events.OutreachCapMonth}, "", time.Time{}},
		{"a week across March and April counts both months", sentAt(t,
			cst(2026, 3, 30, 9, 0, 0), cst(2026, 3, 30, 15, 0, 0), cst(2026, 3, 31, 9, 0, 0),
			cst(2026, 4, 1, 9, 0, 0), cst(2026, 4, 1, 15, 0, 0), cst(2026, 4, 2, 9, 0, 0), cst(2026, 4, 2, 15, 0, 0)), week7,
			cst(2026, 4, 5, 23, 59, 59), []string{events.OutreachCapWeek}, "", time.Time{}},
		{"the next Monday 00:00 starts a new week", sentAt(t,
			cst(2026, 3, 30, 9, 0, 0), cst(2026, 3, 30, 15, 0, 0), cst(2026, 3, 31, 9, 0, 0),
			cst(2026, 4, 1, 9, 0, 0), cst(2026, 4, 1, 15, 0, 0), cst(2026, 4, 2, 9, 0, 0), cst(2026, 4, 2, 15, 0, 0)), week7,
			cst(2026, 4, 6, 0, 0, 0), nil, "", time.Time{}},
		{"the seventh of the week reaches the week cap", sentAt(t,
			cst(2026, 3, 30, 9, 0, 0), cst(2026, 3, 31, 9, 0, 0), cst(2026, 4, 1, 9, 0, 0),
			cst(2026, 4, 2, 9, 0, 0), cst(2026, 4, 3, 9, 0, 0), cst(2026, 4, 4, 9, 0, 0)), week7,
			cst(2026, 4, 5, 9, 0, 0), nil, "week", cst(2026, 4, 6, 0, 0, 0)},
		{"cap lowered mid-month to the old 4: ten sent, none left", sentAt(t, daily(cst(2026, 3, 1, 9, 0, 0), 10)...), old4,
			cst(2026, 3, 11, 9, 0, 0), []string{events.OutreachCapMonth}, "", time.Time{}},
		{"cap lowered mid-month to 4: three sent, the fourth is the last", sentAt(t, daily(cst(2026, 3, 1, 9, 0, 0), 3)...), old4,
			cst(2026, 3, 11, 9, 0, 0), nil, "month", cst(2026, 4, 1, 0, 0, 0)},
		{"daily cap 1 tightened after today's message", sentAt(t, cst(2026, 3, 11, 8, 0, 0)), day1,
			cst(2026, 3, 11, 23, 59, 59), []string{events.OutreachCapDay}, "", time.Time{}},
		{"daily cap 1: tomorrow 00:00 Beijing is allowed", sentAt(t, cst(2026, 3, 11, 8, 0, 0)), day1,
			cst(2026, 3, 12, 0, 0, 0), nil, "day", cst(2026, 3, 13, 0, 0, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := outreach.DecideCustomer(follower(t), tc.ledger, send(tc.at), tc.set)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Reasons, tc.reasons) {
				t.Fatalf("reasons %v, want %v", d.Reasons, tc.reasons)
			}
			if d.Delivered != (len(tc.reasons) == 0) {
				t.Fatalf("delivered = %v with reasons %v", d.Delivered, d.Reasons)
			}
			var reached []*events.OutreachCapReached
			for _, e := range d.Events {
				if r, ok := e.(*events.OutreachCapReached); ok {
					reached = append(reached, r)
				}
			}
			switch {
			case tc.capReached == "" && len(reached) > 0:
				t.Fatalf("cap reached %+v, want none", reached[0])
			case tc.capReached != "" && (len(reached) != 1 || reached[0].Window != tc.capReached || !reached[0].Until.Equal(tc.until)):
				t.Fatalf("cap reached %+v, want %s until %s", reached, tc.capReached, tc.until)
			}
		})
	}
}

// TestRemainingAllowance: a cap changed mid-window applies to what is left.
func TestRemainingAllowance(t *testing.T) {
	l := sentAt(t, daily(cst(2026, 3, 1, 9, 0, 0), 10)...)
	at := cst(2026, 3, 11, 12, 0, 0)
	for _, tc := range []struct {
		changes   map[string]string
		remaining int
		limited   bool
	}{
		{nil, 21, true}, // 31 days in March, 10 used
		{map[string]string{"mass_message_cap_month": "4"}, 0, true},
		{map[string]string{"mass_message_cap_month": "12"}, 2, true},
		{map[string]string{"mass_message_cap_month": "12", "mass_message_cap_day": "1"}, 1, true},
		{map[string]string{"mass_message_cap_month": "off"}, 0, false},
	} {
		n, limited := outreach.Remaining(l.Allowances(settings(t, tc.changes), at))
		if n != tc.remaining || limited != tc.limited {
			t.Errorf("%v: remaining %d, %v; want %d, %v", tc.changes, n, limited, tc.remaining, tc.limited)
		}
	}
}

// TestEligibility: erasure, consent, relation and moments opt-outs refuse,
// each recorded as its own reason; consent withdrawn after a plan refuses
// the send.
func TestEligibility(t *testing.T) {
	l := outreach.NewLedger()
	at := cst(2026, 3, 11, 12, 0, 0)
	withdrawn := fact{cst(2026, 3, 10, 9, 0, 0), &events.ConsentRecorded{CustomerID: cust, Purpose: events.PurposeMarketing,
		State: events.ConsentDisagree, ChangedAt: cst(2026, 3, 10, 9, 0, 0)}}
	agreed := fact{cst(2026, 3, 10, 10, 0, 0), &events.ConsentRecorded{CustomerID: cust, Purpose: events.PurposeMarketing,
		State: events.ConsentAgree, ChangedAt: cst(2026, 3, 10, 10, 0, 0)}}
	optedOut := fact{cst(2026, 3, 1, 9, 0, 0), &events.MomentsOptedOut{CustomerID: cust, StaffID: staff}}
	ended := fact{cst(2026, 3, 2, 9, 0, 0), &events.CustomerRelationEnded{CustomerID: cust, StaffID: staff, Reason: events.EndDeletedByCustomer}}
	erased := fact{cst(2026, 3, 3, 9, 0, 0), &events.CustomerErased{CustomerID: cust}}
	stranger, _ := customer.New(cust)

	cases := []struct {
		name    string
		c       *customer.Customer
		channel string
		staff   string
		reasons []string
	}{
		{"a follower", follower(t), events.ChannelMassMessage, staff, nil},
		{"consent withdrawn", follower(t, withdrawn), events.ChannelMassMessage, staff, []string{events.OutreachConsentWithdrawn}},
		{"consent given again", follower(t, withdrawn, agreed), events.ChannelMassMessage, staff, nil},
		{"another member", follower(t), events.ChannelMassMessage, "lisi", []string{events.OutreachNoRelation}},
		{"never seen", stranger, events.ChannelMassMessage, staff, []string{events.OutreachNoRelation}},
		{"relation ended", follower(t, ended), events.ChannelMassMessage, staff, []string{events.OutreachNoRelation}},
		{"moments opt-out refuses moments", follower(t, optedOut), events.ChannelMoments, staff, []string{events.OutreachMomentsOptedOut}},
		{"moments opt-out does not refuse mass messages", follower(t, optedOut), events.ChannelMassMessage, staff, nil},
		{"erased, consent withdrawn", follower(t, withdrawn, erased), events.ChannelMassMessage, staff,
			[]string{events.OutreachErased, events.OutreachConsentWithdrawn}},
		{"the member departed", follower(t), events.ChannelMassMessage, "departed:" + staff, []string{events.OutreachStaffDeparted}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := send(at)
			s.Channel, s.StaffID = tc.channel, tc.staff
			if id, ok := strings.CutPrefix(tc.staff, "departed:"); ok {
				s.StaffID, s.StaffDeparted = id, true
			}
			d, err := outreach.DecideCustomer(tc.c, l, s, corp.Defaults())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Reasons, tc.reasons) || d.Delivered != (len(tc.reasons) == 0) {
				t.Fatalf("reasons %v delivered %v, want %v", d.Reasons, d.Delivered, tc.reasons)
			}
			if d.Delivered {
				del := d.Events[0].(*events.OutreachDelivered)
				if del.Counted != (tc.channel != events.ChannelMoments) || del.CustomerID != cust || len(del.Violations) != 0 {
					t.Fatalf("delivered %+v", del)
				}
			}
		})
	}
}

// TestReportedSendsAreRecordedFlagged: a send WeCom reports is a fact: it
// is recorded over the cap and without consent, with what it broke, and
// once per message.
func TestReportedSendsAreRecordedFlagged(t *testing.T) {
	jan31 := append(daily(cst(2026, 1, 1, 10, 0, 0), 30), cst(2026, 1, 31, 8, 0, 0))
	l := sentAt(t, jan31...)
	withdrawn := fact{cst(2026, 1, 10, 9, 0, 0), &events.ConsentRecorded{CustomerID: cust, Purpose: events.PurposeMarketing,
		State: events.ConsentDisagree, ChangedAt: cst(2026, 1, 10, 9, 0, 0)}}
	s := send(cst(2026, 1, 31, 20, 0, 0))
	s.ReportedBy = events.ReportedByWeCom
	d, err := outreach.DecideCustomer(follower(t, withdrawn), l, s, corp.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Delivered || len(d.Events) != 1 {
		t.Fatalf("decision %+v", d)
	}
	del := d.Events[0].(*events.OutreachDelivered)
	if !slices.Equal(del.Violations, []string{events.OutreachConsentWithdrawn, events.OutreachCapMonth}) || del.ReportedBy != events.ReportedByWeCom {
		t.Fatalf("delivered %+v", del)
	}
	// The same message again (a repeated report) records nothing.
	s.MessageID = l.Deliveries()[0].MessageID
	if d, err := outreach.DecideCustomer(follower(t), l, s, corp.Defaults()); err != nil || !d.Already || !d.Delivered || len(d.Events) != 0 {
		t.Fatalf("repeated message: %+v, %v", d, err)
	}
}

func TestGroups(t *testing.T) {
	created := fact{cst(2026, 1, 1, 9, 0, 0), &events.GroupChatCreated{ChatID: "wrChat", OwnerID: staff}}
	dismissed := fact{cst(2026, 1, 2, 9, 0, 0), &events.GroupChatDismissed{ChatID: "wrChat"}}
	group := func(facts ...fact) *groupchat.GroupChat {
		g, err := groupchat.Rehydrate("wrChat", recorded(t, events.GroupChatStream("corp", "wrChat"), facts))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	s := send(cst(2026, 3, 11, 12, 0, 0))
	s.Channel = events.ChannelGroupMassMessage
	for _, tc := range []struct {
		name    string
		g       *groupchat.GroupChat
		staff   string
		reasons []string
	}{
		{"owner", group(created), staff, nil},
		{"not the owner", group(created), "lisi", []string{events.OutreachNotGroupOwner}},
		{"dismissed", group(created, dismissed), staff, []string{events.OutreachGroupDismissed}},
		{"unknown", group(), staff, []string{events.OutreachGroupUnknown}},
	} {
		s.StaffID = tc.staff
		d, err := outreach.DecideGroup(tc.g, outreach.NewLedger(), s, corp.Defaults())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Reasons, tc.reasons) {
			t.Errorf("%s: reasons %v, want %v", tc.name, d.Reasons, tc.reasons)
		}
		if d.Delivered && d.Events[0].(*events.OutreachDelivered).ChatID != "wrChat" {
			t.Errorf("%s: %+v", tc.name, d.Events[0])
		}
	}
	// A customer channel to a group, and the reverse, are mistakes.
	if _, err := outreach.DecideGroup(group(created), outreach.NewLedger(), send(s.At), corp.Defaults()); !errors.Is(err, outreach.ErrInvalidArgument) {
		t.Fatalf("mass_message to a group: %v", err)
	}
	if _, err := outreach.DecideCustomer(follower(t), outreach.NewLedger(), s, corp.Defaults()); !errors.Is(err, outreach.ErrInvalidArgument) {
		t.Fatalf("group_mass_message to a customer: %v", err)
	}
}

func TestBadSends(t *testing.T) {
	for _, s := range []outreach.Send{
		{Channel: events.ChannelMassMessage, StaffID: staff, ReportedBy: events.ReportedByCustody},
		{MessageID: "m", Channel: "sms", StaffID: staff, ReportedBy: events.ReportedByCustody},
		{MessageID: "m", Channel: events.ChannelMassMessage, ReportedBy: events.ReportedByCustody},
		{MessageID: "m", Channel: events.ChannelMassMessage, StaffID: staff, ReportedBy: "someone"},
	} {
		if _, err := outreach.DecideCustomer(follower(t), outreach.NewLedger(), s, corp.Defaults()); !errors.Is(err, outreach.ErrInvalidArgument) {
			t.Errorf("%+v: err = %v", s, err)
		}
	}
	// A ledger refuses events of other streams.
	bad := recorded(t, "x", []fact{{cst(2026, 1, 1, 0, 0, 0), &events.CustomerErased{CustomerID: cust}}})
	if _, err := outreach.RehydrateLedger(bad); err == nil || !strings.Contains(err.Error(), "customer.erased") {
		t.Fatalf("ledger with customer.erased: %v", err)
	}
}

// TestBounds: windows in the corp's time zone; weeks start on Monday.
func TestBounds(t *testing.T) {
	at := cst(2026, 4, 1, 0, 30, 0) // Wednesday
	for _, tc := range []struct {
		w          string
		start, end time.Time
	}{
		{corp.WindowDay, cst(2026, 4, 1, 0, 0, 0), cst(2026, 4, 2, 0, 0, 0)},
		{corp.WindowWeek, cst(2026, 3, 30, 0, 0, 0), cst(2026, 4, 6, 0, 0, 0)},
		{corp.WindowMonth, cst(2026, 4, 1, 0, 0, 0), cst(2026, 5, 1, 0, 0, 0)},
	} {
		s, e := outreach.Bounds(tc.w, at.UTC(), sh)
		if !s.Equal(tc.start) || !e.Equal(tc.end) {
			t.Errorf("%s: [%s, %s), want [%s, %s)", tc.w, s, e, tc.start, tc.end)
		}
	}
	// A Sunday belongs to the week that began six days before.
	if s, _ := outreach.Bounds(corp.WindowWeek, cst(2026, 4, 5, 23, 59, 59), sh); !s.Equal(cst(2026, 3, 30, 0, 0, 0)) {
		t.Errorf("Sunday's week starts %s", s)
	}
}
