package commands

import (
	"context"

	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// RenameGroupChat records a group's new name.
type RenameGroupChat struct {
	Meta
	ChatID string
	Name   string
}

// RenameGroupChat records groupchat.renamed; the same name records nothing.
func (h *Handler) RenameGroupChat(ctx context.Context, cmd RenameGroupChat) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if err := checkText("name", cmd.Name, MaxNameLen); err != nil {
		return Result{}, err
	}
	return r.onGroup(ctx, cmd.ChatID, func(g *groupchat.GroupChat) ([]events.Payload, error) {
		return g.Rename(cmd.Name)
	})
}
