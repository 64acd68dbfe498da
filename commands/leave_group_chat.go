package commands

import (
	"context"

	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// LeaveGroupChat records a member leaving (events.QuitLeft) or being
// removed (events.QuitRemoved).
type LeaveGroupChat struct {
	Meta
	ChatID    string
	MemberID  string
	QuitScene string
}

// LeaveGroupChat records groupchat.member_left, or returns
// groupchat.ErrNotMember.
func (h *Handler) LeaveGroupChat(ctx context.Context, cmd LeaveGroupChat) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if cmd.MemberID == "" {
		return Result{}, invalid("member_id", "required")
	}
	return r.onGroup(ctx, cmd.ChatID, func(g *groupchat.GroupChat) ([]events.Payload, error) {
		return g.Leave(cmd.MemberID, cmd.QuitScene)
	})
}
