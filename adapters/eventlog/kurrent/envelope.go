package kurrent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events"
)

// metadata is the JSON stored as a KurrentDB event's metadata: every
// envelope field that is neither the payload (the event's data) nor the
// type (the event's type). Correlation and causation ids use KurrentDB's
// own "$correlationId" and "$causationId" keys, so the server's
// $by_correlation_id projection and its UI understand them.
//
// The sealed personal data travels here too (base64 in JSON), not in the
// data: the data stays the plain, personal-data-free payload that
// KurrentDB projections and tools may read, and the sealed bytes sit with
// the subject they are sealed for.
type metadata struct {
	CorpID        string    `json:"corp_id"`
	SchemaVersion int       `json:"schema_version"`
	OccurredAt    time.Time `json:"occurred_at"`
	Actor         string    `json:"actor,omitempty"`
	CommandID     string    `json:"command_id,omitempty"`
	CorrelationID string    `json:"$correlationId,omitempty"`
	CausationID   string    `json:"$causationId,omitempty"`
	// Subject names the key PII is sealed under.
	Subject string `json:"subject,omitempty"`
	// PII is the sealed personal data (pii.Keyring.Seal), absent when the
	// event has none.
	PII []byte `json:"pii,omitempty"`
	// PIIDropped: the event had personal data but its subject was already
	// erased when it was appended, so nothing was stored.
	PIIDropped bool `json:"pii_dropped,omitempty"`
	// RecordedAt is when the log the event was copied from recorded it
	// (eventlog.Copier); absent for events appended here, which read back
	// with the server's created date. A value that is not a time (another
	// writer's) is ignored the same way: it must not make the event
	// unreadable.
	RecordedAt *copiedTime `json:"recorded_at,omitempty"`
}

// copiedTime is an RFC 3339 time that decodes leniently: anything else
// decodes as the zero time, which recorded() ignores.
type copiedTime struct{ time.Time }

func (t *copiedTime) UnmarshalJSON(b []byte) error {
	var v time.Time
	if json.Unmarshal(b, &v) == nil {
		t.Time = v
	}
	return nil
}

// eventData builds what is sent to the server for e, whose personal data
// is already sealed (sealed, or dropped when its subject is erased).
func eventData(e events.Event, sealed []byte, dropped bool, recordedAt *time.Time) (esdb.EventData, error) {
	m := metadata{
		CorpID:        e.CorpID,
		SchemaVersion: e.SchemaVersion,
		OccurredAt:    e.OccurredAt,
		Actor:         e.Actor,
		CommandID:     e.CommandID,
		CorrelationID: e.CorrelationID,
		CausationID:   e.CausationID,
		Subject:       e.Subject,
		PII:           sealed,
		PIIDropped:    dropped,
	}
	if recordedAt != nil {
		m.RecordedAt = &copiedTime{*recordedAt}
	}
	md, err := json.Marshal(m)
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("kurrent: encode metadata of event %s: %w", e.ID, err)
	}
	return esdb.EventData{
		EventID:     e.ID,
		EventType:   e.Type,
		ContentType: esdb.ContentTypeJson,
		Data:        e.Data,
		Metadata:    md,
	}, nil
}

// decodeMetadata parses an event's metadata. Unknown keys are allowed (a
// newer custody may add some); missing required ones are not.
func decodeMetadata(b []byte) (metadata, error) {
	var m metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return metadata{}, fmt.Errorf("%w: metadata: %v", events.ErrMalformed, err)
	}
	var errs []error
	if m.CorpID == "" {
		errs = append(errs, errors.New("no corp_id"))
	}
	if m.SchemaVersion < 1 {
		errs = append(errs, fmt.Errorf("schema_version %d < 1", m.SchemaVersion))
	}
	if (len(m.PII) > 0 || m.PIIDropped) && m.Subject == "" {
		errs = append(errs, errors.New("personal data without a subject"))
	}
	if len(errs) > 0 {
		return metadata{}, fmt.Errorf("%w: metadata: %w", events.ErrMalformed, errors.Join(errs...))
	}
	return m, nil
}

// recorded turns a stored KurrentDB event of custody's stream into
// custody's form, unsealing its personal data (or marking it erased).
func recorded(ctx context.Context, keyring *pii.Keyring, stream string, ev *esdb.RecordedEvent) (events.Recorded, error) {
	m, err := decodeMetadata(ev.UserMetadata)
	if err != nil {
		return events.Recorded{}, fmt.Errorf("kurrent: event %s at %s@%d: %w", ev.EventID, ev.StreamID, ev.EventNumber, err)
	}
	if ev.EventType == "" {
		return events.Recorded{}, fmt.Errorf("kurrent: event %s at %s@%d: %w: no type", ev.EventID, ev.StreamID, ev.EventNumber, events.ErrMalformed)
	}
	r := events.Recorded{
		Event: events.Event{
			ID:            ev.EventID,
			Type:          ev.EventType,
			SchemaVersion: m.SchemaVersion,
			CorpID:        m.CorpID,
			OccurredAt:    m.OccurredAt,
			Actor:         m.Actor,
			CommandID:     m.CommandID,
			CorrelationID: m.CorrelationID,
			CausationID:   m.CausationID,
			Data:          bytes.Clone(ev.Data),
			Subject:       m.Subject,
		},
		Stream:        stream,
		StreamVersion: int64(ev.EventNumber),
		Position:      events.Position{Commit: ev.Position.Commit, Prepare: ev.Position.Prepare},
		RecordedAt:    ev.CreatedDate,
		PIIErased:     m.PIIDropped,
	}
	if m.RecordedAt != nil && !m.RecordedAt.IsZero() {
		r.RecordedAt = m.RecordedAt.Time
	}
	if len(m.PII) > 0 {
		plain, err := keyring.Open(ctx, m.Subject, m.PII)
		switch {
		case errors.Is(err, pii.ErrErased):
			r.PIIErased = true
		case err != nil:
			return events.Recorded{}, fmt.Errorf("kurrent: open personal data of event %s: %w", ev.EventID, err)
		default:
			r.PII = plain
		}
	}
	return r, nil
}
