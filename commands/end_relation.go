package commands

import (
	"context"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
)

// EndRelation records that a relation ended: the member deleted the
// customer (events.EndDeletedByStaff, WeCom del_external_contact), the
// customer deleted the member (events.EndDeletedByCustomer, del_follow_user:
// churn) or a reconciliation found it gone (events.EndReconciled).
type EndRelation struct {
	Meta
	CustomerID string
	StaffID    string
	Reason     string
}

// EndRelation records customer.relation_ended, fails the relation's pending
// handovers (events.FailRelationEnded) and frees the slots involved. A
// relation that is not active returns customer.ErrRelationNotActive.
func (h *Handler) EndRelation(ctx context.Context, cmd EndRelation) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	switch {
	case cmd.StaffID == "":
		return Result{}, invalid("staff_id", "required")
	case cmd.Reason != events.EndDeletedByStaff && cmd.Reason != events.EndDeletedByCustomer && cmd.Reason != events.EndReconciled &&
		cmd.Reason != events.EndHandedOverInWeCom:
		return Result{}, invalid("reason", "%q is not one of %s, %s, %s, %s", cmd.Reason,
			events.EndDeletedByStaff, events.EndDeletedByCustomer, events.EndReconciled, events.EndHandedOverInWeCom)
	}
	return r.onCustomer(ctx, cmd.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
		return c.EndRelation(cmd.StaffID, cmd.Reason)
	})
}
