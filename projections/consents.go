package projections

import (
	"time"

	"github.com/custody/custody/events"
)

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
func (c Consents) Apply(w *Writer, e Event) error { return c.applyBatch(w, []Event{e}) }

type consentRound struct {
	corp, cust, purpose, state []string
	changed, recorded          []time.Time
	commit, prepare            []int64
}

// applyBatch writes a batch with one statement per round (see rounds):
// every event touches only its (customer, purpose) row of consents and
// adds its own history row.
func (Consents) applyBatch(w *Writer, evs []Event) error {
	rs := newRounds()
	var rounds []consentRound
	for _, e := range evs {
		p, ok := e.Payload.(*events.ConsentRecorded)
		if !ok {
			continue
		}
		changed := p.ChangedAt
		if changed.IsZero() {
			changed = e.OccurredAt
		}
		i := rs.keyed(e.CorpID, p.CustomerID, p.Purpose)
		rounds = grow(rounds, i)
		r := &rounds[i]
		r.corp, r.cust, r.purpose, r.state = append(r.corp, e.CorpID), append(r.cust, p.CustomerID), append(r.purpose, p.Purpose), append(r.state, p.State)
		r.changed, r.recorded = append(r.changed, changed), append(r.recorded, e.RecordedAt)
		r.commit, r.prepare = append(r.commit, int64(e.Position.Commit)), append(r.prepare, int64(e.Position.Prepare))
	}
	for i := range rounds {
		r := &rounds[i]
		w.Queue(`WITH u AS (
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::bigint[], $8::bigint[])
					AS u(corp, cust, purpose, state, changed, recorded, cpos, ppos)
			), hist AS (
				INSERT INTO {s}.consent_history (corp_id, customer_id, purpose, state, changed_at, recorded_at, commit_pos, prepare_pos)
				SELECT u.corp, u.cust, u.purpose, u.state, u.changed, u.recorded, u.cpos, u.ppos FROM u
			)
			INSERT INTO {s}.consents AS c (corp_id, customer_id, purpose, state, changed_at, recorded_at)
			SELECT u.corp, u.cust, u.purpose, u.state, u.changed, u.recorded FROM u
			ON CONFLICT (corp_id, customer_id, purpose) DO UPDATE SET state = excluded.state,
				changed_at = excluded.changed_at, recorded_at = excluded.recorded_at
			WHERE c.changed_at <= excluded.changed_at`,
			r.corp, r.cust, r.purpose, r.state, r.changed, r.recorded, r.commit, r.prepare)
	}
	return nil
}
