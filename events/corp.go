package events

// Corp-level events live on streams CorpStream(corp, name): the corp's tag
// catalog (CorpTagsStream), what WeCom reported that custody's state
// contradicts (CorpWeComStream) and the corp's settings
// (CorpSettingsStream).

// Tag kinds (WeCom TagType).
const (
	TagKindTag   = "tag"
	TagKindGroup = "tag_group"
)

// TagCreated: an enterprise tag or tag group (企业标签) exists. Name and
// GroupID are empty when the source (a WeCom callback) did not say them;
// a later tag.renamed fills the name in. Tag names are not personal data.
type TagCreated struct {
	TagID   string `json:"tag_id"`
	Kind    string `json:"kind"`
	GroupID string `json:"group_id,omitempty"`
	Name    string `json:"name,omitempty"`
}

// TagRenamed: a tag or tag group has a new name.
type TagRenamed struct {
	TagID string `json:"tag_id"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

// TagDeleted: a tag or tag group was deleted (a group with its tags).
type TagDeleted struct {
	TagID string `json:"tag_id"`
	Kind  string `json:"kind"`
}

// TagsReordered: the order of tags or tag groups changed (WeCom "shuffle").
// TagID is the tag group whose tags were reordered, or empty when the
// groups themselves were.
type TagsReordered struct {
	TagID string `json:"tag_id,omitempty"`
	Kind  string `json:"kind"`
}

// Reasons of a wecom.fact_unmatched.
const (
	UnmatchedRelationNotActive = "relation_not_active" // a deletion of a relation custody does not have as active
	UnmatchedRelationActive    = "relation_active"     // an add of a relation custody already has
	UnmatchedHandoverNotFound  = "handover_not_found"  // a transfer result for a handover custody has not pending
	UnmatchedChatNotCreated    = "chat_not_created"    // a change of a group chat custody does not know
	UnmatchedChatDismissed     = "chat_dismissed"      // a change of a group chat custody has as dismissed
	UnmatchedMember            = "member"              // a join of a member already in, or a leave of one not in
	UnmatchedCustomerErased    = "customer_erased"     // a fact about an erased customer
	UnmatchedOther             = "other"
)

// WeComFactUnmatched: WeCom reported a fact (by callback) that custody's
// state contradicts — e.g. a customer deleting a staff member custody does
// not know as a follower. The fact is recorded here instead of being
// dropped; reconciliation with WeCom's API turns it into compensating facts.
// Only ids: no personal data.
type WeComFactUnmatched struct {
	// Kind is the callback's Event/ChangeType[/UpdateDetail].
	Kind string `json:"kind"`
	// Reason is one of the Unmatched* constants.
	Reason     string `json:"reason"`
	CustomerID string `json:"customer_id,omitempty"`
	StaffID    string `json:"staff_id,omitempty"`
	ChatID     string `json:"chat_id,omitempty"`
	// MemberIDs are the group members a membership change named.
	MemberIDs []string `json:"member_ids,omitempty"`
	// CallbackKey is the stored callback's dedup key (the WeCom inbox).
	CallbackKey string `json:"callback_key"`
}

// CorpSettingsChanged: a corp's settings (the limits its rules apply) were
// changed. It carries the complete new settings, not a difference, so the
// stream's last event is the corp's configuration; Changed names the fields
// that differ from before and ChangedBy who changed them (the command's
// actor: "admin:<token id>", "cli:<OS user>"). Durations are whole
// seconds. No personal data.
//
// Schema v2 added the mass-message caps; the upcaster gives v1 events
// WeCom's defaults ("off", "off", "days_in_month"), which is what the
// rules applied before the caps were settings.
type CorpSettingsChanged struct {
	StaffCapacity                   int   `json:"staff_capacity"`
	HandoverWindowSeconds           int64 `json:"handover_window_seconds"`
	InServiceHandoverLimit          int   `json:"in_service_handover_limit"`
	InServiceHandoverPeriodSeconds  int64 `json:"in_service_handover_period_seconds"`
	MaxHandoverBatch                int   `json:"max_handover_batch"`
	MaxHandoverMessage              int   `json:"max_handover_message"`
	ResignedAssignmentWindowSeconds int64 `json:"resigned_assignment_window_seconds"`
	GroupMaxMembers                 int   `json:"group_max_members"`
	GroupTransferLimit              int   `json:"group_transfer_limit"`
	GroupTransferPeriodSeconds      int64 `json:"group_transfer_period_seconds"`
	// MassMessageCapDay, MassMessageCapWeek and MassMessageCapMonth are
	// the most mass messages one customer (or customer group) receives per
	// calendar day, ISO week and calendar month in TimeZone: "off", a
	// whole number, or (month only) "days_in_month".
	MassMessageCapDay   string `json:"mass_message_cap_day"`
	MassMessageCapWeek  string `json:"mass_message_cap_week"`
	MassMessageCapMonth string `json:"mass_message_cap_month"`
	// TimeZone is an IANA time zone name.
	TimeZone  string   `json:"time_zone"`
	Changed   []string `json:"changed"`
	ChangedBy string   `json:"changed_by"`
}

// EventType implementations.
func (TagCreated) EventType() string          { return "tag.created" }
func (TagRenamed) EventType() string          { return "tag.renamed" }
func (TagDeleted) EventType() string          { return "tag.deleted" }
func (TagsReordered) EventType() string       { return "tag.reordered" }
func (WeComFactUnmatched) EventType() string  { return "wecom.fact_unmatched" }
func (CorpSettingsChanged) EventType() string { return "corp.settings_changed" }

func init() {
	register(1, func() Payload { return &TagCreated{} })
	register(1, func() Payload { return &TagRenamed{} })
	register(1, func() Payload { return &TagDeleted{} })
	register(1, func() Payload { return &TagsReordered{} })
	register(1, func() Payload { return &WeComFactUnmatched{} })
	register(2, func() Payload { return &CorpSettingsChanged{} })
	registerUpcaster("corp.settings_changed", 1, upcastCorpSettingsV1)
}
