package export

import (
	"time"

	"github.com/custody/custody/events"
)

// Row is one exported event. Every format has these columns, in this order,
// under these names (see docs/analysts.md). Times are UTC with microsecond
// precision, the precision PostgreSQL stores.
type Row struct {
	EventID         string    `parquet:"event_id"`
	Type            string    `parquet:"type,dict"`
	SchemaVersion   int32     `parquet:"schema_version"`
	CorpID          string    `parquet:"corp_id,dict"`
	Stream          string    `parquet:"stream"`
	StreamVersion   int64     `parquet:"stream_version"`
	PositionCommit  int64     `parquet:"position_commit"`
	PositionPrepare int64     `parquet:"position_prepare"`
	OccurredAt      time.Time `parquet:"occurred_at,timestamp(microsecond)"`
	RecordedAt      time.Time `parquet:"recorded_at,timestamp(microsecond)"`
	Actor           string    `parquet:"actor,dict"`
	CommandID       string    `parquet:"command_id"`
	CorrelationID   string    `parquet:"correlation_id"`
	CausationID     string    `parquet:"causation_id"`
	Subject         string    `parquet:"subject"`
	// Data is the JSON payload without personal data.
	Data []byte `parquet:"data,json"`
	// PII is the JSON of the personal data, or "" (null) when the export
	// leaves it out, the event has none, or its subject was erased. (A
	// string, not []byte: parquet-go v0.25 writes optional []byte as null.)
	PII string `parquet:"pii,json,optional"`
	// PIIErased reports that the event's personal data was erased.
	PIIErased bool `parquet:"pii_erased"`
}

// Columns are the column names of Row, in order.
var Columns = []string{
	"event_id", "type", "schema_version", "corp_id", "stream", "stream_version",
	"position_commit", "position_prepare", "occurred_at", "recorded_at", "actor",
	"command_id", "correlation_id", "causation_id", "subject", "data", "pii", "pii_erased",
}

// NewRow is the row an export writes for r. Personal data is included only
// when includePII is set and r's subject is not erased.
func NewRow(r *events.Recorded, includePII bool) Row {
	var row Row
	fillRow(&row, r, includePII)
	return row
}

// fillRow sets every field of row from r. Data and PII alias r's bytes.
func fillRow(row *Row, r *events.Recorded, includePII bool) {
	*row = Row{
		EventID:         r.ID.String(),
		Type:            r.Type,
		SchemaVersion:   int32(r.SchemaVersion),
		CorpID:          r.CorpID,
		Stream:          r.Stream,
		StreamVersion:   r.StreamVersion,
		PositionCommit:  int64(r.Position.Commit),
		PositionPrepare: int64(r.Position.Prepare),
		OccurredAt:      exportTime(r.OccurredAt),
		RecordedAt:      exportTime(r.RecordedAt),
		Actor:           r.Actor,
		CommandID:       r.CommandID,
		CorrelationID:   r.CorrelationID,
		CausationID:     r.CausationID,
		Subject:         r.Subject,
		Data:            r.Data,
		PIIErased:       r.PIIErased,
	}
	if includePII && !r.PIIErased && len(r.PII) > 0 {
		row.PII = string(r.PII)
	}
}

func exportTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
