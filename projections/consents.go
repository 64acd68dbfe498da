package projections

import "github.com/custody/custody/events"

// Consents is the "consents" projection: table consents, each customer's
// current state per purpose (the change with the latest changed_at wins, so
// a late-ingested older change does not overwrite a newer one), and
// consent_history, every recorded change.
type Consents struct{}

// Name implements Projection.
func (Consents) Name() string { return "consents" }

// Tables implements Projection.
func (Consents) Tables() []string { return []string{"consents", "consent_history"} }

// Migrations implements Projection.
func (Consents) Migrations() []string { return migrations("consents") }

// Apply implements Projection.
func (Consents) Apply(w *Writer, e Event) error {
	p, ok := e.Payload.(*events.ConsentRecorded)
	if !ok {
		return nil
	}
	changed := p.ChangedAt
	if changed.IsZero() {
		changed = e.OccurredAt
	}
	w.Queue(`WITH hist AS (
			INSERT INTO {s}.consent_history (corp_id, customer_id, purpose, state, changed_at, recorded_at, commit_pos, prepare_pos)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		)
		INSERT INTO {s}.consents AS c (corp_id, customer_id, purpose, state, changed_at, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (corp_id, customer_id, purpose) DO UPDATE SET state = excluded.state,
			changed_at = excluded.changed_at, recorded_at = excluded.recorded_at
		WHERE c.changed_at <= excluded.changed_at`,
		e.CorpID, p.CustomerID, p.Purpose, p.State, changed, e.RecordedAt, int64(e.Position.Commit), int64(e.Position.Prepare))
	return nil
}
