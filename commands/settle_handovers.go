package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// SettleReport is what SettleDue did, one outcome per handover it looked at,
// in deadline order.
type SettleReport struct {
	AsOf     time.Time
	Outcomes []HandoverOutcome
}

// Count is the number of outcomes with the status.
func (s SettleReport) Count(status string) int {
	n := 0
	for _, o := range s.Outcomes {
		if o.Status == status {
			n++
		}
	}
	return n
}

// CountNew is the number of outcomes with the status that this call
// recorded (not Replayed: another settler, e.g. another instance, did not
// record them first).
func (s SettleReport) CountNew(status string) int {
	n := 0
	for _, o := range s.Outcomes {
		if o.Status == status && !o.Replayed {
			n++
		}
	}
	return n
}

// SettleDue settles every handover of corp that is pending and due as of
// asOf (deadline <= asOf; zero asOf: the clock's now). An asOf after the
// clock returns a *FieldError ("as_of"), and no handover completes before
// its deadline by the clock. This is the job
// behind the 24-hour rule: run it periodically. Each due handover completes
// (handover.completed, the old relation ended as handed_over, the new one
// started unless the target already followed the customer) or fails: the
// target departed, the relation ended, or no slot could be had for the
// target (events.FailTargetAtCapacity). Completion events occur at the
// deadline, when WeCom completes the handover; failures when found.
//
// It is safe to run concurrently with itself and with every command: event
// ids are derived from the handover id, so two settlers record one outcome.
// A handover it cannot settle for a rule (not pending any more) is
// reported as OutcomeSkipped; an error return means the log or the
// PendingHandovers source failed.
func (h *Handler) SettleDue(ctx context.Context, corpID string, asOf time.Time) (SettleReport, error) {
	// Settling as of a time the clock has not reached would complete
	// handovers whose refusal window is still open: refused, not clamped,
	// so the caller learns that its clock and ours disagree.
	if !asOf.IsZero() && asOf.After(h.clock.Now()) {
		return SettleReport{}, invalid("as_of", "after the server's clock")
	}
	r, err := h.begin(ctx, Meta{CorpID: corpID, OccurredAt: asOf, Actor: "system"})
	if err != nil {
		return SettleReport{}, err
	}
	rep := SettleReport{AsOf: r.now}
	if r.settings.HandoversInWeCom {
		// WeCom carries the corp's handovers out: their outcome is its
		// transfer result (SettleHandover), never custody's clock.
		return rep, nil
	}
	due, err := h.pending.PendingHandovers(ctx, corpID, r.now)
	if err != nil {
		return rep, fmt.Errorf("commands: find due handovers: %w", err)
	}
	for _, p := range due {
		o, err := h.settleOne(ctx, r, p)
		if err != nil {
			return rep, err
		}
		rep.Outcomes = append(rep.Outcomes, o)
	}
	return rep, nil
}

func (h *Handler) settleOne(ctx context.Context, r *run, p PendingHandover) (HandoverOutcome, error) {
	out := HandoverOutcome{CustomerID: p.CustomerID, HandoverID: p.HandoverID, Deadline: p.Deadline}
	if p.CustomerID == "" || p.HandoverID == "" {
		out.Status, out.Err = OutcomeSkipped, customer.ErrInvalidArgument
		return out, nil
	}
	key := "settle\x00" + p.HandoverID
	sr := r.derive(key, r.now)
	stream := events.CustomerStream(r.meta.CorpID, p.CustomerID)
	for attempt := 0; ; attempt++ {
		history, err := r.read(ctx, stream, 0)
		if err != nil {
			return out, err
		}
		c, err := customer.Rehydrate(p.CustomerID, history)
		if err != nil {
			return out, &StreamError{Stream: stream, Err: err}
		}
		ho, ok := c.Handover(p.HandoverID)
		switch {
		case !ok:
			out.Status, out.Err = OutcomeSkipped, customer.ErrHandoverNotFound
			return out, nil
		case ho.Status != customer.StatusPending:
			out.Status, out.Err = OutcomeSkipped, fmt.Errorf("%w: %s", customer.ErrHandoverNotPending, ho.Status)
			return out, nil
		case r.now.Before(ho.Deadline), h.clock.Now().Before(ho.Deadline):
			// Never before the deadline by the clock either, whatever asOf
			// says: the customer may still refuse until then.
			out.Status, out.Err = OutcomeSkipped, customer.ErrHandoverNotDue
			return out, nil
		}
		out.Deadline = ho.Deadline
		to, err := sr.staffStatus(ctx, ho.To)
		if err != nil {
			return out, err
		}
		full := false
		if to.Active() {
			// The slot was reserved at request time; this takes one only if
			// it went missing (e.g. the target's own relation ended meanwhile).
			err := sr.reserveForHandover(ctx, ho.To, p.CustomerID, ho.ID)
			switch {
			case errors.Is(err, staff.ErrAtCapacity):
				full = true
			case errors.Is(err, staff.ErrDeparted), errors.Is(err, staff.ErrNotJoined):
				if to, err = sr.staffStatus(ctx, ho.To); err != nil {
					return out, err
				}
			case err != nil:
				return out, err
			}
		}
		pays, err := c.CompleteHandover(ho.ID, r.now, to, full)
		if err != nil {
			out.Status, out.Err = OutcomeSkipped, err
			return out, nil
		}
		at := r.now
		if _, completed := pays[0].(*events.HandoverCompleted); completed {
			at = ho.Deadline
		}
		er := sr.derive(key, at)
		res, err := er.appendResult(ctx, stream, c.Version(), pays)
		if r.retry(err, attempt) {
			continue
		}
		if err != nil {
			return out, err
		}
		// Replayed: another settler recorded this outcome first (same
		// event ids); it is reported, but not as new.
		out.Events, out.Replayed = res.Events, res.Replayed
		if f, failed := pays[0].(*events.HandoverFailed); failed {
			out.Status, out.FailReason = customer.StatusFailed, f.Reason
		} else {
			out.Status = customer.StatusCompleted
		}
		if err := er.slotEffects(ctx, c, pays); err != nil {
			return out, err
		}
		r.h.converged.add(res.Events)
		return out, nil
	}
}
