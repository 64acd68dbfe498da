package commands

import (
	"context"
	"errors"
	"slices"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// withStaff runs fn on the member's aggregate, caught up with its stream,
// while holding the member's cache entry: within one process, operations on
// one member take turns instead of racing to conflicts. fn may append and
// then must Replay what it appended.
func (r *run) withStaff(ctx context.Context, id string, fn func(*staff.Staff) error) error {
	if id == "" {
		return staff.ErrInvalidID
	}
	stream := events.StaffStream(r.meta.CorpID, id)
	e := r.h.staff.entry(r.meta.CorpID, id)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.s == nil {
		s, err := staff.New(id)
		if err != nil {
			return err
		}
		e.s = s
	}
	recs, err := r.read(ctx, stream, e.s.Version()+1)
	if err != nil {
		return err
	}
	if err := e.s.Replay(recs...); err != nil {
		e.s = nil
		return &StreamError{Stream: stream, Err: err}
	}
	if err := fn(e.s); err != nil {
		var se *StreamError
		if errors.As(err, &se) {
			e.s = nil
		}
		return err
	}
	return nil
}

// staffStatus is the member's status; a member without a stream has not
// joined.
func (r *run) staffStatus(ctx context.Context, id string) (staff.Status, error) {
	var st staff.Status
	err := r.withStaff(ctx, id, func(s *staff.Staff) error {
		st = s.Status()
		return nil
	})
	return st, err
}

// onStaff decides on the member's stream and appends with the exact version
// read, re-reading on a conflict. This is what keeps capacity: two
// reservations decided on the same version cannot both be stored, whichever
// process made them.
func (r *run) onStaff(ctx context.Context, id string, decide func(*staff.Staff) ([]events.Payload, error)) ([]events.Recorded, error) {
	stream := events.StaffStream(r.meta.CorpID, id)
	for attempt := 0; ; attempt++ {
		var recs []events.Recorded
		err := r.withStaff(ctx, id, func(s *staff.Staff) error {
			pays, err := decide(s)
			if err != nil || len(pays) == 0 {
				return err
			}
			if recs, err = r.append(ctx, stream, s.Version(), pays); err != nil {
				return err
			}
			if err := s.Replay(recs...); err != nil {
				return &StreamError{Stream: stream, Err: err}
			}
			return nil
		})
		if r.retry(err, attempt) {
			continue
		}
		return recs, err
	}
}

// reserveForHandover takes a slot on the target for the customer. It
// returns a *staff.CapacityError when the target is full.
func (r *run) reserveForHandover(ctx context.Context, to, customerID, handoverID string) error {
	_, err := r.onStaff(ctx, to, func(s *staff.Staff) ([]events.Payload, error) {
		return s.ReserveForHandover(customerID, handoverID, r.settings)
	})
	return err
}

// releaseHandoverSlot frees the slot a handover reserved, if it did.
func (r *run) releaseHandoverSlot(ctx context.Context, to, customerID, handoverID, reason string) error {
	_, err := r.onStaff(ctx, to, func(s *staff.Staff) ([]events.Payload, error) {
		return s.Release(customerID, reason, handoverID), nil
	})
	return err
}

// slotEffects brings the slots of every member the recorded customer events
// touch in line with the customer's stream (see syncSlot). c is the
// customer before or after the events; both know every handover involved.
func (r *run) slotEffects(ctx context.Context, c *customer.Customer, pays []events.Payload) error {
	targets := map[string]string{}
	for _, p := range pays {
		if e, ok := p.(*events.HandoverRequested); ok {
			targets[e.HandoverID] = e.ToStaffID
		}
	}
	target := func(id string) string {
		if t, ok := targets[id]; ok {
			return t
		}
		h, _ := c.Handover(id)
		return h.To
	}
	var touched []string
	for _, p := range pays {
		switch e := p.(type) {
		case *events.CustomerRelationStarted:
			touched = append(touched, e.StaffID)
		case *events.CustomerRelationEnded:
			touched = append(touched, e.StaffID)
		case *events.HandoverRefused:
			touched = append(touched, target(e.HandoverID))
		case *events.HandoverCancelled:
			touched = append(touched, target(e.HandoverID))
		case *events.HandoverFailed:
			touched = append(touched, target(e.HandoverID))
		}
	}
	slices.Sort(touched)
	var errs []error
	for _, id := range slices.Compact(touched) {
		if id != "" {
			errs = append(errs, r.syncSlot(ctx, c.ID(), id))
		}
	}
	return errors.Join(errs...)
}

// syncSlot makes the member's slot for the customer agree with the
// customer's stream as it is now, read while the member's cache entry is
// held. Because every change of a customer stream is followed by a sync of
// the members it touches, and syncs of one member take turns within a
// process, the last sync always sees the last change: concurrent adds and
// deletes of one pair cannot leave a slot behind or lose one. (Across
// processes a sync that appends nothing can still race; see the report of
// SettleDue's neighbours in the package docs.)
//
// The rules: an active relation holds a slot (taken even over capacity: the
// add is a fact). Without one, a slot is kept while a handover to the
// member is pending, or while the handover that reserved it is not on the
// customer's stream yet (a request between its two appends); otherwise it
// is released. Slots for pending handovers are never taken here: only a
// capacity-checked reservation takes those.
func (r *run) syncSlot(ctx context.Context, customerID, staffID string) error {
	stream := events.CustomerStream(r.meta.CorpID, customerID)
	_, err := r.onStaff(ctx, staffID, func(s *staff.Staff) ([]events.Payload, error) {
		history, err := r.read(ctx, stream, 0)
		if err != nil {
			return nil, err
		}
		c, err := customer.Rehydrate(customerID, history)
		if err != nil {
			return nil, &StreamError{Stream: stream, Err: err}
		}
		rel, _ := c.Relation(staffID)
		if rel.Active {
			if s.Holds(customerID) {
				return nil, nil
			}
			return s.ReserveForAdd(customerID), nil
		}
		sl, held := s.Slot(customerID)
		if !held {
			return nil, nil
		}
		reason := events.SlotReleasedRelationEnded
		if rel.EndReason == events.EndHandedOver {
			reason = events.SlotReleasedHandedOver
		}
		if sl.HandoverID != "" {
			h, known := c.Handover(sl.HandoverID)
			if !known || h.Status == customer.StatusPending {
				return nil, nil
			}
			if h.Status != customer.StatusCompleted {
				reason = events.SlotReleasedHandoverSettled
			}
		}
		for _, h := range c.Handovers() {
			if h.Status == customer.StatusPending && h.To == staffID {
				return nil, nil
			}
		}
		return s.Release(customerID, reason, ""), nil
	})
	return err
}
