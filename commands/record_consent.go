package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// RecordConsent records a customer's choice for a purpose
// (events.PurposeChatArchive, PurposeMarketing): events.ConsentAgree,
// ConsentDisagree or ConsentDefaultAgree.
type RecordConsent struct {
	Meta
	CustomerID string
	Purpose    string
	State      string
}

// RecordConsent records consent.recorded with changed_at = OccurredAt; a
// choice equal to the latest records nothing. Allowed after erasure, so a
// withdrawal is always possible.
func (h *Handler) RecordConsent(ctx context.Context, cmd RecordConsent) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	switch cmd.Purpose {
	case events.PurposeChatArchive, events.PurposeMarketing:
	default:
		return Result{}, invalid("purpose", "%q is not one of %s, %s", cmd.Purpose, events.PurposeChatArchive, events.PurposeMarketing)
	}
	switch cmd.State {
	case events.ConsentAgree, events.ConsentDisagree, events.ConsentDefaultAgree:
	default:
		return Result{}, invalid("state", "%q is not one of %s, %s, %s", cmd.State,
			events.ConsentAgree, events.ConsentDisagree, events.ConsentDefaultAgree)
	}
	return r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.RecordConsent(cmd.Purpose, cmd.State, r.now)
	})
}
