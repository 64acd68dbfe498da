package commands

import (
	"context"

	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// ChangeGroupNotice records a group's new notice (群公告).
type ChangeGroupNotice struct {
	Meta
	ChatID string
	Notice string
}

// ChangeGroupNotice records groupchat.notice_changed; the same notice
// records nothing.
func (h *Handler) ChangeGroupNotice(ctx context.Context, cmd ChangeGroupNotice) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if err := checkText("notice", cmd.Notice, MaxNoticeLen); err != nil {
		return Result{}, err
	}
	return r.onGroup(ctx, cmd.ChatID, func(g *groupchat.GroupChat) ([]events.Payload, error) {
		return g.ChangeNotice(cmd.Notice)
	})
}
