package events

// Group chat events live on the stream GroupChatStream(corp, chat_id).

// Member types.
const (
	MemberStaff    = "staff"
	MemberCustomer = "customer"
)

// Join scenes (WeCom JoinScene 0 invited, 3 QR code; link for invitation links).
const (
	JoinInvited = "invited"
	JoinLink    = "link"
	JoinQRCode  = "qrcode"
)

// Quit scenes (WeCom QuitScene 0 left, 1 removed).
const (
	QuitLeft    = "left"
	QuitRemoved = "removed"
)

// Owner change reasons.
const (
	OwnerChangeInService = "in_service" // onjob transfer, 2 per 90 days
	OwnerChangeResigned  = "resigned"   // the owner departed
	OwnerChangeWeCom     = "wecom"      // reported by a callback
)

// GroupChatCreated: a customer group (客户群) exists with an owner.
type GroupChatCreated struct {
	ChatID  string `json:"chat_id"`
	OwnerID string `json:"owner_id"`
	Name    string `json:"name,omitempty"`
}

// GroupChatMemberJoined: a staff member or customer joined the group.
type GroupChatMemberJoined struct {
	ChatID     string         `json:"chat_id"`
	MemberID   string         `json:"member_id"`
	MemberType string         `json:"member_type"`
	JoinScene  string         `json:"join_scene"`
	InviterID  string         `json:"inviter_id,omitempty"`
	PII        GroupMemberPII `json:"-"`
}

// GroupMemberPII is a member's personal data within a group.
type GroupMemberPII struct {
	Nickname string `json:"nickname,omitempty"`
}

// GroupChatMemberLeft: a member left or was removed.
type GroupChatMemberLeft struct {
	ChatID     string `json:"chat_id"`
	MemberID   string `json:"member_id"`
	MemberType string `json:"member_type"`
	QuitScene  string `json:"quit_scene"`
}

// GroupChatOwnerChanged: the group has a new owner.
type GroupChatOwnerChanged struct {
	ChatID      string `json:"chat_id"`
	FromStaffID string `json:"from_staff_id"`
	ToStaffID   string `json:"to_staff_id"`
	Reason      string `json:"reason"`
}

// GroupChatRenamed: the group's name changed.
type GroupChatRenamed struct {
	ChatID string `json:"chat_id"`
	Name   string `json:"name"`
}

// GroupChatNoticeChanged: the group's notice (群公告) changed.
type GroupChatNoticeChanged struct {
	ChatID string `json:"chat_id"`
	Notice string `json:"notice"`
}

// GroupChatDismissed: the group was dismissed; nothing happens to it after.
type GroupChatDismissed struct {
	ChatID string `json:"chat_id"`
}

func (GroupChatCreated) EventType() string       { return "groupchat.created" }
func (GroupChatMemberJoined) EventType() string  { return "groupchat.member_joined" }
func (GroupChatMemberLeft) EventType() string    { return "groupchat.member_left" }
func (GroupChatOwnerChanged) EventType() string  { return "groupchat.owner_changed" }
func (GroupChatRenamed) EventType() string       { return "groupchat.renamed" }
func (GroupChatNoticeChanged) EventType() string { return "groupchat.notice_changed" }
func (GroupChatDismissed) EventType() string     { return "groupchat.dismissed" }

func (e *GroupChatMemberJoined) PersonalData() any { return &e.PII }
func (e *GroupChatMemberJoined) DataSubject(corp string) string {
	if e.MemberType == MemberStaff {
		return StaffSubject(corp, e.MemberID)
	}
	return CustomerSubject(corp, e.MemberID)
}

func init() {
	register(1, func() Payload { return &GroupChatCreated{} })
	register(1, func() Payload { return &GroupChatMemberJoined{} })
	register(1, func() Payload { return &GroupChatMemberLeft{} })
	register(1, func() Payload { return &GroupChatOwnerChanged{} })
	register(1, func() Payload { return &GroupChatRenamed{} })
	register(1, func() Payload { return &GroupChatNoticeChanged{} })
	register(1, func() Payload { return &GroupChatDismissed{} })
}
