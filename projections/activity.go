package projections

import (
	"fmt"
	"sync"
	"time"

	"github.com/custody/custody/events"
)

// Activity is the "activity" projection: table daily_staff_activity, adds
// and churn per staff member and day (by the event's occurred_at). Churn is
// split by who ended the relation: deleted_by_customer (the customer deleted
// the staff member, 流失) and deleted_by_staff.
//
// It is a fold projection (see foldProjection): one fold per (member, day)
// counting relation starts and ends; a day has a row when it has an event.
type Activity struct {
	// Location buckets events into days; nil means UTC. Changing it needs a
	// rebuild of the projection.
	Location *time.Location
}

// Name implements Projection.
func (Activity) Name() string { return "activity" }

// Tables implements Projection.
func (Activity) Tables() []string { return []string{"daily_staff_activity"} }

// Migrations implements Projection.
func (Activity) Migrations() []string { return migrations("activity") }

// Apply implements Projection: it hands e's fact to w's fold.
func (a Activity) Apply(w *Writer, e Event) error { return w.addFacts(a, []Event{e}) }

// Kinds of activity facts: which counters an event adds to.
const (
	actAddedByStaff    int16 = iota + 1 // added, added_by_staff
	actAddedByCustomer                  // added, added_by_customer
	actHandedIn                         // handed_over_in
	actDeletedByCustomer
	actDeletedByStaff
	actHandedOut
	actReconciled
)

// activityDefinitions holds the definition per Location.
var activityDefinitions sync.Map // location name → *definition

func (a Activity) definition() *definition {
	loc := a.Location
	if loc == nil {
		loc = time.UTC
	}
	if d, ok := activityDefinitions.Load(loc.String()); ok {
		return d.(*definition)
	}
	d, _ := activityDefinitions.LoadOrStore(loc.String(), prepared(&definition{
		// The day is a key: staged as text (YYYY-MM-DD).
		staging: []string{"kind smallint", "corp text", "staff text", "day text", "cpos bigint", "ppos bigint"},
		key:     []string{"corp", "staff", "day"},
		fact:    func(e Event) []any { return activityFact(e, loc) },
		tables: []foldTable{{
			name: "daily_staff_activity",
			cols: []string{"corp_id text", "staff_id text", "day date", "added bigint", "added_by_staff bigint", "added_by_customer bigint",
				"deleted_by_customer bigint", "deleted_by_staff bigint", "handed_over_in bigint", "handed_over_out bigint", "reconciled bigint"},
			pk:  []string{"corp_id", "staff_id", "day"},
			key: []string{"corp_id", "staff_id", "day"},
		}},
		newFold: func() keyFold { return &activityFold{} },
	}))
	return d.(*definition)
}

func activityFact(e Event, loc *time.Location) []any {
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
	if y < 1 {
		// Not a date PostgreSQL takes as written: the corp is parked.
		panic(fmt.Sprintf("projections: activity: day in year %d", y))
	}
	return []any{kind, e.CorpID, staff, fmt.Sprintf("%04d-%02d-%02d", y, m, d), int64(e.Position.Commit), int64(e.Position.Prepare)}
}

// activityFold is one (corp, staff, day) row: its counters only add up.
type activityFold struct {
	key    foldKey
	exists bool
	// added, added_by_staff, added_by_customer, deleted_by_customer,
	// deleted_by_staff, handed_over_in, handed_over_out, reconciled
	c [8]int64
}

func (f *activityFold) seed(k foldKey, rows map[string][][]any) {
	*f = activityFold{key: k}
	for _, r := range rows["daily_staff_activity"] {
		f.exists = true
		for i := range f.c {
			f.c[i] = vInt(r, 3+i)
		}
	}
}

func (f *activityFold) add(r []any) error {
	switch vKind(r) {
	case actAddedByStaff:
		f.c[0]++
		f.c[1]++
	case actAddedByCustomer:
		f.c[0]++
		f.c[2]++
	case actDeletedByCustomer:
		f.c[3]++
	case actDeletedByStaff:
		f.c[4]++
	case actHandedIn:
		f.c[5]++
	case actHandedOut:
		f.c[6]++
	case actReconciled:
		f.c[7]++
	default:
		return fmt.Errorf("unknown activity fact kind %d", vKind(r))
	}
	f.exists = true
	return nil
}

func (f *activityFold) finish(out *bulkOut) {
	if !f.exists {
		return
	}
	var y, m, d int
	if _, err := fmt.Sscanf(f.key[2], "%d-%d-%d", &y, &m, &d); err != nil {
		panic("projections: activity: day key " + f.key[2])
	}
	day := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	out.emit("daily_staff_activity", f.key[0], f.key[1], day, f.c[0], f.c[1], f.c[2], f.c[3], f.c[4], f.c[5], f.c[6], f.c[7])
}
