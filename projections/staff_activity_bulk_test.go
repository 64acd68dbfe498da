package projections

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/events"
)

// assertFoldEqualsApply builds ps both ways from src — folded
// (buildShadows) and applied by their statements, once event by event and
// once in one batch — and compares every table row for row. Unlike
// assertBulkEqualsApply it takes the projections (so an Activity with
// another Location can be compared) and does not need rows in every table.
func assertFoldEqualsApply(t *testing.T, pool *pgxpool.Pool, src Source, ps []Projection) {
	t.Helper()
	ctx := context.Background()
	recs, err := src.ReadAll(ctx, events.Start, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := decode(recs)
	if err != nil {
		t.Fatal(err)
	}
	var res RebuildResult
	if _, err := buildShadows(ctx, pool, src, ps, RebuildOptions{BatchSize: 3000, Fresh: true, Logger: discardLogger()}, &res); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if _, ok := planOf(p); !ok {
			t.Fatalf("%s does not rebuild in bulk", p.Name())
		}
		// The rebuild's rows are compared with the SQL implementation's
		// (the oracle, for a fold projection) and, for a fold projection,
		// with its live driver's; one event per transaction and all in one.
		type applier struct {
			p        Projection
			oneByOne bool
		}
		appliers := []applier{{oracle(t, p), true}, {oracle(t, p), false}}
		if _, ok := p.(foldProjection); ok {
			appliers = append(appliers, applier{p, true}, applier{p, false})
		}
		for k, a := range appliers {
			oneByOne := a.oneByOne
			schema := fmt.Sprintf("eq_apply_%s_%d", p.Name(), k)
			freshSchema(t, pool, schema, a.p)
			size := len(evs)
			if oneByOne {
				size = 1
			}
			applyEvents(t, pool, schema, a.p, evs, size)
			for _, tbl := range p.Tables() {
				want, got := tableDump(t, pool, schema, tbl), tableDump(t, pool, shadowSchema(p), tbl)
				if len(want) == 0 {
					t.Errorf("%s.%s: no rows", p.Name(), tbl)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s.%s (applied one by one: %v): folded %d rows, applied %d; first difference: %s",
						p.Name(), tbl, oneByOne, len(got), len(want), firstDiff(got, want))
				}
			}
		}
	}
}

// TestBulkEqualsApplyStaff compares the staff fold with Apply on what the
// generator never produces: relations and slots of a member who never
// joined (or before the join), a second join (counters kept, departure
// cleared), departures of an unknown member and twice in a row, relation
// changes and slot releases while departed, capacity changes of an unknown
// and a departed member, relations ended that never started (negative
// counters), erasures (twice, before the join, with a name joined after,
// of a member never seen), times that go backwards in log order, the same
// ids in two corps.
func TestBulkEqualsApplyStaff(t *testing.T) {
	w := newWorld(t)
	started := func(cust, staff string) *events.CustomerRelationStarted {
		return &events.CustomerRelationStarted{CustomerID: cust, StaffID: staff, Initiator: events.InitiatorStaff, StartedBy: events.StartedByAdd}
	}
	ended := func(cust, staff string) *events.CustomerRelationEnded {
		return &events.CustomerRelationEnded{CustomerID: cust, StaffID: staff, Reason: events.EndDeletedByStaff}
	}
	reserved := func(staff string) *events.StaffSlotReserved {
		return &events.StaffSlotReserved{StaffID: staff, CustomerID: "cu", Reason: events.SlotForAdd}
	}
	released := func(staff string) *events.StaffSlotReleased {
		return &events.StaffSlotReleased{StaffID: staff, CustomerID: "cu", Reason: events.SlotReleasedRelationEnded}
	}
	joined := func(staff, name string, capacity int) *events.StaffJoined {
		return &events.StaffJoined{StaffID: staff, Capacity: capacity, PII: events.StaffPII{Name: name}}
	}
	m := 0
	add := func(corp string, ps ...events.Payload) {
		for _, p := range ps {
			m++
			w.addAt(minute(m), corp, p)
		}
	}
	add("c1",
		// s1: counters before the join, a second join, relations while
		// departed, a re-join.
		started("cu1", "s1"), reserved("s1"), started("cu2", "s1"),
		joined("s1", "One", 10), &events.StaffCapacityChanged{StaffID: "s1", Capacity: 12},
		ended("cu1", "s1"), started("cu3", "s1"), joined("s1", "One again", 0),
		&events.StaffDeparted{StaffID: "s1"}, started("cu4", "s1"), ended("cu2", "s1"), released("s1"), reserved("s1"),
		&events.StaffCapacityChanged{StaffID: "s1", Capacity: 3},
		joined("s1", "Back", 7), started("cu5", "s1"), &events.StaffDeparted{StaffID: "s1"}, &events.StaffDeparted{StaffID: "s1"},
		// s2: only a departure; s3: only a capacity change; s4: only
		// counters, negative ones included; s5: joined, departed, then
		// a relation ended (unassigned goes negative).
		&events.StaffDeparted{StaffID: "s2"},
		&events.StaffCapacityChanged{StaffID: "s3", Capacity: 5},
		ended("cu6", "s4"), released("s4"), released("s4"),
		joined("s5", "Five", 1), &events.StaffDeparted{StaffID: "s5"}, ended("cu7", "s5"),
		// s6: a departure before the join: the relation started while
		// departed stays unassigned after it.
		&events.StaffDeparted{StaffID: "s6"}, started("cu8", "s6"), joined("s6", "Six", 2), started("cu9", "s6"),
		// s7: erased while active (name still readable: the key is not
		// gone yet), erased twice (erased_at kept), then serving on and
		// joining again with a name: the name stays blank. s8: erased
		// before anything else, then joined. s9: only an erasure.
		joined("s7", "Seven", 3), started("cu10", "s7"), &events.StaffErased{StaffID: "s7"}, reserved("s7"),
		&events.StaffErased{StaffID: "s7"}, &events.StaffDeparted{StaffID: "s7"}, joined("s7", "Seven again", 4),
		&events.StaffErased{StaffID: "s8"}, joined("s8", "Eight", 0),
		&events.StaffErased{StaffID: "s9"},
	)
	// The same ids in another corp, in another order.
	add("c2",
		joined("s1", "Other", 4), started("cu1", "s1"), &events.StaffDeparted{StaffID: "s2"}, reserved("s2"),
		&events.StaffDeparted{StaffID: "s1"}, joined("s2", "Two", 9),
	)
	// Times that go backwards: updated_at follows log order, not time.
	w.addAt(minute(1), "c1", started("cu10", "s3"))
	w.addAt(minute(2), "c2", &events.StaffCapacityChanged{StaffID: "s1", Capacity: 1})
	w.addAt(minute(3), "c1", joined("s4", "Four", 6))
	pool := newDB(t)
	assertFoldEqualsApply(t, pool, w.log, []Projection{Staff{}})

	// A few rows spelled out, so the comparison cannot pass with both
	// sides wrong the same way.
	assertRows(t, "staff", rows(t, pool, `SELECT corp_id, staff_id, name, status, capacity, joined_at, departed_at,
			active_customers, unassigned_customers, slots_used, erased, erased_at, updated_at
		FROM `+ident(shadowSchema(Staff{}))+`.staff ORDER BY corp_id, staff_id`), []string{
		"c1 s1 Back departed 7 m15 m18 0 3 1 false - m18",
		`c1 s2 "" departed 0 - m19 0 0 0 false - m19`,
		`c1 s3 "" unknown 5 - - 1 0 0 false - m1`,
		"c1 s4 Four active 6 m3 - -1 0 -2 false - m3",
		"c1 s5 Five departed 1 m24 m25 0 -1 0 false - m26",
		"c1 s6 Six active 2 m29 - 1 1 0 false - m30",
		`c1 s7 "" active 4 m37 - 0 1 1 true m33 m37`,
		`c1 s8 "" active 0 m39 - 0 0 0 true m38 m39`,
		`c1 s9 "" unknown 0 - - 0 0 0 true m40 m40`,
		"c2 s1 Other departed 1 m41 m45 0 1 0 false - m2",
		"c2 s2 Two active 9 m46 - 0 0 1 false - m46",
	})
}

// TestBulkEqualsApplyActivity compares the activity fold with Apply in UTC
// and in two other time zones (one with a daylight saving change), on
// events around midnight in each, every start and end kind (handovers
// started by a customer, an end without a known reason), and the same ids
// in two corps.
func TestBulkEqualsApplyActivity(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		newYork = time.FixedZone("UTC-5", -5*3600)
	}
	w := newWorld(t)
	started := func(cust, staff, initiator, by string) *events.CustomerRelationStarted {
		return &events.CustomerRelationStarted{CustomerID: cust, StaffID: staff, Initiator: initiator, StartedBy: by}
	}
	ended := func(cust, staff, reason string) *events.CustomerRelationEnded {
		return &events.CustomerRelationEnded{CustomerID: cust, StaffID: staff, Reason: reason}
	}
	ps := []events.Payload{
		started("cu1", "s1", events.InitiatorStaff, events.StartedByAdd),
		started("cu2", "s1", events.InitiatorCustomer, events.StartedByAdd),
		started("cu3", "s1", events.InitiatorCustomer, events.StartedByHandover),
		started("cu4", "s2", events.InitiatorStaff, events.StartedByHandover),
		ended("cu1", "s1", events.EndDeletedByCustomer),
		ended("cu2", "s1", events.EndDeletedByStaff),
		ended("cu3", "s1", events.EndHandedOver),
		ended("cu4", "s2", events.EndReconciled),
		ended("cu5", "s2", ""),
		&events.StaffJoined{StaffID: "s1"}, // not counted
	}
	// Around midnight in UTC, Shanghai and New York (before and after the
	// 2026-03-08 clock change), over several days.
	var ats []time.Time
	for d := range 10 {
		day := time.Date(2026, 3, 1+d, 0, 0, 0, 0, time.UTC)
		for _, h := range []time.Duration{-8 * time.Hour, -5 * time.Hour, -4 * time.Hour, 0} {
			ats = append(ats, day.Add(h-time.Minute), day.Add(h))
		}
	}
	for i, at := range ats {
		for _, corp := range []string{"c1", "c2"} {
			if corp == "c2" && i%3 == 0 {
				continue
			}
			w.addAt(at, corp, ps[(i*7+len(corp))%len(ps)])
			w.addAt(at, corp, ps[(i*3+1)%len(ps)])
		}
	}
	for _, loc := range []*time.Location{nil, time.FixedZone("UTC+8", 8*3600), newYork} {
		t.Run(fmt.Sprint(loc), func(t *testing.T) {
			pool := newDB(t)
			a := Activity{Location: loc}
			assertFoldEqualsApply(t, pool, w.log, []Projection{a})
			// The days follow the Location: the fold of another one differs.
			var n int
			err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+ident(shadowSchema(a))+`.daily_staff_activity
				WHERE corp_id = 'c1' AND staff_id = 's1' AND day = '2026-03-05'`).Scan(&n)
			if err != nil || n != 1 {
				t.Fatalf("rows of c1 s1 on 2026-03-05: %d (%v)", n, err)
			}
		})
	}
}
