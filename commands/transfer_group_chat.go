package commands

import (
	"context"

	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// TransferGroupChat gives a group a new owner: in service
// (events.OwnerChangeInService, at most GroupTransferLimit per
// GroupTransferPeriod), after the owner departed
// (events.OwnerChangeResigned), or as reported by WeCom
// (events.OwnerChangeWeCom, recorded without checks).
type TransferGroupChat struct {
	Meta
	ChatID    string
	ToStaffID string
	Reason    string
}

// TransferGroupChat records groupchat.owner_changed, or returns the rule
// that refused (groupchat.ErrTransferLimitReached, ErrTargetDeparted,
// ErrOwnerNotDeparted, ...).
func (h *Handler) TransferGroupChat(ctx context.Context, cmd TransferGroupChat) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	switch {
	case cmd.ToStaffID == "":
		return Result{}, invalid("to_staff_id", "required")
	case cmd.Reason != events.OwnerChangeInService && cmd.Reason != events.OwnerChangeResigned && cmd.Reason != events.OwnerChangeWeCom:
		return Result{}, invalid("reason", "%q is not one of %s, %s, %s", cmd.Reason,
			events.OwnerChangeInService, events.OwnerChangeResigned, events.OwnerChangeWeCom)
	}
	return r.onGroup(ctx, cmd.ChatID, func(g *groupchat.GroupChat) ([]events.Payload, error) {
		if g.Owner() == "" { // not created: let the aggregate say so
			return g.TransferOwner(cmd.Reason, staff.Status{}, staff.Status{ID: cmd.ToStaffID}, r.now, r.settings)
		}
		owner, err := r.staffStatus(ctx, g.Owner())
		if err != nil {
			return nil, err
		}
		to, err := r.staffStatus(ctx, cmd.ToStaffID)
		if err != nil {
			return nil, err
		}
		return g.TransferOwner(cmd.Reason, owner, to, r.now, r.settings)
	})
}
