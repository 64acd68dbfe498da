package commands

import (
	"context"
	"errors"
	"fmt"

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
//
// For a corp whose settings have HandoversInWeCom, an in-service or
// resigned change custody's rules allow is carried out in WeCom first
// (Options.GroupTransfers), and recorded only when WeCom made it: a
// refusal (*WeComRefusal, ErrRefusedByWeCom) or a failure
// (ErrWeComUnavailable) records nothing.
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
		evs, err := g.TransferOwner(cmd.Reason, owner, to, r.now, r.settings)
		if err != nil || len(evs) == 0 || cmd.Reason == events.OwnerChangeWeCom || !r.settings.HandoversInWeCom || h.groups == nil {
			return evs, err
		}
		if err := h.groups.TransferGroupOwner(ctx, r.meta.CorpID, cmd.ChatID, cmd.ToStaffID, cmd.Reason == events.OwnerChangeResigned); err != nil {
			return nil, err
		}
		return evs, nil
	})
}

// GroupTransfers carries a group-owner change out in WeCom
// (groupchat/onjob_transfer, or groupchat/transfer when resigned).
// TransferGroupChat calls it after custody's own rules allowed the change
// and before recording it; it may call it again for the same change
// (after a concurrent write to the group), so an implementation must not
// hand a group over twice. It returns nil once the group belongs to
// newOwner in WeCom, a *WeComRefusal when WeCom refused, or an error
// wrapping ErrWeComUnavailable when WeCom's answer was missing or
// unclear.
type GroupTransfers interface {
	TransferGroupOwner(ctx context.Context, corpID, chatID, newOwner string, resigned bool) error
}

// ErrRefusedByWeCom: WeCom refused to carry the command out. Nothing was
// recorded. Returned as a *WeComRefusal.
var ErrRefusedByWeCom = errors.New("commands: refused by WeCom")

// ErrWeComUnavailable: WeCom could not be asked, or its answer was
// unclear (a timeout, errcode -1, HTTP 5xx). Nothing was recorded;
// repeating the command is safe.
var ErrWeComUnavailable = errors.New("commands: WeCom unavailable")

// WeComRefusal is WeCom's errcode and errmsg for a refused change.
type WeComRefusal struct {
	API  string
	Code int
	Msg  string
}

func (e *WeComRefusal) Error() string {
	return fmt.Sprintf("commands: refused by WeCom: %s: errcode %d: %s", e.API, e.Code, e.Msg)
}

// Unwrap makes errors.Is(err, ErrRefusedByWeCom) true.
func (e *WeComRefusal) Unwrap() error { return ErrRefusedByWeCom }
