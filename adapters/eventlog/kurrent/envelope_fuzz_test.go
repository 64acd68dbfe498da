package kurrent

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
)

// FuzzDecodeMetadata feeds arbitrary bytes as an event's metadata, as any
// writer to a shared KurrentDB could store: decoding never panics, and
// either fails with events.ErrMalformed or yields metadata that passes the
// checks and survives a round trip.
func FuzzDecodeMetadata(f *testing.F) {
	good, _ := eventData(events.Event{
		ID: uuid.New(), Type: "t", SchemaVersion: 1, CorpID: "c",
		OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Actor: "system",
		CorrelationID: "x", Subject: "customer/c/u", Data: []byte(`{}`),
	}, []byte{1, 2, 3}, false, nil)
	at := time.Date(2025, 12, 31, 23, 59, 59, 999, time.UTC)
	copied, _ := eventData(events.Event{ID: uuid.New(), Type: "t", SchemaVersion: 1, CorpID: "c", Data: []byte(`{}`)}, nil, false, &at)
	for _, seed := range []string{
		string(good.Metadata), string(copied.Metadata),
		`{"corp_id":"c","schema_version":1,"recorded_at":"not a time"}`,
		`{"corp_id":"c","schema_version":1,"recorded_at":null}`,
		`{}`, `null`, `[]`, `not json`, ``,
		`{"corp_id":"c","schema_version":1}`,
		`{"corp_id":"c","schema_version":0}`,
		`{"corp_id":"c","schema_version":1,"pii":"AQID"}`,
		`{"corp_id":"c","schema_version":1,"pii":"!!","subject":"s"}`,
		`{"corp_id":"c","schema_version":1,"pii_dropped":true}`,
		`{"corp_id":"c","schema_version":1,"occurred_at":"yesterday"}`,
		`{"corp_id":"c","schema_version":1e400}`,
		`{"corp_id":"c","schema_version":2,"future_key":{"a":[1]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMetadata(b)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("error %v does not wrap events.ErrMalformed", err)
			}
			return
		}
		if m.CorpID == "" || m.SchemaVersion < 1 || ((len(m.PII) > 0 || m.PIIDropped) && m.Subject == "") {
			t.Fatalf("accepted invalid metadata %+v", m)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := decodeMetadata(again)
		if err != nil || m2.CorpID != m.CorpID || m2.SchemaVersion != m.SchemaVersion || string(m2.PII) != string(m.PII) {
			t.Fatalf("round trip changed %+v into %+v (%v)", m, m2, err)
		}
	})
}

// FuzzConnectionString feeds arbitrary configuration values: the result
// is always an esdb URL or an error, and passwords never reach errors.
func FuzzConnectionString(f *testing.F) {
	for _, seed := range []string{
		"kurrentdb://127.0.0.1:2113?tls=false", "esdb+discover://a:b@c:1", "postgres://x",
		"kurrentdb://admin:s3cret@host:2113", "://", "kurrentdb:", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ConnectionString(s)
		if err != nil {
			if strings.Contains(s, "s3cret") && strings.Contains(err.Error(), "s3cret") && strings.Contains(s, "@") {
				t.Fatalf("error leaks a password: %v", err)
			}
			return
		}
		if !strings.HasPrefix(got, "esdb://") && !strings.HasPrefix(got, "esdb+discover://") {
			t.Fatalf("ConnectionString(%q) = %q", s, got)
		}
	})
}

// TestRecordedAtInMetadata: a copied event's recorded_at is read back; a
// value that is not a time (written by another tool) is ignored rather
// than making the event unreadable.
func TestRecordedAtInMetadata(t *testing.T) {
	at := time.Date(2025, 12, 31, 23, 59, 59, 999, time.UTC)
	d, err := eventData(events.Event{ID: uuid.New(), Type: "t", SchemaVersion: 1, CorpID: "c", Data: []byte(`{}`)}, nil, false, &at)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeMetadata(d.Metadata)
	if err != nil || m.RecordedAt == nil || !m.RecordedAt.Equal(at) {
		t.Fatalf("recorded_at %v (%v), want %s", m.RecordedAt, err, at)
	}
	for _, bad := range []string{`"not a time"`, `null`, `42`, `"\u0000"`, `"99999-01-01T00:00:00Z"`, `{"a":1}`} {
		m, err := decodeMetadata([]byte(`{"corp_id":"c","schema_version":1,"recorded_at":` + bad + `}`))
		if err != nil {
			t.Fatalf("recorded_at %s made the metadata unreadable: %v", bad, err)
		}
		if m.RecordedAt != nil && !m.RecordedAt.IsZero() {
			t.Fatalf("recorded_at %s read as %s", bad, m.RecordedAt.Time)
		}
	}
}
