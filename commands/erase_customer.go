package commands

import (
	"context"
	"fmt"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// EraseCustomer erases a customer's personal data on request (PIPL Art. 47).
type EraseCustomer struct {
	Meta
	CustomerID string
}

// EraseCustomer appends customer.erased, then destroys the customer's data
// key through the Eraser. The order matters: once the event is stored the
// erasure is a fact every projection will apply, and a failure of the key
// destruction is returned and fixed by running the command again (an
// erased customer records nothing new but the key is destroyed again,
// which is no error). See package customer for what an erased customer
// still accepts.
func (h *Handler) EraseCustomer(ctx context.Context, cmd EraseCustomer) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	res, err := r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.Erase(), nil
	})
	if err != nil {
		return res, err
	}
	if err := h.eraser.Erase(ctx, events.CustomerSubject(cmd.CorpID, cmd.CustomerID)); err != nil {
		return res, fmt.Errorf("commands: erase key of customer: %w", err)
	}
	return res, nil
}
