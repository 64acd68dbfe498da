package timeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/custody/custody/events"
)

func entryOf(r events.Recorded, kind string) Entry {
	return Entry{
		At: r.OccurredAt.UTC(), RecordedAt: r.RecordedAt.UTC(), Kind: kind, Actor: r.Actor,
		Stream: r.Stream, StreamVersion: r.StreamVersion, Position: r.Position, EventID: r.ID.String(),
	}
}

// decode returns nil for event types this build does not know.
func decode(r events.Recorded) (events.Payload, error) {
	p, err := events.DecodeRecorded(r)
	if errors.Is(err, events.ErrUnknownType) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("timeline: event %s at %s/%d: %w", r.ID, r.Stream, r.StreamVersion, err)
	}
	return p, nil
}

// addCustomerStream turns the customer's own events into entries and
// records handover outcomes on their request entries.
func (tl *Timeline) addCustomerStream(recs []events.Recorded) error {
	requested := map[string]int{} // handover id -> index of its request entry
	active := map[string]bool{}
	settle := func(r events.Recorded, id, outcome string) {
		if i, ok := requested[id]; ok {
			at := r.OccurredAt.UTC()
			tl.Entries[i].Outcome, tl.Entries[i].OutcomeAt = outcome, &at
			tl.Entries[i].Summary = handoverSummary(tl.Entries[i])
		}
	}
	for _, r := range recs {
		p, err := decode(r)
		if err != nil {
			return err
		}
		var e Entry
		switch p := p.(type) {
		case *events.CustomerRelationStarted:
			active[p.StaffID] = true
			e = entryOf(r, KindRelationStarted)
			e.StaffID, e.Initiator, e.AddWay, e.Channel, e.StartedBy, e.HandoverID =
				p.StaffID, p.Initiator, p.AddWay, p.State, p.StartedBy, p.HandoverID
			switch {
			case p.StartedBy == events.StartedByHandover:
				e.Summary = fmt.Sprintf("%s took the customer over (handover %s)", p.StaffID, p.HandoverID)
			case p.Initiator == events.InitiatorCustomer:
				e.Summary = fmt.Sprintf("customer added %s", p.StaffID)
			default:
				e.Summary = fmt.Sprintf("%s added the customer", p.StaffID)
			}
			e.Summary += channelText(p.State, p.AddWay)
		case *events.CustomerRelationEdited:
			e = entryOf(r, KindRelationEdited)
			e.StaffID = p.StaffID
			e.Summary = fmt.Sprintf("%s edited the relation", p.StaffID)
			if len(p.Tags) > 0 {
				e.Summary += " (tags " + strings.Join(p.Tags, ", ") + ")"
			}
		case *events.CustomerRelationEnded:
			delete(active, p.StaffID)
			e = entryOf(r, KindRelationEnded)
			e.StaffID, e.Reason, e.HandoverID = p.StaffID, p.Reason, p.HandoverID
			switch p.Reason {
			case events.EndDeletedByCustomer:
				e.Summary = fmt.Sprintf("customer deleted %s (churn)", p.StaffID)
			case events.EndDeletedByStaff:
				e.Summary = fmt.Sprintf("%s deleted the customer", p.StaffID)
			case events.EndHandedOver:
				e.Summary = fmt.Sprintf("%s handed the customer over (handover %s)", p.StaffID, p.HandoverID)
			case events.EndReconciled:
				e.Summary = fmt.Sprintf("relation with %s found gone by reconciliation", p.StaffID)
			default:
				e.Summary = fmt.Sprintf("relation with %s ended (%s)", p.StaffID, p.Reason)
			}
		case *events.HandoverRequested:
			e = entryOf(r, KindHandoverRequested)
			deadline := p.Deadline.UTC()
			e.StaffID, e.ToStaffID, e.HandoverID, e.HandoverKind, e.Deadline, e.Outcome =
				p.FromStaffID, p.ToStaffID, p.HandoverID, p.Kind, &deadline, "pending"
			e.Summary = handoverSummary(e)
			requested[p.HandoverID] = len(tl.Entries)
		case *events.HandoverRefused:
			settle(r, p.HandoverID, "refused")
			e = entryOf(r, KindHandoverRefused)
			e.HandoverID = p.HandoverID
			e.Summary = fmt.Sprintf("customer refused handover %s", p.HandoverID)
		case *events.HandoverCompleted:
			settle(r, p.HandoverID, "completed")
			e = entryOf(r, KindHandoverCompleted)
			e.HandoverID, e.StaffID, e.ToStaffID = p.HandoverID, p.FromStaffID, p.ToStaffID
			e.Summary = fmt.Sprintf("handover %s completed: %s → %s", p.HandoverID, p.FromStaffID, p.ToStaffID)
		case *events.HandoverFailed:
			settle(r, p.HandoverID, "failed: "+p.Reason)
			e = entryOf(r, KindHandoverFailed)
			e.HandoverID, e.Reason = p.HandoverID, p.Reason
			e.Summary = fmt.Sprintf("handover %s failed (%s)", p.HandoverID, p.Reason)
		case *events.HandoverCancelled:
			settle(r, p.HandoverID, "cancelled")
			e = entryOf(r, KindHandoverCancelled)
			e.HandoverID = p.HandoverID
			e.Summary = fmt.Sprintf("handover %s cancelled", p.HandoverID)
		case *events.MomentsOptedOut:
			e = entryOf(r, KindMomentsOptedOut)
			e.StaffID, e.Channel = p.StaffID, p.Source
			e.Summary = fmt.Sprintf("customer opted out of %s's moments", p.StaffID) + sourceText(p.Source)
		case *events.MomentsOptedIn:
			e = entryOf(r, KindMomentsOptedIn)
			e.StaffID, e.Channel = p.StaffID, p.Source
			e.Summary = fmt.Sprintf("customer opted back into %s's moments", p.StaffID) + sourceText(p.Source)
		case *events.ConsentRecorded:
			e = entryOf(r, KindConsent)
			e.Purpose, e.State = p.Purpose, p.State
			e.Summary = fmt.Sprintf("consent for %s: %s", p.Purpose, p.State)
		case *events.CustomerErased:
			tl.Erased = true
			e = entryOf(r, KindErased)
			e.Summary = "customer's personal data erased"
		default:
			continue
		}
		tl.Entries = append(tl.Entries, e)
	}
	for id := range active {
		tl.Followers = append(tl.Followers, id)
	}
	slices.Sort(tl.Followers)
	return nil
}

// addGroupStream adds the customer's joins and leaves of one group chat,
// and the chat's dismissal while the customer was a member.
func (tl *Timeline) addGroupStream(chat string, recs []events.Recorded) error {
	name := ""
	member := false
	for _, r := range recs {
		p, err := decode(r)
		if err != nil {
			return err
		}
		var e Entry
		switch p := p.(type) {
		case *events.GroupChatCreated:
			name = p.Name
			continue
		case *events.GroupChatRenamed:
			name = p.Name
			continue
		case *events.GroupChatMemberJoined:
			if p.MemberType != events.MemberCustomer || p.MemberID != tl.CustomerID {
				continue
			}
			member = true
			e = entryOf(r, KindGroupJoined)
			e.Scene, e.StaffID = p.JoinScene, p.InviterID
			e.Summary = fmt.Sprintf("joined group %s", groupText(chat, name))
			switch {
			case p.InviterID != "":
				e.Summary += fmt.Sprintf(", invited by %s", p.InviterID)
			case p.JoinScene != "":
				e.Summary += " via " + p.JoinScene
			}
		case *events.GroupChatMemberLeft:
			if p.MemberType != events.MemberCustomer || p.MemberID != tl.CustomerID {
				continue
			}
			member = false
			e = entryOf(r, KindGroupLeft)
			e.Scene, e.Reason = p.QuitScene, p.QuitScene
			if p.QuitScene == events.QuitRemoved {
				e.Summary = fmt.Sprintf("removed from group %s", groupText(chat, name))
			} else {
				e.Summary = fmt.Sprintf("left group %s", groupText(chat, name))
			}
		case *events.GroupChatDismissed:
			if !member {
				continue
			}
			member = false
			e = entryOf(r, KindGroupDismissed)
			e.Summary = fmt.Sprintf("group %s was dismissed", groupText(chat, name))
		default:
			continue
		}
		e.ChatID, e.ChatName = chat, name
		tl.Entries = append(tl.Entries, e)
	}
	return nil
}

func handoverSummary(e Entry) string {
	s := fmt.Sprintf("%s handover %s requested: %s → %s", strings.ReplaceAll(e.HandoverKind, "_", "-"), e.HandoverID, e.StaffID, e.ToStaffID)
	if e.Deadline != nil {
		s += ", customer may refuse until " + e.Deadline.Format(time.RFC3339)
	}
	if e.Outcome != "" {
		s += "; outcome: " + e.Outcome
		if e.OutcomeAt != nil {
			s += " at " + e.OutcomeAt.Format(time.RFC3339)
		}
	}
	return s
}

func channelText(state string, addWay int) string {
	switch {
	case state != "" && addWay != 0:
		return fmt.Sprintf(" via channel %q (add_way %d)", state, addWay)
	case state != "":
		return fmt.Sprintf(" via channel %q", state)
	case addWay != 0:
		return fmt.Sprintf(" (add_way %d)", addWay)
	}
	return ""
}

func sourceText(src string) string {
	if src == "" {
		return ""
	}
	return " (reported by " + src + ")"
}

func groupText(chat, name string) string {
	if name == "" {
		return chat
	}
	return fmt.Sprintf("%q (%s)", name, chat)
}
