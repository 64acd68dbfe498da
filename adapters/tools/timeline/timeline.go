// Package timeline tells one customer's history as a readable, ordered list
// of entries: who added the customer and through which channel, relations
// ended and by whom, handovers with their outcomes, moments opt-outs,
// consents, group chats joined and left, and erasure.
//
// The history comes from the event log itself — the customer's stream plus
// the streams of the group chats the customer was a member of — so it is as
// complete as the log and needs no projection to be up to date. Only the
// question "which group chats" is answered by a GroupFinder: the projection
// of group membership (fast) or a scan of the log (small logs, tests).
//
// A timeline never carries personal data (names, remarks, phones,
// nicknames): it is safe to show to anyone allowed to see the customer's ids.
package timeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Source is the part of an event log a timeline reads. eventlog.EventLog
// satisfies it.
type Source interface {
	// ReadStream returns the stream's events from version from on, or an
	// error wrapping eventlog.ErrStreamNotFound when it has none.
	ReadStream(ctx context.Context, stream string, from int64) ([]events.Recorded, error)
}

// GroupFinder names the group chats a customer has ever been a member of.
type GroupFinder interface {
	// GroupChatsOf returns the chat ids, in any order; duplicates are
	// allowed.
	GroupChatsOf(ctx context.Context, corp, customerID string) ([]string, error)
}

// Kinds of entries.
const (
	KindRelationStarted   = "relation_started"
	KindRelationEdited    = "relation_edited"
	KindRelationEnded     = "relation_ended"
	KindHandoverRequested = "handover_requested"
	KindHandoverRefused   = "handover_refused"
	KindHandoverCompleted = "handover_completed"
	KindHandoverFailed    = "handover_failed"
	KindHandoverCancelled = "handover_cancelled"
	KindMomentsOptedOut   = "moments_opted_out"
	KindMomentsOptedIn    = "moments_opted_in"
	KindConsent           = "consent"
	KindErased            = "erased"
	KindGroupJoined       = "group_joined"
	KindGroupLeft         = "group_left"
	KindGroupDismissed    = "group_dismissed"
)

// Entry is one fact of the customer's history. Fields that do not apply to
// its Kind are empty.
type Entry struct {
	// At is when it happened (business time), RecordedAt when it was logged.
	At         time.Time `json:"at"`
	RecordedAt time.Time `json:"recorded_at"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Summary is one readable English sentence.
	Summary string `json:"summary"`
	// Actor caused the event: "staff:<id>", "admin:<id>", "wecom", "system".
	Actor string `json:"actor,omitempty"`
	// StaffID is the staff member of a relation, opt-out or handover source.
	StaffID string `json:"staff_id,omitempty"`
	// ToStaffID is a handover's target.
	ToStaffID string `json:"to_staff_id,omitempty"`
	// Initiator ("staff" or "customer"), AddWay and Channel (the 「联系我」
	// state code) describe how a relation started; StartedBy is "added" or
	// "handover".
	Initiator string `json:"initiator,omitempty"`
	AddWay    int    `json:"add_way,omitempty"`
	Channel   string `json:"channel,omitempty"`
	StartedBy string `json:"started_by,omitempty"`
	// Reason is a relation's end reason, a handover's failure reason, or a
	// group quit scene.
	Reason string `json:"reason,omitempty"`
	// HandoverID, HandoverKind, Deadline and Outcome describe a handover.
	// Outcome is its final status as the log knows it now ("pending" while
	// unsettled) with OutcomeAt the settlement time; it is set on the
	// handover_requested entry so one line tells the whole story.
	HandoverID   string     `json:"handover_id,omitempty"`
	HandoverKind string     `json:"handover_kind,omitempty"`
	Deadline     *time.Time `json:"deadline,omitempty"`
	Outcome      string     `json:"outcome,omitempty"`
	OutcomeAt    *time.Time `json:"outcome_at,omitempty"`
	// Purpose and State describe a consent.
	Purpose string `json:"purpose,omitempty"`
	State   string `json:"state,omitempty"`
	// ChatID, ChatName (at the time) and Scene describe a group event.
	ChatID   string `json:"chat_id,omitempty"`
	ChatName string `json:"chat_name,omitempty"`
	Scene    string `json:"scene,omitempty"`
	// Stream, StreamVersion, Position and EventID point at the event.
	Stream        string          `json:"stream"`
	StreamVersion int64           `json:"stream_version"`
	Position      events.Position `json:"position"`
	EventID       string          `json:"event_id"`
}

// Timeline is a customer's history, oldest first.
type Timeline struct {
	CorpID     string `json:"corp_id"`
	CustomerID string `json:"customer_id"`
	// Erased reports that the customer's personal data was erased.
	Erased bool `json:"erased"`
	// Followers are the staff with an active relation at the end of the
	// history, sorted.
	Followers []string `json:"followers"`
	Entries   []Entry  `json:"entries"`
}

// ErrNotFound is returned when the log holds no event of the customer.
var ErrNotFound = errors.New("timeline: customer not found")

// ErrInvalidArgument is returned for an empty corp or customer id.
var ErrInvalidArgument = errors.New("timeline: invalid argument")

// Options configure Build.
type Options struct {
	// Groups finds the customer's group chats. Nil leaves group events out.
	Groups GroupFinder
	// From and To keep only entries with From <= At < To; zero bounds are
	// open. Outcomes of handovers are still those of the whole history.
	From, To time.Time
}

// Build reads the customer's history from src and returns it ordered by
// business time, ties broken by log position. Events the catalog does not
// know are skipped; a stored event that does not decode is an error.
// Group chat streams that vanished are skipped, never an error.
func Build(ctx context.Context, src Source, corp, customerID string, opts Options) (Timeline, error) {
	if corp == "" || customerID == "" {
		return Timeline{}, fmt.Errorf("%w: corp and customer id are required", ErrInvalidArgument)
	}
	tl := Timeline{CorpID: corp, CustomerID: customerID, Followers: []string{}, Entries: []Entry{}}
	recs, err := src.ReadStream(ctx, events.CustomerStream(corp, customerID), 0)
	if err != nil && !isNotFound(err) {
		return tl, fmt.Errorf("timeline: read customer %s: %w", customerID, err)
	}
	if err := tl.addCustomerStream(recs); err != nil {
		return tl, err
	}
	if opts.Groups != nil {
		chats, err := opts.Groups.GroupChatsOf(ctx, corp, customerID)
		if err != nil {
			return tl, fmt.Errorf("timeline: find group chats of %s: %w", customerID, err)
		}
		slices.Sort(chats)
		for _, chat := range slices.Compact(chats) {
			recs, err := src.ReadStream(ctx, events.GroupChatStream(corp, chat), 0)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return tl, fmt.Errorf("timeline: read group chat %s: %w", chat, err)
			}
			if err := tl.addGroupStream(chat, recs); err != nil {
				return tl, err
			}
		}
	}
	if len(tl.Entries) == 0 && len(recs) == 0 {
		return tl, fmt.Errorf("%w: %s in corp %s", ErrNotFound, customerID, corp)
	}
	slices.SortStableFunc(tl.Entries, func(a, b Entry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		switch {
		case a.Position.Less(b.Position):
			return -1
		case b.Position.Less(a.Position):
			return 1
		}
		return 0
	})
	if !opts.From.IsZero() || !opts.To.IsZero() {
		tl.Entries = slices.DeleteFunc(tl.Entries, func(e Entry) bool {
			return (!opts.From.IsZero() && e.At.Before(opts.From)) || (!opts.To.IsZero() && !e.At.Before(opts.To))
		})
	}
	return tl, nil
}

// isNotFound reports a stream the log has no event of.
func isNotFound(err error) bool { return errors.Is(err, eventlog.ErrStreamNotFound) }
