package standin

import (
	"slices"
	"strings"
	"time"
)

// Staff is a member of the corp with customer contact enabled.
type Staff struct {
	UserID string
	Name   string
	// Departed is set by DepartStaff; the member's relations and groups
	// stay with the corp until handed over.
	Departed   bool
	DepartedAt time.Time
}

// Customer is an external contact (a WeChat user) known to the corp.
type Customer struct {
	ExternalUserID string
	Name           string
}

// DeletedBy says who ended a follow relation.
type DeletedBy string

// Who ended a relation.
const (
	// DeletedByStaff: the staff member deleted the customer
	// (del_external_contact).
	DeletedByStaff DeletedBy = "staff"
	// DeletedByCustomer: the customer deleted the staff member
	// (del_follow_user, churn).
	DeletedByCustomer DeletedBy = "customer"
	// DeletedByTransfer: a handover moved the customer to another member
	// (del_external_contact with Source DELETE_BY_TRANSFER).
	DeletedByTransfer DeletedBy = "transfer"
)

// Follow is the relation between a staff member and a customer, as
// batch/get_by_user returns it, plus whether and how it ended. A relation
// that ends and starts again is the same Follow, reactivated with the new
// createtime.
type Follow struct {
	UserID         string
	ExternalUserID string
	Remark         string
	Description    string
	// AddWay is WeCom's open enumeration (1 QR scan, 2 phone search, …,
	// 201 shared by a member, 202 assigned by an admin).
	AddWay int
	// State is the channel code of the 「联系我」 QR code or link used.
	State      string
	CreateTime time.Time
	// TagIDs are the corp tags on the relation, sorted.
	TagIDs []string
	// Half: added by the customer through an auto-accept code, not yet
	// confirmed by the staff member (add_half_external_contact).
	Half bool
	// Deleted, with DeletedBy and DeletedAt, is set when the relation
	// ended.
	Deleted   bool
	DeletedBy DeletedBy
	DeletedAt time.Time
}

// GroupStatus is the status groupchat/list reports.
type GroupStatus int

// Group statuses.
const (
	GroupNormal           GroupStatus = 0
	GroupOwnerDeparted    GroupStatus = 1
	GroupHandoverUnderway GroupStatus = 2
	GroupHandoverDone     GroupStatus = 3
)

// MemberType is a group member's type in groupchat/get.
type MemberType int

// Member types.
const (
	MemberStaff    MemberType = 1
	MemberCustomer MemberType = 2
)

// JoinScene is how a member joined, as groupchat/get reports it. The
// callback's JoinScene uses another code (see Join).
type JoinScene int

// Join scenes of groupchat/get.
const (
	JoinInvited JoinScene = 1
	JoinLink    JoinScene = 2
	JoinQRCode  JoinScene = 3
)

// Member is one member of a customer group.
type Member struct {
	// UserID is the userid of a staff member or the external_userid of a
	// customer.
	UserID    string
	Type      MemberType
	JoinScene JoinScene
	// Invitor is the staff member who invited (empty for QR code joins).
	Invitor  string
	JoinTime time.Time
}

// Group is a customer group (客户群).
type Group struct {
	ChatID     string
	Name       string
	Notice     string
	Owner      string
	Status     GroupStatus
	CreateTime time.Time
	// Members in order of joining.
	Members []Member
	// MemberVersion changes on every membership change; callbacks carry
	// it as LastMemVer/CurMemVer.
	MemberVersion string
	Dismissed     bool
}

// Member returns the member id, if present.
func (g Group) Member(id string) (Member, bool) {
	i := slices.IndexFunc(g.Members, func(m Member) bool { return m.UserID == id })
	if i < 0 {
		return Member{}, false
	}
	return g.Members[i], true
}

// Tag is a corp tag (企业标签).
type Tag struct {
	ID      string
	Name    string
	Order   int
	Deleted bool
}

// TagGroup is a group of corp tags.
type TagGroup struct {
	ID      string
	Name    string
	Order   int
	Deleted bool
	// Tags in creation order, deleted ones included.
	Tags []Tag
}

// HandoverStatus is transfer_result's status.
type HandoverStatus int

// Handover statuses, as transfer_result numbers them.
const (
	HandoverCompleted     HandoverStatus = 1
	HandoverWaiting       HandoverStatus = 2
	HandoverRefused       HandoverStatus = 3
	HandoverLimitExceeded HandoverStatus = 4
)

// Handover is a handover of one customer (transfer_customer, or
// resigned/transfer_customer when Resigned).
type Handover struct {
	ExternalUserID string
	From, To       string
	Status         HandoverStatus
	// Resigned: started with resigned/transfer_customer (From had
	// departed) rather than transfer_customer.
	Resigned  bool
	StartedAt time.Time
	// EndedAt is when it completed or failed; zero while waiting.
	EndedAt time.Time
}

// State is a deep copy of a corp's state, each list sorted by id (tag
// groups and tags as WeCom lists them: larger order first, then id), so two states compare with
// reflect.DeepEqual.
type State struct {
	CorpID    string
	Staff     []Staff
	Customers []Customer
	// Follows sorted by UserID, then ExternalUserID.
	Follows   []Follow
	Groups    []Group
	TagGroups []TagGroup
	// Handovers sorted by From, then ExternalUserID; the latest per pair.
	Handovers []Handover
}

// Follow returns the relation between userID and externalUserID, deleted
// or not.
func (s State) Follow(userID, externalUserID string) (Follow, bool) {
	i, ok := slices.BinarySearchFunc(s.Follows, pair{userID, externalUserID}, func(f Follow, p pair) int {
		if c := strings.Compare(f.UserID, p.userID); c != 0 {
			return c
		}
		return strings.Compare(f.ExternalUserID, p.externalUserID)
	})
	if !ok {
		return Follow{}, false
	}
	return s.Follows[i], true
}

// Group returns the group chatID.
func (s State) Group(chatID string) (Group, bool) {
	i, ok := slices.BinarySearchFunc(s.Groups, chatID, func(g Group, id string) int { return strings.Compare(g.ChatID, id) })
	if !ok {
		return Group{}, false
	}
	return s.Groups[i], true
}

// Tag returns the tag or tag group id (a tag group as a Tag with its id,
// name and order), and whether it is a group.
func (s State) Tag(id string) (t Tag, group bool, ok bool) {
	for _, g := range s.TagGroups {
		if g.ID == id {
			return Tag{ID: g.ID, Name: g.Name, Order: g.Order, Deleted: g.Deleted}, true, true
		}
		for _, t := range g.Tags {
			if t.ID == id {
				return t, false, true
			}
		}
	}
	return Tag{}, false, false
}

// Snapshot returns a deep copy of the state; later actions do not change it.
func (c *Corp) Snapshot() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := State{CorpID: c.corpID}
	for _, m := range c.staff {
		s.Staff = append(s.Staff, *m)
	}
	slices.SortFunc(s.Staff, func(a, b Staff) int { return strings.Compare(a.UserID, b.UserID) })
	for _, m := range c.customers {
		s.Customers = append(s.Customers, *m)
	}
	slices.SortFunc(s.Customers, func(a, b Customer) int { return strings.Compare(a.ExternalUserID, b.ExternalUserID) })
	for _, f := range c.follows {
		cp := *f
		cp.TagIDs = slices.Clone(f.TagIDs)
		s.Follows = append(s.Follows, cp)
	}
	slices.SortFunc(s.Follows, func(a, b Follow) int {
		if c := strings.Compare(a.UserID, b.UserID); c != 0 {
			return c
		}
		return strings.Compare(a.ExternalUserID, b.ExternalUserID)
	})
	for _, g := range c.groups {
		cp := *g
		cp.Members = slices.Clone(g.Members)
		s.Groups = append(s.Groups, cp)
	}
	slices.SortFunc(s.Groups, func(a, b Group) int { return strings.Compare(a.ChatID, b.ChatID) })
	for _, g := range c.tagGroups {
		cp := *g
		cp.Tags = slices.Clone(g.Tags)
		slices.SortStableFunc(cp.Tags, func(a, b Tag) int { return compareOrder(a.Order, b.Order, a.ID, b.ID) })
		s.TagGroups = append(s.TagGroups, cp)
	}
	slices.SortFunc(s.TagGroups, func(a, b TagGroup) int { return compareOrder(a.Order, b.Order, a.ID, b.ID) })
	for _, h := range c.handovers {
		s.Handovers = append(s.Handovers, *h)
	}
	slices.SortFunc(s.Handovers, func(a, b Handover) int {
		if c := strings.Compare(a.From, b.From); c != 0 {
			return c
		}
		return strings.Compare(a.ExternalUserID, b.ExternalUserID)
	})
	return s
}

// compareOrder sorts as WeCom lists tags: the larger order first, then
// by id.
func compareOrder(oa, ob int, ia, ib string) int {
	if oa != ob {
		return ob - oa
	}
	return strings.Compare(ia, ib)
}
