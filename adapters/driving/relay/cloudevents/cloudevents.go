// Package cloudevents is custody's wire format for published events:
// CloudEvents 1.0 in structured JSON mode (application/cloudevents+json).
//
// A custody event maps to these attributes:
//
//	id               the event id (a UUID; consumers deduplicate on it)
//	source           "custody/<corp>"
//	type             the stable dotted event type, e.g. "customer.relation_started"
//	subject          the aggregate stream, e.g. "customer-<corp>-<external_user_id>"
//	time             occurred_at (business time)
//	datacontenttype  "application/json"
//	data             the payload JSON; with personal data only when the
//	                 route carries it, then under the member "pii"
//
// and these extension attributes (lowercase, as the spec requires):
// schemaversion, corpid, streamversion, position, recordedat, actor,
// commandid, correlationid, causationid, piierased.
package cloudevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custody/custody/events"
	"github.com/google/uuid"
)

// ContentType is the media type of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// SpecVersion is the CloudEvents version custody speaks.
const SpecVersion = "1.0"

// SourcePrefix starts every source attribute; the corp id follows.
const SourcePrefix = "custody/"

// PIIMember is the member of data that carries personal data when a route
// is configured to publish it.
const PIIMember = "pii"

// ErrInvalid is returned by Unmarshal for bytes that are not a custody
// CloudEvent.
var ErrInvalid = errors.New("cloudevents: invalid event")

// Event is one custody event as a CloudEvent. Field names follow the JSON
// attribute names of the spec.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`

	// Extension attributes.
	SchemaVersion int       `json:"schemaversion"`
	CorpID        string    `json:"corpid"`
	StreamVersion int64     `json:"streamversion"`
	Position      string    `json:"position"`
	RecordedAt    time.Time `json:"recordedat"`
	Actor         string    `json:"actor,omitempty"`
	CommandID     string    `json:"commandid,omitempty"`
	CorrelationID string    `json:"correlationid,omitempty"`
	CausationID   string    `json:"causationid,omitempty"`
	// PIIErased is true when the event carried personal data whose data
	// subject has since been erased.
	PIIErased bool `json:"piierased,omitempty"`

	// Data is the payload JSON object, with the member "pii" holding the
	// personal part only when the publishing route carries personal data.
	Data json.RawMessage `json:"data"`
}

// FromRecorded builds the CloudEvent of r. Personal data is left out unless
// includePII is set.
func FromRecorded(r events.Recorded, includePII bool) (Event, error) {
	data := r.Data
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if includePII && len(r.PII) > 0 {
		var err error
		if data, err = withPII(data, r.PII); err != nil {
			return Event{}, fmt.Errorf("cloudevents: event %s: %w", r.ID, err)
		}
	}
	return Event{
		SpecVersion:     SpecVersion,
		ID:              r.ID.String(),
		Source:          SourcePrefix + r.CorpID,
		Type:            r.Type,
		Subject:         r.Stream,
		Time:            r.OccurredAt.UTC(),
		DataContentType: "application/json",
		SchemaVersion:   r.SchemaVersion,
		CorpID:          r.CorpID,
		StreamVersion:   r.StreamVersion,
		Position:        r.Position.String(),
		RecordedAt:      r.RecordedAt.UTC(),
		Actor:           r.Actor,
		CommandID:       r.CommandID,
		CorrelationID:   r.CorrelationID,
		CausationID:     r.CausationID,
		PIIErased:       r.PIIErased,
		Data:            data,
	}, nil
}

// Marshal encodes r as a structured-mode CloudEvent. Personal data is left
// out unless includePII is set.
func Marshal(r events.Recorded, includePII bool) ([]byte, error) {
	e, err := FromRecorded(r, includePII)
	if err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// withPII adds pii as the member PIIMember of the JSON object data.
func withPII(data, pii []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("data is not a JSON object: %w", err)
	}
	if !json.Valid(pii) {
		return nil, errors.New("personal data is not valid JSON")
	}
	obj[PIIMember] = pii
	return json.Marshal(obj)
}

// Unmarshal decodes and validates a structured-mode CloudEvent published
// by custody. It never panics on any input; every problem wraps ErrInvalid.
func Unmarshal(b []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Event{}, fmt.Errorf("%w: trailing data after the event", ErrInvalid)
	}
	var problems []string
	if e.SpecVersion != SpecVersion {
		problems = append(problems, fmt.Sprintf("specversion %q, want %q", e.SpecVersion, SpecVersion))
	}
	if u, err := uuid.Parse(e.ID); err != nil || u.String() != e.ID {
		problems = append(problems, "id is not a UUID in canonical form")
	}
	if !strings.HasPrefix(e.Source, SourcePrefix) || len(e.Source) == len(SourcePrefix) {
		problems = append(problems, fmt.Sprintf("source %q is not %s<corp>", e.Source, SourcePrefix))
	}
	if e.Type == "" {
		problems = append(problems, "type is empty")
	}
	if e.Subject == "" {
		problems = append(problems, "subject is empty")
	}
	if e.SchemaVersion < 1 {
		problems = append(problems, "schemaversion < 1")
	}
	if _, err := events.ParsePosition(e.Position); err != nil {
		problems = append(problems, "position is not COMMIT/PREPARE")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(e.Data, &obj); err != nil || obj == nil {
		problems = append(problems, "data is not a JSON object")
	}
	if len(problems) > 0 {
		return Event{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return e, nil
}

// Recorded turns e back into the envelope the log stored, with Data and PII
// split again, so that events.DecodeRecorded yields the typed payload. e
// must come from Unmarshal.
func (e Event) Recorded() (events.Recorded, error) {
	id, err := uuid.Parse(e.ID)
	if err != nil {
		return events.Recorded{}, fmt.Errorf("%w: id is not a UUID", ErrInvalid)
	}
	pos, err := events.ParsePosition(e.Position)
	if err != nil {
		return events.Recorded{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(e.Data, &obj); err != nil || obj == nil {
		return events.Recorded{}, fmt.Errorf("%w: data is not a JSON object", ErrInvalid)
	}
	var pii []byte
	if raw, ok := obj[PIIMember]; ok {
		pii = []byte(raw)
		delete(obj, PIIMember)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return events.Recorded{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return events.Recorded{
		Event: events.Event{
			ID:            id,
			Type:          e.Type,
			SchemaVersion: e.SchemaVersion,
			CorpID:        strings.TrimPrefix(e.Source, SourcePrefix),
			OccurredAt:    e.Time,
			Actor:         e.Actor,
			CommandID:     e.CommandID,
			CorrelationID: e.CorrelationID,
			CausationID:   e.CausationID,
			Data:          data,
			PII:           pii,
		},
		Stream:        e.Subject,
		StreamVersion: e.StreamVersion,
		Position:      pos,
		RecordedAt:    e.RecordedAt,
		PIIErased:     e.PIIErased,
	}, nil
}
