package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// FailHandover records that a pending handover failed for a reason
// reported from outside (WeCom's transfer_fail customer_limit_exceed,
// transfer_result status 4): events.FailTargetAtCapacity,
// FailTargetDeparted, FailRelationEnded or FailRejectedByWeCom (WeCom
// refused to carry the handover out, or has no record of it).
type FailHandover struct {
	Meta
	CustomerID string
	HandoverID string
	Reason     string
}

// FailHandover appends handover.failed on the customer's stream and frees
// the slot reserved on the target. A handover that is no longer pending
// returns customer.ErrHandoverNotPending.
func (h *Handler) FailHandover(ctx context.Context, cmd FailHandover) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	switch cmd.Reason {
	case events.FailTargetAtCapacity, events.FailTargetDeparted, events.FailRelationEnded, events.FailRejectedByWeCom:
	default:
		return Result{}, invalid("reason", "%q is not %s, %s, %s or %s", cmd.Reason,
			events.FailTargetAtCapacity, events.FailTargetDeparted, events.FailRelationEnded, events.FailRejectedByWeCom)
	}
	if cmd.HandoverID == "" {
		return Result{}, invalid("handover_id", "required")
	}
	return r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.FailHandover(cmd.HandoverID, cmd.Reason)
	})
}
