package projections

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Kinds of staged activity events: which counters an event adds to.
const (
	actAddedByStaff    int16 = iota + 1 // added, added_by_staff
	actAddedByCustomer                  // added, added_by_customer
	actHandedIn                         // handed_over_in
	actDeletedByCustomer
	actDeletedByStaff
	actHandedOut
	actReconciled
)

// bulkPlan implements bulkBuilder: a rebuild stages relation starts and
// ends with their day in a's Location, and counts them per (corp, staff,
// day) in SQL; the counters only add up, so the sums are the rows
// applyBatch leaves, and a day has a row when it has an event.
func (a Activity) bulkPlan() bulkPlan {
	loc := a.Location
	if loc == nil {
		loc = time.UTC
	}
	count := func(kinds ...int16) string {
		in := ""
		for i, k := range kinds {
			if i > 0 {
				in += ", "
			}
			in += fmt.Sprint(k)
		}
		return fmt.Sprintf("(count(*) FILTER (WHERE kind IN (%s)))::bigint", in)
	}
	return bulkPlan{
		staging: []string{"kind smallint", "corp text", "staff text", "day date"},
		stage:   func(e Event) []any { return stageActivity(e, loc) },
		query: `SELECT corp, staff, day, ` + count(actAddedByStaff, actAddedByCustomer) + `, ` + count(actAddedByStaff) + `, ` +
			count(actAddedByCustomer) + `, ` + count(actDeletedByCustomer) + `, ` + count(actDeletedByStaff) + `, ` +
			count(actHandedIn) + `, ` + count(actHandedOut) + `, ` + count(actReconciled) + `
			FROM {s}.bulk_staging GROUP BY corp, staff, day ORDER BY corp, staff, day`,
		outputs: map[string][]string{
			"daily_staff_activity": {"corp_id", "staff_id", "day", "added", "added_by_staff", "added_by_customer",
				"deleted_by_customer", "deleted_by_staff", "handed_over_in", "handed_over_out", "reconciled"},
		},
		newFold: func() folder { return activityFold{} },
	}
}

func stageActivity(e Event, loc *time.Location) []any {
	var kind int16
	var staff string
	switch p := e.Payload.(type) {
	case *events.CustomerRelationStarted:
		staff = p.StaffID
		switch {
		case p.StartedBy == events.StartedByHandover:
			kind = actHandedIn
		case p.Initiator == events.InitiatorCustomer:
			kind = actAddedByCustomer
		default:
			kind = actAddedByStaff
		}
	case *events.CustomerRelationEnded:
		staff = p.StaffID
		switch p.Reason {
		case events.EndDeletedByCustomer:
			kind = actDeletedByCustomer
		case events.EndDeletedByStaff:
			kind = actDeletedByStaff
		case events.EndHandedOver:
			kind = actHandedOut
		default:
			kind = actReconciled
		}
	default:
		return nil
	}
	y, m, d := e.OccurredAt.In(loc).Date()
	return []any{kind, e.CorpID, staff, time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// activityFold copies each (corp, staff, day) group the query summed.
type activityFold struct{}

func (activityFold) add(rows pgx.Rows, out *bulkOut) error {
	var (
		corp, staff string
		day         time.Time
		c           [8]int64
	)
	if err := rows.Scan(&corp, &staff, &day, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7]); err != nil {
		return err
	}
	out.emit("daily_staff_activity", corp, staff, day, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7])
	return nil
}

func (activityFold) finish(*bulkOut) {}
