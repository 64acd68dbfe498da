package reconcile

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// groups reconciles every customer group of the corp: groupchat/list
// (every status), then groupchat/get of each listed group.
func (r *run) groups(ctx context.Context) error {
	var ids []string
	err := r.w.GroupChats(ctx, api.GroupFilter{}, func(page []api.GroupRef) error {
		for _, g := range page {
			if plainID(g.ChatID) {
				ids = append(ids, g.ChatID)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	chats := make(map[string]api.GroupChat, len(ids))
	r.rc.o.Progress(Progress{Phase: "groups", Total: len(ids)})
	for i, id := range ids {
		g, err := r.w.GroupChat(ctx, id, false)
		switch {
		case errors.Is(err, api.ErrNotFound):
			// Dismissed between the list and the get: not listed.
		case err != nil:
			return err
		default:
			chats[id] = g
		}
		r.rc.o.Progress(Progress{Phase: "groups", Done: i + 1, Total: len(ids)})
	}
	r.rep.WeComChats = len(chats)
	have, err := r.rc.o.View.Groups(ctx, r.corp, nil)
	if err != nil {
		return err
	}
	return r.compareGroups(ctx, chats, have, nil)
}

// compareGroups records the differences between WeCom's groups and
// custody's. With only, groups outside it are left alone; a group of only
// missing from chats is gone from WeCom (dismissed).
func (r *run) compareGroups(ctx context.Context, chats map[string]api.GroupChat, have []Group, only map[string]bool) error {
	custody := make(map[string]Group, len(have))
	for _, g := range have {
		custody[g.ChatID] = g
	}
	var acts []action
	var needStaff []string
	ids := make([]string, 0, len(chats))
	for id := range chats {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		w := chats[id]
		c, known := custody[id]
		if known && c.Dismissed {
			r.rep.refused("group_dismissed_in_custody")
			continue
		}
		if !plainID(w.Owner) {
			r.rep.refused("invalid_value")
			continue
		}
		needStaff = append(needStaff, w.Owner)
		steps := r.groupSteps(id, w, c, known)
		if len(steps) == 0 {
			continue
		}
		acts = append(acts, action{key: id, do: func(ctx context.Context) error {
			for _, s := range steps {
				if err := s(ctx); err != nil {
					return err
				}
			}
			return nil
		}})
	}
	// Groups custody has live that WeCom no longer lists: dismissed.
	for _, g := range have {
		if g.Dismissed || (only != nil && !only[g.ChatID]) {
			continue
		}
		if _, ok := chats[g.ChatID]; ok {
			continue
		}
		id := g.ChatID
		acts = append(acts, action{key: id, do: func(ctx context.Context) error {
			res, err := r.rc.o.Commands.DismissGroupChat(ctx, commands.DismissGroupChat{Meta: r.meta("dismiss-"+id, timeZero), ChatID: id})
			return r.recorded("group_dismissed", res, err)
		}})
	}
	if err := r.ensureStaff(ctx, needStaff); err != nil {
		return err
	}
	return r.apply(ctx, "groups", acts)
}

// groupSteps are the commands that make custody's group c (known: custody
// has it) equal to WeCom's w.
func (r *run) groupSteps(id string, w api.GroupChat, c Group, known bool) []func(context.Context) error {
	var steps []func(context.Context) error
	cmds := r.rc.o.Commands
	name := Normalize(w.Name, commands.MaxNameLen)
	notice := Normalize(w.Notice, commands.MaxNoticeLen)
	var createdAt time.Time
	if !known {
		at := r.when(w.CreateTime, timeZero)
		createdAt = at
		steps = append(steps, func(ctx context.Context) error {
			res, err := cmds.CreateGroupChat(ctx, commands.CreateGroupChat{Meta: r.meta("create-"+id, at), ChatID: id, OwnerID: w.Owner, Name: name})
			return r.recorded("group_created", res, err)
		})
		c = Group{ChatID: id, Owner: w.Owner, Name: name, Members: map[string]string{}}
	}
	if c.Owner != w.Owner {
		steps = append(steps, func(ctx context.Context) error {
			res, err := cmds.TransferGroupChat(ctx, commands.TransferGroupChat{Meta: r.meta("owner-"+id, timeZero), ChatID: id, ToStaffID: w.Owner, Reason: events.OwnerChangeWeCom})
			return r.recorded("group_owner", res, err)
		})
	}
	if c.Name != name {
		steps = append(steps, func(ctx context.Context) error {
			res, err := cmds.RenameGroupChat(ctx, commands.RenameGroupChat{Meta: r.meta("name-"+id, timeZero), ChatID: id, Name: name})
			return r.recorded("group_name", res, err)
		})
	}
	if c.Notice != notice {
		steps = append(steps, func(ctx context.Context) error {
			res, err := cmds.ChangeGroupNotice(ctx, commands.ChangeGroupNotice{Meta: r.meta("notice-"+id, timeZero), ChatID: id, Notice: notice})
			return r.recorded("group_notice", res, err)
		})
	}
	wantType := map[string]string{}
	for _, m := range w.Members {
		if plainID(m.UserID) {
			wantType[m.UserID] = memberType(m.Type)
		}
	}
	// Leaves first (a member custody has with the wrong type leaves and
	// joins again with the right one), then joins, in WeCom's order.
	var gone []string
	for mid, typ := range c.Members {
		if want, ok := wantType[mid]; !ok || want != typ {
			gone = append(gone, mid)
		}
	}
	sort.Strings(gone)
	for _, mid := range gone {
		steps = append(steps, func(ctx context.Context) error {
			res, err := cmds.LeaveGroupChat(ctx, commands.LeaveGroupChat{Meta: r.meta("leave-"+id+"-"+mid, timeZero), ChatID: id, MemberID: mid, QuitScene: events.QuitLeft})
			return r.recorded("member_left", res, err)
		})
	}
	for _, m := range w.Members {
		typ, ok := wantType[m.UserID]
		if !ok {
			continue
		}
		if have, in := c.Members[m.UserID]; in && have == typ {
			continue
		}
		m := m
		inviter := m.Invitor
		if !plainID(inviter) {
			inviter = ""
		}
		// WeCom's join time for the members of a group recorded now with
		// its creation time; the clock for joins to a group custody had.
		at := timeZero
		if !createdAt.IsZero() {
			at = r.when(m.JoinTime, createdAt.Add(-1))
		}
		steps = append(steps, func(ctx context.Context) error {
			res, err := cmds.JoinGroupChat(ctx, commands.JoinGroupChat{
				Meta: r.meta("join-"+id+"-"+m.UserID, at), ChatID: id, MemberID: m.UserID, MemberType: typ,
				JoinScene: joinScene(m.JoinScene), InviterID: inviter,
			})
			return r.recorded("member_joined", res, err)
		})
	}
	return steps
}

func memberType(t int) string {
	if t == api.MemberCustomer {
		return events.MemberCustomer
	}
	return events.MemberStaff
}

func joinScene(s int) string {
	switch s {
	case api.JoinLink:
		return events.JoinLink
	case api.JoinQRCode:
		return events.JoinQRCode
	}
	return events.JoinInvited
}
