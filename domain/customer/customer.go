// Package customer is the customer aggregate (stream customer-<corp>-<id>):
// the customer's relations with staff members, handovers of those
// relations, moments opt-outs, consents and erasure.
//
// Decisions are pure: a method takes the facts it needs (the time now, the
// corp's settings, the status of the staff members involved) and returns the
// events to append, or a sentinel error saying which rule refused. The
// aggregate changes only by replaying recorded events (Rehydrate, Replay).
//
// Time rules, exactly at their edges:
//   - a handover's deadline is its request time plus the corp's handover
//     window (24 h); the customer may refuse, and an admin cancel, while
//     now < deadline; it completes when now >= deadline;
//   - an in-service handover requested at t counts against the customer's
//     limit (2) while now - t < 90 days: at exactly 90 days it no longer
//     counts. Pending and completed handovers count; refused, failed and
//     cancelled ones do not, because the relation did not move;
//   - a departed member's relations can be assigned while
//     now < departed_at + 365 days.
//
// Erasure (PIPL Art. 47): after customer.erased no new personal data is
// recorded for the customer: starting or editing a relation and requesting
// a handover are refused with ErrErased. What keeps the pseudonymous history
// true is still recorded: relations ending, pending handovers settling
// (a completed handover's new relation carries no personal data), moments
// opt-out/in and consent changes (a withdrawal must stay possible).
package customer

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/custody/custody/events"
)

// Sentinel errors shared by the customer's decisions.
var (
	// ErrInvalidArgument: an id is empty or a value is not one the catalog
	// knows (initiator, reason, kind, purpose, state).
	ErrInvalidArgument = errors.New("customer: invalid argument")
	// ErrErased: the customer's personal data was erased; the decision
	// would record new personal data.
	ErrErased = errors.New("customer: erased")
	// ErrForeignEvent: the history holds an event that does not belong to
	// this customer's stream.
	ErrForeignEvent = errors.New("customer: event of another aggregate")
)

// Handover states.
const (
	StatusPending   = "pending"
	StatusCompleted = "completed"
	StatusRefused   = "refused"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Customer is one external contact's aggregate. Build it with New or
// Rehydrate; deciding methods never change it.
type Customer struct {
	id        string
	version   int64
	relations map[string]*relation // by staff id: the latest interval
	handovers map[string]*handover
	order     []string // handover ids in request order
	optedOut  map[string]bool
	consents  map[string]Consent
	erased    bool
}

type relation struct {
	staffID   string
	active    bool
	startedAt time.Time
	endedAt   time.Time
	endReason string
	initiator string
	addWay    int
	state     string
	tags      []string
	pii       events.RelationPII
	intervals int
}

type handover struct {
	id, kind, from, to, batchID string
	requestedAt, deadline       time.Time
	status, failReason          string
}

// Relation is a read-only view of the latest interval of one relation.
type Relation struct {
	StaffID   string
	Active    bool
	StartedAt time.Time
	EndedAt   time.Time // zero while active
	EndReason string
	Initiator string
	Tags      []string
	// Intervals counts how often the relation started: re-adding after a
	// delete starts a new interval.
	Intervals int
}

// Handover is a read-only view of one handover.
type Handover struct {
	ID          string
	Kind        string
	From, To    string
	BatchID     string
	RequestedAt time.Time
	Deadline    time.Time
	Status      string
	FailReason  string
}

// Consent is the latest recorded choice for one purpose.
type Consent struct {
	Purpose   string
	State     string
	ChangedAt time.Time
}

// New returns a customer with no history.
func New(id string) (*Customer, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty customer id", ErrInvalidArgument)
	}
	return &Customer{
		id:        id,
		version:   -1,
		relations: map[string]*relation{},
		handovers: map[string]*handover{},
		optedOut:  map[string]bool{},
		consents:  map[string]Consent{},
	}, nil
}

// Rehydrate rebuilds a customer from its stream, oldest first.
func Rehydrate(id string, history []events.Recorded) (*Customer, error) {
	c, err := New(id)
	if err != nil {
		return nil, err
	}
	if err := c.Replay(history...); err != nil {
		return nil, err
	}
	return c, nil
}

// Replay applies further recorded events of the customer's stream, in order
// (the catch-up path after a concurrent append).
func (c *Customer) Replay(recs ...events.Recorded) error {
	return events.Replay("customer "+c.id, recs, func(p events.Payload, r events.Recorded) error {
		if err := c.apply(p, r.OccurredAt); err != nil {
			return err
		}
		c.version = r.StreamVersion
		return nil
	})
}

func (c *Customer) apply(p events.Payload, at time.Time) error {
	if id, ok := events.CustomerOf(p); !ok || id != c.id {
		return fmt.Errorf("%w: %s for %q", ErrForeignEvent, p.EventType(), id)
	}
	switch e := p.(type) {
	case *events.CustomerRelationStarted:
		r := c.relations[e.StaffID]
		if r == nil {
			r = &relation{staffID: e.StaffID}
			c.relations[e.StaffID] = r
		}
		r.active = true
		r.startedAt, r.endedAt, r.endReason = at, time.Time{}, ""
		r.initiator, r.addWay, r.state = e.Initiator, e.AddWay, e.State
		r.tags = slices.Clone(e.Tags)
		r.pii = e.PII
		r.intervals++
	case *events.CustomerRelationEdited:
		if r := c.relations[e.StaffID]; r != nil {
			r.tags = slices.Clone(e.Tags)
			r.pii = e.PII
		}
	case *events.CustomerRelationEnded:
		if r := c.relations[e.StaffID]; r != nil {
			r.active = false
			r.endedAt, r.endReason = at, e.Reason
		}
	case *events.CustomerErased:
		c.erased = true
		for _, r := range c.relations {
			r.pii = events.RelationPII{}
		}
	case *events.MomentsOptedOut:
		c.optedOut[e.StaffID] = true
	case *events.MomentsOptedIn:
		delete(c.optedOut, e.StaffID)
	case *events.ConsentRecorded:
		c.consents[e.Purpose] = Consent{Purpose: e.Purpose, State: e.State, ChangedAt: e.ChangedAt}
	case *events.HandoverRequested:
		c.handovers[e.HandoverID] = &handover{
			id: e.HandoverID, kind: e.Kind, from: e.FromStaffID, to: e.ToStaffID, batchID: e.BatchID,
			requestedAt: at, deadline: e.Deadline, status: StatusPending,
		}
		c.order = append(c.order, e.HandoverID)
	case *events.HandoverRefused:
		c.settle(e.HandoverID, StatusRefused, "")
	case *events.HandoverCompleted:
		c.settle(e.HandoverID, StatusCompleted, "")
	case *events.HandoverFailed:
		c.settle(e.HandoverID, StatusFailed, e.Reason)
	case *events.HandoverCancelled:
		c.settle(e.HandoverID, StatusCancelled, "")
	}
	return nil
}

func (c *Customer) settle(id, status, reason string) {
	if h := c.handovers[id]; h != nil {
		h.status, h.failReason = status, reason
	}
}

// ID is the customer's external user id.
func (c *Customer) ID() string { return c.id }

// Version is the stream version of the last replayed event, -1 for none:
// the expected version of the next append.
func (c *Customer) Version() int64 { return c.version }

// Erased reports whether customer.erased was recorded.
func (c *Customer) Erased() bool { return c.erased }

// Relation returns the latest interval of the relation with a staff member.
func (c *Customer) Relation(staffID string) (Relation, bool) {
	r := c.relations[staffID]
	if r == nil {
		return Relation{}, false
	}
	return Relation{
		StaffID: r.staffID, Active: r.active, StartedAt: r.startedAt, EndedAt: r.endedAt,
		EndReason: r.endReason, Initiator: r.initiator, Tags: slices.Clone(r.tags), Intervals: r.intervals,
	}, true
}

// Followers are the staff ids with an active relation, sorted.
func (c *Customer) Followers() []string {
	var out []string
	for id, r := range c.relations {
		if r.active {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Members are the staff ids the customer ever had a relation with or a
// handover from or to, sorted: every member whose slot for the customer
// the customer's stream has a say on.
func (c *Customer) Members() []string {
	seen := map[string]bool{}
	for id := range c.relations {
		seen[id] = true
	}
	for _, h := range c.handovers {
		seen[h.from], seen[h.to] = true, true
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// PendingTo returns the pending handovers to the member, in request order.
func (c *Customer) PendingTo(staffID string) []Handover {
	var out []Handover
	for _, id := range c.order {
		if h := c.handovers[id]; h.status == StatusPending && h.to == staffID {
			out = append(out, h.view())
		}
	}
	return out
}

// Handover returns one handover by id.
func (c *Customer) Handover(id string) (Handover, bool) {
	h := c.handovers[id]
	if h == nil {
		return Handover{}, false
	}
	return h.view(), true
}

// Handovers returns every handover in request order.
func (c *Customer) Handovers() []Handover {
	out := make([]Handover, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.handovers[id].view())
	}
	return out
}

func (h *handover) view() Handover {
	return Handover{
		ID: h.id, Kind: h.kind, From: h.from, To: h.to, BatchID: h.batchID,
		RequestedAt: h.requestedAt, Deadline: h.deadline, Status: h.status, FailReason: h.failReason,
	}
}

// OptedOut reports whether the customer opted out of the member's moments.
func (c *Customer) OptedOut(staffID string) bool { return c.optedOut[staffID] }

// Consent returns the latest choice for a purpose.
func (c *Customer) Consent(purpose string) (Consent, bool) {
	v, ok := c.consents[purpose]
	return v, ok
}
