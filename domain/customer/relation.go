package customer

import (
	"errors"
	"fmt"
	"slices"

	"github.com/custody/custody/events"
)

// Sentinel errors of the relation rules.
var (
	// ErrRelationActive: the relation is already active; an add is recorded
	// once per interval.
	ErrRelationActive = errors.New("customer: relation already active")
	// ErrRelationNotActive: the member has no active relation with the
	// customer (never had one, or it ended).
	ErrRelationNotActive = errors.New("customer: relation not active")
	// ErrRelationNotFound: the member never had a relation with the customer.
	ErrRelationNotFound = errors.New("customer: no relation with this staff member")
)

// NewRelation describes an add: who added whom, how, through which channel.
type NewRelation struct {
	StaffID string
	// Initiator is events.InitiatorStaff or events.InitiatorCustomer.
	Initiator string
	AddWay    int
	// State is the channel code of the QR code or link.
	State string
	Tags  []string
	PII   events.RelationPII
}

// StartRelation records an add in either direction. A customer who deleted
// the member (or was deleted) and adds again starts a new interval.
func (c *Customer) StartRelation(r NewRelation) ([]events.Payload, error) {
	switch {
	case r.StaffID == "":
		return nil, fmt.Errorf("%w: empty staff id", ErrInvalidArgument)
	case r.Initiator != events.InitiatorStaff && r.Initiator != events.InitiatorCustomer:
		return nil, fmt.Errorf("%w: initiator %q", ErrInvalidArgument, r.Initiator)
	case c.erased:
		return nil, ErrErased
	}
	if rel := c.relations[r.StaffID]; rel != nil && rel.active {
		return nil, ErrRelationActive
	}
	return []events.Payload{&events.CustomerRelationStarted{
		CustomerID: c.id, StaffID: r.StaffID, Initiator: r.Initiator, AddWay: r.AddWay,
		State: r.State, Tags: slices.Clone(r.Tags), StartedBy: events.StartedByAdd, PII: r.PII,
	}}, nil
}

// EditRelation records new remark, description, phones and tags (full
// values) on an active relation.
func (c *Customer) EditRelation(staffID string, tags []string, pii events.RelationPII) ([]events.Payload, error) {
	if staffID == "" {
		return nil, fmt.Errorf("%w: empty staff id", ErrInvalidArgument)
	}
	if c.erased {
		return nil, ErrErased
	}
	if rel := c.relations[staffID]; rel == nil || !rel.active {
		return nil, ErrRelationNotActive
	}
	if tags == nil {
		tags = []string{}
	}
	return []events.Payload{&events.CustomerRelationEdited{
		CustomerID: c.id, StaffID: staffID, Tags: slices.Clone(tags), PII: pii,
	}}, nil
}

// EndRelation records the end of an active relation: the member deleted the
// customer (events.EndDeletedByStaff), the customer deleted the member
// (events.EndDeletedByCustomer, churn), a reconciliation found it gone
// (events.EndReconciled) or WeCom moved it by a handover custody did not
// request (events.EndHandedOverInWeCom). Every handover of the relation still pending fails
// with events.FailRelationEnded, after the relation_ended event.
func (c *Customer) EndRelation(staffID, reason string) ([]events.Payload, error) {
	switch {
	case staffID == "":
		return nil, fmt.Errorf("%w: empty staff id", ErrInvalidArgument)
	case reason != events.EndDeletedByStaff && reason != events.EndDeletedByCustomer && reason != events.EndReconciled &&
		reason != events.EndHandedOverInWeCom:
		return nil, fmt.Errorf("%w: end reason %q", ErrInvalidArgument, reason)
	}
	if rel := c.relations[staffID]; rel == nil || !rel.active {
		return nil, ErrRelationNotActive
	}
	out := []events.Payload{&events.CustomerRelationEnded{CustomerID: c.id, StaffID: staffID, Reason: reason}}
	for _, id := range c.order {
		if h := c.handovers[id]; h.status == StatusPending && h.from == staffID {
			out = append(out, &events.HandoverFailed{HandoverID: id, CustomerID: c.id, Reason: events.FailRelationEnded})
		}
	}
	return out, nil
}
