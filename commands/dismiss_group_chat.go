package commands

import (
	"context"

	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// DismissGroupChat records a group's end.
type DismissGroupChat struct {
	Meta
	ChatID string
}

// DismissGroupChat records groupchat.dismissed; a dismissed group records
// nothing. A dismissed group accepts no other command
// (groupchat.ErrDismissed).
func (h *Handler) DismissGroupChat(ctx context.Context, cmd DismissGroupChat) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	return r.onGroup(ctx, cmd.ChatID, func(g *groupchat.GroupChat) ([]events.Payload, error) {
		return g.Dismiss()
	})
}
