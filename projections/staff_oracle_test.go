package projections

import (
	"slices"
	"time"

	"github.com/custody/custody/events"
)

// legacyStaff is the SQL implementation of the staff projection that its
// fold replaced, kept as the test oracle of the fold (see oracles).
type legacyStaff struct{}

func (legacyStaff) Name() string                     { return Staff{}.Name() }
func (legacyStaff) Tables() []string                 { return Staff{}.Tables() }
func (legacyStaff) Migrations() []string             { return Staff{}.Migrations() }
func (s legacyStaff) Apply(w *Writer, e Event) error { return s.applyBatch(w, []Event{e}) }

// staffDelta is the pending change to one member's counters.
type staffDelta struct {
	corp, staff string
	active      int // relations started minus ended
	slots       int // slots reserved minus released
	at          time.Time
}

// applyBatch sums the counter changes (relations started and ended, slots
// reserved and released) per member and writes them with one statement.
// Whether a relation counts as active or unassigned depends on the member's
// status, so a member's pending sum is written before an event that changes
// the status (joined, departed); sums never span a status change and the
// result equals applying the events one by one.
func (legacyStaff) applyBatch(w *Writer, evs []Event) error {
	type key struct{ corp, staff string }
	var order []key
	pending := map[key]*staffDelta{}
	add := func(e Event, staff string, active, slots int) {
		k := key{e.CorpID, staff}
		d, ok := pending[k]
		if !ok {
			d = &staffDelta{corp: e.CorpID, staff: staff}
			pending[k] = d
			order = append(order, k)
		}
		d.active += active
		d.slots += slots
		d.at = e.OccurredAt
	}
	flush := func(ks []key) {
		if len(ks) == 0 {
			return
		}
		corps, staff := make([]string, len(ks)), make([]string, len(ks))
		active, slots := make([]int64, len(ks)), make([]int64, len(ks))
		ats := make([]time.Time, len(ks))
		for i, k := range ks {
			d := pending[k]
			corps[i], staff[i], active[i], slots[i], ats[i] = d.corp, d.staff, int64(d.active), int64(d.slots), d.at
			delete(pending, k)
		}
		w.Queue(`INSERT INTO {s}.staff AS st (corp_id, staff_id, active_customers, unassigned_customers, slots_used, updated_at)
			SELECT c, s, a, 0, sl, at FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) AS u(c, s, a, sl, at)
			ON CONFLICT (corp_id, staff_id) DO UPDATE SET
				active_customers = st.active_customers + CASE WHEN st.status = 'departed' THEN 0 ELSE excluded.active_customers END,
				unassigned_customers = st.unassigned_customers + CASE WHEN st.status = 'departed' THEN excluded.active_customers ELSE 0 END,
				slots_used = st.slots_used + excluded.slots_used,
				updated_at = excluded.updated_at`,
			corps, staff, active, slots, ats)
	}
	flushOne := func(e Event, staff string) {
		k := key{e.CorpID, staff}
		if _, ok := pending[k]; ok {
			flush([]key{k})
			order = slices.DeleteFunc(order, func(x key) bool { return x == k })
		}
	}
	for _, e := range evs {
		corp, at := e.CorpID, e.OccurredAt
		switch p := e.Payload.(type) {
		case *events.StaffJoined:
			flushOne(e, p.StaffID)
			w.Queue(`INSERT INTO {s}.staff AS st (corp_id, staff_id, name, status, capacity, joined_at, updated_at)
				VALUES ($1, $2, $3, 'active', $4, $5, $5)
				ON CONFLICT (corp_id, staff_id) DO UPDATE SET name = CASE WHEN st.erased THEN '' ELSE excluded.name END, status = 'active',
					capacity = excluded.capacity, joined_at = excluded.joined_at, departed_at = NULL, updated_at = excluded.updated_at`,
				corp, p.StaffID, p.PII.Name, p.Capacity, at)
		case *events.StaffDeparted:
			flushOne(e, p.StaffID)
			w.Queue(`INSERT INTO {s}.staff AS st (corp_id, staff_id, status, departed_at, updated_at)
				VALUES ($1, $2, 'departed', $3, $3)
				ON CONFLICT (corp_id, staff_id) DO UPDATE SET status = 'departed', departed_at = excluded.departed_at,
					unassigned_customers = st.unassigned_customers + st.active_customers, active_customers = 0,
					updated_at = excluded.updated_at`, corp, p.StaffID, at)
		case *events.StaffErased:
			flushOne(e, p.StaffID)
			w.Queue(`INSERT INTO {s}.staff AS st (corp_id, staff_id, erased, erased_at, updated_at) VALUES ($1, $2, true, $3, $3)
				ON CONFLICT (corp_id, staff_id) DO UPDATE SET name = '', erased = true,
					erased_at = coalesce(st.erased_at, excluded.erased_at), updated_at = excluded.updated_at`,
				corp, p.StaffID, at)
		case *events.StaffCapacityChanged:
			// Capacity does not affect the counters; the pending sum may
			// stay, but updated_at must keep event order: flush first.
			flushOne(e, p.StaffID)
			w.Queue(`INSERT INTO {s}.staff AS st (corp_id, staff_id, capacity, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (corp_id, staff_id) DO UPDATE SET capacity = excluded.capacity, updated_at = excluded.updated_at`,
				corp, p.StaffID, p.Capacity, at)
		case *events.StaffSlotReserved:
			add(e, p.StaffID, 0, 1)
		case *events.StaffSlotReleased:
			add(e, p.StaffID, 0, -1)
		case *events.CustomerRelationStarted:
			add(e, p.StaffID, 1, 0)
		case *events.CustomerRelationEnded:
			add(e, p.StaffID, -1, 0)
		}
	}
	flush(order)
	return nil
}
