package customer

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// Sentinel errors of the handover rules.
var (
	// ErrSameStaff: a handover from a member to that same member.
	ErrSameStaff = errors.New("customer: handover to the current owner")
	// ErrMessageTooLong: the message to the customer exceeds the corp's
	// limit (200 characters by default).
	ErrMessageTooLong = errors.New("customer: handover message too long")
	// ErrHandoverExists: a handover with this id was already requested.
	ErrHandoverExists = errors.New("customer: handover id already used")
	// ErrHandoverPending: the relation already has a pending handover.
	ErrHandoverPending = errors.New("customer: relation has a pending handover")
	// ErrUnknownTarget: the target has not joined.
	ErrUnknownTarget = errors.New("customer: handover target unknown")
	// ErrTargetDeparted: departed members receive nothing.
	ErrTargetDeparted = errors.New("customer: handover target departed")
	// ErrOwnerDeparted: an in-service handover needs an active owner; a
	// departed owner's relations move by a resigned handover.
	ErrOwnerDeparted = errors.New("customer: owner departed, use a resigned handover")
	// ErrOwnerNotDeparted: a resigned handover needs a departed owner.
	ErrOwnerNotDeparted = errors.New("customer: owner has not departed, use an in-service handover")
	// ErrAssignmentWindowClosed: a departed member's relations can be
	// assigned only within the corp's window (1 year) after the departure.
	ErrAssignmentWindowClosed = errors.New("customer: assignment window after departure is over")
	// ErrHandoverLimitReached: the customer was handed over in service as
	// often as the corp allows within its period (2 in 90 days). Returned as
	// a *HandoverLimitError.
	ErrHandoverLimitReached = errors.New("customer: in-service handover limit reached")
	// ErrHandoverNotFound: no handover with this id.
	ErrHandoverNotFound = errors.New("customer: handover not found")
	// ErrHandoverNotPending: the handover is already settled.
	ErrHandoverNotPending = errors.New("customer: handover not pending")
	// ErrHandoverWindowClosed: the refusal window is over (now >= deadline),
	// the handover can no longer be refused or cancelled.
	ErrHandoverWindowClosed = errors.New("customer: handover window closed")
	// ErrHandoverNotDue: completion before the deadline.
	ErrHandoverNotDue = errors.New("customer: handover not due yet")
)

// HandoverLimitError says when the next in-service handover is possible.
// It wraps ErrHandoverLimitReached.
type HandoverLimitError struct {
	Limit  int
	Period time.Duration
	// NextAllowedAt is the first time a new request would be accepted.
	NextAllowedAt time.Time
}

func (e *HandoverLimitError) Error() string {
	return fmt.Sprintf("customer: in-service handover limit reached (%d per %s), next allowed at %s",
		e.Limit, e.Period, e.NextAllowedAt.Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrHandoverLimitReached) true.
func (e *HandoverLimitError) Unwrap() error { return ErrHandoverLimitReached }

// HandoverRequest asks to move the customer's relation with From to To.
type HandoverRequest struct {
	HandoverID string
	// Kind is events.HandoverInService or events.HandoverResigned.
	Kind    string
	From    staff.Status
	To      staff.Status
	BatchID string
	Message string
	// TargetFull reports that no slot could be reserved on the target's
	// staff stream. The request is then recorded together with its failure
	// (events.FailTargetAtCapacity), as WeCom reports customer_limit_exceed.
	TargetFull bool
}

// RequestHandover decides a handover request at now. Accepted, it records
// handover.requested with deadline now + the corp's handover window (and,
// when req.TargetFull, handover.failed right after it). A handover to a
// member who already follows the customer is accepted: on completion the old
// relation ends and no second relation starts.
func (c *Customer) RequestHandover(req HandoverRequest, now time.Time, set corp.Settings) ([]events.Payload, error) {
	switch {
	case req.HandoverID == "":
		return nil, fmt.Errorf("%w: empty handover id", ErrInvalidArgument)
	case req.Kind != events.HandoverInService && req.Kind != events.HandoverResigned:
		return nil, fmt.Errorf("%w: handover kind %q", ErrInvalidArgument, req.Kind)
	case req.From.ID == "" || req.To.ID == "":
		return nil, fmt.Errorf("%w: empty staff id", ErrInvalidArgument)
	case c.erased:
		return nil, ErrErased
	case req.From.ID == req.To.ID:
		return nil, ErrSameStaff
	case utf8.RuneCountInString(req.Message) > set.MaxHandoverMessage:
		return nil, fmt.Errorf("%w: %d characters, at most %d", ErrMessageTooLong, utf8.RuneCountInString(req.Message), set.MaxHandoverMessage)
	case c.handovers[req.HandoverID] != nil:
		return nil, ErrHandoverExists
	}
	if rel := c.relations[req.From.ID]; rel == nil || !rel.active {
		return nil, ErrRelationNotActive
	}
	for _, h := range c.handovers {
		if h.status == StatusPending && h.from == req.From.ID {
			return nil, ErrHandoverPending
		}
	}
	switch {
	case !req.To.Joined:
		return nil, ErrUnknownTarget
	case req.To.Departed:
		return nil, ErrTargetDeparted
	}
	switch req.Kind {
	case events.HandoverInService:
		if req.From.Departed {
			return nil, ErrOwnerDeparted
		}
		if err := c.inServiceLimit(now, set); err != nil {
			return nil, err
		}
	case events.HandoverResigned:
		if !req.From.Departed {
			return nil, ErrOwnerNotDeparted
		}
		if !now.Before(req.From.DepartedAt.Add(set.ResignedAssignmentWindow)) {
			return nil, ErrAssignmentWindowClosed
		}
	}
	out := []events.Payload{&events.HandoverRequested{
		HandoverID: req.HandoverID, CustomerID: c.id, Kind: req.Kind,
		FromStaffID: req.From.ID, ToStaffID: req.To.ID, BatchID: req.BatchID, PII: events.HandoverRequestPII{Message: req.Message},
		Deadline: now.Add(set.HandoverWindow),
	}}
	if req.TargetFull {
		out = append(out, &events.HandoverFailed{HandoverID: req.HandoverID, CustomerID: c.id, Reason: events.FailTargetAtCapacity})
	}
	return out, nil
}

// inServiceLimit counts pending and completed in-service handovers requested
// within (now - period, now].
func (c *Customer) inServiceLimit(now time.Time, set corp.Settings) error {
	since := now.Add(-set.InServiceHandoverPeriod)
	var counted []time.Time
	for _, id := range c.order {
		h := c.handovers[id]
		if h.kind != events.HandoverInService || (h.status != StatusPending && h.status != StatusCompleted) {
			continue
		}
		if h.requestedAt.After(since) {
			counted = append(counted, h.requestedAt)
		}
	}
	if len(counted) < set.InServiceHandoverLimit {
		return nil
	}
	// The oldest counted request stops counting one period after it was made;
	// counted is in request order.
	next := counted[len(counted)-set.InServiceHandoverLimit].Add(set.InServiceHandoverPeriod)
	return &HandoverLimitError{Limit: set.InServiceHandoverLimit, Period: set.InServiceHandoverPeriod, NextAllowedAt: next}
}

func (c *Customer) pending(id string) (*handover, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty handover id", ErrInvalidArgument)
	}
	h := c.handovers[id]
	if h == nil {
		return nil, ErrHandoverNotFound
	}
	if h.status != StatusPending {
		return nil, fmt.Errorf("%w: %s", ErrHandoverNotPending, h.status)
	}
	return h, nil
}

// RefuseHandover records the customer declining, allowed while now <
// deadline.
func (c *Customer) RefuseHandover(id string, now time.Time) ([]events.Payload, error) {
	h, err := c.pending(id)
	if err != nil {
		return nil, err
	}
	if !now.Before(h.deadline) {
		return nil, ErrHandoverWindowClosed
	}
	return []events.Payload{&events.HandoverRefused{HandoverID: id, CustomerID: c.id}}, nil
}

// CancelHandover records an admin withdrawing a pending handover, allowed
// while now < deadline: once the window is over the handover is due and only
// settles.
func (c *Customer) CancelHandover(id string, now time.Time) ([]events.Payload, error) {
	h, err := c.pending(id)
	if err != nil {
		return nil, err
	}
	if !now.Before(h.deadline) {
		return nil, ErrHandoverWindowClosed
	}
	return []events.Payload{&events.HandoverCancelled{HandoverID: id, CustomerID: c.id}}, nil
}

// FailHandover records that a pending handover cannot happen (reason one of
// events.FailTargetAtCapacity, FailTargetDeparted, FailRelationEnded,
// FailRejectedByWeCom), at any
// time before it settles.
func (c *Customer) FailHandover(id, reason string) ([]events.Payload, error) {
	switch reason {
	case events.FailTargetAtCapacity, events.FailTargetDeparted, events.FailRelationEnded, events.FailRejectedByWeCom:
	default:
		return nil, fmt.Errorf("%w: fail reason %q", ErrInvalidArgument, reason)
	}
	if _, err := c.pending(id); err != nil {
		return nil, err
	}
	return []events.Payload{&events.HandoverFailed{HandoverID: id, CustomerID: c.id, Reason: reason}}, nil
}

// CompleteHandover settles a due handover (now >= deadline). It fails it
// when the relation ended meanwhile, the target is not an active member, or
// targetFull reports that no slot could be had for the target. Otherwise it
// records handover.completed, the old relation's end (events.EndHandedOver)
// and a new relation for the target inheriting tags, remark and the rest of
// the personal part, unless the target already follows the customer (then
// no second relation starts, as in WeCom where no add event fires).
func (c *Customer) CompleteHandover(id string, now time.Time, to staff.Status, targetFull bool) ([]events.Payload, error) {
	h, err := c.pending(id)
	if err != nil {
		return nil, err
	}
	if now.Before(h.deadline) {
		return nil, ErrHandoverNotDue
	}
	if to.ID != h.to {
		return nil, fmt.Errorf("%w: target status for %q, handover goes to %q", ErrInvalidArgument, to.ID, h.to)
	}
	fail := func(reason string) ([]events.Payload, error) {
		return []events.Payload{&events.HandoverFailed{HandoverID: id, CustomerID: c.id, Reason: reason}}, nil
	}
	old := c.relations[h.from]
	switch {
	case old == nil || !old.active:
		return fail(events.FailRelationEnded)
	case !to.Active():
		return fail(events.FailTargetDeparted)
	case targetFull:
		return fail(events.FailTargetAtCapacity)
	}
	out := []events.Payload{
		&events.HandoverCompleted{HandoverID: id, CustomerID: c.id, FromStaffID: h.from, ToStaffID: h.to},
		&events.CustomerRelationEnded{CustomerID: c.id, StaffID: h.from, Reason: events.EndHandedOver, HandoverID: id},
	}
	if rel := c.relations[h.to]; rel == nil || !rel.active {
		out = append(out, &events.CustomerRelationStarted{
			CustomerID: c.id, StaffID: h.to, Initiator: old.initiator, AddWay: old.addWay, State: old.state,
			Tags: append([]string(nil), old.tags...), StartedBy: events.StartedByHandover, HandoverID: id, PII: old.pii,
		})
	}
	return out, nil
}
