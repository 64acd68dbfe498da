package commands

import (
	"context"

	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// JoinGroupChat records a member joining a group.
type JoinGroupChat struct {
	Meta
	ChatID   string
	MemberID string
	// MemberType is events.MemberStaff or events.MemberCustomer.
	MemberType string
	// JoinScene is events.JoinInvited, JoinLink or JoinQRCode.
	JoinScene string
	InviterID string
	// Nickname is personal data, sealed under the member's key.
	Nickname string
}

// JoinGroupChat records groupchat.member_joined. A group with the corp's
// GroupMaxMembers (500) members returns a *groupchat.FullError
// (groupchat.ErrGroupFull).
func (h *Handler) JoinGroupChat(ctx context.Context, cmd JoinGroupChat) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if cmd.MemberID == "" {
		return Result{}, invalid("member_id", "required")
	}
	if err := checkText("nickname", cmd.Nickname, MaxNameLen); err != nil {
		return Result{}, err
	}
	return r.onGroup(ctx, cmd.ChatID, func(g *groupchat.GroupChat) ([]events.Payload, error) {
		return g.Join(groupchat.Member{
			ID: cmd.MemberID, Type: cmd.MemberType, Scene: cmd.JoinScene, InviterID: cmd.InviterID,
			PII: events.GroupMemberPII{Nickname: cmd.Nickname},
		}, r.settings)
	})
}
