package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// EditRelation replaces the remark, description, phones and tags of an
// active relation (WeCom edit_external_contact). Fields carry the full new
// values.
type EditRelation struct {
	Meta
	CustomerID   string
	StaffID      string
	Tags         []string
	CustomerName string
	Remark       string
	Description  string
	Phones       []string
}

// EditRelation records customer.relation_edited, or returns
// customer.ErrRelationNotActive / customer.ErrErased.
func (h *Handler) EditRelation(ctx context.Context, cmd EditRelation) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if cmd.StaffID == "" {
		return Result{}, invalid("staff_id", "required")
	}
	if err := checkRelationFields(cmd.Tags, cmd.CustomerName, cmd.Remark, cmd.Description, cmd.Phones); err != nil {
		return Result{}, err
	}
	return r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.EditRelation(cmd.StaffID, cmd.Tags, events.RelationPII{
			CustomerName: cmd.CustomerName, Remark: cmd.Remark, Description: cmd.Description, Phones: cmd.Phones,
		})
	})
}
