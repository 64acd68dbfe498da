package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Details fetches from WeCom's API what a group callback does not carry
// (groupchat/get). Optional: without it, such callbacks are marked for a
// fetch (inbox.RefreshChat) and reconciliation records the details.
type Details interface {
	Chat(ctx context.Context, corpID, chatID string) (Chat, error)
}

// Errors Details implementations wrap.
var (
	// ErrNotFound: WeCom's API no longer has the group or tag (deleted
	// since the callback).
	ErrNotFound = errors.New("wecom: not found")
	// ErrNoDetails: the corp gives custody no API access (no app secret):
	// details are marked for a fetch instead, as without Details.
	ErrNoDetails = errors.New("wecom: no API access for the corp")
)

// chatDetails fetches a group's details; ok is false when there is no API
// access for the corp, and the caller marks the detail for a fetch.
func (c *call) chatDetails(ctx context.Context, id string) (d Chat, ok bool, err error) {
	if c.t.details == nil {
		return Chat{}, false, nil
	}
	d, err = c.t.details.Chat(ctx, c.item.CorpID, id)
	if errors.Is(err, ErrNoDetails) {
		return Chat{}, false, nil
	}
	return d, true, err
}

// tagDetails is chatDetails for tags.
func (c *call) tagDetails(ctx context.Context, id, kind string) (g TagGroup, ok bool, err error) {
	td, _ := c.t.details.(TagDetails)
	if td == nil {
		return TagGroup{}, false, nil
	}
	g, err = td.TagGroup(ctx, c.item.CorpID, id, kind)
	if errors.Is(err, ErrNoDetails) {
		return TagGroup{}, false, nil
	}
	return g, true, err
}

// Chat is a customer group as WeCom's API describes it.
type Chat struct {
	OwnerID, Name, Notice string
	Members               []Member
}

// Member is one member of a Chat.
type Member struct {
	ID string
	// Type is events.MemberStaff or events.MemberCustomer.
	Type string
	// JoinScene is events.JoinInvited, JoinLink or JoinQRCode.
	JoinScene string
	InviterID string
}

// WithDetails makes t fetch group details with d.
func (t *Translator) WithDetails(d Details) *Translator {
	c := *t
	c.details = d
	return &c
}

// memberType tells a customer's external_userid (WeCom gives them the
// prefixes wm, wo and wb) from a member's userid. A callback's member list
// does not say which is which; the API does, and reconciliation corrects a
// wrong guess.
func memberType(id string) string {
	for _, p := range []string{"wm", "wo", "wb"} {
		if strings.HasPrefix(id, p) {
			return events.MemberCustomer
		}
	}
	return events.MemberStaff
}

// joinScene maps WeCom's JoinScene (0 invited by a member in a callback,
// 1 invited directly, 2 by link, 3 by QR code in the API).
func joinScene(v int64, set bool) string {
	switch {
	case set && v == 2:
		return events.JoinLink
	case set && v == 3:
		return events.JoinQRCode
	}
	return events.JoinInvited
}

// quitScene maps WeCom's QuitScene (0 left, 1 removed by a member).
func quitScene(v int64, set bool) string {
	if set && v == 1 {
		return events.QuitRemoved
	}
	return events.QuitLeft
}

func (c *call) group(ctx context.Context, chatID string) (*groupchat.GroupChat, error) {
	stream := events.GroupChatStream(c.item.CorpID, chatID)
	recs, err := c.t.log.ReadStream(ctx, stream, 0)
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	g, err := groupchat.Rehydrate(chatID, recs)
	if err != nil {
		return nil, &commands.StreamError{Stream: stream, Err: err}
	}
	return g, nil
}

// chatCreated: create carries the ChatId only.
func (c *call) chatCreated(ctx context.Context) error {
	id := c.ev.ChatID
	if err := c.require("ChatId", id); err != nil {
		return err
	}
	d, ok, err := c.chatDetails(ctx, id)
	if !ok {
		c.note = "owner, name and members to fetch"
		return c.markRefresh(ctx, inbox.RefreshChat, id, "", "created")
	}
	if errors.Is(err, ErrNotFound) {
		// Gone in WeCom since (dismissed): what follows is unmatched.
		c.note = "group gone in WeCom since"
		return c.markRefresh(ctx, inbox.RefreshChat, id, "", "created, gone since")
	}
	if err != nil {
		return fmt.Errorf("fetch group %s: %w", id, err)
	}
	_, err = c.t.cmds.CreateGroupChat(ctx, commands.CreateGroupChat{Meta: c.m("create"), ChatID: id, OwnerID: d.OwnerID, Name: d.Name})
	switch {
	case errors.Is(err, groupchat.ErrAlreadyCreated):
		c.note = "group already known"
	case err != nil:
		return err
	}
	if d.Notice != "" {
		if _, err := c.t.cmds.ChangeGroupNotice(ctx, commands.ChangeGroupNotice{Meta: c.m("notice"), ChatID: id, Notice: d.Notice}); err != nil && !errors.Is(err, groupchat.ErrDismissed) {
			return err
		}
	}
	for _, m := range d.Members {
		_, err := c.t.cmds.JoinGroupChat(ctx, commands.JoinGroupChat{
			Meta: c.m("join-" + m.ID), ChatID: id, MemberID: m.ID, MemberType: m.Type, JoinScene: m.JoinScene, InviterID: m.InviterID,
		})
		if err != nil && !errors.Is(err, groupchat.ErrAlreadyMember) {
			return err
		}
	}
	return nil
}

// chatKnown loads the group and records the callback unmatched when
// custody does not know the group or has it as dismissed.
func (c *call) chatKnown(ctx context.Context, members []string) (bool, error) {
	id := c.ev.ChatID
	g, err := c.group(ctx, id)
	if err != nil {
		return false, err
	}
	fact := events.WeComFactUnmatched{ChatID: id, MemberIDs: members}
	switch {
	case g.Owner() == "":
		if err := c.markRefresh(ctx, inbox.RefreshChat, id, "", "unknown group changed"); err != nil {
			return false, err
		}
		return false, c.unmatched(ctx, events.UnmatchedChatNotCreated, fact)
	case g.Dismissed():
		return false, c.unmatched(ctx, events.UnmatchedChatDismissed, fact)
	}
	return true, nil
}

// membersJoined: update/add_member with the members in MemChangeList.
func (c *call) membersJoined(ctx context.Context) error {
	e := c.ev
	if err := c.require("ChatId", e.ChatID); err != nil {
		return err
	}
	if ok, err := c.chatKnown(ctx, e.MemChangeList); !ok {
		return err
	}
	var already []string
	for _, id := range e.MemChangeList {
		_, err := c.t.cmds.JoinGroupChat(ctx, commands.JoinGroupChat{
			Meta: c.m("join-" + id), ChatID: e.ChatID, MemberID: id, MemberType: memberType(id),
			JoinScene: joinScene(e.JoinScene.Value, e.JoinScene.Valid),
		})
		switch {
		case errors.Is(err, groupchat.ErrAlreadyMember), errors.Is(err, groupchat.ErrGroupFull):
			already = append(already, id)
		case err != nil:
			return err
		}
	}
	if len(already) > 0 {
		return c.unmatched(ctx, events.UnmatchedMember, events.WeComFactUnmatched{ChatID: e.ChatID, MemberIDs: already})
	}
	return nil
}

// membersLeft: update/del_member.
func (c *call) membersLeft(ctx context.Context) error {
	e := c.ev
	if err := c.require("ChatId", e.ChatID); err != nil {
		return err
	}
	if ok, err := c.chatKnown(ctx, e.MemChangeList); !ok {
		return err
	}
	var notIn []string
	for _, id := range e.MemChangeList {
		_, err := c.t.cmds.LeaveGroupChat(ctx, commands.LeaveGroupChat{
			Meta: c.m("leave-" + id), ChatID: e.ChatID, MemberID: id, QuitScene: quitScene(e.QuitScene.Value, e.QuitScene.Valid),
		})
		switch {
		case errors.Is(err, groupchat.ErrNotMember):
			notIn = append(notIn, id)
		case err != nil:
			return err
		}
	}
	if len(notIn) > 0 {
		return c.unmatched(ctx, events.UnmatchedMember, events.WeComFactUnmatched{ChatID: e.ChatID, MemberIDs: notIn})
	}
	return nil
}

// chatChanged: update/change_owner, change_name, change_notice carry no
// new value; it comes from the API.
func (c *call) chatChanged(ctx context.Context) error {
	e := c.ev
	if err := c.require("ChatId", e.ChatID); err != nil {
		return err
	}
	if ok, err := c.chatKnown(ctx, nil); !ok {
		return err
	}
	d, ok, err := c.chatDetails(ctx, e.ChatID)
	if !ok {
		c.note = "new value to fetch"
		return c.markRefresh(ctx, inbox.RefreshChat, e.ChatID, "", e.UpdateDetail)
	}
	if errors.Is(err, ErrNotFound) {
		c.note = "group gone in WeCom since"
		return nil
	}
	if err != nil {
		return fmt.Errorf("fetch group %s: %w", e.ChatID, err)
	}
	switch e.UpdateDetail {
	case "change_owner":
		_, err = c.t.cmds.TransferGroupChat(ctx, commands.TransferGroupChat{Meta: c.m("owner"), ChatID: e.ChatID, ToStaffID: d.OwnerID, Reason: events.OwnerChangeWeCom})
		if errors.Is(err, groupchat.ErrSameOwner) {
			err = nil
		}
	case "change_name":
		_, err = c.t.cmds.RenameGroupChat(ctx, commands.RenameGroupChat{Meta: c.m("name"), ChatID: e.ChatID, Name: d.Name})
	case "change_notice":
		_, err = c.t.cmds.ChangeGroupNotice(ctx, commands.ChangeGroupNotice{Meta: c.m("notice"), ChatID: e.ChatID, Notice: d.Notice})
	}
	return err
}

// chatDismissed: dismiss.
func (c *call) chatDismissed(ctx context.Context) error {
	e := c.ev
	if err := c.require("ChatId", e.ChatID); err != nil {
		return err
	}
	_, err := c.t.cmds.DismissGroupChat(ctx, commands.DismissGroupChat{Meta: c.m("dismiss"), ChatID: e.ChatID})
	switch {
	case errors.Is(err, groupchat.ErrNotCreated):
		return c.unmatched(ctx, events.UnmatchedChatNotCreated, events.WeComFactUnmatched{ChatID: e.ChatID})
	case errors.Is(err, groupchat.ErrDismissed):
		c.note = "group already dismissed"
		return nil
	}
	return err
}

// TagDetails fetches tag names from WeCom's API (get_corp_tag_list).
// Optional, like Details: a Details value that also implements TagDetails
// is used for both; without it, names are marked for a fetch.
type TagDetails interface {
	// TagGroup returns the live tag group id names (kind tag_group), or the
	// group holding the tag id names (kind tag), with its live tags.
	TagGroup(ctx context.Context, corpID, id, kind string) (TagGroup, error)
}

// TagGroup is a tag group with its tags, as WeCom's API lists them.
type TagGroup struct {
	ID, Name string
	Tags     []Tag
}

// Tag is one tag of a TagGroup.
type Tag struct{ ID, Name string }

// tagChanged: change_external_tag create/update/delete/shuffle with Id and
// TagType (tag or tag_group; a missing TagType is taken as tag). The
// callback carries no names: with TagDetails they are fetched (a group
// created with tags sends one callback for the group, so its tags are
// recorded from the fetch too); without, they are marked for a fetch.
func (c *call) tagChanged(ctx context.Context) error {
	e := c.ev
	kind := e.TagType
	if kind == "" {
		kind = events.TagKindTag
	}
	if kind != events.TagKindTag && kind != events.TagKindGroup {
		return &rejection{reason: "TagType is neither tag nor tag_group"}
	}
	if e.ChangeType == "shuffle" {
		_, err := c.t.cmds.RecordTagChange(ctx, commands.RecordTagChange{Meta: c.m("tag"), Change: commands.TagChangeReordered, TagID: e.ID, Kind: kind})
		return err
	}
	if err := c.require("Id", e.ID); err != nil {
		return err
	}
	if e.ChangeType == "delete" {
		_, err := c.t.cmds.RecordTagChange(ctx, commands.RecordTagChange{Meta: c.m("tag"), Change: commands.TagChangeDeleted, TagID: e.ID, Kind: kind})
		return err
	}
	g, ok, err := c.tagDetails(ctx, e.ID, kind)
	if !ok {
		if e.ChangeType == "create" {
			if _, err := c.t.cmds.RecordTagChange(ctx, commands.RecordTagChange{Meta: c.m("tag"), Change: commands.TagChangeCreated, TagID: e.ID, Kind: kind}); err != nil {
				return err
			}
		}
		c.note = "name to fetch"
		return c.markRefresh(ctx, inbox.RefreshTag, e.ID, "", e.ChangeType)
	}
	if errors.Is(err, ErrNotFound) {
		// Deleted since: its own delete callback follows.
		c.note = "deleted in WeCom since"
		if e.ChangeType != "create" {
			return nil
		}
		_, err := c.t.cmds.RecordTagChange(ctx, commands.RecordTagChange{Meta: c.m("tag"), Change: commands.TagChangeCreated, TagID: e.ID, Kind: kind})
		return err
	}
	if err != nil {
		return fmt.Errorf("fetch tag %s: %w", e.ID, err)
	}
	// Record the group and its tags as WeCom lists them now: create for
	// the ones custody lacks, rename for changed names (package tags
	// records nothing for what it already has).
	record := func(step, id, kind, groupID, name string) error {
		_, err := c.t.cmds.RecordTagChange(ctx, commands.RecordTagChange{
			Meta: c.m(step), Change: commands.TagChangeCreated, TagID: id, Kind: kind, GroupID: groupID, Name: name,
		})
		return err
	}
	if err := record("tag-"+g.ID, g.ID, events.TagKindGroup, "", g.Name); err != nil {
		return err
	}
	for _, t := range g.Tags {
		if kind == events.TagKindTag && t.ID != e.ID {
			continue // a change of one tag records that tag only
		}
		if err := record("tag-"+t.ID, t.ID, events.TagKindTag, g.ID, t.Name); err != nil {
			return err
		}
	}
	return nil
}
