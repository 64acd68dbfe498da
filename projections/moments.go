package projections

import (
	"fmt"
	"time"

	"github.com/custody/custody/events"
)

// Moments is the "moments" projection:
//
//   - moments_opt_outs: each customer's latest choice per staff member;
//   - moments_audience: one row per active relation, flagged opted_out; a
//     staff member's marketing audience is their rows with opted_out =
//     false. Relations of a departed member leave the audience; the new
//     owner's relation after a handover joins it.
//
// It is a fold projection (see foldProjection): one fold per (customer,
// staff) pair over relation starts and ends, opt-ins and opt-outs and the
// member's departures.
type Moments struct{}

// Name implements Projection.
func (Moments) Name() string { return "moments" }

// Tables implements Projection.
func (Moments) Tables() []string { return []string{"moments_opt_outs", "moments_audience"} }

// Migrations implements Projection.
func (Moments) Migrations() []string { return migrations("moments") }

// Apply implements Projection: it hands e's fact to w's fold.
func (m Moments) Apply(w *Writer, e Event) error { return w.addFacts(m, []Event{e}) }

func (Moments) definition() *definition { return momentsDefinition }

// Kinds of moments facts.
const (
	momStarted int16 = iota + 1
	momEnded
	momOpted
	momDeparted
)

// Columns of a moments fact.
const (
	mfAt = iota + 6
	mfSource
	mfOptedOut
)

var momentsDefinition = prepared(&definition{
	staging: []string{"kind smallint", "corp text", "cust text", "staff text", "cpos bigint", "ppos bigint",
		"at timestamptz", "source text", "opted_out boolean"},
	key:  []string{"corp", "cust", "staff"},
	fact: momentsFact,
	tables: []foldTable{{
		name: "moments_opt_outs",
		cols: []string{"corp_id text", "customer_id text", "staff_id text", "opted_out boolean", "changed_at timestamptz", "source text"},
		pk:   []string{"corp_id", "customer_id", "staff_id"},
		key:  []string{"corp_id", "customer_id", "staff_id"},
	}, {
		name: "moments_audience",
		cols: []string{"corp_id text", "staff_id text", "customer_id text", "since timestamptz", "opted_out boolean"},
		pk:   []string{"corp_id", "staff_id", "customer_id"},
		key:  []string{"corp_id", "customer_id", "staff_id"},
	}},
	newFold: func() keyFold { return &momentsFold{} },
	// A departure takes every relation of the member out of the audience.
	fanouts: []fanout{{
		kind: momDeparted, from: momStarted, match: []string{"corp", "staff"},
		table: "moments_audience", tableKey: []string{"corp_id", "customer_id", "staff_id"}, tableMatch: []string{"corp_id", "staff_id"},
	}},
})

func momentsFact(e Event) []any {
	row := func(kind int16, cust, staff any, source any, out any) []any {
		return []any{kind, e.CorpID, cust, staff, int64(e.Position.Commit), int64(e.Position.Prepare), e.OccurredAt, source, out}
	}
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		return row(momStarted, p.CustomerID, p.StaffID, nil, nil)
	case *events.CustomerRelationEnded:
		return row(momEnded, p.CustomerID, p.StaffID, nil, nil)
	case *events.MomentsOptedOut:
		return row(momOpted, p.CustomerID, p.StaffID, p.Source, true)
	case *events.MomentsOptedIn:
		return row(momOpted, p.CustomerID, p.StaffID, p.Source, false)
	case *events.StaffDeparted:
		return row(momDeparted, nil, p.StaffID, nil, nil)
	}
	return nil
}

// momentsFold is one (corp, customer, staff) pair: its latest choice (the
// opt-out row) and, while the relation is active, its audience row, which
// takes the pair's latest choice when the relation starts and follows
// later choices; an end or the member's departure removes it.
type momentsFold struct {
	key foldKey
	// opt-out row
	opted     bool
	optedOut  bool
	changedAt time.Time
	source    string
	// audience row
	member      bool
	since       time.Time
	audienceOut bool
}

func (f *momentsFold) seed(k foldKey, rows map[string][][]any) {
	*f = momentsFold{key: k}
	for _, r := range rows["moments_opt_outs"] {
		f.opted, f.optedOut, f.changedAt, f.source = true, vBool(r, 3), vTime(r, 4), vStr(r, 5)
	}
	for _, r := range rows["moments_audience"] {
		f.member, f.since, f.audienceOut = true, vTime(r, 3), vBool(r, 4)
	}
}

func (f *momentsFold) add(r []any) error {
	at := vTime(r, mfAt)
	switch vKind(r) {
	case momStarted:
		f.member, f.since, f.audienceOut = true, at, f.opted && f.optedOut
	case momEnded, momDeparted:
		f.member = false
	case momOpted:
		out := vBool(r, mfOptedOut)
		if f.member {
			f.audienceOut = out
		}
		f.opted, f.optedOut, f.changedAt, f.source = true, out, at, vStr(r, mfSource)
	default:
		return fmt.Errorf("unknown moments fact kind %d", vKind(r))
	}
	return nil
}

func (f *momentsFold) finish(out *bulkOut) {
	corp, cust, staff := f.key[0], f.key[1], f.key[2]
	if f.opted {
		out.emit("moments_opt_outs", corp, cust, staff, f.optedOut, f.changedAt, f.source)
	}
	if f.member {
		out.emit("moments_audience", corp, staff, cust, f.since, f.audienceOut)
	}
}
