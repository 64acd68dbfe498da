package events

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Event is an event on its way into a log: the envelope plus the encoded
// payload. Build one with New; adapters store it as it is.
type Event struct {
	// ID is the event id. Re-appending an event whose id is already stored is
	// a no-op (idempotent writes).
	ID uuid.UUID
	// Type is the stable dotted name, e.g. "customer.relation_started".
	Type string
	// SchemaVersion is the version of Data's shape (1, 2, ...).
	SchemaVersion int
	// CorpID is the tenant.
	CorpID string
	// OccurredAt is business time: when the fact happened.
	OccurredAt time.Time
	// Actor caused the event: "staff:<id>", "admin:<id>", "wecom", "system".
	Actor string
	// CommandID, CorrelationID and CausationID trace the event.
	CommandID     string
	CorrelationID string
	CausationID   string
	// Data is the JSON payload without personal data.
	Data []byte
	// PII is the JSON of the payload's personal part, in plaintext; the log
	// seals it under Subject's key before it is stored. Empty when the
	// payload carries no personal data.
	PII []byte
	// Subject names the data subject whose key seals PII, e.g.
	// "customer/<corp>/<external_user_id>". Required when PII is set.
	Subject string
}

// Recorded is an event as a log returns it.
type Recorded struct {
	Event
	// Stream is the aggregate stream, e.g. "customer-<corp>-<id>".
	Stream string
	// StreamVersion is the event's 0-based position in its stream.
	StreamVersion int64
	// Position is the event's place in the log-wide order.
	Position Position
	// RecordedAt is when the log stored the event.
	RecordedAt time.Time
	// PIIErased reports that the event carried personal data whose subject
	// has since been erased: PII is then empty.
	PIIErased bool

	// decided is the payload the event was encoded from, set by Decided
	// for a writer that replays what it just decided.
	decided Payload
}

// Position is a place in the log-wide order. Positions compare by Commit,
// then Prepare. The zero Position is before every event, and reading or
// subscribing "from" a Position starts strictly after it.
//
// Adapters decide what the halves mean: on PostgreSQL Commit is the writing
// transaction's id and Prepare the event's sequence number; on KurrentDB they
// are the commit and prepare positions of $all.
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Start is the position before the first event.
var Start = Position{}

// Less reports whether p comes before q in the log.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// IsZero reports whether p is Start.
func (p Position) IsZero() bool { return p == Start }

// String formats p as "commit/prepare".
func (p Position) String() string { return fmt.Sprintf("%d/%d", p.Commit, p.Prepare) }

// ParsePosition parses the form String produces.
func ParsePosition(s string) (Position, error) {
	var p Position
	if s == "" {
		return Start, nil
	}
	if _, err := fmt.Sscanf(s, "%d/%d", &p.Commit, &p.Prepare); err != nil {
		return Start, fmt.Errorf("events: invalid position %q: want COMMIT/PREPARE", s)
	}
	return p, nil
}

// Meta is the envelope information a command supplies for the events it
// records.
type Meta struct {
	CorpID        string
	OccurredAt    time.Time
	Actor         string
	CommandID     string
	CorrelationID string
	CausationID   string
}

// New encodes p and wraps it in an envelope with the given id and meta.
func New(id uuid.UUID, m Meta, p Payload) (Event, error) {
	enc, err := Encode(m.CorpID, p)
	if err != nil {
		return Event{}, err
	}
	return Event{
		ID:            id,
		Type:          enc.Type,
		SchemaVersion: enc.SchemaVersion,
		CorpID:        m.CorpID,
		OccurredAt:    m.OccurredAt,
		Actor:         m.Actor,
		CommandID:     m.CommandID,
		CorrelationID: m.CorrelationID,
		CausationID:   m.CausationID,
		Data:          enc.Data,
		PII:           enc.PII,
		Subject:       enc.Subject,
	}, nil
}

// Stream names.
const (
	CustomerStreamPrefix  = "customer-"
	StaffStreamPrefix     = "staff-"
	GroupChatStreamPrefix = "groupchat-"
	CorpStreamPrefix      = "corp-"
)

// StreamPrefixes are every stream prefix custody writes.
var StreamPrefixes = []string{CustomerStreamPrefix, StaffStreamPrefix, GroupChatStreamPrefix, CorpStreamPrefix}

// CorpTagsStream is the stream of a corp's tag catalog.
func CorpTagsStream(corp string) string { return CorpStreamPrefix + corp + "-tags" }

// CorpSettingsStream is the stream of a corp's settings
// (corp.settings_changed).
func CorpSettingsStream(corp string) string { return CorpStreamPrefix + corp + "-settings" }

// CorpWeComStream is the stream of one unmatched WeCom fact, named by its
// callback's dedup key: a stream of its own makes recording it idempotent
// on every event log (the second append finds the stream and records
// nothing).
func CorpWeComStream(corp, callbackKey string) string {
	return CorpStreamPrefix + corp + "-wecom-" + callbackKey
}

// CustomerStream is the stream of a customer aggregate.
func CustomerStream(corp, externalUserID string) string {
	return CustomerStreamPrefix + corp + "-" + externalUserID
}

// StaffStream is the stream of a staff aggregate.
func StaffStream(corp, userID string) string { return StaffStreamPrefix + corp + "-" + userID }

// GroupChatStream is the stream of a group chat aggregate.
func GroupChatStream(corp, chatID string) string {
	return GroupChatStreamPrefix + corp + "-" + chatID
}

// CustomerSubject is the data subject (key id) of a customer's personal data.
func CustomerSubject(corp, externalUserID string) string {
	return "customer/" + corp + "/" + externalUserID
}

// StaffSubject is the data subject of a staff member's personal data.
func StaffSubject(corp, userID string) string { return "staff/" + corp + "/" + userID }
