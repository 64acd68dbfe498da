package reconcile

import (
	"context"
	"time"
)

// View is custody's side of the comparison: its read model of a corp. It
// may lag the log a little (every correction is a command that re-checks
// custody's state, so a stale row costs a refused command, never a wrong
// event), but a reconcile against a lagging view may find differences the
// log no longer has: catch the projections up first where that matters.
type View interface {
	// Staff returns every member custody knows (joined or departed).
	Staff(ctx context.Context, corpID string) (map[string]bool, error)
	// Relations returns every relation custody has recorded of the given
	// customers (all of the corp's when customerIDs is nil), ended ones
	// included.
	Relations(ctx context.Context, corpID string, customerIDs []string) ([]Relation, error)
	// PendingHandovers returns the (customer, from, to) of every handover
	// pending in custody.
	PendingHandovers(ctx context.Context, corpID string) ([]PendingHandover, error)
	// Groups returns the corp's groups (all when chatIDs is nil),
	// dismissed ones included, with their members.
	Groups(ctx context.Context, corpID string, chatIDs []string) ([]Group, error)
	// Tags returns the live entries of the corp's tag catalog.
	Tags(ctx context.Context, corpID string) ([]Tag, error)
}

// Relation is custody's record of one (customer, member) pair.
type Relation struct {
	CustomerID, StaffID string
	// Active: active, or unassigned (the member departed).
	Active      bool
	EndedAt     time.Time
	Remark      string
	Description string
	Phones      []string
	Tags        []string
}

// PendingHandover is a handover pending in custody.
type PendingHandover struct {
	CustomerID, From, To string
}

// Group is custody's record of a customer group.
type Group struct {
	ChatID, Owner, Name, Notice string
	Dismissed                   bool
	// Members maps a member id to its type (events.MemberStaff,
	// events.MemberCustomer).
	Members map[string]string
}

// Tag is a live entry of the tag catalog.
type Tag struct {
	ID, Kind, GroupID, Name string
}
