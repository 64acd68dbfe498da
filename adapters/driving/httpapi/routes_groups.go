package httpapi

import (
	"net/http"

	"github.com/custody/custody/projections"
)

type createGroupRequest struct {
	ChatID  string `json:"chat_id"`
	OwnerID string `json:"owner_id"`
	Name    string `json:"name,omitempty"`
	commandFields
}

type joinGroupRequest struct {
	MemberID   string `json:"member_id"`
	MemberType string `json:"member_type" doc:"staff or customer"`
	JoinScene  string `json:"join_scene" doc:"invited, link or qrcode"`
	InviterID  string `json:"inviter_id,omitempty"`
	Nickname   string `json:"nickname,omitempty" doc:"personal data, sealed"`
	commandFields
}

type leaveGroupRequest struct {
	QuitScene string `json:"quit_scene" doc:"left or removed"`
	commandFields
}

type groupOwnerRequest struct {
	ToStaffID string `json:"to_staff_id"`
	Reason    string `json:"reason" doc:"in_service (the owner is active; 2 per 90 days), resigned (the owner departed) or wecom (reported by a callback)"`
	commandFields
}

type renameGroupRequest struct {
	Name string `json:"name"`
	commandFields
}

type groupNoticeRequest struct {
	Notice string `json:"notice"`
	commandFields
}

type dismissGroupRequest struct {
	commandFields
}

func groupRoutes() []route {
	const tag = "groups"
	base := "/v1/corps/{corp}/groups/{chat}"
	return []route{
		{method: "POST", path: "/v1/corps/{corp}/groups", op: "createGroup", tag: tag, write: true, status: http.StatusCreated,
			summary: "A customer group was created with an owner.", request: createGroupRequest{}, response: CommandResult{}, handle: createGroup},
		{method: "POST", path: base + "/members", op: "joinGroup", tag: tag, write: true,
			summary: "A staff member or customer joined the group.", request: joinGroupRequest{}, response: CommandResult{}, handle: joinGroup},
		{method: "POST", path: base + "/members/{member}/leave", op: "leaveGroup", tag: tag, write: true,
			summary: "A member left or was removed.", request: leaveGroupRequest{}, response: CommandResult{}, handle: leaveGroup},
		{method: "POST", path: base + "/owner", op: "changeGroupOwner", tag: tag, write: true,
			summary: "Transfer the group to another staff member.", request: groupOwnerRequest{}, response: CommandResult{}, handle: changeGroupOwner},
		{method: "PUT", path: base + "/name", op: "renameGroup", tag: tag, write: true,
			summary: "Rename the group.", request: renameGroupRequest{}, response: CommandResult{}, handle: renameGroup},
		{method: "PUT", path: base + "/notice", op: "changeGroupNotice", tag: tag, write: true,
			summary: "Change the group's notice.", request: groupNoticeRequest{}, response: CommandResult{}, handle: changeGroupNotice},
		{method: "POST", path: base + "/dismissal", op: "dismissGroup", tag: tag, write: true,
			summary: "Dismiss the group.", request: dismissGroupRequest{}, optionalBody: true, response: CommandResult{}, handle: dismissGroup},
		{method: "GET", path: "/v1/corps/{corp}/groups", op: "listGroups", tag: tag,
			summary: "Group chats with member counts, paged by cursor.", response: projections.Paged[projections.GroupChat]{},
			query: []queryParam{
				{name: "status", typ: "string", desc: "active or dismissed; default all"},
				{name: "cursor", typ: "string", desc: "next of the previous page"},
				{name: "limit", typ: "integer", desc: "page size, 1-500, default 100"},
			}, handle: listGroups},
		{method: "GET", path: base, op: "getGroup", tag: tag,
			summary: "A group chat with its current members and membership history.", response: GroupDetail{}, handle: getGroup},
	}
}
