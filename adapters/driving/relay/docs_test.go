package relay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/relay/cloudevents"
	"github.com/custody/custody/events"
	"github.com/google/uuid"
)

// docExamples holds one sample payload per event type for
// docs/consumers.md.
func docExamples() []events.Payload {
	t0 := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	return []events.Payload{
		&events.StaffJoined{StaffID: "zhangsan", Capacity: 20000, PII: events.StaffPII{Name: "Zhang San"}},
		&events.StaffDeparted{StaffID: "zhangsan"},
		&events.StaffErased{StaffID: "zhangsan"},
		&events.StaffCapacityChanged{StaffID: "zhangsan", Capacity: 5000},
		&events.StaffSlotReserved{StaffID: "lisi", CustomerID: "wmQx1aBC", Reason: events.SlotForHandover, HandoverID: "ho-7f3a"},
		&events.StaffSlotReleased{StaffID: "zhangsan", CustomerID: "wmQx1aBC", Reason: events.SlotReleasedHandedOver, HandoverID: "ho-7f3a"},
		&events.CustomerRelationStarted{CustomerID: "wmQx1aBC", StaffID: "zhangsan", Initiator: events.InitiatorCustomer, AddWay: 1,
			State: "poster-2026q4", Tags: []string{"et-vip"}, StartedBy: events.StartedByAdd,
			PII: events.RelationPII{CustomerName: "Li Lei", Remark: "met at expo", Phones: []string{"13800000000"}}},
		&events.CustomerRelationEdited{CustomerID: "wmQx1aBC", StaffID: "zhangsan", Tags: []string{"et-vip", "et-2026"},
			PII: events.RelationPII{Remark: "prefers WeChat calls"}},
		&events.CustomerRelationEnded{CustomerID: "wmQx1aBC", StaffID: "zhangsan", Reason: events.EndDeletedByCustomer},
		&events.CustomerErased{CustomerID: "wmQx1aBC"},
		&events.MomentsOptedOut{CustomerID: "wmQx1aBC", StaffID: "zhangsan", Source: "crm"},
		&events.MomentsOptedIn{CustomerID: "wmQx1aBC", StaffID: "zhangsan", Source: "crm"},
		&events.ConsentRecorded{CustomerID: "wmQx1aBC", Purpose: events.PurposeMarketing, State: events.ConsentAgree, ChangedAt: t0},
		&events.HandoverRequested{HandoverID: "ho-7f3a", CustomerID: "wmQx1aBC", Kind: events.HandoverInService,
			FromStaffID: "zhangsan", ToStaffID: "lisi", BatchID: "batch-12", Deadline: t0.Add(24 * time.Hour),
			PII: events.HandoverRequestPII{Message: "Li Si will look after you from now on"}},
		&events.HandoverRefused{HandoverID: "ho-7f3a", CustomerID: "wmQx1aBC"},
		&events.HandoverCompleted{HandoverID: "ho-7f3a", CustomerID: "wmQx1aBC", FromStaffID: "zhangsan", ToStaffID: "lisi"},
		&events.HandoverFailed{HandoverID: "ho-7f3a", CustomerID: "wmQx1aBC", Reason: events.FailTargetAtCapacity},
		&events.HandoverCancelled{HandoverID: "ho-7f3a", CustomerID: "wmQx1aBC"},
		&events.GroupChatCreated{ChatID: "wrOgQhDgAA", OwnerID: "zhangsan", Name: "VIP owners club"},
		&events.GroupChatMemberJoined{ChatID: "wrOgQhDgAA", MemberID: "wmQx1aBC", MemberType: events.MemberCustomer,
			JoinScene: events.JoinQRCode, PII: events.GroupMemberPII{Nickname: "Lei"}},
		&events.GroupChatMemberLeft{ChatID: "wrOgQhDgAA", MemberID: "wmQx1aBC", MemberType: events.MemberCustomer, QuitScene: events.QuitLeft},
		&events.GroupChatOwnerChanged{ChatID: "wrOgQhDgAA", FromStaffID: "zhangsan", ToStaffID: "lisi", Reason: events.OwnerChangeResigned},
		&events.GroupChatRenamed{ChatID: "wrOgQhDgAA", Name: "VIP owners club 2026"},
		&events.GroupChatNoticeChanged{ChatID: "wrOgQhDgAA", Notice: "Service hours: 9:00-18:00"},
		&events.GroupChatDismissed{ChatID: "wrOgQhDgAA"},
		&events.TagCreated{TagID: "etTAGa1", Kind: events.TagKindTag, GroupID: "etGRPb2", Name: "high intent"},
		&events.TagRenamed{TagID: "etTAGa1", Kind: events.TagKindTag, Name: "key account"},
		&events.TagDeleted{TagID: "etTAGa1", Kind: events.TagKindTag},
		&events.TagsReordered{TagID: "etGRPb2", Kind: events.TagKindGroup},
		&events.WeComFactUnmatched{Kind: "change_external_contact/del_follow_user", Reason: events.UnmatchedRelationNotActive,
			CustomerID: "wmQx1aBC", StaffID: "zhangsan", CallbackKey: "9c1e0f7a"},
		&events.CorpSettingsChanged{StaffCapacity: 5000, HandoverWindowSeconds: 86400, InServiceHandoverLimit: 2,
			InServiceHandoverPeriodSeconds: 7776000, MaxHandoverBatch: 100, MaxHandoverMessage: 200,
			ResignedAssignmentWindowSeconds: 15552000, GroupMaxMembers: 500, GroupTransferLimit: 2, GroupTransferPeriodSeconds: 7776000,
			MassMessageCapDay: "off", MassMessageCapWeek: "7", MassMessageCapMonth: "days_in_month",
			TimeZone: "Asia/Shanghai", Changed: []string{"staff_capacity", "resigned_assignment_window"}, ChangedBy: "admin:admin"},
		&events.OutreachPlanned{MessageID: "spring-2026", Channel: events.ChannelMassMessage, StaffID: "zhangsan",
			CustomerIDs: []string{"wmQx1aBC", "wmRy2bCD"}, Text: "Spring collection is in"},
		&events.OutreachDelivered{MessageID: "spring-2026", Channel: events.ChannelMassMessage, StaffID: "zhangsan",
			CustomerID: "wmQx1aBC", ReportedBy: events.ReportedByCustody, Counted: true},
		&events.OutreachCapReached{CustomerID: "wmQx1aBC", Window: events.WindowDay, Cap: 1, Until: t0.Add(15 * time.Hour)},
		&events.OutreachSent{MessageID: "spring-2026", Channel: events.ChannelMassMessage, StaffID: "zhangsan",
			CustomerIDs: []string{"wmQx1aBC"}, ReportedBy: events.ReportedByCustody},
		&events.OutreachRefused{MessageID: "spring-2026", Channel: events.ChannelMassMessage, StaffID: "zhangsan",
			Refused: []events.OutreachRecipient{{CustomerID: "wmRy2bCD", Reasons: []string{events.OutreachConsentWithdrawn}}}},
	}
}

// docCloudEvent is the CloudEvent a default route publishes for p.
func docCloudEvent(t testing.TB, i int, p events.Payload, includePII bool) []byte {
	t.Helper()
	ev, err := events.New(uuid.MustParse(fmt.Sprintf("0193a0c8-7a1e-7c3d-9a4b-%012x", 0x5d6e7f809a00+i)), events.Meta{
		CorpID: "ww7f1c2d", OccurredAt: time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC), Actor: "wecom",
		CorrelationID: "cb-20261102-0001",
	}, p)
	if err != nil {
		t.Fatal(err)
	}
	stream := events.CustomerStream("ww7f1c2d", "wmQx1aBC")
	switch {
	case strings.HasPrefix(ev.Type, "staff."):
		stream = events.StaffStream("ww7f1c2d", "zhangsan")
	case strings.HasPrefix(ev.Type, "groupchat."):
		stream = events.GroupChatStream("ww7f1c2d", "wrOgQhDgAA")
	case strings.HasPrefix(ev.Type, "tag."):
		stream = events.CorpTagsStream("ww7f1c2d")
	case strings.HasPrefix(ev.Type, "wecom."):
		stream = events.CorpWeComStream("ww7f1c2d", "9c1e0f7a")
	case strings.HasPrefix(ev.Type, "corp."):
		stream = events.CorpSettingsStream("ww7f1c2d")
	case ev.Type == "outreach.delivered" || ev.Type == "outreach.cap_reached":
		stream = events.OutreachCustomerStream("ww7f1c2d", "wmQx1aBC")
	case strings.HasPrefix(ev.Type, "outreach."):
		stream = events.OutreachMessageStream("ww7f1c2d", "spring-2026")
	}
	rec := events.Recorded{Event: ev, Stream: stream, StreamVersion: 3,
		Position: events.Position{Commit: 918273, Prepare: 40112 + uint64(i)}, RecordedAt: time.Date(2026, 11, 2, 9, 30, 1, 250e6, time.UTC)}
	b, err := cloudevents.Marshal(rec, includePII)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestConsumerDocs keeps docs/consumers.md honest: every catalog type has
// a JSON example, and every example decodes strictly into its payload.
// RELAY_WRITE_DOC_EXAMPLES=FILE writes the catalog section to FILE.
func TestConsumerDocs(t *testing.T) {
	samples := docExamples()
	if out := os.Getenv("RELAY_WRITE_DOC_EXAMPLES"); out != "" {
		var md strings.Builder
		for i, p := range samples {
			note := ""
			if _, ok := p.(events.Personal); ok {
				note = " (has personal data: published under `data.pii` only by routes with `IncludePII`)"
			}
			fmt.Fprintf(&md, "#### `%s` — topic `%s`%s\n\n```json\n%s\n```\n\n", p.EventType(), relay.Route{}.Topic(p.EventType()), note, docCloudEvent(t, i, p, false))
		}
		if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	covered := map[string]bool{}
	for _, p := range samples {
		covered[p.EventType()] = true
	}
	for _, typ := range events.Types() {
		if !covered[typ] {
			t.Errorf("docExamples has no sample of %s", typ)
		}
	}

	doc, err := os.ReadFile("../../../docs/consumers.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	documented := map[string]bool{}
	for _, b := range blocks {
		ce, err := cloudevents.Unmarshal(b[1])
		if err != nil {
			t.Errorf("docs example does not decode: %v\n%s", err, b[1])
			continue
		}
		rec, err := ce.Recorded()
		if err != nil {
			t.Error(err)
			continue
		}
		if _, err := events.DecodeRecorded(rec); err != nil {
			t.Errorf("docs example of %s does not match the catalog: %v", ce.Type, err)
		}
		documented[ce.Type] = true
	}
	for _, typ := range events.Types() {
		if !documented[typ] {
			t.Errorf("docs/consumers.md has no JSON example of %s", typ)
		}
	}
}
