package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// CancelHandover withdraws a pending handover (an admin's decision).
type CancelHandover struct {
	Meta
	CustomerID string
	HandoverID string
}

// CancelHandover records handover.cancelled while OccurredAt < deadline and
// frees the slot reserved on the target; afterwards the handover is due and
// the result is customer.ErrHandoverWindowClosed.
func (h *Handler) CancelHandover(ctx context.Context, cmd CancelHandover) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if cmd.HandoverID == "" {
		return Result{}, invalid("handover_id", "required")
	}
	return r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.CancelHandover(cmd.HandoverID, r.now)
	})
}
