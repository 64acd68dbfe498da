package projections

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// addOutreach appends p to stream at `at` for corp c1.
func (w *world) addOutreach(at time.Time, stream string, p events.Payload) {
	w.t.Helper()
	e, err := events.New(uuid.New(), events.Meta{CorpID: "c1", OccurredAt: at, Actor: "system"}, p)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.log.Append(context.Background(), stream, eventlog.ExpectAny, e); err != nil {
		w.t.Fatal(err)
	}
}

func started(cust, staff, state string, tags ...string) *events.CustomerRelationStarted {
	return &events.CustomerRelationStarted{CustomerID: cust, StaffID: staff, Initiator: events.InitiatorCustomer, AddWay: 1,
		State: state, Tags: tags, StartedBy: events.StartedByAdd}
}

func delivered(msg, cust string) *events.OutreachDelivered {
	return &events.OutreachDelivered{MessageID: msg, Channel: events.ChannelMassMessage, StaffID: "s1", CustomerID: cust,
		ReportedBy: events.ReportedByCustody, Counted: true}
}

// TestOutreachAudience: the audience, filtered and paged, excludes erased
// customers, withdrawn consent, ended relations, departed members and
// customers at a cap; moments audiences exclude opt-outs; a rebuild
// equals the live tables.
func TestOutreachAudience(t *testing.T) {
	pool := newDB(t)
	w := newWorld(t)
	ctx := context.Background()
	w.add(0, started("cu1", "s1", "expo", "vip", "bj"))
	w.add(0, started("cu1", "s2", "web"))
	w.add(1, started("cu2", "s1", "expo", "vip"))
	w.add(1, started("cu3", "s1", "expo", "vip"))
	w.add(1, started("cu4", "s1", "web", "vip"))
	w.add(1, started("cu5", "s1", "web"))
	w.add(1, started("cu6", "s3", "web"))
	w.add(1, started("cu7", "s1", "expo", "vip"))
	// consent withdrawn for cu2 (then a late, older agree does not win)
	w.add(2, &events.ConsentRecorded{CustomerID: "cu2", Purpose: events.PurposeMarketing, State: events.ConsentDisagree, ChangedAt: minute(2)})
	w.add(3, &events.ConsentRecorded{CustomerID: "cu2", Purpose: events.PurposeMarketing, State: events.ConsentAgree, ChangedAt: minute(1)})
	w.add(3, &events.ConsentRecorded{CustomerID: "cu3", Purpose: events.PurposeChatArchive, State: events.ConsentDisagree, ChangedAt: minute(3)})
	w.add(4, &events.CustomerErased{CustomerID: "cu3"})
	w.add(4, &events.CustomerRelationEnded{CustomerID: "cu5", StaffID: "s1", Reason: events.EndDeletedByCustomer})
	w.add(4, &events.StaffDeparted{StaffID: "s3"})
	w.add(5, &events.MomentsOptedOut{CustomerID: "cu4", StaffID: "s1"})
	w.add(5, &events.CustomerRelationEdited{CustomerID: "cu7", StaffID: "s1", Tags: []string{"bj"}})
	w.add(5, &events.GroupChatCreated{ChatID: "g1", OwnerID: "s1"})
	w.add(5, &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "cu1", MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode})
	w.add(5, &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "cu4", MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode})
	w.add(6, &events.GroupChatMemberLeft{ChatID: "g1", MemberID: "cu4", MemberType: events.MemberCustomer, QuitScene: events.QuitLeft})
	// Groups: g2's owner departed, g3 was dismissed, g4 had a group mass
	// message today.
	w.add(5, &events.GroupChatCreated{ChatID: "g2", OwnerID: "s3"})
	w.add(5, &events.GroupChatCreated{ChatID: "g3", OwnerID: "s1"})
	w.add(6, &events.GroupChatDismissed{ChatID: "g3"})
	w.add(5, &events.GroupChatCreated{ChatID: "g4", OwnerID: "s2"})
	w.addOutreach(minute(10), events.OutreachGroupStream("c1", "g4"), &events.OutreachDelivered{MessageID: "gm1",
		Channel: events.ChannelGroupMassMessage, StaffID: "s2", ChatID: "g4", ReportedBy: events.ReportedByCustody, Counted: true})
	// cu4 got a mass message today (Monday) and is at a daily cap of 1; cu1
	// got one yesterday, Sunday in Beijing: last week, this month.
	w.addOutreach(minute(10), events.OutreachCustomerStream("c1", "cu4"), delivered("m1", "cu4"))
	w.addOutreach(minute(10-24*60), events.OutreachCustomerStream("c1", "cu1"), delivered("m0", "cu1"))
	w.addOutreach(minute(10), events.OutreachMessageStream("c1", "m1"), &events.OutreachSent{MessageID: "m1",
		Channel: events.ChannelMassMessage, StaffID: "s1", CustomerIDs: []string{"cu4"}, ReportedBy: events.ReportedByCustody})
	w.addOutreach(minute(10), events.OutreachMessageStream("c1", "m1"), &events.OutreachRefused{MessageID: "m1",
		Channel: events.ChannelMassMessage, StaffID: "s1", Refused: []events.OutreachRecipient{{CustomerID: "cu2", Reasons: []string{events.OutreachConsentWithdrawn}}}})
	catchUp(t, newRunner(t, pool, w.log, 7))

	rd := NewReader(pool)
	day1, err := corp.Defaults().Apply(map[string]string{"mass_message_cap_day": "1"})
	if err != nil {
		t.Fatal(err)
	}
	list := func(q AudienceQuery, limit int) []string {
		t.Helper()
		var out []string
		page := Page{Limit: limit}
		for {
			p, err := rd.Audience(ctx, "c1", q, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range p.Items {
				rem := "-"
				if m.Remaining != nil {
					rem = fmt.Sprint(*m.Remaining)
				}
				out = append(out, fmt.Sprintf("%s/%s %d/%d/%d %s", m.CustomerID, m.StaffID, m.DayUsed, m.WeekUsed, m.MonthUsed, rem))
			}
			if p.Next == "" {
				return out
			}
			page.After = p.Next
		}
	}
	now := minute(60)
	assertRows(t, "mass message audience, pages of 2", list(AudienceQuery{Settings: corp.Defaults(), At: now}, 2),
		[]string{"cu1/s1 0/0/1 30", "cu1/s2 0/0/1 30", "cu4/s1 1/1/1 30", "cu7/s1 0/0/0 31"})
	assertRows(t, "daily cap 1 excludes cu4", list(AudienceQuery{Settings: day1, At: now}, 50),
		[]string{"cu1/s1 0/0/1 1", "cu1/s2 0/0/1 1", "cu7/s1 0/0/0 1"})
	assertRows(t, "moments", list(AudienceQuery{Settings: corp.Defaults(), At: now, Channel: events.ChannelMoments}, 50),
		[]string{"cu1/s1 0/0/1 -", "cu1/s2 0/0/1 -", "cu7/s1 0/0/0 -"})
	assertRows(t, "owner s1, tag vip, state expo", list(AudienceQuery{Settings: corp.Defaults(), At: now, StaffID: "s1",
		Tags: []string{"vip"}, State: "expo"}, 1), []string{"cu1/s1 0/0/1 30"})
	assertRows(t, "group g1", list(AudienceQuery{Settings: corp.Defaults(), At: now, ChatID: "g1"}, 50),
		[]string{"cu1/s1 0/0/1 30", "cu1/s2 0/0/1 30"})
	assertRows(t, "not contacted since yesterday noon", list(AudienceQuery{Settings: corp.Defaults(), At: now,
		NotContactedSince: minute(-12 * 60)}, 50), []string{"cu1/s1 0/0/1 30", "cu1/s2 0/0/1 30", "cu7/s1 0/0/0 31"})
	assertRows(t, "contacted since yesterday noon", list(AudienceQuery{Settings: corp.Defaults(), At: now,
		ContactedSince: minute(-12 * 60)}, 50), []string{"cu4/s1 1/1/1 30"})

	c, err := rd.AudienceCounts(ctx, "c1", AudienceQuery{Settings: day1, At: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", c); got != "{Customers:5 Erased:1 ConsentWithdrawn:1 AtCap:1 Eligible:2 MomentsOptedOut:1 DeliveredDay:2 DeliveredWeek:2 DeliveredMonth:3 FlaggedMonth:0}" {
		t.Errorf("counts %s", got)
	}
	if exact, err := rd.scanCounts(ctx, "c1", capWindows(day1, now)); err != nil || exact != c {
		t.Errorf("counters %+v, exact aggregate %+v (%v)", c, exact, err)
	}
	groups := func(q GroupAudienceQuery) []string {
		t.Helper()
		var out []string
		page := Page{Limit: 1}
		for {
			p, err := rd.GroupAudience(ctx, "c1", q, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range p.Items {
				out = append(out, fmt.Sprintf("%s/%s %d %d/%d/%d %d", g.ChatID, g.OwnerID, g.CustomerMembers, g.DayUsed, g.WeekUsed,
					g.MonthUsed, *g.Remaining))
			}
			if p.Next == "" {
				return out
			}
			page.After = p.Next
		}
	}
	assertRows(t, "group audience", groups(GroupAudienceQuery{Settings: corp.Defaults(), At: now}),
		[]string{"g1/s1 1 0/0/0 31", "g4/s2 0 1/1/1 30"})
	assertRows(t, "group audience, daily cap 1", groups(GroupAudienceQuery{Settings: day1, At: now}), []string{"g1/s1 1 0/0/0 1"})
	assertRows(t, "group audience of owner s2", groups(GroupAudienceQuery{Settings: corp.Defaults(), At: now, StaffID: "s2"}),
		[]string{"g4/s2 0 1/1/1 30"})
	assertRows(t, "messages", rows(t, pool, `SELECT message_id, reached, refused FROM projections.outreach_messages ORDER BY 1`),
		[]string{"m1 1 1"})
	if _, err := rd.Audience(ctx, "c1", AudienceQuery{Settings: corp.Defaults(), At: now}, Page{After: "nonsense"}); err == nil {
		t.Error("a bad cursor was accepted")
	}
	// The SQL of docs/marketing.md runs against these tables and answers.
	doc, err := os.ReadFile("../docs/marketing.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 3 {
		t.Fatalf("docs/marketing.md has %d SQL examples", len(blocks))
	}
	for _, b := range blocks {
		if got := rows(t, pool, b[1]); len(got) == 0 {
			t.Errorf("docs/marketing.md example answers nothing:\n%s", b[1])
		}
	}
	if n := assertEqualsCleanRebuild(t, pool, w.log, []Projection{Outreach{}}); n == 0 {
		t.Fatal("nothing compared")
	}
}
