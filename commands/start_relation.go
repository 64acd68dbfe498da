package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// StartRelation records an add: a staff member added a customer, or a
// customer added a staff member (WeCom add_external_contact).
type StartRelation struct {
	Meta
	CustomerID string
	StaffID    string
	// Initiator is events.InitiatorStaff or events.InitiatorCustomer.
	Initiator string
	AddWay    int
	// State is the channel code of the QR code or link.
	State string
	Tags  []string
	// Personal data, sealed under the customer's key.
	CustomerName string
	Remark       string
	Description  string
	Phones       []string
}

// StartRelation records customer.relation_started and takes a slot on the
// member's staff stream. Adds are facts already true in WeCom: they are
// recorded even when the member is over capacity. An active relation
// returns customer.ErrRelationActive; an erased customer customer.ErrErased.
func (h *Handler) StartRelation(ctx context.Context, cmd StartRelation) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if err := checkStartRelation(cmd); err != nil {
		return Result{}, err
	}
	if cmd.StaffID == "" {
		return Result{}, invalid("staff_id", "required")
	}
	return r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.StartRelation(customer.NewRelation{
			StaffID: cmd.StaffID, Initiator: cmd.Initiator, AddWay: cmd.AddWay, State: cmd.State, Tags: cmd.Tags,
			PII: events.RelationPII{CustomerName: cmd.CustomerName, Remark: cmd.Remark, Description: cmd.Description, Phones: cmd.Phones},
		})
	})
}
