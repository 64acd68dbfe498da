package projections

import (
	"time"

	"github.com/custody/custody/events"
)

// legacyActivity is the SQL implementation of the activity projection
// that its fold replaced, kept as the test oracle of the fold (see
// oracles).
type legacyActivity struct{ Location *time.Location }

func (legacyActivity) Name() string                     { return Activity{}.Name() }
func (legacyActivity) Tables() []string                 { return Activity{}.Tables() }
func (legacyActivity) Migrations() []string             { return Activity{}.Migrations() }
func (a legacyActivity) Apply(w *Writer, e Event) error { return a.applyBatch(w, []Event{e}) }

type activityKey struct {
	corp, staff string
	day         time.Time
}

// applyBatch adds up a batch's counters per staff member and day in memory
// and writes them with one statement: the counters only ever add up, so
// the result is the same as applying the events one by one.
func (a legacyActivity) applyBatch(w *Writer, evs []Event) error {
	loc := a.Location
	if loc == nil {
		loc = time.UTC
	}
	var keys []activityKey
	// added, by staff, by customer, deleted by customer, deleted by staff, handed in, handed out, reconciled
	sums := map[activityKey]*[8]int{}
	for _, e := range evs {
		var staff string
		var c [8]int
		switch p := e.Payload.(type) {
		case *events.CustomerRelationStarted:
			staff = p.StaffID
			if p.StartedBy == events.StartedByHandover {
				c[5] = 1
			} else {
				c[0] = 1
				if p.Initiator == events.InitiatorCustomer {
					c[2] = 1
				} else {
					c[1] = 1
				}
			}
		case *events.CustomerRelationEnded:
			staff = p.StaffID
			switch p.Reason {
			case events.EndDeletedByCustomer:
				c[3] = 1
			case events.EndDeletedByStaff:
				c[4] = 1
			case events.EndHandedOver:
				c[6] = 1
			default:
				c[7] = 1
			}
		default:
			continue
		}
		y, m, d := e.OccurredAt.In(loc).Date()
		k := activityKey{e.CorpID, staff, time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
		s, ok := sums[k]
		if !ok {
			s = new([8]int)
			sums[k] = s
			keys = append(keys, k)
		}
		for i := range c {
			s[i] += c[i]
		}
	}
	if len(keys) == 0 {
		return nil
	}
	corps, staff, days := make([]string, len(keys)), make([]string, len(keys)), make([]time.Time, len(keys))
	var cols [8][]int64
	for i, k := range keys {
		corps[i], staff[i], days[i] = k.corp, k.staff, k.day
		for j, v := range sums[k] {
			cols[j] = append(cols[j], int64(v))
		}
	}
	w.Queue(`INSERT INTO {s}.daily_staff_activity AS a (corp_id, staff_id, day, added, added_by_staff, added_by_customer,
			deleted_by_customer, deleted_by_staff, handed_over_in, handed_over_out, reconciled)
		SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
		ON CONFLICT (corp_id, staff_id, day) DO UPDATE SET
			added = a.added + excluded.added,
			added_by_staff = a.added_by_staff + excluded.added_by_staff,
			added_by_customer = a.added_by_customer + excluded.added_by_customer,
			deleted_by_customer = a.deleted_by_customer + excluded.deleted_by_customer,
			deleted_by_staff = a.deleted_by_staff + excluded.deleted_by_staff,
			handed_over_in = a.handed_over_in + excluded.handed_over_in,
			handed_over_out = a.handed_over_out + excluded.handed_over_out,
			reconciled = a.reconciled + excluded.reconciled`,
		corps, staff, days, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7])
	return nil
}
