package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// RefuseHandover records the customer declining a pending handover (WeCom
// transfer_fail customer_refused).
type RefuseHandover struct {
	Meta
	CustomerID string
	HandoverID string
}

// RefuseHandover records handover.refused while OccurredAt < deadline and
// frees the slot reserved on the target. At or after the deadline it
// returns customer.ErrHandoverWindowClosed; a settled handover
// customer.ErrHandoverNotPending.
func (h *Handler) RefuseHandover(ctx context.Context, cmd RefuseHandover) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if cmd.HandoverID == "" {
		return Result{}, invalid("handover_id", "required")
	}
	return r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.RefuseHandover(cmd.HandoverID, r.now)
	})
}
