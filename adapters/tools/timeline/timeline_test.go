package timeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/tools/timeline"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

const secret = "Secret Name 李四"

type appender struct {
	t   *testing.T
	log *memlog.Log
}

func (a appender) add(corp, stream string, at time.Time, actor string, p events.Payload) {
	a.t.Helper()
	e, err := events.New(uuid.New(), events.Meta{CorpID: corp, OccurredAt: at, Actor: actor}, p)
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.log.Append(context.Background(), stream, eventlog.ExpectAny, e); err != nil {
		a.t.Fatal(err)
	}
}

// history writes a customer's life across its own stream and two group
// chats, with another customer's and another corp's events mixed in.
func history(t *testing.T) *memlog.Log {
	log := memlog.New()
	a := appender{t, log}
	cs := events.CustomerStream("acme", "c1")
	h := func(d time.Duration) time.Time { return t0.Add(d * time.Hour) }
	a.add("acme", events.GroupChatStream("acme", "g1"), h(0), "wecom", &events.GroupChatCreated{ChatID: "g1", OwnerID: "s1", Name: "VIP club"})
	a.add("acme", cs, h(1), "wecom", &events.CustomerRelationStarted{CustomerID: "c1", StaffID: "s1", Initiator: events.InitiatorStaff,
		AddWay: 1, State: "spring-qr", StartedBy: events.StartedByAdd, PII: events.RelationPII{CustomerName: secret, Remark: secret}})
	a.add("acme", cs, h(2), "wecom", &events.CustomerRelationStarted{CustomerID: "c1", StaffID: "s2", Initiator: events.InitiatorCustomer,
		StartedBy: events.StartedByAdd})
	a.add("acme", events.GroupChatStream("acme", "g1"), h(3), "wecom", &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "c1",
		MemberType: events.MemberCustomer, JoinScene: events.JoinInvited, InviterID: "s1", PII: events.GroupMemberPII{Nickname: secret}})
	a.add("acme", events.GroupChatStream("acme", "g1"), h(3), "wecom", &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "c9",
		MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode})
	a.add("globex", events.GroupChatStream("globex", "g1"), h(3), "wecom", &events.GroupChatMemberJoined{ChatID: "g1", MemberID: "c1",
		MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode})
	a.add("acme", cs, h(4), "admin:a1", &events.HandoverRequested{HandoverID: "h1", CustomerID: "c1", Kind: events.HandoverInService,
		FromStaffID: "s1", ToStaffID: "s3", Deadline: h(28)})
	a.add("acme", cs, h(5), "wecom", &events.HandoverRefused{HandoverID: "h1", CustomerID: "c1"})
	a.add("acme", events.GroupChatStream("acme", "g1"), h(6), "staff:s1", &events.GroupChatRenamed{ChatID: "g1", Name: "VIP club 2"})
	a.add("acme", cs, h(30), "admin:a1", &events.HandoverRequested{HandoverID: "h2", CustomerID: "c1", Kind: events.HandoverInService,
		FromStaffID: "s1", ToStaffID: "s3", Deadline: h(54)})
	a.add("acme", events.GroupChatStream("acme", "g1"), h(40), "wecom", &events.GroupChatMemberLeft{ChatID: "g1", MemberID: "c1",
		MemberType: events.MemberCustomer, QuitScene: events.QuitLeft})
	a.add("acme", cs, h(54), "system", &events.HandoverCompleted{HandoverID: "h2", CustomerID: "c1", FromStaffID: "s1", ToStaffID: "s3"})
	a.add("acme", cs, h(54), "system", &events.CustomerRelationEnded{CustomerID: "c1", StaffID: "s1", Reason: events.EndHandedOver, HandoverID: "h2"})
	a.add("acme", cs, h(54), "system", &events.CustomerRelationStarted{CustomerID: "c1", StaffID: "s3", StartedBy: events.StartedByHandover, HandoverID: "h2"})
	a.add("acme", events.GroupChatStream("acme", "g2"), h(60), "wecom", &events.GroupChatCreated{ChatID: "g2", OwnerID: "s3"})
	a.add("acme", events.GroupChatStream("acme", "g2"), h(61), "wecom", &events.GroupChatMemberJoined{ChatID: "g2", MemberID: "c1",
		MemberType: events.MemberCustomer, JoinScene: events.JoinLink})
	a.add("acme", cs, h(62), "staff:s3", &events.MomentsOptedOut{CustomerID: "c1", StaffID: "s3", Source: "crm"})
	a.add("acme", cs, h(63), "wecom", &events.ConsentRecorded{CustomerID: "c1", Purpose: events.PurposeChatArchive, State: events.ConsentAgree, ChangedAt: h(63)})
	a.add("acme", cs, h(64), "wecom", &events.CustomerRelationEnded{CustomerID: "c1", StaffID: "s2", Reason: events.EndDeletedByCustomer})
	a.add("acme", cs, h(65), "admin:a1", &events.HandoverRequested{HandoverID: "h3", CustomerID: "c1", Kind: events.HandoverInService,
		FromStaffID: "s3", ToStaffID: "s4", Deadline: h(89)})
	a.add("acme", events.GroupChatStream("acme", "g2"), h(70), "staff:s3", &events.GroupChatDismissed{ChatID: "g2"})
	a.add("acme", cs, h(71), "admin:a1", &events.CustomerErased{CustomerID: "c1"})
	if err := log.Erase(context.Background(), events.CustomerSubject("acme", "c1")); err != nil {
		t.Fatal(err)
	}
	return log
}

func TestBuild(t *testing.T) {
	log := history(t)
	tl, err := timeline.Build(context.Background(), log, "acme", "c1", timeline.Options{Groups: timeline.LogScan{Log: log}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range tl.Entries {
		kinds = append(kinds, e.Kind)
	}
	want := []string{
		timeline.KindRelationStarted, timeline.KindRelationStarted, timeline.KindGroupJoined,
		timeline.KindHandoverRequested, timeline.KindHandoverRefused, timeline.KindHandoverRequested,
		timeline.KindGroupLeft, timeline.KindHandoverCompleted, timeline.KindRelationEnded, timeline.KindRelationStarted,
		timeline.KindGroupJoined, timeline.KindMomentsOptedOut, timeline.KindConsent, timeline.KindRelationEnded,
		timeline.KindHandoverRequested, timeline.KindGroupDismissed, timeline.KindErased,
	}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds\n got %v\nwant %v", kinds, want)
	}
	for i := 1; i < len(tl.Entries); i++ {
		if tl.Entries[i].At.Before(tl.Entries[i-1].At) {
			t.Fatalf("entry %d at %s before entry %d at %s", i, tl.Entries[i].At, i-1, tl.Entries[i-1].At)
		}
	}
	e := tl.Entries
	if e[0].StaffID != "s1" || e[0].Channel != "spring-qr" || e[0].AddWay != 1 || e[0].Initiator != events.InitiatorStaff ||
		!strings.Contains(e[0].Summary, `s1 added the customer via channel "spring-qr"`) {
		t.Errorf("first add: %+v", e[0])
	}
	if e[1].Initiator != events.InitiatorCustomer || e[1].Summary != "customer added s2" {
		t.Errorf("second add: %+v", e[1])
	}
	if e[2].ChatID != "g1" || e[2].ChatName != "VIP club" || e[2].StaffID != "s1" || !strings.Contains(e[2].Summary, "invited by s1") {
		t.Errorf("group join: %+v", e[2])
	}
	if e[3].HandoverID != "h1" || e[3].Outcome != "refused" || e[3].OutcomeAt == nil || !e[3].OutcomeAt.Equal(t0.Add(5*time.Hour)) {
		t.Errorf("refused handover: %+v", e[3])
	}
	if e[5].HandoverID != "h2" || e[5].Outcome != "completed" || e[5].ToStaffID != "s3" || !strings.Contains(e[5].Summary, "outcome: completed") {
		t.Errorf("completed handover: %+v", e[5])
	}
	if e[6].ChatName != "VIP club 2" {
		t.Errorf("group name at leave time: %+v", e[6])
	}
	if e[8].Reason != events.EndHandedOver || e[9].StartedBy != events.StartedByHandover || e[9].StaffID != "s3" {
		t.Errorf("handover relation change: %+v / %+v", e[8], e[9])
	}
	if e[13].Reason != events.EndDeletedByCustomer || !strings.Contains(e[13].Summary, "churn") {
		t.Errorf("churn: %+v", e[13])
	}
	if e[14].Outcome != "pending" {
		t.Errorf("pending handover: %+v", e[14])
	}
	if e[15].ChatID != "g2" || e[15].Kind != timeline.KindGroupDismissed {
		t.Errorf("dismissal: %+v", e[15])
	}
	if !tl.Erased || !slices.Equal(tl.Followers, []string{"s3"}) {
		t.Errorf("erased %v followers %v", tl.Erased, tl.Followers)
	}
	b, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Fatal("timeline carries personal data")
	}
}

// TestNoPersonalDataBeforeErasure: even while the customer's personal data
// is readable, a timeline does not carry it.
func TestNoPersonalDataBeforeErasure(t *testing.T) {
	log := memlog.New()
	a := appender{t, log}
	a.add("acme", events.CustomerStream("acme", "c1"), t0, "wecom", &events.CustomerRelationStarted{CustomerID: "c1", StaffID: "s1",
		Initiator: events.InitiatorStaff, StartedBy: events.StartedByAdd, PII: events.RelationPII{CustomerName: secret}})
	tl, err := timeline.Build(context.Background(), log, "acme", "c1", timeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(tl)
	if len(tl.Entries) != 1 || strings.Contains(string(b), secret) {
		t.Fatalf("timeline %s", b)
	}
}

func TestWindowAndNoGroups(t *testing.T) {
	log := history(t)
	tl, err := timeline.Build(context.Background(), log, "acme", "c1", timeline.Options{From: t0.Add(4 * time.Hour), To: t0.Add(54 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range tl.Entries {
		kinds = append(kinds, e.Kind)
	}
	want := []string{timeline.KindHandoverRequested, timeline.KindHandoverRefused, timeline.KindHandoverRequested}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if tl.Entries[2].Outcome != "completed" {
		t.Fatalf("outcome outside the window is still told: %+v", tl.Entries[2])
	}
}

func TestNotFound(t *testing.T) {
	log := history(t)
	_, err := timeline.Build(context.Background(), log, "acme", "nobody", timeline.Options{Groups: timeline.LogScan{Log: log}})
	if !errors.Is(err, timeline.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	_, err = timeline.Build(context.Background(), log, "", "c1", timeline.Options{})
	if !errors.Is(err, timeline.ErrInvalidArgument) {
		t.Fatalf("err = %v, want ErrInvalidArgument", err)
	}
}
