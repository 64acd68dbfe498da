package projections

import (
	"fmt"
	"time"

	"github.com/custody/custody/events"
)

// Handovers is the "handovers" projection: table handovers, one row per
// handover request with its status (pending, then completed | refused |
// failed | cancelled), deadline and settlement. An erasure of the customer
// blanks the message (the customer's personal data: sealed from
// handover.requested v2 on, plain in v1).
//
// It is a fold projection (see foldProjection): one fold per handover over
// its request and settlements and its customer's erasures.
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

// Apply implements Projection: it hands e's fact to w's fold.
func (h Handovers) Apply(w *Writer, e Event) error { return w.addFacts(h, []Event{e}) }

func (Handovers) definition() *definition { return handoversDefinition }

// Kinds of handover facts.
const (
	hoRequested int16 = iota + 1
	hoSettled
	hoErased
)

// Columns of a handover fact.
const (
	hfCust = iota + 3
	hfCpos
	hfPpos
	hfAt
	hfKind
	hfFrom
	hfTo
	hfBatch
	hfMessage
	hfDeadline
	hfStatus
	hfReason
)

var handoversDefinition = prepared(&definition{
	staging: []string{"kind smallint", "corp text", "hid text", "cust text", "cpos bigint", "ppos bigint", "at timestamptz",
		"ho_kind text", "from_staff text", "to_staff text", "batch text", "message text", "deadline timestamptz",
		"status text", "reason text"},
	key:  []string{"corp", "hid"},
	fact: handoverFact,
	tables: []foldTable{{
		name: "handovers",
		cols: []string{"corp_id text", "handover_id text", "customer_id text", "kind text", "from_staff_id text", "to_staff_id text",
			"batch_id text", "message text", "status text", "requested_at timestamptz", "deadline timestamptz",
			"settled_at timestamptz", "failure_reason text"},
		pk:  []string{"corp_id", "handover_id"},
		key: []string{"corp_id", "handover_id"},
	}},
	newFold: func() keyFold { return &handoverFold{} },
	// An erasure blanks the message of the customer's handovers.
	fanouts: []fanout{{
		kind: hoErased, from: hoRequested, match: []string{"corp", "cust"},
		table: "handovers", tableKey: []string{"corp_id", "handover_id"}, tableMatch: []string{"corp_id", "customer_id"},
		where: "f.message <> ''",
	}},
})

func handoverFact(e Event) []any {
	row := func(kind int16, id, cust any) []any {
		r := make([]any, 15)
		r[0], r[1], r[2], r[3], r[4], r[5], r[6] = kind, e.CorpID, id, cust, int64(e.Position.Commit), int64(e.Position.Prepare), e.OccurredAt
		return r
	}
	settled := func(id, status, reason string) []any {
		r := row(hoSettled, id, nil)
		r[hfStatus], r[hfReason] = status, reason
		return r
	}
	switch p := e.Payload.(type) {
	case *events.HandoverRequested:
		r := row(hoRequested, p.HandoverID, p.CustomerID)
		r[hfKind], r[hfFrom], r[hfTo], r[hfBatch], r[hfMessage], r[hfDeadline] = p.Kind, p.FromStaffID, p.ToStaffID, p.BatchID, p.Text(), p.Deadline
		return r
	case *events.HandoverRefused:
		return settled(p.HandoverID, HandoverRefused, "")
	case *events.HandoverCompleted:
		return settled(p.HandoverID, HandoverCompleted, "")
	case *events.HandoverFailed:
		return settled(p.HandoverID, HandoverFailed, p.Reason)
	case *events.HandoverCancelled:
		return settled(p.HandoverID, HandoverCancelled, "")
	case *events.CustomerErased:
		return row(hoErased, nil, p.CustomerID)
	}
	return nil
}

// handoverFold is one (corp, handover): the first request makes the row
// (later ones change nothing), every settlement after it overwrites
// status, settled_at and failure_reason (settlements before it change
// nothing), the erasure of the row's customer blanks the message.
type handoverFold struct {
	key                                            foldKey
	exists                                         bool
	cust, kind, fromStaff, toStaff, batch, message string
	status                                         string
	requestedAt, deadline                          time.Time
	settledAt                                      *time.Time
	reason                                         *string
}

func (f *handoverFold) seed(k foldKey, rows map[string][][]any) {
	*f = handoverFold{key: k}
	for _, r := range rows["handovers"] {
		f.exists = true
		f.cust, f.kind, f.fromStaff, f.toStaff, f.batch, f.message = vStr(r, 2), vStr(r, 3), vStr(r, 4), vStr(r, 5), vStr(r, 6), vStr(r, 7)
		f.status, f.requestedAt, f.deadline, f.settledAt, f.reason = vStr(r, 8), vTime(r, 9), vTime(r, 10), vTimePtr(r, 11), vStrPtr(r, 12)
	}
}

func (f *handoverFold) add(r []any) error {
	at := vTime(r, hfAt)
	switch vKind(r) {
	case hoRequested:
		if !f.exists {
			f.exists, f.status, f.requestedAt = true, HandoverPending, at
			f.cust, f.kind, f.fromStaff, f.toStaff = vStr(r, hfCust), vStr(r, hfKind), vStr(r, hfFrom), vStr(r, hfTo)
			f.batch, f.message, f.deadline = vStr(r, hfBatch), vStr(r, hfMessage), vTime(r, hfDeadline)
		}
	case hoSettled:
		if f.exists {
			f.status, f.settledAt, f.reason = vStr(r, hfStatus), &at, nonEmpty(vStrPtr(r, hfReason))
		}
	case hoErased:
		if f.exists && f.cust == vStr(r, hfCust) {
			f.message = ""
		}
	default:
		return fmt.Errorf("unknown handover fact kind %d", vKind(r))
	}
	return nil
}

func (f *handoverFold) finish(out *bulkOut) {
	if !f.exists {
		return
	}
	out.emit("handovers", f.key[0], f.key[1], f.cust, f.kind, f.fromStaff, f.toStaff, f.batch, f.message,
		f.status, f.requestedAt, f.deadline, f.settledAt, f.reason)
}
