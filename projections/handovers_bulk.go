package projections

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Kinds of staged handover events.
const (
	hoRequested int16 = iota + 1
	hoSettled
)

// bulkPlan implements bulkBuilder: a rebuild stages handover requests and
// settlements and folds each handover's events, in log order, into its
// row, exactly as applyBatch leaves it: the first request inserts the row
// (later ones change nothing), every settlement after it overwrites status,
// settled_at and failure_reason, settlements before it change nothing.
func (Handovers) bulkPlan() bulkPlan {
	return bulkPlan{
		staging: []string{"kind smallint", "corp text", "hid text", "cpos bigint", "ppos bigint", "at timestamptz",
			"cust text", "ho_kind text", "from_staff text", "to_staff text", "batch text", "message text", "deadline timestamptz",
			"status text", "reason text"},
		stage: stageHandover,
		query: `SELECT corp, hid, kind, at, cust, ho_kind, from_staff, to_staff, batch, message, deadline, status, reason
			FROM {s}.bulk_staging ORDER BY corp, hid, cpos, ppos`,
		outputs: map[string][]string{
			"handovers": {"corp_id", "handover_id", "customer_id", "kind", "from_staff_id", "to_staff_id", "batch_id", "message",
				"status", "requested_at", "deadline", "settled_at", "failure_reason"},
		},
		newFold: func() folder { return &handoverFold{} },
	}
}

func stageHandover(e Event) []any {
	row := func(kind int16, id string) []any {
		r := make([]any, 15)
		r[0], r[1], r[2], r[3], r[4], r[5] = kind, e.CorpID, id, int64(e.Position.Commit), int64(e.Position.Prepare), e.OccurredAt
		return r
	}
	settled := func(id, status, reason string) []any {
		r := row(hoSettled, id)
		r[13], r[14] = status, reason
		return r
	}
	switch p := e.Payload.(type) {
	case *events.HandoverRequested:
		r := row(hoRequested, p.HandoverID)
		r[6], r[7], r[8], r[9], r[10], r[11], r[12] = p.CustomerID, p.Kind, p.FromStaffID, p.ToStaffID, p.BatchID, p.Text(), p.Deadline
		return r
	case *events.HandoverRefused:
		return settled(p.HandoverID, HandoverRefused, "")
	case *events.HandoverCompleted:
		return settled(p.HandoverID, HandoverCompleted, "")
	case *events.HandoverFailed:
		return settled(p.HandoverID, HandoverFailed, p.Reason)
	case *events.HandoverCancelled:
		return settled(p.HandoverID, HandoverCancelled, "")
	}
	return nil
}

// handoverFold holds one (corp, handover) at a time.
type handoverFold struct {
	key                                            [2]string
	started, exists                                bool
	cust, kind, fromStaff, toStaff, batch, message string
	status                                         string
	requestedAt, deadline                          time.Time
	settledAt                                      *time.Time
	reason                                         string
}

func (f *handoverFold) add(rows pgx.Rows, out *bulkOut) error {
	var (
		corp, hid                                        string
		kind                                             int16
		at                                               time.Time
		cust, hoKind, fromStaff, toStaff, batch, message *string
		deadline                                         *time.Time
		status, reason                                   *string
	)
	if err := rows.Scan(&corp, &hid, &kind, &at, &cust, &hoKind, &fromStaff, &toStaff, &batch, &message, &deadline,
		&status, &reason); err != nil {
		return err
	}
	if k := [2]string{corp, hid}; !f.started || k != f.key {
		f.finish(out)
		*f = handoverFold{key: k, started: true}
	}
	switch kind {
	case hoRequested:
		// INSERT ... ON CONFLICT DO NOTHING: the first request wins.
		if !f.exists {
			f.exists, f.status, f.requestedAt = true, HandoverPending, at
			f.cust, f.kind, f.fromStaff, f.toStaff, f.batch, f.message = str(cust), str(hoKind), str(fromStaff), str(toStaff), str(batch), str(message)
			if deadline != nil {
				f.deadline = *deadline
			}
		}
	case hoSettled:
		// UPDATE of the row, whatever its status; none before the request.
		if f.exists {
			f.status, f.settledAt, f.reason = str(status), &at, str(reason)
		}
	default:
		return fmt.Errorf("unknown staged kind %d", kind)
	}
	return nil
}

func (f *handoverFold) finish(out *bulkOut) {
	if !f.exists {
		return
	}
	out.emit("handovers", f.key[0], f.key[1], f.cust, f.kind, f.fromStaff, f.toStaff, f.batch, f.message,
		f.status, f.requestedAt, f.deadline, f.settledAt, nullIfEmpty(f.reason))
}
