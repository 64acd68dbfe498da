// Package groupchat is the customer-group aggregate (stream
// groupchat-<corp>-<chat_id>): creation, members joining and leaving, owner
// transfers, name and notice, dismissal. Membership history is the stream
// itself: members are never overwritten, only join and leave.
//
// Rules: a group holds at most the corp's GroupMaxMembers (500) members, the
// owner counting only if recorded as a member; the 501st join is refused
// with a *FullError. An in-service owner transfer is allowed while fewer
// than GroupTransferLimit (2) in-service transfers happened within
// (now - GroupTransferPeriod, now]: one made exactly 90 days ago no longer
// counts. A resigned transfer needs a departed owner; both need an active
// target. Owner changes reported by WeCom (events.OwnerChangeWeCom) are
// facts and are recorded without those checks. A dismissed group accepts
// nothing more.
package groupchat

import (
	"errors"
	"fmt"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// Sentinel errors of the group chat aggregate.
var (
	ErrInvalidArgument = errors.New("groupchat: invalid argument")
	ErrAlreadyCreated  = errors.New("groupchat: already created")
	ErrNotCreated      = errors.New("groupchat: not created")
	ErrDismissed       = errors.New("groupchat: dismissed")
	ErrAlreadyMember   = errors.New("groupchat: already a member")
	ErrNotMember       = errors.New("groupchat: not a member")
	// ErrGroupFull: the group has the corp's maximum of members. Returned as
	// a *FullError.
	ErrGroupFull = errors.New("groupchat: group full")
	// ErrSameOwner: a transfer to the current owner.
	ErrSameOwner = errors.New("groupchat: transfer to the current owner")
	// ErrUnknownTarget: the new owner has not joined.
	ErrUnknownTarget = errors.New("groupchat: transfer target unknown")
	// ErrTargetDeparted: departed members receive no groups.
	ErrTargetDeparted = errors.New("groupchat: transfer target departed")
	// ErrOwnerDeparted: an in-service transfer needs an active owner.
	ErrOwnerDeparted = errors.New("groupchat: owner departed, use a resigned transfer")
	// ErrOwnerNotDeparted: a resigned transfer needs a departed owner.
	ErrOwnerNotDeparted = errors.New("groupchat: owner has not departed, use an in-service transfer")
	// ErrTransferLimitReached: in-service transfers exhausted for the period.
	ErrTransferLimitReached = errors.New("groupchat: in-service transfer limit reached")
	ErrForeignEvent         = errors.New("groupchat: event of another aggregate")
)

// FullError says how full the group is. It wraps ErrGroupFull.
type FullError struct {
	ChatID  string
	Members int
	Max     int
}

func (e *FullError) Error() string {
	return fmt.Sprintf("groupchat %s: full (%d of %d members)", e.ChatID, e.Members, e.Max)
}

// Unwrap makes errors.Is(err, ErrGroupFull) true.
func (e *FullError) Unwrap() error { return ErrGroupFull }

// GroupChat is one customer group's aggregate. Build it with New or
// Rehydrate; deciding methods never change it.
type GroupChat struct {
	id        string
	version   int64
	created   bool
	dismissed bool
	owner     string
	name      string
	notice    string
	members   map[string]string // member id -> member type
	transfers []time.Time       // in-service owner changes
}

// New returns a group with no history.
func New(id string) (*GroupChat, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty chat id", ErrInvalidArgument)
	}
	return &GroupChat{id: id, version: -1, members: map[string]string{}}, nil
}

// Rehydrate rebuilds a group from its stream, oldest first.
func Rehydrate(id string, history []events.Recorded) (*GroupChat, error) {
	g, err := New(id)
	if err != nil {
		return nil, err
	}
	if err := g.Replay(history...); err != nil {
		return nil, err
	}
	return g, nil
}

// Replay applies further recorded events of the group's stream, in order.
func (g *GroupChat) Replay(recs ...events.Recorded) error {
	return events.Replay("groupchat "+g.id, recs, func(p events.Payload, r events.Recorded) error {
		if err := g.apply(p, r.OccurredAt); err != nil {
			return err
		}
		g.version = r.StreamVersion
		return nil
	})
}

func (g *GroupChat) apply(p events.Payload, at time.Time) error {
	var chat string
	switch e := p.(type) {
	case *events.GroupChatCreated:
		chat = e.ChatID
		g.created, g.owner, g.name = true, e.OwnerID, e.Name
	case *events.GroupChatMemberJoined:
		chat = e.ChatID
		g.members[e.MemberID] = e.MemberType
	case *events.GroupChatMemberLeft:
		chat = e.ChatID
		delete(g.members, e.MemberID)
	case *events.GroupChatOwnerChanged:
		chat = e.ChatID
		g.owner = e.ToStaffID
		if e.Reason == events.OwnerChangeInService {
			g.transfers = append(g.transfers, at)
		}
	case *events.GroupChatRenamed:
		chat = e.ChatID
		g.name = e.Name
	case *events.GroupChatNoticeChanged:
		chat = e.ChatID
		g.notice = e.Notice
	case *events.GroupChatDismissed:
		chat = e.ChatID
		g.dismissed = true
	default:
		return fmt.Errorf("%w: %s", ErrForeignEvent, p.EventType())
	}
	if chat != g.id {
		return fmt.Errorf("%w: %s for %q", ErrForeignEvent, p.EventType(), chat)
	}
	return nil
}

// ID is the chat id.
func (g *GroupChat) ID() string { return g.id }

// Version is the stream version of the last replayed event, -1 for none.
func (g *GroupChat) Version() int64 { return g.version }

// Owner is the current owner's staff id.
func (g *GroupChat) Owner() string { return g.owner }

// Members is the number of current members.
func (g *GroupChat) Members() int { return len(g.members) }

// IsMember reports whether id is a current member.
func (g *GroupChat) IsMember(id string) bool { _, ok := g.members[id]; return ok }

// Dismissed reports whether the group was dismissed.
func (g *GroupChat) Dismissed() bool { return g.dismissed }

// Name and Notice are the group's current name and notice.
func (g *GroupChat) Name() string   { return g.name }
func (g *GroupChat) Notice() string { return g.notice }

func (g *GroupChat) live() error {
	switch {
	case !g.created:
		return ErrNotCreated
	case g.dismissed:
		return ErrDismissed
	}
	return nil
}

// Create records the group with its owner.
func (g *GroupChat) Create(ownerID, name string) ([]events.Payload, error) {
	if ownerID == "" {
		return nil, fmt.Errorf("%w: empty owner id", ErrInvalidArgument)
	}
	if g.created {
		return nil, ErrAlreadyCreated
	}
	return []events.Payload{&events.GroupChatCreated{ChatID: g.id, OwnerID: ownerID, Name: name}}, nil
}

// Member describes a joining member.
type Member struct {
	ID string
	// Type is events.MemberStaff or events.MemberCustomer.
	Type string
	// Scene is events.JoinInvited, JoinLink or JoinQRCode.
	Scene     string
	InviterID string
	PII       events.GroupMemberPII
}

// Join records a member joining, refused with a *FullError when the group
// already has the corp's maximum of members.
func (g *GroupChat) Join(m Member, set corp.Settings) ([]events.Payload, error) {
	switch {
	case m.ID == "":
		return nil, fmt.Errorf("%w: empty member id", ErrInvalidArgument)
	case m.Type != events.MemberStaff && m.Type != events.MemberCustomer:
		return nil, fmt.Errorf("%w: member type %q", ErrInvalidArgument, m.Type)
	case m.Scene != events.JoinInvited && m.Scene != events.JoinLink && m.Scene != events.JoinQRCode:
		return nil, fmt.Errorf("%w: join scene %q", ErrInvalidArgument, m.Scene)
	}
	if err := g.live(); err != nil {
		return nil, err
	}
	if g.IsMember(m.ID) {
		return nil, ErrAlreadyMember
	}
	if len(g.members) >= set.GroupMaxMembers {
		return nil, &FullError{ChatID: g.id, Members: len(g.members), Max: set.GroupMaxMembers}
	}
	return []events.Payload{&events.GroupChatMemberJoined{
		ChatID: g.id, MemberID: m.ID, MemberType: m.Type, JoinScene: m.Scene, InviterID: m.InviterID, PII: m.PII,
	}}, nil
}

// Leave records a member leaving (events.QuitLeft) or being removed
// (events.QuitRemoved).
func (g *GroupChat) Leave(memberID, scene string) ([]events.Payload, error) {
	switch {
	case memberID == "":
		return nil, fmt.Errorf("%w: empty member id", ErrInvalidArgument)
	case scene != events.QuitLeft && scene != events.QuitRemoved:
		return nil, fmt.Errorf("%w: quit scene %q", ErrInvalidArgument, scene)
	}
	if err := g.live(); err != nil {
		return nil, err
	}
	typ, ok := g.members[memberID]
	if !ok {
		return nil, ErrNotMember
	}
	return []events.Payload{&events.GroupChatMemberLeft{ChatID: g.id, MemberID: memberID, MemberType: typ, QuitScene: scene}}, nil
}

// TransferOwner moves the group to another member at now. reason is
// events.OwnerChangeInService, OwnerChangeResigned or OwnerChangeWeCom;
// owner is the status of the current owner, to of the new one.
func (g *GroupChat) TransferOwner(reason string, owner, to staff.Status, now time.Time, set corp.Settings) ([]events.Payload, error) {
	switch {
	case to.ID == "":
		return nil, fmt.Errorf("%w: empty target id", ErrInvalidArgument)
	case reason != events.OwnerChangeInService && reason != events.OwnerChangeResigned && reason != events.OwnerChangeWeCom:
		return nil, fmt.Errorf("%w: owner change reason %q", ErrInvalidArgument, reason)
	}
	if err := g.live(); err != nil {
		return nil, err
	}
	if to.ID == g.owner {
		return nil, ErrSameOwner
	}
	if reason != events.OwnerChangeWeCom {
		if owner.ID != g.owner {
			return nil, fmt.Errorf("%w: owner status for %q, group owned by %q", ErrInvalidArgument, owner.ID, g.owner)
		}
		switch {
		case !to.Joined:
			return nil, ErrUnknownTarget
		case to.Departed:
			return nil, ErrTargetDeparted
		}
	}
	switch reason {
	case events.OwnerChangeInService:
		if owner.Departed {
			return nil, ErrOwnerDeparted
		}
		since := now.Add(-set.GroupTransferPeriod)
		n := 0
		for _, t := range g.transfers {
			if t.After(since) {
				n++
			}
		}
		if n >= set.GroupTransferLimit {
			return nil, ErrTransferLimitReached
		}
	case events.OwnerChangeResigned:
		if !owner.Departed {
			return nil, ErrOwnerNotDeparted
		}
	}
	return []events.Payload{&events.GroupChatOwnerChanged{ChatID: g.id, FromStaffID: g.owner, ToStaffID: to.ID, Reason: reason}}, nil
}

// Rename records a new name; the same name records nothing.
func (g *GroupChat) Rename(name string) ([]events.Payload, error) {
	if err := g.live(); err != nil {
		return nil, err
	}
	if name == g.name {
		return nil, nil
	}
	return []events.Payload{&events.GroupChatRenamed{ChatID: g.id, Name: name}}, nil
}

// ChangeNotice records a new notice; the same notice records nothing.
func (g *GroupChat) ChangeNotice(notice string) ([]events.Payload, error) {
	if err := g.live(); err != nil {
		return nil, err
	}
	if notice == g.notice {
		return nil, nil
	}
	return []events.Payload{&events.GroupChatNoticeChanged{ChatID: g.id, Notice: notice}}, nil
}

// Dismiss records the group's end. Dismissing a dismissed group records
// nothing.
func (g *GroupChat) Dismiss() ([]events.Payload, error) {
	if !g.created {
		return nil, ErrNotCreated
	}
	if g.dismissed {
		return nil, nil
	}
	return []events.Payload{&events.GroupChatDismissed{ChatID: g.id}}, nil
}
