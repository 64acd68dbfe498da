package projections

import "github.com/custody/custody/events"

// Relations is the "relations" projection:
//
//   - relations: one row per (customer, staff) pair describing its latest
//     interval — status active | unassigned | ended, channel, remark, tags,
//     moments opt-out;
//   - ownership_intervals: one row per interval, for "who owned this
//     customer on day D" (started_at <= D < coalesce(ended_at, infinity));
//   - unassigned_relations: active relations of departed staff, with the
//     departure time, until a resigned handover (or churn) ends them.
//
// An erasure blanks the customer's personal columns; rebuilding from the
// erased log yields the same blanks.
type Relations struct{}

// Name implements Projection.
func (Relations) Name() string { return "relations" }

// Tables implements Projection.
func (Relations) Tables() []string {
	return []string{"relations", "ownership_intervals", "unassigned_relations"}
}

// Migrations implements Projection.
func (Relations) Migrations() []string { return migrations("relations") }

// Apply implements Projection.
func (Relations) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		// One statement per event keeps a batch's round trips and executor
		// start-ups down; the CTE parts touch different tables.
		w.Queue(`WITH iv AS (
				INSERT INTO {s}.ownership_intervals (corp_id, customer_id, staff_id, started_at, started_by, start_handover_id, start_commit, start_prepare)
				VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $15, $16)
			)
			INSERT INTO {s}.relations AS r (corp_id, customer_id, staff_id, status, started_at, started_by, start_handover_id,
				initiator, add_way, channel, customer_name, remark, description, phones, tags, updated_at)
			VALUES ($1, $2, $3, 'active', $4, $5, nullif($6, ''), $7, $8, $9, $10, $11, $12, $13, $14, $4)
			ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET
				status = 'active', started_at = excluded.started_at, ended_at = NULL, end_reason = NULL,
				started_by = excluded.started_by, start_handover_id = excluded.start_handover_id, end_handover_id = NULL,
				initiator = excluded.initiator, add_way = excluded.add_way, channel = excluded.channel,
				customer_name = excluded.customer_name, remark = excluded.remark, description = excluded.description,
				phones = excluded.phones, tags = excluded.tags, intervals = r.intervals + 1, updated_at = excluded.updated_at`,
			corp, p.CustomerID, p.StaffID, at, p.StartedBy, p.HandoverID,
			p.Initiator, p.AddWay, p.State, p.PII.CustomerName, p.PII.Remark, p.PII.Description, strs(p.PII.Phones), strs(p.Tags),
			int64(e.Position.Commit), int64(e.Position.Prepare))
	case *events.CustomerRelationEdited:
		w.Queue(`UPDATE {s}.relations SET tags = $4, remark = $5, description = $6, phones = $7,
				customer_name = CASE WHEN $8 <> '' THEN $8 ELSE customer_name END, updated_at = $9
			WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`,
			corp, p.CustomerID, p.StaffID, strs(p.Tags), p.PII.Remark, p.PII.Description, strs(p.PII.Phones), p.PII.CustomerName, at)
	case *events.CustomerRelationEnded:
		w.Queue(`WITH iv AS (
				UPDATE {s}.ownership_intervals SET ended_at = $4, end_reason = $5, end_handover_id = nullif($6, '')
				WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3 AND ended_at IS NULL
			), un AS (
				DELETE FROM {s}.unassigned_relations WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3
			)
			UPDATE {s}.relations SET status = 'ended', ended_at = $4, end_reason = $5, end_handover_id = nullif($6, ''), updated_at = $4
			WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`,
			corp, p.CustomerID, p.StaffID, at, p.Reason, p.HandoverID)
	case *events.StaffDeparted:
		w.Queue(`WITH un AS (
				UPDATE {s}.relations SET status = 'unassigned', updated_at = $3
				WHERE corp_id = $1 AND staff_id = $2 AND status = 'active'
				RETURNING corp_id, customer_id, staff_id, started_at
			)
			INSERT INTO {s}.unassigned_relations (corp_id, customer_id, staff_id, departed_at, started_at)
			SELECT corp_id, customer_id, staff_id, $3, started_at FROM un
			ON CONFLICT DO NOTHING`, corp, p.StaffID, at)
	case *events.MomentsOptedOut:
		w.Queue(`UPDATE {s}.relations SET moments_opted_out = true, moments_changed_at = $4, updated_at = $4
			WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`, corp, p.CustomerID, p.StaffID, at)
	case *events.MomentsOptedIn:
		w.Queue(`UPDATE {s}.relations SET moments_opted_out = false, moments_changed_at = $4, updated_at = $4
			WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3`, corp, p.CustomerID, p.StaffID, at)
	case *events.CustomerErased:
		w.Queue(`UPDATE {s}.relations SET customer_name = '', remark = '', description = '', phones = '{}'
			WHERE corp_id = $1 AND customer_id = $2`, corp, p.CustomerID)
	}
	return nil
}

// strs keeps NOT NULL array columns non-null: pgx sends a nil slice as NULL.
func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
