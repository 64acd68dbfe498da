package projections

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Kinds of staged moments events.
const (
	momStarted int16 = iota + 1
	momEnded
	momOpted
	momDeparted
)

// bulkPlan implements bulkBuilder: a rebuild stages relation starts and
// ends, opt-ins and opt-outs and departures, and folds each (customer,
// staff) pair's events — its own and its member's departures, in log order
// — into its opt-out and audience rows, exactly as applyBatch leaves them.
func (Moments) bulkPlan() bulkPlan {
	return bulkPlan{
		staging: []string{"kind smallint", "corp text", "cust text", "staff text", "cpos bigint", "ppos bigint",
			"at timestamptz", "source text", "opted_out boolean"},
		stage: stageMoments,
		query: pairFoldQuery(momStarted, momDeparted, 0, "at", "source", "opted_out"),
		outputs: map[string][]string{
			"moments_opt_outs": {"corp_id", "customer_id", "staff_id", "opted_out", "changed_at", "source"},
			"moments_audience": {"corp_id", "staff_id", "customer_id", "since", "opted_out"},
		},
		newFold: func() folder { return &momentsFold{} },
	}
}

func stageMoments(e Event) []any {
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

// momentsFold holds one (corp, customer, staff) pair at a time.
type momentsFold struct {
	key     [3]string
	started bool
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

func (f *momentsFold) add(rows pgx.Rows, out *bulkOut) error {
	var (
		corp, cust, staff string
		cpos, ppos        int64
		kind              int16
		at                time.Time
		source            *string
		optedOut          *bool
	)
	if err := rows.Scan(&corp, &cust, &staff, &cpos, &ppos, &kind, &at, &source, &optedOut); err != nil {
		return err
	}
	if k := [3]string{corp, cust, staff}; !f.started || k != f.key {
		f.finish(out)
		*f = momentsFold{key: k, started: true}
	}
	switch kind {
	case momStarted:
		// The audience row takes the pair's latest choice.
		f.member, f.since, f.audienceOut = true, at, f.opted && f.optedOut
	case momEnded, momDeparted:
		f.member = false
	case momOpted:
		out := optedOut != nil && *optedOut
		if f.member {
			f.audienceOut = out
		}
		f.opted, f.optedOut, f.changedAt, f.source = true, out, at, str(source)
	default:
		return fmt.Errorf("unknown staged kind %d", kind)
	}
	return nil
}

func (f *momentsFold) finish(out *bulkOut) {
	if !f.started {
		return
	}
	corp, cust, staff := f.key[0], f.key[1], f.key[2]
	if f.opted {
		out.emit("moments_opt_outs", corp, cust, staff, f.optedOut, f.changedAt, f.source)
	}
	if f.member {
		out.emit("moments_audience", corp, staff, cust, f.since, f.audienceOut)
	}
}
