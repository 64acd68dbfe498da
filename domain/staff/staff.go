// Package staff is the staff-member aggregate: joining, departing, the
// member's customer capacity and the slots that count against it, and
// erasure.
//
// Erasure (PIPL Art. 47): staff are data subjects too. After staff.erased
// no new personal data is recorded for the member: a join with a name is
// refused with ErrErased (a join without one is still recorded, so that a
// member first seen after an erasure can serve customers). Everything
// pseudonymous goes on as before — capacity, slots, relations, handovers,
// departure — so an erased member keeps serving their customers.
//
// Slots are the capacity bookkeeping of DESIGN §4. The customer stream is
// where relations live; the staff stream holds one slot per customer the
// member serves or is about to receive. A handover reserves its slot here
// with an exact expected version, so however many handovers to one member
// run at once, the member's slots never exceed its capacity. Adds are facts
// already true in WeCom and take a slot even over capacity.
package staff

import (
	"errors"
	"fmt"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

// Sentinel errors of the staff aggregate.
var (
	// ErrInvalidID: the staff id is empty.
	ErrInvalidID = errors.New("staff: empty staff id")
	// ErrAlreadyJoined: staff.joined was already recorded for the member.
	ErrAlreadyJoined = errors.New("staff: already joined")
	// ErrNotJoined: the member is not known (no staff.joined).
	ErrNotJoined = errors.New("staff: not joined")
	// ErrDeparted: the member has departed and can neither change nor
	// receive customers or groups.
	ErrDeparted = errors.New("staff: departed")
	// ErrErased: the member's personal data was erased; the decision would
	// record new personal data.
	ErrErased = errors.New("staff: erased")
	// ErrInvalidCapacity: a capacity below zero.
	ErrInvalidCapacity = errors.New("staff: invalid capacity")
	// ErrAtCapacity: every slot of the member is taken. Returned as a
	// *CapacityError.
	ErrAtCapacity = errors.New("staff: at capacity")
	// ErrForeignEvent: the history holds an event that does not belong to
	// this member's stream.
	ErrForeignEvent = errors.New("staff: event of another aggregate")
)

// CapacityError says how full the member is. It wraps ErrAtCapacity.
type CapacityError struct {
	StaffID  string
	Capacity int
	Used     int
}

func (e *CapacityError) Error() string {
	return fmt.Sprintf("staff %s: at capacity (%d of %d slots used)", e.StaffID, e.Used, e.Capacity)
}

// Unwrap makes errors.Is(err, ErrAtCapacity) true.
func (e *CapacityError) Unwrap() error { return ErrAtCapacity }

// Status is what other aggregates need to know about a member.
type Status struct {
	ID         string
	Joined     bool
	Departed   bool
	DepartedAt time.Time
}

// Active reports whether the member has joined and not departed.
func (s Status) Active() bool { return s.Joined && !s.Departed }

type slot struct {
	reason     string
	handoverID string
	reservedAt time.Time
}

// Slot is a read-only view of one taken slot.
type Slot struct {
	CustomerID string
	// Reason is events.SlotForAdd or events.SlotForHandover.
	Reason     string
	HandoverID string
	ReservedAt time.Time
}

// Staff is one staff member's aggregate. Its zero value is not usable: build
// it with New or Rehydrate. Methods that decide return the events to append
// and never change the aggregate; state changes only by replaying recorded
// events.
type Staff struct {
	id         string
	version    int64
	joined     bool
	departed   bool
	departedAt time.Time
	capacity   int // 0: the corp default
	slots      slotSet
	erased     bool
	// base is the snapshot the member was restored from or compacted to
	// (nil: none), which MarshalDelta encodes the changes since.
	base *snapBase
}

// New returns a member with no history.
func New(id string) (*Staff, error) {
	if id == "" {
		return nil, ErrInvalidID
	}
	return &Staff{id: id, version: -1}, nil
}

// Rehydrate rebuilds a member from its stream, oldest first.
func Rehydrate(id string, history []events.Recorded) (*Staff, error) {
	s, err := New(id)
	if err != nil {
		return nil, err
	}
	if err := s.Replay(history...); err != nil {
		return nil, err
	}
	return s, nil
}

// Replay applies further recorded events of the member's stream, in order.
// It is how a caller that already holds the aggregate catches up after a
// concurrent append, instead of rebuilding it from scratch.
func (s *Staff) Replay(recs ...events.Recorded) error {
	return events.Replay("staff "+s.id, recs, func(p events.Payload, r events.Recorded) error {
		if err := s.apply(p, r.OccurredAt); err != nil {
			return err
		}
		s.version = r.StreamVersion
		return nil
	})
}

func (s *Staff) apply(p events.Payload, at time.Time) error {
	switch e := p.(type) {
	case *events.StaffJoined:
		if e.StaffID != s.id {
			return fmt.Errorf("%w: %s for %q", ErrForeignEvent, e.EventType(), e.StaffID)
		}
		s.joined = true
		s.capacity = e.Capacity
	case *events.StaffDeparted:
		if e.StaffID != s.id {
			return fmt.Errorf("%w: %s for %q", ErrForeignEvent, e.EventType(), e.StaffID)
		}
		s.departed = true
		s.departedAt = at
	case *events.StaffCapacityChanged:
		if e.StaffID != s.id {
			return fmt.Errorf("%w: %s for %q", ErrForeignEvent, e.EventType(), e.StaffID)
		}
		s.capacity = e.Capacity
	case *events.StaffErased:
		if e.StaffID != s.id {
			return fmt.Errorf("%w: %s for %q", ErrForeignEvent, e.EventType(), e.StaffID)
		}
		s.erased = true
	case *events.StaffSlotReserved:
		if e.StaffID != s.id {
			return fmt.Errorf("%w: %s for %q", ErrForeignEvent, e.EventType(), e.StaffID)
		}
		s.slots.set(e.CustomerID, slot{reason: e.Reason, handoverID: e.HandoverID, reservedAt: at})
	case *events.StaffSlotReleased:
		if e.StaffID != s.id {
			return fmt.Errorf("%w: %s for %q", ErrForeignEvent, e.EventType(), e.StaffID)
		}
		s.slots.del(e.CustomerID)
	default:
		return fmt.Errorf("%w: %s", ErrForeignEvent, p.EventType())
	}
	return nil
}

// Fork returns a copy of the member that changes on its own, at the cost
// of the changes made to it: a caller that decides several things in turn
// replays each decision on the fork (as the events it would append) to
// decide the next on the result, and drops the fork when the appends fail.
// s must not change while the fork is in use.
func (s *Staff) Fork() *Staff {
	f := *s
	f.slots = s.slots.fork()
	return &f
}

// ID is the member's user id.
func (s *Staff) ID() string { return s.id }

// Version is the stream version of the last replayed event, -1 for none:
// the expected version of the next append.
func (s *Staff) Version() int64 { return s.version }

// Status reports whether the member joined and departed.
func (s *Staff) Status() Status {
	return Status{ID: s.id, Joined: s.joined, Departed: s.departed, DepartedAt: s.departedAt}
}

// Capacity is the member's customer limit under the corp's settings.
func (s *Staff) Capacity(set corp.Settings) int {
	if s.capacity > 0 {
		return s.capacity
	}
	return set.StaffCapacity
}

// Used is the number of slots taken.
func (s *Staff) Used() int { return s.slots.len() }

// Slots lists the taken slots, sorted by customer id.
func (s *Staff) Slots() []Slot {
	held := s.slots.sorted()
	out := make([]Slot, len(held))
	for i, sl := range held {
		out[i] = Slot{CustomerID: sl.customer, Reason: sl.reason, HandoverID: sl.handoverID, ReservedAt: sl.reservedAt}
	}
	return out
}

// Slot returns the customer's slot, if one is taken.
func (s *Staff) Slot(customerID string) (Slot, bool) {
	sl, ok := s.slots.get(customerID)
	if !ok {
		return Slot{}, false
	}
	return Slot{CustomerID: customerID, Reason: sl.reason, HandoverID: sl.handoverID, ReservedAt: sl.reservedAt}, true
}

// Holds reports whether a slot is taken for the customer.
func (s *Staff) Holds(customerID string) bool {
	_, ok := s.slots.get(customerID)
	return ok
}

// Join records that the member joined with an individual capacity (0: the
// corp default). An erased member may join only without personal data
// (ErrErased otherwise).
func (s *Staff) Join(capacity int, pii events.StaffPII) ([]events.Payload, error) {
	if s.joined {
		return nil, ErrAlreadyJoined
	}
	if capacity < 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidCapacity, capacity)
	}
	if s.erased && pii != (events.StaffPII{}) {
		return nil, ErrErased
	}
	return []events.Payload{&events.StaffJoined{StaffID: s.id, Capacity: capacity, PII: pii}}, nil
}

// Depart records that the member left the corp. Their relations become
// unassigned; no per-customer event is recorded here.
func (s *Staff) Depart() ([]events.Payload, error) {
	if !s.joined {
		return nil, ErrNotJoined
	}
	if s.departed {
		return nil, ErrDeparted
	}
	return []events.Payload{&events.StaffDeparted{StaffID: s.id}}, nil
}

// ChangeCapacity sets the member's individual capacity (0: back to the corp
// default). Lowering it below the slots in use is allowed: nothing is taken
// away, but no handover reserves a slot until enough are free. An unchanged
// capacity records nothing.
func (s *Staff) ChangeCapacity(capacity int) ([]events.Payload, error) {
	switch {
	case capacity < 0:
		return nil, fmt.Errorf("%w: %d", ErrInvalidCapacity, capacity)
	case !s.joined:
		return nil, ErrNotJoined
	case s.departed:
		return nil, ErrDeparted
	case capacity == s.capacity:
		return nil, nil
	}
	return []events.Payload{&events.StaffCapacityChanged{StaffID: s.id, Capacity: capacity}}, nil
}

// ReserveForAdd takes a slot for a customer the member now follows. The add
// already happened in WeCom, so it is recorded even over capacity and even
// for a member not (yet) known. A slot already held for an add records
// nothing; a slot held for a pending handover is taken over by the add (one
// slot still, now owned by the relation), so that the handover failing
// later does not free the slot of the relation.
func (s *Staff) ReserveForAdd(customerID string) []events.Payload {
	if sl, ok := s.slots.get(customerID); ok && sl.handoverID == "" {
		return nil
	}
	return []events.Payload{&events.StaffSlotReserved{StaffID: s.id, CustomerID: customerID, Reason: events.SlotForAdd}}
}

// ReserveForHandover takes a slot for a customer handed over to the member.
// A member that already holds a slot for the customer (it follows the
// customer already) needs none: nothing is recorded and no capacity is
// checked. Otherwise the member must be active and have a free slot, or the
// result is ErrNotJoined, ErrDeparted or a *CapacityError.
func (s *Staff) ReserveForHandover(customerID, handoverID string, set corp.Settings) ([]events.Payload, error) {
	switch {
	case !s.joined:
		return nil, ErrNotJoined
	case s.departed:
		return nil, ErrDeparted
	case s.Holds(customerID):
		return nil, nil
	}
	if c := s.Capacity(set); s.slots.len() >= c {
		return nil, &CapacityError{StaffID: s.id, Capacity: c, Used: s.slots.len()}
	}
	return []events.Payload{&events.StaffSlotReserved{
		StaffID: s.id, CustomerID: customerID, Reason: events.SlotForHandover, HandoverID: handoverID,
	}}, nil
}

// Release frees the customer's slot. With a handoverID it frees the slot
// only if that handover reserved it, so settling a handover never frees the
// slot of a relation the member already had. A slot not held records
// nothing.
func (s *Staff) Release(customerID, reason, handoverID string) []events.Payload {
	sl, ok := s.slots.get(customerID)
	if !ok || (handoverID != "" && sl.handoverID != handoverID) {
		return nil
	}
	return []events.Payload{&events.StaffSlotReleased{StaffID: s.id, CustomerID: customerID, Reason: reason, HandoverID: handoverID}}
}
