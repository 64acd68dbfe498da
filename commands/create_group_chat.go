package commands

import (
	"context"

	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// CreateGroupChat records a customer group (WeCom change_external_chat
// create).
type CreateGroupChat struct {
	Meta
	ChatID  string
	OwnerID string
	Name    string
}

// CreateGroupChat records groupchat.created, or returns
// groupchat.ErrAlreadyCreated. The owner is not a member until a
// JoinGroupChat says so.
func (h *Handler) CreateGroupChat(ctx context.Context, cmd CreateGroupChat) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if cmd.OwnerID == "" {
		return Result{}, invalid("owner_id", "required")
	}
	if err := checkText("name", cmd.Name, MaxNameLen); err != nil {
		return Result{}, err
	}
	return r.onGroup(ctx, cmd.ChatID, func(g *groupchat.GroupChat) ([]events.Payload, error) {
		return g.Create(cmd.OwnerID, cmd.Name)
	})
}
