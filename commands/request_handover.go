package commands

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// Outcome statuses besides the handover states of package customer
// (customer.StatusPending, StatusCompleted, StatusFailed, ...).
const (
	// OutcomeRejected: a rule refused the customer's handover; nothing was
	// recorded for it and HandoverOutcome.Err says which rule.
	OutcomeRejected = "rejected"
	// OutcomeSkipped: SettleDue found nothing to do (settled meanwhile, or
	// not due after all).
	OutcomeSkipped = "skipped"
)

// HandoverOutcome is what became of one customer's handover.
type HandoverOutcome struct {
	CustomerID string
	// HandoverID identifies the handover (also when rejected: it is the id
	// it would have had).
	HandoverID string
	// Status is customer.StatusPending, customer.StatusCompleted,
	// customer.StatusFailed, OutcomeRejected or OutcomeSkipped.
	Status string
	// FailReason is set with StatusFailed: events.FailTargetAtCapacity,
	// FailTargetDeparted or FailRelationEnded.
	FailReason string
	// Deadline is when the refusal window ends and the handover completes.
	Deadline time.Time
	// Err is the rule that rejected (OutcomeRejected) or skipped
	// (OutcomeSkipped) the handover, e.g. customer.ErrHandoverLimitReached.
	Err error
	// Events are the events recorded on the customer's stream.
	Events []events.Recorded
	// Replayed: the command id had already recorded this outcome.
	Replayed bool
}

// RequestHandover asks to move relations from one member to another:
// in service (在职继承, events.HandoverInService) or after the owner
// departed (离职继承, events.HandoverResigned).
type RequestHandover struct {
	Meta
	Kind        string
	FromStaffID string
	ToStaffID   string
	// CustomerIDs are the customers whose relation with FromStaffID moves:
	// 1 to the corp's MaxHandoverBatch (100), no duplicates.
	CustomerIDs []string
	// Message to the customers, at most MaxHandoverMessage (200) characters.
	Message string
	// BatchID groups the handovers; default: derived from the command id,
	// or new.
	BatchID string
}

// HandoverBatch is what RequestHandover did.
type HandoverBatch struct {
	BatchID string
	// Outcomes are in the order of RequestHandover.CustomerIDs.
	Outcomes []HandoverOutcome
}

// RequestHandover decides each customer's handover on its own: a rule that
// refuses one customer (limit reached, relation not active, ...) rejects
// only that customer. An invalid command (bad kind, empty or duplicate ids,
// more than MaxHandoverBatch customers, an over-long message) records
// nothing and returns a *FieldError.
//
// For each customer it first records handover.requested on the customer's
// stream, then takes a slot on the target's staff stream with an exact
// expected version; if the target is full by then, the handover fails
// (handover.failed, events.FailTargetAtCapacity, with an id derived from
// the handover, see failID), as WeCom reports customer_limit_exceed. A
// target already seen full before the request records handover.requested
// and handover.failed in one append. However many requests to one target
// run at once, in however many processes, its handover reservations never
// exceed its capacity. A process dying between the two steps leaves a
// pending handover without a slot: the same command retried (same command
// id) or the SlotKeeper completes the step, so nothing stays half-applied.
//
// An error return means the log failed; Outcomes then hold what was done
// before.
func (h *Handler) RequestHandover(ctx context.Context, cmd RequestHandover) (HandoverBatch, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return HandoverBatch{}, err
	}
	if err := checkHandoverFields(cmd); err != nil {
		return HandoverBatch{}, err
	}
	if err := r.validateRequest(cmd); err != nil {
		return HandoverBatch{}, err
	}
	batch := HandoverBatch{BatchID: cmd.BatchID}
	if batch.BatchID == "" {
		batch.BatchID, err = r.newID("batch")
		if err != nil {
			return HandoverBatch{}, err
		}
	}
	from, err := r.staffStatus(ctx, cmd.FromStaffID)
	if err != nil {
		return batch, err
	}
	for _, cid := range cmd.CustomerIDs {
		o, err := h.requestOne(ctx, r, cmd, batch.BatchID, from, cid)
		if err != nil {
			return batch, err
		}
		batch.Outcomes = append(batch.Outcomes, o)
	}
	return batch, nil
}

func (r *run) validateRequest(cmd RequestHandover) error {
	switch {
	case cmd.Kind != events.HandoverInService && cmd.Kind != events.HandoverResigned:
		return invalid("kind", "%q is not %s or %s", cmd.Kind, events.HandoverInService, events.HandoverResigned)
	case cmd.FromStaffID == "":
		return invalid("from_staff_id", "required")
	case cmd.ToStaffID == "":
		return invalid("to_staff_id", "required")
	case cmd.FromStaffID == cmd.ToStaffID:
		return invalid("to_staff_id", "equals from_staff_id")
	case len(cmd.CustomerIDs) == 0:
		return invalid("customer_ids", "required")
	case len(cmd.CustomerIDs) > r.settings.MaxHandoverBatch:
		return invalid("customer_ids", "%d customers, at most %d per request", len(cmd.CustomerIDs), r.settings.MaxHandoverBatch)
	case utf8.RuneCountInString(cmd.Message) > r.settings.MaxHandoverMessage:
		return invalid("message", "%d characters, at most %d", utf8.RuneCountInString(cmd.Message), r.settings.MaxHandoverMessage)
	}
	seen := make(map[string]bool, len(cmd.CustomerIDs))
	for i, id := range cmd.CustomerIDs {
		if id == "" {
			return invalid("customer_ids", "entry %d is empty", i)
		}
		if seen[id] {
			return invalid("customer_ids", "customer %q listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

// newID is a fresh id, or one derived from the command id so a retried
// command reuses it.
func (r *run) newID(parts ...string) (string, error) {
	if r.key == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("commands: new id: %w", err)
		}
		return id.String(), nil
	}
	name := r.key
	for _, p := range parts {
		name += "\x00" + p
	}
	return uuid.NewSHA1(idNamespace, []byte(name)).String(), nil
}

func (h *Handler) requestOne(ctx context.Context, r *run, cmd RequestHandover, batchID string, from staff.Status, cid string) (HandoverOutcome, error) {
	out := HandoverOutcome{CustomerID: cid}
	var err error
	if out.HandoverID, err = r.newID("handover", cid); err != nil {
		return out, err
	}
	stream := events.CustomerStream(r.meta.CorpID, cid)
	for attempt := 0; ; attempt++ {
		history, err := r.read(ctx, stream, 0)
		if err != nil {
			return out, err
		}
		c, err := customer.Rehydrate(cid, history)
		if err != nil {
			return out, &StreamError{Stream: stream, Err: err}
		}
		if prior := r.prior(history); len(prior) > 0 {
			// Recorded by an earlier run that may have died before the
			// reservation: converge again before answering.
			pays, err := decodeAll(prior)
			if err != nil {
				return out, err
			}
			if err := r.slotEffects(ctx, c, pays); err != nil {
				return out, err
			}
			r.h.converged.add(prior)
			return r.requestOutcome(ctx, out, prior, true)
		}
		to, full, err := r.targetRoom(ctx, cmd.ToStaffID, cid)
		if err != nil {
			return out, err
		}
		req := customer.HandoverRequest{
			HandoverID: out.HandoverID, Kind: cmd.Kind, From: from, To: to, BatchID: batchID, Message: cmd.Message,
			TargetFull: full,
		}
		pays, err := c.RequestHandover(req, r.now, r.settings)
		if err != nil {
			out.Status, out.Err = OutcomeRejected, err
			return out, nil
		}
		res, err := r.appendResult(ctx, stream, c.Version(), pays)
		if r.retry(err, attempt) {
			continue
		}
		if err != nil {
			return out, err
		}
		if err := r.slotEffects(ctx, c, pays); err != nil {
			return out, err
		}
		r.h.converged.add(res.Events)
		return r.requestOutcome(ctx, out, res.Events, res.Replayed)
	}
}

// requestOutcome reads a request's outcome from the events it recorded
// and the failure its reservation step recorded, if any (found by its id,
// see failID): replayed when they were found recorded by an earlier run.
func (r *run) requestOutcome(ctx context.Context, out HandoverOutcome, recs []events.Recorded, replayed bool) (HandoverOutcome, error) {
	if len(recs) > 0 {
		ids := map[uuid.UUID]bool{}
		for _, reason := range []string{events.FailTargetAtCapacity, events.FailTargetDeparted} {
			ids[failID(r.meta.CorpID, out.CustomerID, out.HandoverID, reason)] = true
		}
		later, err := r.read(ctx, recs[0].Stream, recs[len(recs)-1].StreamVersion+1)
		if err != nil {
			return out, err
		}
		for _, e := range later {
			if ids[e.ID] {
				recs = append(slices.Clip(recs), e)
			}
		}
	}
	return outcomeOf(out, recs, replayed)
}

// outcomeOf reads a request's outcome from the events it recorded;
// replayed when they were found recorded by an earlier run.
func outcomeOf(out HandoverOutcome, recs []events.Recorded, replayed bool) (HandoverOutcome, error) {
	pays, err := decodeAll(recs)
	if err != nil {
		return out, err
	}
	out.Events, out.Replayed = recs, replayed
	for _, p := range pays {
		switch e := p.(type) {
		case *events.HandoverRequested:
			out.HandoverID, out.Deadline, out.Status = e.HandoverID, e.Deadline, customer.StatusPending
		case *events.HandoverFailed:
			out.Status, out.FailReason = customer.StatusFailed, e.Reason
		}
	}
	return out, nil
}
