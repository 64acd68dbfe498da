package projections

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/custody/custody/events"
)

// TestOutreachSpacesMatchTables checks the definitions of outreach's live
// key spaces against the migrated tables: every column of a table is
// emitted with its type and the primary key is the table's.
func TestOutreachSpacesMatchTables(t *testing.T) {
	pool := newDB(t)
	ctx := context.Background()
	var names []string
	for _, s := range outreachSpaces {
		for _, ft := range s.d.tables {
			names = append(names, ft.name)
			got := rows(t, pool, `SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
				FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = 'projections' AND c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attname`, ft.name)
			var want []string
			for _, c := range ft.cols {
				name, typ, _ := strings.Cut(c, " ")
				typ = strings.NewReplacer("timestamptz", "timestamp with time zone").Replace(typ)
				want = append(want, name+" "+typ)
			}
			slices.Sort(want)
			assertRows(t, s.name+"."+ft.name+" columns", got, want)
			var pk []string
			err := pool.QueryRow(ctx, `SELECT array_agg(a.attname::text ORDER BY k.ord)
				FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace,
				unnest(x.indkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attnum = k.attnum
				WHERE x.indisprimary AND n.nspname = 'projections' AND c.relname = $1 AND a.attrelid = c.oid`, ft.name).Scan(&pk)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pk, ft.pk) {
				t.Errorf("%s.%s: primary key %v, definition %v", s.name, ft.name, pk, ft.pk)
			}
		}
	}
	if want := []string{"outreach_customers", "outreach_audience", "outreach_group_members", "outreach_messages"}; !slices.Equal(names, want) {
		t.Errorf("the spaces write %v, want %v", names, want)
	}
}

// TestOutreachDepartureReachesPairsOfItsBatch checks a departure against
// the old statements where the batch itself created the member's pairs
// (by a relation, by a moments opt-out or opt-in, one stored before),
// every event in one batch and each in its own.
func TestOutreachDepartureReachesPairsOfItsBatch(t *testing.T) {
	w := newWorld(t)
	w.add(0, started("cu1", "s1", "web"))
	w.add(0, &events.MomentsOptedOut{CustomerID: "cu2", StaffID: "s1"})
	w.add(0, &events.MomentsOptedIn{CustomerID: "cu3", StaffID: "s1"})
	w.add(0, &events.MomentsOptedOut{CustomerID: "cu3", StaffID: "s2"})
	w.add(0, started("cu4", "s2", "web"))
	w.add(0, &events.StaffDeparted{StaffID: "s1"})
	w.add(0, &events.MomentsOptedOut{CustomerID: "cu5", StaffID: "s1"})
	w.add(0, started("cu4", "s1", "web"))
	w.add(0, &events.StaffDeparted{StaffID: "s2"})
	recs, err := w.log.ReadAll(context.Background(), events.Start, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := decode(recs)
	if err != nil {
		t.Fatal(err)
	}
	pool := newDB(t)
	freshSchema(t, pool, "oracle", sqlOutreach{})
	applyEvents(t, pool, "oracle", sqlOutreach{}, evs, 1)
	departed := rows(t, pool, `SELECT customer_id || ' ' || staff_id FROM oracle.outreach_audience WHERE staff_departed ORDER BY 1`)
	assertRows(t, "departed pairs (oracle)", departed, []string{"cu1 s1", "cu2 s1", "cu3 s1", "cu3 s2", "cu4 s2"})
	for _, n := range []int{1, 3, len(evs)} {
		schema := "live_" + strconv.Itoa(n)
		freshSchema(t, pool, schema, Outreach{})
		applyEvents(t, pool, schema, Outreach{}, evs, n)
		for _, tbl := range []string{"outreach_audience", "outreach_reach", "outreach_counts"} {
			if got, want := tableDump(t, pool, schema, tbl), tableDump(t, pool, "oracle", tbl); !slices.Equal(got, want) {
				t.Errorf("%s in batches of %d: %s", tbl, n, firstDiff(got, want))
			}
		}
	}
}
