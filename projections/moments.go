package projections

import "github.com/custody/custody/events"

// Moments is the "moments" projection:
//
//   - moments_opt_outs: each customer's latest choice per staff member;
//   - moments_audience: one row per active relation, flagged opted_out; a
//     staff member's marketing audience is their rows with opted_out =
//     false. Relations of a departed member leave the audience; the new
//     owner's relation after a handover joins it.
type Moments struct{}

// Name implements Projection.
func (Moments) Name() string { return "moments" }

// Tables implements Projection.
func (Moments) Tables() []string { return []string{"moments_opt_outs", "moments_audience"} }

// Migrations implements Projection.
func (Moments) Migrations() []string { return migrations("moments") }

// Apply implements Projection.
func (Moments) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		w.Queue(`INSERT INTO {s}.moments_audience (corp_id, staff_id, customer_id, since, opted_out)
			VALUES ($1, $2, $3, $4, coalesce((SELECT opted_out FROM {s}.moments_opt_outs
				WHERE corp_id = $1 AND customer_id = $3 AND staff_id = $2), false))
			ON CONFLICT (corp_id, staff_id, customer_id) DO UPDATE SET since = excluded.since, opted_out = excluded.opted_out`,
			corp, p.StaffID, p.CustomerID, at)
	case *events.CustomerRelationEnded:
		w.Queue(`DELETE FROM {s}.moments_audience WHERE corp_id = $1 AND staff_id = $2 AND customer_id = $3`,
			corp, p.StaffID, p.CustomerID)
	case *events.StaffDeparted:
		w.Queue(`DELETE FROM {s}.moments_audience WHERE corp_id = $1 AND staff_id = $2`, corp, p.StaffID)
	case *events.MomentsOptedOut:
		optMoments(w, corp, p.CustomerID, p.StaffID, true, p.Source, e)
	case *events.MomentsOptedIn:
		optMoments(w, corp, p.CustomerID, p.StaffID, false, p.Source, e)
	}
	return nil
}

func optMoments(w *Writer, corp, customer, staff string, out bool, source string, e Event) {
	w.Queue(`WITH aud AS (
			UPDATE {s}.moments_audience SET opted_out = $4 WHERE corp_id = $1 AND staff_id = $3 AND customer_id = $2
		)
		INSERT INTO {s}.moments_opt_outs (corp_id, customer_id, staff_id, opted_out, changed_at, source)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET opted_out = excluded.opted_out,
			changed_at = excluded.changed_at, source = excluded.source`,
		corp, customer, staff, out, e.OccurredAt, source)
}
