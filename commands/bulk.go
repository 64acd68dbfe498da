package commands

import (
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// The exported helpers of this file let a bulk writer (the importer of
// adapters/tools/importer) decide exactly as the command handlers do
// without going through a Handler per record: the same field rules, the
// same envelope, the same event ids and the same slot rule. They add no
// rule of their own; each calls the one the handlers call.

// CheckMeta applies the envelope rules of every command (begin): a corp,
// text-rule envelope fields and OccurredAt within [MinOccurredAt,
// now+MaxClockSkew].
func CheckMeta(m Meta, now time.Time) error {
	if m.CorpID == "" {
		return invalid("corp_id", "required")
	}
	return checkMeta(m, now)
}

// EventMeta is the envelope a command with Meta m records its events
// with: OccurredAt (or now when zero) in UTC truncated to microseconds,
// actor "system" when empty.
func EventMeta(m Meta, now time.Time) events.Meta {
	at := m.OccurredAt
	if at.IsZero() {
		at = now
	}
	actor := m.Actor
	if actor == "" {
		actor = "system"
	}
	return events.Meta{
		CorpID: m.CorpID, OccurredAt: at.UTC().Truncate(time.Microsecond), Actor: actor, CommandID: m.CommandID,
		CorrelationID: m.CorrelationID, CausationID: m.CausationID,
	}
}

// CheckJoinStaff applies JoinStaff's field rules.
func CheckJoinStaff(cmd JoinStaff) error {
	if err := firstError(
		checkRange("capacity", cmd.Capacity, 0, MaxCapacity),
		checkText("name", cmd.Name, MaxNameLen),
	); err != nil {
		return err
	}
	if cmd.StaffID == "" {
		return invalid("staff_id", "required")
	}
	return nil
}

// CheckStartRelation applies StartRelation's field rules.
func CheckStartRelation(cmd StartRelation) error {
	if err := checkStartRelation(cmd); err != nil {
		return err
	}
	if cmd.StaffID == "" {
		return invalid("staff_id", "required")
	}
	if cmd.CustomerID == "" {
		return invalid("customer_id", "required")
	}
	return nil
}

// CheckCreateGroupChat applies CreateGroupChat's field rules.
func CheckCreateGroupChat(cmd CreateGroupChat) error {
	if cmd.OwnerID == "" {
		return invalid("owner_id", "required")
	}
	if err := checkText("name", cmd.Name, MaxNameLen); err != nil {
		return err
	}
	if cmd.ChatID == "" {
		return invalid("chat_id", "required")
	}
	return nil
}

// CheckJoinGroupChat applies JoinGroupChat's field rules.
func CheckJoinGroupChat(cmd JoinGroupChat) error {
	if cmd.MemberID == "" {
		return invalid("member_id", "required")
	}
	if err := checkText("nickname", cmd.Nickname, MaxNameLen); err != nil {
		return err
	}
	if cmd.ChatID == "" {
		return invalid("chat_id", "required")
	}
	return nil
}

// EventID is the id a command with id key gives the i-th event it appends
// to stream after version expected (run.eventID): UUIDv5 of the four, so
// that the same decision made twice names the same events. key must not be
// empty (a command without an id gets random ids).
func EventID(key, stream string, expected int64, i int) uuid.UUID {
	name := key + "\x00" + stream + "\x00" + strconv.FormatInt(expected, 10) + "\x00" + strconv.Itoa(i)
	return uuid.NewSHA1(idNamespace, []byte(name))
}

// SlotEventKey is the key the slot convergence of a command derives the
// ids of slot events from (converge): the events pays are the decision of
// SlotDecision for the customer.
func SlotEventKey(customerID string, pays []events.Payload) string {
	return "slot\x00" + customerID + "\x00" + slotDecisionKey(pays[0])
}

// SlotDecision is the rule tying the member's slots to the customer's
// stream (decideSlot): the events for the member's stream, or a failure of
// a pending handover to record on the customer's stream, or nothing.
func SlotDecision(c *customer.Customer, s *staff.Staff, set corp.Settings) ([]events.Payload, *events.HandoverFailed) {
	d := decideSlot(c, s, set)
	return d.staff, d.fail
}

// SlotTouches lists the members whose slots the customer events pays touch
// (in the order slotEffects converges them), for events that need no
// handover lookup: relation starts and ends. ok is false when pays hold
// any other slot-relevant event, which a bulk writer does not handle.
func SlotTouches(pays []events.Payload) (members []string, ok bool) {
	for _, p := range pays {
		switch e := p.(type) {
		case *events.CustomerRelationStarted:
			members = append(members, e.StaffID)
		case *events.CustomerRelationEnded:
			members = append(members, e.StaffID)
		case *events.HandoverRequested, *events.HandoverRefused, *events.HandoverCancelled,
			*events.HandoverFailed, *events.HandoverCompleted:
			return nil, false
		}
	}
	slices.Sort(members)
	return slices.Compact(members), true
}
