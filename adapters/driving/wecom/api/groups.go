package api

import (
	"context"
	"fmt"
	"time"
)

// Group statuses of groupchat/list.
const (
	GroupNormal           = 0
	GroupOwnerDeparted    = 1
	GroupHandoverUnderway = 2
	GroupHandoverDone     = 3
)

// Member types and join scenes of groupchat/get.
const (
	MemberStaff    = 1
	MemberCustomer = 2

	JoinInvited = 1
	JoinLink    = 2
	JoinQRCode  = 3
)

const (
	groupListLimit = 1000 // groupchat/list limit
	maxOwnerFilter = 100  // groupchat/list owner_filter.userid_list
)

// GroupFilter narrows GroupChats.
type GroupFilter struct {
	// Status is 0 for every group, or GroupOwnerDeparted,
	// GroupHandoverUnderway or GroupHandoverDone.
	Status int
	// Owners, when set, keeps the groups they own; more than 100 are
	// asked for 100 at a time.
	Owners []string
}

// GroupRef is one element of groupchat/list.
type GroupRef struct {
	ChatID string
	Status int
}

// GroupChat is a customer group (groupchat/get).
type GroupChat struct {
	ChatID     string
	Name       string
	Owner      string
	Notice     string
	CreateTime time.Time
	Members    []GroupMember
	Admins     []string
	// MemberVersion changes with every membership change; compare it with
	// a callback's CurMemVer.
	MemberVersion string
}

// GroupMember is a member of a GroupChat.
type GroupMember struct {
	// UserID is a member's userid or a customer's external_userid.
	UserID string
	// Type is MemberStaff or MemberCustomer.
	Type int
	// JoinScene is JoinInvited, JoinLink or JoinQRCode (open: others are
	// kept as sent).
	JoinScene int
	// Invitor is the member who invited them, if any.
	Invitor       string
	JoinTime      time.Time
	GroupNickname string
	// Name is set when asked for (needName); personal data.
	Name    string
	UnionID string
}

// GroupChats calls each with every page of the corp's customer groups
// (groupchat/list, 1,000 per page). Paging as in BatchByUser.
func (c *Client) GroupChats(ctx context.Context, f GroupFilter, each func([]GroupRef) error) error {
	const api = "externalcontact/groupchat/list"
	if f.Status < 0 || f.Status > GroupHandoverDone {
		return fmt.Errorf("wecom api %s: status filter %d: %w", api, f.Status, ErrInvalid)
	}
	owners := f.Owners
	for first := true; first || len(owners) > 0; first = false {
		chunk := owners[:min(maxOwnerFilter, len(owners))]
		owners = owners[len(chunk):]
		err := pages(ctx, api, func(cursor string) (string, error) {
			var ans struct {
				wireStatus
				GroupChatList []struct {
					ChatID str `json:"chat_id"`
					Status num `json:"status"`
				} `json:"group_chat_list"`
				NextCursor str `json:"next_cursor"`
			}
			body := map[string]any{"status_filter": f.Status, "cursor": cursor, "limit": groupListLimit}
			if len(chunk) > 0 {
				body["owner_filter"] = map[string]any{"userid_list": chunk}
			}
			if err := c.do(ctx, request{api: api, method: "POST", body: body}, &ans); err != nil {
				return "", err
			}
			page := make([]GroupRef, 0, len(ans.GroupChatList))
			for _, g := range ans.GroupChatList {
				page = append(page, GroupRef{ChatID: string(g.ChatID), Status: int(g.Status)})
			}
			return string(ans.NextCursor), each(page)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// GroupChat returns a customer group with its members (groupchat/get);
// needName asks for the members' names. ErrNotFound for an unknown chat.
func (c *Client) GroupChat(ctx context.Context, chatID string, needName bool) (GroupChat, error) {
	const api = "externalcontact/groupchat/get"
	if chatID == "" {
		return GroupChat{}, fmt.Errorf("wecom api %s: empty chat_id: %w", api, ErrInvalid)
	}
	var ans struct {
		wireStatus
		GroupChat struct {
			ChatID     str `json:"chat_id"`
			Name       str `json:"name"`
			Owner      str `json:"owner"`
			Notice     str `json:"notice"`
			CreateTime num `json:"create_time"`
			MemberList []struct {
				UserID    str `json:"userid"`
				Type      num `json:"type"`
				JoinTime  num `json:"join_time"`
				JoinScene num `json:"join_scene"`
				Invitor   *struct {
					UserID str `json:"userid"`
				} `json:"invitor"`
				GroupNickname str `json:"group_nickname"`
				Name          str `json:"name"`
				UnionID       str `json:"unionid"`
			} `json:"member_list"`
			AdminList []struct {
				UserID str `json:"userid"`
			} `json:"admin_list"`
			MemberVersion str `json:"member_version"`
		} `json:"group_chat"`
	}
	need := 0
	if needName {
		need = 1
	}
	if err := c.do(ctx, request{api: api, method: "POST", body: map[string]any{"chat_id": chatID, "need_name": need}}, &ans); err != nil {
		return GroupChat{}, err
	}
	w := ans.GroupChat
	g := GroupChat{ChatID: string(w.ChatID), Name: string(w.Name), Owner: string(w.Owner), Notice: string(w.Notice),
		CreateTime: unix(w.CreateTime), MemberVersion: string(w.MemberVersion)}
	for _, m := range w.MemberList {
		gm := GroupMember{UserID: string(m.UserID), Type: int(m.Type), JoinScene: int(m.JoinScene), JoinTime: unix(m.JoinTime),
			GroupNickname: string(m.GroupNickname), Name: string(m.Name), UnionID: string(m.UnionID)}
		if m.Invitor != nil {
			gm.Invitor = string(m.Invitor.UserID)
		}
		g.Members = append(g.Members, gm)
	}
	for _, a := range w.AdminList {
		g.Admins = append(g.Admins, string(a.UserID))
	}
	if g.ChatID == "" {
		return GroupChat{}, fmt.Errorf("wecom api %s: no group_chat in the answer: %w", api, ErrDecode)
	}
	return g, nil
}
