package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// OptOutMoments records that a customer no longer wants a member's moments
// (不看他的朋友圈). WeCom has no such signal: Source names the reporter.
type OptOutMoments struct {
	Meta
	CustomerID string
	StaffID    string
	Source     string
}

// OptOutMoments records moments.opted_out; already opted out, it records
// nothing. The customer must have had a relation with the member
// (customer.ErrRelationNotFound otherwise).
func (h *Handler) OptOutMoments(ctx context.Context, cmd OptOutMoments) (Result, error) {
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
		return c.OptOutMoments(cmd.StaffID, cmd.Source)
	})
}
