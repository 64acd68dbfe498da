package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// withStaff runs fn on the member's aggregate, caught up with its stream,
// while holding the member's cache entry: within one process, operations on
// one member take turns instead of racing to conflicts. fn only reads:
// decisions go through onStaff.
func (r *run) withStaff(ctx context.Context, id string, fn func(*staff.Staff) error) error {
	if id == "" {
		return staff.ErrInvalidID
	}
	stream := events.StaffStream(r.meta.CorpID, id)
	e := r.h.staff.entry(r.meta.CorpID, id)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := r.h.catchUpStaff(ctx, e, id, stream, true); err != nil {
		return err
	}
	return fn(e.s)
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
// decided on, deciding again on the stream re-read after a conflict. This
// is what keeps capacity: two reservations decided on the same version
// cannot both be stored, whichever process made them. Concurrent decisions
// on one member in this process are decided in turn and appended together
// (see staffBatch). A non-nil key names the decision for its event ids (see
// run.eventID) instead of r's key. decide may run more than once.
func (r *run) onStaff(ctx context.Context, id string, decide func(*staff.Staff) ([]events.Payload, error),
	key func(events.Payload) string) ([]events.Recorded, error) {
	d := r.onStaffDecision(ctx, id, decide, key)
	return d.recs, d.err
}

// onStaffDecision is onStaff returning the decision carried out.
func (r *run) onStaffDecision(ctx context.Context, id string, decide func(*staff.Staff) ([]events.Payload, error),
	key func(events.Payload) string) *staffDecision {
	d := &staffDecision{ctx: ctx, r: r, decide: decide, key: key, wake: make(chan struct{}, 1)}
	if id == "" {
		d.err = staff.ErrInvalidID
		return d
	}
	e := r.h.staff.entry(r.meta.CorpID, id)
	if !e.enqueue(d) {
		<-d.wake
		if d.done {
			return d
		}
	}
	r.h.leadStaffBatch(e, r.meta.CorpID, id)
	return d
}

// reserveForHandover takes a slot on the target for the customer. It
// returns a *staff.CapacityError when the target is full.
func (r *run) reserveForHandover(ctx context.Context, to, customerID, handoverID string) error {
	_, err := r.onStaff(ctx, to, func(s *staff.Staff) ([]events.Payload, error) {
		return s.ReserveForHandover(customerID, handoverID, r.settings)
	}, nil)
	return err
}

// withKey returns a copy of r whose event ids derive from key, with the
// same envelope.
func (r *run) withKey(key string) *run {
	c := *r
	c.key = key
	return &c
}

// targetRoom reports the member's status and whether it is seen full for
// the customer: active, holding no slot for it, and every slot taken. The
// answer may be stale by the time a request is recorded; the capacity
// check that counts is the reservation's.
func (r *run) targetRoom(ctx context.Context, id, customerID string) (staff.Status, bool, error) {
	var st staff.Status
	full := false
	err := r.withStaff(ctx, id, func(s *staff.Staff) error {
		st = s.Status()
		_, err := s.ReserveForHandover(customerID, "", r.settings)
		full = errors.Is(err, staff.ErrAtCapacity)
		return nil
	})
	return st, full, err
}

// slotEffects brings the slots of every member the recorded customer events
// touch in line with the customer's stream (see syncSlot). c is the
// customer before or after the events; both know every handover involved
// except the ones pays request, whose targets pays name.
func (r *run) slotEffects(ctx context.Context, c *customer.Customer, pays []events.Payload) error {
	return r.slotEffectsOn(ctx, c, pays, false)
}

// slotEffectsOn is slotEffects; current says that c is the customer's
// stream as this command just read or appended it, so that the first
// convergence round of each pair may decide on c instead of reading the
// stream again (see converge).
func (r *run) slotEffectsOn(ctx context.Context, c *customer.Customer, pays []events.Payload, current bool) error {
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
		case *events.HandoverRequested:
			touched = append(touched, e.ToStaffID)
		case *events.HandoverRefused:
			touched = append(touched, target(e.HandoverID))
		case *events.HandoverCancelled:
			touched = append(touched, target(e.HandoverID))
		case *events.HandoverFailed:
			touched = append(touched, target(e.HandoverID))
		case *events.HandoverCompleted:
			touched = append(touched, e.FromStaffID, e.ToStaffID)
		}
	}
	slices.Sort(touched)
	var known *customer.Customer
	if current {
		known = c
	}
	var errs []error
	for _, id := range slices.Compact(touched) {
		if id != "" {
			_, err := r.converge(ctx, c.ID(), id, known)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncCustomer brings the slots of every member the customer's stream
// names (relations, handovers) in line with it.
func (r *run) syncCustomer(ctx context.Context, customerID string) ([]events.Recorded, error) {
	stream := events.CustomerStream(r.meta.CorpID, customerID)
	history, err := r.read(ctx, stream, 0)
	if err != nil {
		return nil, err
	}
	c, err := customer.Rehydrate(customerID, history)
	if err != nil {
		return nil, &StreamError{Stream: stream, Err: err}
	}
	var out []events.Recorded
	for _, id := range c.Members() {
		recs, err := r.converge(ctx, customerID, id, nil)
		out = append(out, recs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// syncHandoverSlots converges every slot the member holds for a handover:
// after a departure, the slots of the handovers it failed.
func (r *run) syncHandoverSlots(ctx context.Context, staffID string) error {
	var customers []string
	err := r.withStaff(ctx, staffID, func(s *staff.Staff) error {
		for _, sl := range s.Slots() {
			if sl.HandoverID != "" {
				customers = append(customers, sl.CustomerID)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range customers {
		if err := r.syncSlot(ctx, c, staffID); err != nil {
			return err
		}
	}
	return nil
}

// syncSlot makes the member's slot for the customer agree with the
// customer's stream as it is now (see converge).
func (r *run) syncSlot(ctx context.Context, customerID, staffID string) error {
	_, err := r.converge(ctx, customerID, staffID, nil)
	return err
}

// maxConvergeRounds bounds converge's rounds: each round that records
// something settles one handover or moves one slot, and a pair has few.
const maxConvergeRounds = 64

// converge makes the member's slot for the customer agree with the
// customer's stream, deciding with decideSlot on the customer's stream as
// read while the member's cache entry is held; a round that recorded a
// handover failure on the customer's stream is followed by another (a round
// that appended slot events is final: the append at the exact staff version
// shows it was decided on the member's stream as it is). It returns what it
// recorded on either stream.
//
// The customer's stream is the source of truth: every command records its
// customer events first and converges the pairs they touch afterwards; a
// retried command converges them again, and the SlotKeeper converges every
// pair a logged event touches. A round that records nothing has read both
// streams after every event that came before it, so the convergence that
// runs after a pair's last event leaves the pair agreeing, whichever
// process ran it and whatever died in between. Within one process the
// rounds of one member take turns, so commands alone keep the pairs they
// touch agreeing; across processes a convergence may decide on a customer
// stream another process is changing, and the keeper, which handles every
// event after it was written (its own too), is what runs last.
//
// known, when not nil, is the customer as the calling command just read or
// appended its stream, while holding the customer's lock (Handler.customers:
// no command of this process changes the stream meanwhile): the first round
// decides on it instead of reading the stream again. Other processes are
// the keeper's, as above. A round may also decide on the member's cached
// aggregate without reading its stream (see speculate): only a decision
// whose append at the cached version succeeds stands.
//
// Slot events get ids derived from the pair, the decision and the staff
// stream's version; a handover failed here gets an id derived from the
// handover and the reason alone (failID), so two convergences of one pair
// record one outcome.
func (r *run) converge(ctx context.Context, customerID, staffID string, known *customer.Customer) ([]events.Recorded, error) {
	if customerID == "" || staffID == "" {
		return nil, nil
	}
	stream := events.CustomerStream(r.meta.CorpID, customerID)
	var out []events.Recorded
	conflicts := 0
	for round := 0; ; round++ {
		if round == maxConvergeRounds {
			return out, fmt.Errorf("commands: slot of %s for %s did not converge in %d rounds", staffID, customerID, round)
		}
		var (
			fail     *events.HandoverFailed
			cVersion int64
		)
		d := r.onStaffDecision(ctx, staffID, func(s *staff.Staff) ([]events.Payload, error) {
			fail = nil
			c := known
			if c == nil {
				history, err := r.read(ctx, stream, 0)
				if err != nil {
					return nil, err
				}
				if c, err = customer.Rehydrate(customerID, history); err != nil {
					return nil, &StreamError{Stream: stream, Err: err}
				}
			}
			d := decideSlot(c, s, r.settings)
			fail, cVersion = d.fail, c.Version()
			if len(d.staff) > 0 {
				// Its append may conflict: a retry reads the customer too.
				known = nil
			}
			return d.staff, nil
		}, func(p events.Payload) string { return "slot\x00" + customerID + "\x00" + slotDecisionKey(p) })
		recs, err := d.recs, d.err
		if err == nil && !d.replayed {
			// Appended at the member's exact version, decided on the
			// customer at cVersion: while the customer's stream stays
			// there, this process's keeper has nothing to add.
			r.h.slotBases.add(recs, stream, cVersion)
		}
		out = append(out, recs...)
		if err != nil || fail == nil {
			return out, err
		}
		known = nil // later rounds read
		rec, err := r.recordFailure(ctx, stream, cVersion, fail)
		if errors.Is(err, eventlog.ErrConflict) && conflicts < r.h.maxRetries {
			conflicts++
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec...)
	}
}

// slotDecision is what decideSlot found to do for one (customer, member)
// pair: events for the member's stream, or a failure of a pending handover
// for the customer's stream, or nothing.
type slotDecision struct {
	staff []events.Payload
	fail  *events.HandoverFailed
}

// decideSlot is the rule that ties a member's slots to the customer's
// stream. After convergence, the member holds a slot for the customer
// exactly when the customer has an active relation with the member or a
// handover to the member is pending:
//
//   - a pending handover to a departed member fails (FailTargetDeparted):
//     departed members receive nothing;
//   - an active relation holds a slot, taken even over capacity (the add is
//     a fact);
//   - a pending handover without a slot takes one only through the
//     capacity-checked reservation; a full member fails the handover
//     (FailTargetAtCapacity) instead;
//   - any other slot is released: relation_ended, handed_over (the old
//     owner's after a completed handover), handover_settled (reserved for a
//     handover refused, failed or cancelled), or orphaned (reserved for a
//     handover the customer's stream does not know).
func decideSlot(c *customer.Customer, s *staff.Staff, set corp.Settings) slotDecision {
	cid, sid := c.ID(), s.ID()
	pending := c.PendingTo(sid)
	if len(pending) > 0 && s.Status().Departed {
		return slotDecision{fail: &events.HandoverFailed{HandoverID: pending[0].ID, CustomerID: cid, Reason: events.FailTargetDeparted}}
	}
	rel, _ := c.Relation(sid)
	sl, held := s.Slot(cid)
	switch {
	case rel.Active && held:
		return slotDecision{}
	case rel.Active:
		return slotDecision{staff: s.ReserveForAdd(cid)}
	case len(pending) > 0 && held:
		return slotDecision{}
	case len(pending) > 0:
		pays, err := s.ReserveForHandover(cid, pending[0].ID, set)
		if errors.Is(err, staff.ErrAtCapacity) {
			return slotDecision{fail: &events.HandoverFailed{HandoverID: pending[0].ID, CustomerID: cid, Reason: events.FailTargetAtCapacity}}
		}
		// ErrNotJoined: a handover to a member who never joined cannot be
		// requested; it fails when it is settled.
		return slotDecision{staff: pays}
	case !held:
		return slotDecision{}
	}
	reason := events.SlotReleasedRelationEnded
	if rel.EndReason == events.EndHandedOver {
		reason = events.SlotReleasedHandedOver
	}
	if sl.HandoverID != "" {
		switch h, known := c.Handover(sl.HandoverID); {
		case !known:
			reason = events.SlotReleasedOrphaned
		case h.Status != customer.StatusCompleted:
			reason = events.SlotReleasedHandoverSettled
		}
	}
	return slotDecision{staff: s.Release(cid, reason, sl.HandoverID)}
}

// slotDecisionKey names a slot decision for its event ids.
func slotDecisionKey(p events.Payload) string {
	switch e := p.(type) {
	case *events.StaffSlotReserved:
		return "reserve\x00" + e.Reason + "\x00" + e.HandoverID
	case *events.StaffSlotReleased:
		return "release\x00" + e.Reason + "\x00" + e.HandoverID
	}
	return p.EventType()
}

// failID is the id of a handover.failed recorded by slot convergence,
// derived from the handover and the reason alone: the command, its retry,
// the SlotKeeper and a repair deciding the same failure at different
// stream versions all name the same event, and the log keeps one.
func failID(corpID, customerID, handoverID, reason string) uuid.UUID {
	name := "handover-failed\x00" + corpID + "\x00" + customerID + "\x00" + handoverID + "\x00" + reason
	return uuid.NewSHA1(idNamespace, []byte(name))
}

// recordFailure appends a handover failure decided by convergence on the
// customer's stream at version (exact), as system work caused by r's
// command.
func (r *run) recordFailure(ctx context.Context, stream string, version int64, f *events.HandoverFailed) ([]events.Recorded, error) {
	fr := r.derive("", r.now)
	ev, err := events.New(failID(r.meta.CorpID, f.CustomerID, f.HandoverID, f.Reason), fr.meta, f)
	if err != nil {
		return nil, fmt.Errorf("commands: encode %s: %w", f.EventType(), err)
	}
	expected := eventlog.ExpectVersion(version)
	if version < 0 {
		expected = eventlog.ExpectNoStream
	}
	res, err := r.h.log.Append(ctx, stream, expected, ev)
	if err != nil {
		return nil, fmt.Errorf("commands: append to %s: %w", stream, err)
	}
	return res.Events, nil
}
