package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/events"
)

// divided reports whether the runners ls (applying the fold projections
// in parts partitions) together own every unit of ps, each once, each
// runner a share of the work: the units' weights (a whole projection
// weighs parts, a partition 1) divided evenly but for two whole
// projections' weight (a runner may take its share beyond by one
// unit).
func divided(t testing.TB, ps []Projection, parts int, ls ...*leased) bool {
	t.Helper()
	units := unitsOf(ps, parts)
	weights := unitWeights(units, parts)
	// Two runners may both list a unit being handed over between them
	// (read one after the other): not divided yet. The tests' tables and
	// counts show that nothing is applied twice.
	owned := map[string][]string{}
	seen := map[string]bool{}
	for _, l := range ls {
		for _, o := range l.r.Owned() {
			if seen[o.Name] {
				return false
			}
			seen[o.Name] = true
			owned[l.name] = append(owned[l.name], o.Name)
		}
	}
	n, total := 0, 0
	weight := func(u string) int {
		if w, ok := weights[u]; ok {
			return w
		}
		return 1
	}
	for _, u := range units {
		total += weight(u.Name())
	}
	for _, l := range ls {
		w := 0
		for _, u := range owned[l.name] {
			w += weight(u)
			n++
		}
		if fair := total / len(ls); w <= fair-2*parts || w >= fair+2*parts {
			return false
		}
	}
	return n == len(units)
}

// assertPartitionsAt checks that every fold projection is divided into
// parts partitions, each at last having consumed every event since the
// projection's row (where they started).
func assertPartitionsAt(t *testing.T, db *pgxpool.Pool, parts int, last events.Position, total int64) {
	t.Helper()
	var folds []string
	for _, p := range All() {
		if partitioned(p, parts) {
			folds = append(folds, p.Name())
		}
	}
	rows, err := readCheckpointRows(context.Background(), db, folds, true, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range folds {
		base := rows[name]
		if base.Partitions != parts {
			t.Errorf("%s is divided into %d partitions, want %d", name, base.Partitions, parts)
		}
		for i := range parts {
			cp, ok := rows[partName(name, i, parts)]
			if !ok {
				t.Errorf("%s: no row", partName(name, i, parts))
				continue
			}
			if cp.Position != last || base.EventsApplied+cp.EventsApplied != total {
				t.Errorf("%s: at %s having applied %d events after %d, want %s and %d in all", cp.Name, cp.Position,
					cp.EventsApplied, base.EventsApplied, last, total)
			}
		}
	}
	var stray int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM projections.projection_checkpoints
		WHERE partition_of IS NOT NULL AND parts <> $1`, parts).Scan(&stray); err != nil || stray != 0 {
		t.Errorf("%d partition rows of another number of partitions left (%v)", stray, err)
	}
}

// TestLeasePartitionsDivideTheWork: three runners applying the fold
// projections in 4 partitions share the 35 units (their weights evenly:
// a whole projection weighs 4 partitions) while a history
// is appended and tailed live; the partitions of each fold projection
// are applied by more than one runner, every event is applied once to
// each partition (and so to each projection), and the tables equal a
// clean rebuild. A rebuild swapping every projection meanwhile moves the
// partitions' checkpoints with the projections'. Status reports each
// projection where its slowest partition stands, with the partitions'
// owners.
func TestLeasePartitionsDivideTheWork(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	log := memlog.New()
	const parts = 4
	// The runners join one after the other, each once the ones before
	// have divided the units: the division then goes the same way every
	// time (the first holds every unit, and each one joining takes the
	// units the others release, the last in their order), whichever
	// runner's heartbeat the machine happens to run first.
	var ls []*leased
	for _, n := range []string{"runner-a", "runner-b", "runner-c"} {
		l := newLeasedTTL(t, db, log, n, 300, parts, steadyTTL)
		l.start()
		ls = append(ls, l)
		until(t, func() bool { return divided(t, All(), parts, ls...) })
	}
	n, err := generate(ctx, log, genOptions{Corp: "c1", Events: 6000, Writers: 6, Staff: 20, Customers: 80, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Rebuild(ctx, db, log, All(), RebuildOptions{BatchSize: 1000, Logger: discardLogger()}); err != nil {
		t.Fatal(err)
	}
	m, err := generate(ctx, log, genOptions{Corp: "c2", Events: 2000, Writers: 3, Staff: 10, Customers: 40, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	assertAppliedOnce(t, db, log, n+m)
	last := lastPosition(t, log)
	assertPartitionsAt(t, db, parts, last, n+m)
	for _, l := range ls {
		if l.commits.Load() == 0 {
			t.Errorf("%s committed no batch", l.name)
		}
	}
	for _, p := range All() {
		if !partitioned(p, parts) {
			continue
		}
		// Over the run: on a loaded machine the units may change hands
		// (a heartbeat late beyond the TTL) and end up anywhere.
		var by []string
		for _, l := range ls {
			for _, u := range l.committedUnits() {
				if ProjectionOf(u) == p.Name() && u != p.Name() && !slices.Contains(by, l.name) {
					by = append(by, l.name)
				}
			}
		}
		if len(by) < 2 {
			var held []string
			for _, l := range ls {
				held = append(held, fmt.Sprintf("%s: %v", l.name, l.committedUnits()))
			}
			t.Errorf("the partitions of %s are applied by %v, want at least two runners (units held at commits: %s)", p.Name(), by, strings.Join(held, "; "))
		}
	}
	lags, err := Status(ctx, db, log, All(), StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lags {
		wantParts, wantOwners := 1, 0
		if partitioned(projectionNamed(t, l.Name), parts) {
			wantParts, wantOwners = parts, parts
		}
		if l.Partitions != wantParts || len(l.PartitionOwners) != wantOwners || l.Position != last || l.EventsBehind != 0 || l.EventsApplied != n+m {
			t.Errorf("status of %s: %d partitions, %d partition owners, at %s, %d behind, %d applied; want %d, %d, %s, 0, %d",
				l.Name, l.Partitions, len(l.PartitionOwners), l.Position, l.EventsBehind, l.EventsApplied, wantParts, wantOwners, last, n+m)
		}
		if (l.Owner != nil) == (wantParts > 1) {
			t.Errorf("status of %s: owner %v with %d partitions", l.Name, l.Owner, wantParts)
		}
	}
	for _, l := range ls {
		l.stop(t)
	}
	if got := liveOwners(t, db); len(got) != 0 {
		t.Errorf("after a graceful stop still owned: %v", got)
	}
}

func projectionNamed(t *testing.T, name string) Projection {
	t.Helper()
	ps, err := Lookup(All(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ps[0]
}

// TestLeasePartitionStaleOwnerNeverApplies: a runner whose partition was
// taken over applies a batch to the other partitions only: the taken
// partition's checkpoint stays, none of its keys' rows is written, and
// the projection stands where that partition stands.
func TestLeasePartitionStaleOwnerNeverApplies(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	log := memlog.New()
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: 1500, Writers: 2, Staff: 6, Customers: 30, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	const parts = 4
	l := newLeasedParts(t, db, log, "stale", 500, parts)
	if err := l.r.ensurePartitions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.r.lease.beat(ctx); err != nil {
		t.Fatal(err)
	}
	epochs, _ := l.r.lease.snapshot()
	if len(epochs) != len(unitsOf(All(), parts)) {
		t.Fatalf("alone, the runner owns %d units, want %d", len(epochs), len(unitsOf(All(), parts)))
	}
	recs, err := log.ReadAll(ctx, events.Start, 500)
	if err != nil {
		t.Fatal(err)
	}
	taken := partName("relations", 1, parts)
	if _, err := db.Exec(ctx, `UPDATE projections.projection_owners SET instance = 'newer', epoch = epoch + 1 WHERE projection = $1`, taken); err != nil {
		t.Fatal(err)
	}
	if err := l.r.applyBatch(ctx, l.r.owned(epochs), recs); err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1].Position
	units, err := readCheckpointRows(ctx, db, names(unitsOf(All(), parts)), false, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, cp := range units {
		if name == taken {
			if cp.Position != events.Start || cp.EventsApplied != 0 {
				t.Errorf("%s, taken over, was applied by its stale owner: at %s, %d events", name, cp.Position, cp.EventsApplied)
			}
			continue
		}
		if cp.Position != last || cp.EventsApplied != int64(len(recs)) {
			t.Errorf("%s: at %s with %d events, want %s and %d", name, cp.Position, cp.EventsApplied, last, len(recs))
		}
	}
	if cp := storedCheckpoints(t, db)["relations"]; cp.Position != events.Start {
		t.Errorf("relations stands at %s, want where its slowest partition stands (the start)", cp.Position)
	}
	byPart := map[int]int{}
	rs, err := db.Query(ctx, `SELECT corp_id, customer_id, staff_id FROM projections.relations`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var k foldKey
		if err := rs.Scan(&k[0], &k[1], &k[2]); err != nil {
			t.Fatal(err)
		}
		byPart[keyPart(k, parts)]++
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if byPart[1] != 0 || byPart[0] == 0 || byPart[2] == 0 || byPart[3] == 0 {
		t.Errorf("relations rows by partition %v: want none of partition 1, some of each other", byPart)
	}
	if slices.ContainsFunc(l.r.Owned(), func(o Owned) bool { return o.Name == taken }) {
		t.Errorf("the stale owner still believes it owns %s", taken)
	}
}

// TestLeasePartitionTakeoverAfterKill: TestLeaseTakeoverAfterKill with
// the fold projections in 3 partitions: the killed runner's partitions
// go to the two others after its TTL, its batch is rolled back and
// nothing is applied twice.
func TestLeasePartitionTakeoverAfterKill(t *testing.T) {
	db := newDB(t)
	log := memlog.New()
	const parts = 3
	a := newLeasedParts(t, db, log, "runner-a", 200, parts)
	b := newLeasedParts(t, db, log, "runner-b", 200, parts)
	c := newLeasedParts(t, db, log, "runner-c", 200, parts)
	k := killInBatch(t, db, log, a, []*leased{a, b, c}, func() bool { return divided(t, All(), parts, a, b, c) })
	until(t, func() bool { return len(liveOwners(t, db)["runner-a"]) == 0 && divided(t, All(), parts, b, c) })
	assertAppliedOnce(t, db, log, k.events)
	assertPartitionsAt(t, db, parts, lastPosition(t, log), k.events)
	k.assertTakenOver(t, db)
	b.stop(t)
	c.stop(t)
}

// TestLeasePartitionsRebalance: TestLeaseRebalances with the fold
// projections in 4 partitions: a runner alone owns every unit; the
// second and third get their shares of units; one stopping hands its
// units over at once.
func TestLeasePartitionsRebalance(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	log := memlog.New()
	const parts = 4
	n, err := generate(ctx, log, genOptions{Corp: "c1", Events: 3000, Writers: 3, Staff: 10, Customers: 40, Seed: 21})
	if err != nil {
		t.Fatal(err)
	}
	a := newLeasedParts(t, db, log, "runner-a", 400, parts)
	a.start()
	until(t, func() bool { return len(a.r.Owned()) == len(unitsOf(All(), parts)) })
	assertAppliedOnce(t, db, log, n)

	b := newLeasedParts(t, db, log, "runner-b", 400, parts)
	b.start()
	until(t, func() bool { return divided(t, All(), parts, a, b) })
	c := newLeasedParts(t, db, log, "runner-c", 400, parts)
	c.start()
	until(t, func() bool { return divided(t, All(), parts, a, b, c) })
	m, err := generate(ctx, log, genOptions{Corp: "c2", Events: 1500, Writers: 2, Staff: 6, Customers: 30, Seed: 22})
	if err != nil {
		t.Fatal(err)
	}
	assertAppliedOnce(t, db, log, n+m)

	b.stop(t)
	until(t, func() bool { return divided(t, All(), parts, a, c) })
	k, err := generate(ctx, log, genOptions{Corp: "c3", Events: 1500, Writers: 2, Staff: 6, Customers: 30, Seed: 23})
	if err != nil {
		t.Fatal(err)
	}
	assertAppliedOnce(t, db, log, n+m+k)
	assertPartitionsAt(t, db, parts, lastPosition(t, log), n+m+k)
	a.stop(t)
	c.stop(t)
}

// TestPartitionsChange: the number of partitions changes on a database
// that has applied part of the log: whole → 4 partitions → (partitions
// left at different checkpoints) 2 → whole. Each runner re-divides the
// projections from where they stand, bringing lagging partitions level
// first; a batch of a runner applying a projection whole while it is
// divided fails with ErrPartitionsChanged. Every event is applied once
// and the tables equal a clean rebuild at each step.
func TestPartitionsChange(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	log := memlog.New()
	runner := func(parts int) *Runner {
		r, err := NewRunner(db, log, Options{BatchSize: 250, Logger: discardLogger(), Partitions: parts})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var total int64
	gen := func(seed uint64) {
		n, err := generate(ctx, log, genOptions{Corp: fmt.Sprintf("c%d", seed), Events: 1500, Writers: 3, Staff: 8, Customers: 40, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	catchUp := func(r *Runner) {
		if _, err := r.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}

	gen(31)
	catchUp(runner(1))
	gen(32)
	r4 := runner(4)
	catchUp(r4)
	assertAppliedOnce(t, db, log, total)
	assertPartitionsAt(t, db, 4, lastPosition(t, log), total)

	// Some partitions ahead of the others: r4 applies only partitions 0
	// and 1 of each fold projection.
	gen(33)
	var some []Projection
	for _, u := range r4.units {
		if v, ok := u.(partView); ok && v.part < 2 {
			some = append(some, u)
		}
	}
	if _, err := r4.catchUp(ctx, applySet{ps: some}); err != nil {
		t.Fatal(err)
	}
	r1 := runner(1)
	recs, err := log.ReadAll(ctx, events.Start, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.applyBatch(ctx, applySet{ps: r1.units}, recs); !errors.Is(err, ErrPartitionsChanged) {
		t.Fatalf("a batch applying divided projections whole: %v, want ErrPartitionsChanged", err)
	}
	catchUp(runner(2))
	assertAppliedOnce(t, db, log, total)
	assertPartitionsAt(t, db, 2, lastPosition(t, log), total)

	gen(34)
	catchUp(r1)
	assertAppliedOnce(t, db, log, total)
	var left, divided int
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE partition_of IS NOT NULL), count(*) FILTER (WHERE parts <> 1)
		FROM projections.projection_checkpoints`).Scan(&left, &divided); err != nil {
		t.Fatal(err)
	}
	if left != 0 || divided != 0 {
		t.Errorf("back to whole projections: %d partition rows, %d rows divided", left, divided)
	}
}
