package projections

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Kinds of staged consent events.
const (
	conRecorded int16 = iota + 1
)

// bulkPlan implements bulkBuilder: a rebuild stages recorded consents and
// folds each (customer, purpose)'s changes, in log order, into its current
// consents row — a change replaces it unless the row's changed_at is later
// — and one consent_history row per change, exactly as applyBatch leaves
// them.
func (Consents) bulkPlan() bulkPlan {
	return bulkPlan{
		staging: []string{"kind smallint", "corp text", "cust text", "purpose text", "cpos bigint", "ppos bigint",
			"state text", "changed timestamptz", "recorded timestamptz"},
		stage: stageConsent,
		query: `SELECT corp, cust, purpose, cpos, ppos, kind, state, changed, recorded
			FROM {s}.bulk_staging ORDER BY corp, cust, purpose, cpos, ppos`,
		outputs: map[string][]string{
			"consents": {"corp_id", "customer_id", "purpose", "state", "changed_at", "recorded_at"},
			"consent_history": {"corp_id", "customer_id", "purpose", "state", "changed_at", "recorded_at",
				"commit_pos", "prepare_pos"},
		},
		newFold: func() folder { return &consentFold{} },
	}
}

func stageConsent(e Event) []any {
	p, ok := e.Payload.(*events.ConsentRecorded)
	if !ok {
		return nil
	}
	changed := p.ChangedAt
	if changed.IsZero() {
		changed = e.OccurredAt
	}
	return []any{conRecorded, e.CorpID, p.CustomerID, p.Purpose, int64(e.Position.Commit), int64(e.Position.Prepare),
		p.State, changed, e.RecordedAt}
}

// consentFold holds one (corp, customer, purpose) at a time.
type consentFold struct {
	key     [3]string
	started bool
	// consents row
	exists            bool
	state             string
	changed, recorded time.Time
}

func (f *consentFold) add(rows pgx.Rows, out *bulkOut) error {
	var (
		corp, cust, purpose, state string
		cpos, ppos                 int64
		kind                       int16
		changed, recorded          time.Time
	)
	if err := rows.Scan(&corp, &cust, &purpose, &cpos, &ppos, &kind, &state, &changed, &recorded); err != nil {
		return err
	}
	if k := [3]string{corp, cust, purpose}; !f.started || k != f.key {
		f.finish(out)
		*f = consentFold{key: k, started: true}
	}
	if kind != conRecorded {
		return fmt.Errorf("unknown staged kind %d", kind)
	}
	// Every change is history, in log order.
	out.emit("consent_history", corp, cust, purpose, state, changed, recorded, cpos, ppos)
	// ON CONFLICT DO UPDATE ... WHERE c.changed_at <= excluded.changed_at:
	// a change as late as the current one (the staged times are the
	// stored, microsecond ones) replaces it.
	if !f.exists || !changed.Before(f.changed) {
		f.exists, f.state, f.changed, f.recorded = true, state, changed, recorded
	}
	return nil
}

func (f *consentFold) finish(out *bulkOut) {
	if !f.exists {
		return
	}
	out.emit("consents", f.key[0], f.key[1], f.key[2], f.state, f.changed, f.recorded)
}
