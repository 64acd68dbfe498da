package outbound

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/commands"
)

// GroupWeCom is the part of WeCom's API GroupTransfers calls (*api.Client).
type GroupWeCom interface {
	GroupTransfer(ctx context.Context, chatIDs []string, newOwner string, resigned bool) ([]api.GroupTransferFailure, error)
	GroupChat(ctx context.Context, chatID string, needName bool) (api.GroupChat, error)
}

var _ GroupWeCom = (*api.Client)(nil)

// GroupTransfers carries custody's group-owner changes out in WeCom
// (commands.GroupTransfers), synchronously: commands.TransferGroupChat
// calls it after custody's own rules allowed the change and records
// groupchat.owner_changed only when it returns nil.
//
// Each change is written to wecom.group_transfers ('calling') before
// WeCom is asked. WeCom answers only the chats it did not hand over
// (failed_chat_list): the chat's errcode becomes a *commands.WeComRefusal
// ('refused'). A timeout, -1 or HTTP 5xx leaves the row 'calling' and
// returns commands.ErrWeComUnavailable; asked again for the same change,
// GroupTransfers first looks at the group's owner (groupchat/get) and
// calls again only when it is not yet the new owner: a group is never
// handed over twice by a retry.
type GroupTransfers struct {
	Pool *pgxpool.Pool
	// Clients gives a corp's API client (api.Clients.Client).
	Clients func(ctx context.Context, corpID string) (GroupWeCom, error)
}

var _ commands.GroupTransfers = (*GroupTransfers)(nil)

// Group transfer states.
const (
	GroupCalling = "calling"
	GroupDone    = "done"
	GroupRefused = "refused"
)

// TransferGroupOwner implements commands.GroupTransfers.
func (g *GroupTransfers) TransferGroupOwner(ctx context.Context, corpID, chatID, newOwner string, resigned bool) error {
	cl, err := g.Clients(ctx, corpID)
	if err != nil {
		return fmt.Errorf("%w: %w", commands.ErrWeComUnavailable, err)
	}
	var prevOwner, prevState string
	err = g.Pool.QueryRow(ctx, `SELECT new_owner, state FROM wecom.group_transfers WHERE corp_id = $1 AND chat_id = $2`,
		corpID, chatID).Scan(&prevOwner, &prevState)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("wecom group transfer: read: %w", err)
	case prevOwner == newOwner && prevState != GroupRefused:
		// Asked before (a crash, an unclear answer, or the command
		// re-deciding after a concurrent write): look before asking again.
		gc, err := cl.GroupChat(ctx, chatID, false)
		if err != nil {
			return fmt.Errorf("%w: %w", commands.ErrWeComUnavailable, err)
		}
		if gc.Owner == newOwner {
			return g.set(ctx, corpID, chatID, GroupDone, nil)
		}
	}
	_, err = g.Pool.Exec(ctx, `
		INSERT INTO wecom.group_transfers (corp_id, chat_id, new_owner, resigned, state)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (corp_id, chat_id) DO UPDATE
		   SET new_owner = excluded.new_owner, resigned = excluded.resigned, state = excluded.state,
		       wecom_code = NULL, updated_at = now()`, corpID, chatID, newOwner, resigned, GroupCalling)
	if err != nil {
		return fmt.Errorf("wecom group transfer: note call: %w", err)
	}
	failed, err := cl.GroupTransfer(ctx, []string{chatID}, newOwner, resigned)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code != 0 && !errors.Is(err, api.ErrTransient) &&
			!errors.Is(err, api.ErrTokenRejected) && !errors.Is(err, api.ErrCredentials) {
			// WeCom refused the whole call (e.g. 40003: the new owner
			// departed): nothing was handed over.
			code := ae.Code
			if err := g.set(ctx, corpID, chatID, GroupRefused, &code); err != nil {
				return err
			}
			return &commands.WeComRefusal{API: ae.API, Code: ae.Code, Msg: ae.Msg}
		}
		return fmt.Errorf("%w: %w", commands.ErrWeComUnavailable, err)
	}
	for _, f := range failed {
		if f.ChatID != chatID {
			continue
		}
		code := f.Code
		if err := g.set(ctx, corpID, chatID, GroupRefused, &code); err != nil {
			return err
		}
		var ae *api.Error
		errors.As(f.Err(), &ae)
		return &commands.WeComRefusal{API: ae.API, Code: f.Code, Msg: f.Msg}
	}
	return g.set(ctx, corpID, chatID, GroupDone, nil)
}

func (g *GroupTransfers) set(ctx context.Context, corpID, chatID, state string, code *int) error {
	_, err := g.Pool.Exec(ctx, `
		UPDATE wecom.group_transfers SET state = $3, wecom_code = $4, updated_at = now()
		 WHERE corp_id = $1 AND chat_id = $2`, corpID, chatID, state, code)
	if err != nil {
		return fmt.Errorf("wecom group transfer: note %s: %w", state, err)
	}
	return nil
}
