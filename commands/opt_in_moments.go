package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// OptInMoments records that a customer sees a member's moments again.
type OptInMoments struct {
	Meta
	CustomerID string
	StaffID    string
	Source     string
}

// OptInMoments records moments.opted_in; without an opt-out it records
// nothing.
func (h *Handler) OptInMoments(ctx context.Context, cmd OptInMoments) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if cmd.StaffID == "" {
		return Result{}, invalid("staff_id", "required")
	}
	if err := checkText("source", cmd.Source, MaxCodeLen); err != nil {
		return Result{}, err
	}
	return r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.OptInMoments(cmd.StaffID, cmd.Source)
	})
}
