package standin

import (
	"fmt"
	"slices"
)

// Join is one member joining a group.
type Join struct {
	// ID is a staff member's userid or, with Customer, an external_userid
	// (an unknown customer becomes known, without a name).
	ID       string
	Customer bool
	// Scene is how they joined; zero means JoinInvited.
	Scene JoinScene
	// Invitor is the staff member who invited them (empty for QR codes).
	Invitor string
}

// callbackScene maps groupchat/get's join_scene to the callback's
// JoinScene: 0 for invitations, directly or by link, 3 for QR codes.
func callbackScene(s JoinScene) int {
	if s == JoinQRCode {
		return 3
	}
	return 0
}

// NewGroup describes a group being created.
type NewGroup struct {
	// ChatID is the group's id (WeCom's look like "wrOgQhDgAA…").
	ChatID string
	Name   string
	Notice string
	// Owner is an active staff member; they are the first member.
	Owner string
	// Members join at creation, after the owner; no add_member is sent
	// for them.
	Members []Join
}

// CreateGroup: a member created a customer group (change_external_chat
// create with ChatId). Errors: ErrInvalid (empty id, a member twice),
// ErrExists (chat id taken), ErrNotFound / ErrState (owner or a staff
// member unknown or departed).
func (c *Corp) CreateGroup(g NewGroup) (Callback, error) {
	if g.ChatID == "" {
		return Callback{}, fmt.Errorf("create group: empty chat id: %w", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.groups[g.ChatID]; ok {
		return Callback{}, fmt.Errorf("create group: %w", ErrExists)
	}
	if _, err := c.activeStaff(g.Owner); err != nil {
		return Callback{}, fmt.Errorf("create group: owner: %w", err)
	}
	now := c.now()
	grp := &Group{ChatID: g.ChatID, Name: g.Name, Notice: g.Notice, Owner: g.Owner, CreateTime: now,
		Members: []Member{{UserID: g.Owner, Type: MemberStaff, JoinScene: JoinInvited, JoinTime: now}}}
	members, err := c.joining(grp, g.Members)
	if err != nil {
		return Callback{}, fmt.Errorf("create group: %w", err)
	}
	grp.Members = append(grp.Members, members...)
	grp.MemberVersion = c.code("MEMVER", 32, g.ChatID)
	c.groups[g.ChatID] = grp
	cb := c.callback(EventExternalChat, "create")
	cb.Fields = []Field{str("ChatId", g.ChatID)}
	return cb, nil
}

// joining checks joins against grp and returns the members they make.
func (c *Corp) joining(grp *Group, joins []Join) ([]Member, error) {
	var ms []Member
	now := c.now()
	for _, j := range joins {
		if j.ID == "" {
			return nil, fmt.Errorf("empty member id: %w", ErrInvalid)
		}
		if _, in := grp.Member(j.ID); in || slices.ContainsFunc(ms, func(m Member) bool { return m.UserID == j.ID }) {
			return nil, fmt.Errorf("member: %w", ErrExists)
		}
		m := Member{UserID: j.ID, Type: MemberStaff, JoinScene: j.Scene, Invitor: j.Invitor, JoinTime: now}
		if m.JoinScene == 0 {
			m.JoinScene = JoinInvited
		}
		if j.Customer {
			m.Type = MemberCustomer
			c.knowCustomer(Customer{ExternalUserID: j.ID})
		} else if _, err := c.activeStaff(j.ID); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// JoinGroup: members joined (change_external_chat update add_member with
// ChatId, JoinScene, MemChangeCnt, MemChangeList, LastMemVer, CurMemVer).
// The member version changes. One callback has one JoinScene, so every
// join must map to the same callback scene. Errors: ErrInvalid (no joins,
// mixed scenes), ErrNotFound (group), ErrState (dismissed), ErrExists
// (already a member).
func (c *Corp) JoinGroup(chatID string, joins ...Join) (Callback, error) {
	if len(joins) == 0 {
		return Callback{}, fmt.Errorf("join group: nobody: %w", ErrInvalid)
	}
	scene := callbackScene(joins[0].Scene)
	for _, j := range joins {
		if callbackScene(j.Scene) != scene {
			return Callback{}, fmt.Errorf("join group: mixed join scenes: %w", ErrInvalid)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.liveGroup(chatID)
	if err != nil {
		return Callback{}, fmt.Errorf("join group: %w", err)
	}
	ms, err := c.joining(g, joins)
	if err != nil {
		return Callback{}, fmt.Errorf("join group: %w", err)
	}
	g.Members = append(g.Members, ms...)
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UserID
	}
	return c.membershipChanged(g, "add_member", num("JoinScene", scene), ids), nil
}

// LeaveGroup: members left (removed false, QuitScene 0) or were removed by
// the owner (removed true, QuitScene 1): update del_member with the same
// fields as add_member but QuitScene. The member version changes. Errors:
// ErrInvalid (nobody, a member twice), ErrNotFound (group, member),
// ErrState (dismissed, the owner leaving).
func (c *Corp) LeaveGroup(chatID string, removed bool, ids ...string) (Callback, error) {
	if len(ids) == 0 {
		return Callback{}, fmt.Errorf("leave group: nobody: %w", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.liveGroup(chatID)
	if err != nil {
		return Callback{}, fmt.Errorf("leave group: %w", err)
	}
	for i, id := range ids {
		if _, in := g.Member(id); !in {
			return Callback{}, fmt.Errorf("leave group: member: %w", ErrNotFound)
		}
		if id == g.Owner {
			return Callback{}, fmt.Errorf("leave group: the owner: %w", ErrState)
		}
		if slices.Contains(ids[:i], id) {
			return Callback{}, fmt.Errorf("leave group: member twice: %w", ErrInvalid)
		}
	}
	g.Members = slices.DeleteFunc(g.Members, func(m Member) bool { return slices.Contains(ids, m.UserID) })
	quit := 0
	if removed {
		quit = 1
	}
	return c.membershipChanged(g, "del_member", num("QuitScene", quit), slices.Clone(ids)), nil
}

func (c *Corp) membershipChanged(g *Group, detail string, scene Field, ids []string) Callback {
	last := g.MemberVersion
	g.MemberVersion = c.code("MEMVER", 32, g.ChatID)
	cb := c.callback(EventExternalChat, "update")
	cb.Fields = []Field{
		str("ChatId", g.ChatID), str("UpdateDetail", detail), scene,
		num("MemChangeCnt", len(ids)),
		{Name: "MemChangeList", Items: ids},
		str("LastMemVer", last), str("CurMemVer", g.MemberVersion),
	}
	return cb
}

// ChangeGroupOwner: the group got a new owner (update change_owner), an
// active staff member already in it. A group whose owner departed
// (status 1 or 2) gets status GroupHandoverDone. Errors: ErrNotFound
// (group, new owner not a member), ErrState (dismissed, departed, already
// the owner).
func (c *Corp) ChangeGroupOwner(chatID, newOwner string) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.liveGroup(chatID)
	if err != nil {
		return Callback{}, fmt.Errorf("change owner: %w", err)
	}
	if _, err := c.activeStaff(newOwner); err != nil {
		return Callback{}, fmt.Errorf("change owner: %w", err)
	}
	if m, in := g.Member(newOwner); !in || m.Type != MemberStaff {
		return Callback{}, fmt.Errorf("change owner: not a staff member of the group: %w", ErrNotFound)
	}
	if g.Owner == newOwner {
		return Callback{}, fmt.Errorf("change owner: already the owner: %w", ErrState)
	}
	g.Owner = newOwner
	if g.Status == GroupOwnerDeparted || g.Status == GroupHandoverUnderway {
		g.Status = GroupHandoverDone
	}
	return c.groupUpdate(g, "change_owner"), nil
}

// RenameGroup: update change_name.
func (c *Corp) RenameGroup(chatID, name string) (Callback, error) {
	return c.setGroupText(chatID, "change_name", func(g *Group) { g.Name = name })
}

// ChangeGroupNotice: update change_notice.
func (c *Corp) ChangeGroupNotice(chatID, notice string) (Callback, error) {
	return c.setGroupText(chatID, "change_notice", func(g *Group) { g.Notice = notice })
}

func (c *Corp) setGroupText(chatID, detail string, set func(*Group)) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.liveGroup(chatID)
	if err != nil {
		return Callback{}, fmt.Errorf("%s: %w", detail, err)
	}
	set(g)
	return c.groupUpdate(g, detail), nil
}

// DismissGroup: the owner dismissed the group (change_external_chat
// dismiss with ChatId). Members stay as they were, for inspection.
func (c *Corp) DismissGroup(chatID string) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.liveGroup(chatID)
	if err != nil {
		return Callback{}, fmt.Errorf("dismiss group: %w", err)
	}
	g.Dismissed = true
	cb := c.callback(EventExternalChat, "dismiss")
	cb.Fields = []Field{str("ChatId", chatID)}
	return cb, nil
}

func (c *Corp) groupUpdate(g *Group, detail string) Callback {
	cb := c.callback(EventExternalChat, "update")
	cb.Fields = []Field{str("ChatId", g.ChatID), str("UpdateDetail", detail)}
	return cb
}

func (c *Corp) liveGroup(chatID string) (*Group, error) {
	g, ok := c.groups[chatID]
	if !ok {
		return nil, fmt.Errorf("group: %w", ErrNotFound)
	}
	if g.Dismissed {
		return nil, fmt.Errorf("group dismissed: %w", ErrState)
	}
	return g, nil
}
