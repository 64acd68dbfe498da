package projections

import "github.com/custody/custody/events"

// Handovers is the "handovers" projection: table handovers, one row per
// handover request with its status (pending, then completed | refused |
// failed | cancelled), deadline and settlement.
type Handovers struct{}

// Handover statuses as stored in handovers.status.
const (
	HandoverPending   = "pending"
	HandoverCompleted = "completed"
	HandoverRefused   = "refused"
	HandoverFailed    = "failed"
	HandoverCancelled = "cancelled"
)

// Name implements Projection.
func (Handovers) Name() string { return "handovers" }

// Tables implements Projection.
func (Handovers) Tables() []string { return []string{"handovers"} }

// Migrations implements Projection.
func (Handovers) Migrations() []string { return migrations("handovers") }

const handoverSettle = `UPDATE {s}.handovers SET status = $3, settled_at = $4, failure_reason = nullif($5, '')
	WHERE corp_id = $1 AND handover_id = $2`

// Apply implements Projection.
func (Handovers) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.HandoverRequested:
		w.Queue(`INSERT INTO {s}.handovers (corp_id, handover_id, customer_id, kind, from_staff_id, to_staff_id, batch_id, message, status, requested_at, deadline)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)
			ON CONFLICT (corp_id, handover_id) DO NOTHING`,
			corp, p.HandoverID, p.CustomerID, p.Kind, p.FromStaffID, p.ToStaffID, p.BatchID, p.Message, at, p.Deadline)
	case *events.HandoverRefused:
		w.Queue(handoverSettle, corp, p.HandoverID, HandoverRefused, at, "")
	case *events.HandoverCompleted:
		w.Queue(handoverSettle, corp, p.HandoverID, HandoverCompleted, at, "")
	case *events.HandoverFailed:
		w.Queue(handoverSettle, corp, p.HandoverID, HandoverFailed, at, p.Reason)
	case *events.HandoverCancelled:
		w.Queue(handoverSettle, corp, p.HandoverID, HandoverCancelled, at, "")
	}
	return nil
}
