package projections

import (
	"context"
	"errors"
	"github.com/custody/custody/adapters/testkit/poll"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/events"
)

// poolAs opens another pool on pool's database whose sessions carry name
// as their application_name: a runner's own connections, as another
// process would have them.
func poolAs(t testing.TB, pool *pgxpool.Pool, name string) *pgxpool.Pool {
	t.Helper()
	cfg := pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	cfg.MaxConns = 4
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// leased is a runner with a lease on its own pool, running until stop.
type leased struct {
	name    string
	pool    *pgxpool.Pool
	r       *Runner
	commits atomic.Int64
	cancel  context.CancelFunc
	done    chan error
	stopped bool // stop took Run's result (the test's goroutine only)

	mu sync.Mutex
	// committedAs: the units the runner owned when it committed a batch,
	// over its whole run.
	committedAs map[string]bool
}

// committedUnits lists the units the runner owned when it committed a
// batch.
func (l *leased) committedUnits() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.committedAs))
}

const testTTL = 400 * time.Millisecond

func newLeased(t testing.TB, db *pgxpool.Pool, src Source, name string, batch int) *leased {
	t.Helper()
	return newLeasedParts(t, db, src, name, batch, 1)
}

// newLeasedParts is newLeased applying the fold projections in parts
// partitions.
func newLeasedParts(t testing.TB, db *pgxpool.Pool, src Source, name string, batch, parts int) *leased {
	t.Helper()
	return newLeasedTTL(t, db, src, name, batch, parts, testTTL)
}

// steadyTTL is the lease of the tests about how the work is divided,
// which kill no runner: long enough that a loaded machine (-race, other
// packages' tests) delaying a heartbeat beyond it does not hand units
// around in the middle of the test, as testTTL may.
const steadyTTL = 2 * time.Second

// newLeasedTTL is newLeasedParts with a lease of ttl (heartbeats every
// ttl/8).
func newLeasedTTL(t testing.TB, db *pgxpool.Pool, src Source, name string, batch, parts int, ttl time.Duration) *leased {
	t.Helper()
	l := &leased{name: name, pool: poolAs(t, db, name), done: make(chan error, 1), committedAs: map[string]bool{}}
	var err error
	l.r, err = NewRunner(l.pool, src, Options{BatchSize: batch, Logger: discardLogger(), Partitions: parts,
		RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond,
		Lease: &LeaseOptions{Instance: name, TTL: ttl, Heartbeat: ttl / 8}})
	if err != nil {
		t.Fatal(err)
	}
	l.r.afterCommit = func(events.Position) {
		l.commits.Add(1)
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, o := range l.r.Owned() {
			l.committedAs[o.Name] = true
		}
	}
	// A test that failed before stopping its runners stops them here,
	// before their pools close.
	t.Cleanup(func() {
		if l.cancel != nil && !l.stopped {
			l.cancel()
			<-l.done
		}
	})
	return l
}

func (l *leased) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- l.r.Run(ctx) }()
}

// stop stops the runner gracefully and checks how Run ended.
func (l *leased) stop(t testing.TB) {
	t.Helper()
	l.cancel()
	l.stopped = true
	if err := <-l.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: Run: %v", l.name, err)
	}
}

// until polls cond until it holds (see poll.Until).
func until(t testing.TB, cond func() bool) {
	t.Helper()
	poll.Until(t, "the condition waited for", cond)
}

// liveOwners maps each live, unreleased owner to its projections.
func liveOwners(t testing.TB, db *pgxpool.Pool) map[string][]string {
	t.Helper()
	os, err := Owners(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, o := range os {
		if o.Alive && !o.Released {
			out[o.Instance] = append(out[o.Instance], o.Projection)
		}
	}
	return out
}

// sizes is the number of projections of each live owner, sorted.
func sizes(m map[string][]string) []int {
	var out []int
	for _, ps := range m {
		out = append(out, len(ps))
	}
	slices.Sort(out)
	return out
}

// sharesAre reports whether the runners ls believe they own units in
// shares of the sizes want (sorted), each unit once. Two runners may both
// list a unit being handed over between them when read one after the
// other (the one giving it up forgets it at its next heartbeat): not
// divided yet; the tables and counts of each test show that nothing is
// applied twice.
func sharesAre(ls []*leased, want ...int) bool {
	seen := map[string]bool{}
	var got []int
	for _, l := range ls {
		os := l.r.Owned()
		for _, o := range os {
			if seen[o.Name] {
				return false
			}
			seen[o.Name] = true
		}
		if len(os) > 0 {
			got = append(got, len(os))
		}
	}
	slices.Sort(got)
	return slices.Equal(got, want)
}

// ownedBy lists what the runners believe they own; they must be disjoint.
func ownedBy(t testing.TB, ls ...*leased) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	seen := map[string]string{}
	for _, l := range ls {
		for _, o := range l.r.Owned() {
			if prev, ok := seen[o.Name]; ok {
				t.Fatalf("%s owned by both %s and %s", o.Name, prev, l.name)
			}
			seen[o.Name] = l.name
			out[l.name] = append(out[l.name], o.Name)
		}
	}
	return out
}

// assertAppliedOnce waits until every projection's stored checkpoint is
// at the log's last event and checks that each counted every event
// exactly once (a batch applied twice counts its events twice) and that
// the tables equal a clean rebuild.
func assertAppliedOnce(t *testing.T, db *pgxpool.Pool, src Source, total int64) {
	t.Helper()
	last := lastPosition(t, src)
	until(t, func() bool {
		for _, cp := range storedCheckpoints(t, db) {
			if cp.Position.Less(last) {
				return false
			}
		}
		return true
	})
	for _, cp := range storedCheckpoints(t, db) {
		if cp.Position != last || cp.EventsApplied != total {
			t.Errorf("%s: at %s having applied %d events, want %s and %d", cp.Name, cp.Position, cp.EventsApplied, last, total)
		}
	}
	waitIdle(t, db)
	assertEqualsCleanRebuild(t, db, src, All())
}

// TestLeaseDividesTheWork: three runners on their own pools share the
// projections 4/4/3 while a history is appended and tailed live; each
// applies only its own, every event is applied once to each projection,
// and the tables equal a clean rebuild. A rebuild swapping every
// projection meanwhile does not disturb them.
func TestLeaseDividesTheWork(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	log := memlog.New()
	var ls []*leased
	for _, n := range []string{"runner-a", "runner-b", "runner-c"} {
		l := newLeasedTTL(t, db, log, n, 300, 1, steadyTTL)
		l.start()
		ls = append(ls, l)
	}
	until(t, func() bool { return sharesAre(ls, 3, 4, 4) })
	if got := sizes(liveOwners(t, db)); !slices.Equal(got, []int{3, 4, 4}) {
		t.Fatalf("owners table: shares %v, want [3 4 4]", got)
	}
	n, err := generate(ctx, log, genOptions{Corp: "c1", Events: 6000, Writers: 6, Staff: 20, Customers: 80, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	// A rebuild of every projection while they run: its swap moves the
	// checkpoints under the same row locks, and the owners carry on.
	if _, err := Rebuild(ctx, db, log, All(), RebuildOptions{BatchSize: 1000, Logger: discardLogger()}); err != nil {
		t.Fatal(err)
	}
	m, err := generate(ctx, log, genOptions{Corp: "c2", Events: 2000, Writers: 3, Staff: 10, Customers: 40, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	assertAppliedOnce(t, db, log, n+m)
	for _, l := range ls {
		if l.commits.Load() == 0 {
			t.Errorf("%s committed no batch", l.name)
		}
	}
	if got := sizes(ownedBy(t, ls...)); !slices.Equal(got, []int{3, 4, 4}) {
		t.Errorf("shares at the end %v, want [3 4 4]", got)
	}
	for _, l := range ls {
		l.stop(t)
	}
	// Stopped runners released everything and left.
	if got := liveOwners(t, db); len(got) != 0 {
		t.Errorf("after a graceful stop still owned: %v", got)
	}
	var left int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM projections.projection_instances`).Scan(&left); err != nil || left != 0 {
		t.Errorf("runners still registered after stopping: %d (%v)", left, err)
	}
}

// TestLeaseStaleOwnerNeverApplies: a runner whose projection was taken
// over (its epoch is old) applies a batch to the others only, leaves the
// projection's checkpoint where the new owner has it, and forgets it.
func TestLeaseStaleOwnerNeverApplies(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	log := memlog.New()
	if _, err := generate(ctx, log, genOptions{Corp: "c1", Events: 1500, Writers: 2, Staff: 6, Customers: 30, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	l := newLeased(t, db, log, "stale", 500)
	// One heartbeat takes everything: it is alone.
	if err := l.r.lease.beat(ctx); err != nil {
		t.Fatal(err)
	}
	epochs, _ := l.r.lease.snapshot()
	if len(epochs) != len(All()) {
		t.Fatalf("alone, the runner owns %d projections, want %d", len(epochs), len(All()))
	}
	recs, err := log.ReadAll(ctx, events.Start, 500)
	if err != nil {
		t.Fatal(err)
	}
	// Another runner takes Staff over.
	if _, err := db.Exec(ctx, `UPDATE projections.projection_owners SET instance = 'newer', epoch = epoch + 1 WHERE projection = 'staff'`); err != nil {
		t.Fatal(err)
	}
	if err := l.r.applyBatch(ctx, l.r.owned(epochs), recs); err != nil {
		t.Fatal(err)
	}
	cps := storedCheckpoints(t, db)
	last := recs[len(recs)-1].Position
	for _, p := range All() {
		cp := cps[p.Name()]
		if p.Name() == "staff" {
			if cp.Position != events.Start || cp.EventsApplied != 0 {
				t.Errorf("staff, taken over, was applied by its stale owner: at %s, %d events", cp.Position, cp.EventsApplied)
			}
			continue
		}
		if cp.Position != last || cp.EventsApplied != int64(len(recs)) {
			t.Errorf("%s: at %s with %d events, want %s and %d", p.Name(), cp.Position, cp.EventsApplied, last, len(recs))
		}
	}
	if n := len(rows(t, db, `SELECT 1 FROM projections.staff`)); n != 0 {
		t.Errorf("staff has %d rows written by its stale owner", n)
	}
	if slices.ContainsFunc(l.r.Owned(), func(o Owned) bool { return o.Name == "staff" }) {
		t.Error("the stale owner still believes it owns staff")
	}
	// A released projection is fenced the same way.
	if _, err := db.Exec(ctx, `UPDATE projections.projection_owners SET released = true WHERE projection = 'customers'`); err != nil {
		t.Fatal(err)
	}
	epochs, _ = l.r.lease.snapshot()
	recs2, err := log.ReadAll(ctx, last, 500)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.r.applyBatch(ctx, l.r.owned(epochs), recs2); err != nil {
		t.Fatal(err)
	}
	if cp := storedCheckpoints(t, db)["customers"]; cp.Position != last {
		t.Errorf("customers, released, moved to %s", cp.Position)
	}
}

// TestLeaseRowsClaimedButNotHeld: owner rows that name a runner under
// epochs it does not hold (its takeover committed after the heartbeat had
// stopped waiting for the answer, or it forgot its units when its lease
// lapsed) are taken back up to its share and released beyond it, never
// left claimed by a live runner that does not apply them (which no other
// runner could take over: they stayed unapplied for good).
func TestLeaseRowsClaimedButNotHeld(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	l := newLeased(t, db, memlog.New(), "runner-a", 100)
	if err := l.r.lease.beat(ctx); err != nil {
		t.Fatal(err)
	}
	if len(l.r.Owned()) != len(All()) {
		t.Fatalf("alone, the runner owns %d projections, want %d", len(l.r.Owned()), len(All()))
	}
	// Another live runner: a's share is now 6 of 11.
	if _, err := db.Exec(ctx, `INSERT INTO projections.projection_instances (instance, started, heartbeat, expires)
		VALUES ('runner-z', now(), now(), now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	// Every takeover of a was answered too late: the rows moved on to
	// epochs a never learnt.
	if _, err := db.Exec(ctx, `UPDATE projections.projection_owners SET epoch = epoch + 1 WHERE instance = 'runner-a'`); err != nil {
		t.Fatal(err)
	}
	if err := l.r.lease.beat(ctx); err != nil {
		t.Fatal(err)
	}
	held := map[string]int64{}
	for _, o := range l.r.Owned() {
		held[o.Name] = o.Epoch
	}
	if len(held) != 6 {
		t.Errorf("a holds %d projections, want its share of 6", len(held))
	}
	owners, err := Owners(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	released := 0
	for _, o := range owners {
		e, ok := held[o.Projection]
		switch {
		case ok && (o.Instance != "runner-a" || o.Epoch != e || o.Released):
			t.Errorf("%s: a holds it under epoch %d, the row says %s epoch %d released %v", o.Projection, e, o.Instance, o.Epoch, o.Released)
		case !ok && o.Instance == "runner-a" && !o.Released:
			t.Errorf("%s: claimed by a (epoch %d) which does not hold it", o.Projection, o.Epoch)
		case !ok:
			released++
		}
	}
	if released != len(All())-6 {
		t.Errorf("%d projections free for the others, want %d", released, len(All())-6)
	}
}

// TestLeaseTakeoverAfterKill: a runner killed in the middle of a batch
// (its transaction open, its connections then cut, no release, no more
// heartbeats) loses its projections to the two others once its TTL has
// passed; its batch is rolled back and nothing is applied twice.
func TestLeaseTakeoverAfterKill(t *testing.T) {
	db := newDB(t)
	log := memlog.New()
	a := newLeased(t, db, log, "runner-a", 200)
	b := newLeased(t, db, log, "runner-b", 200)
	c := newLeased(t, db, log, "runner-c", 200)
	k := killInBatch(t, db, log, a, []*leased{a, b, c}, func() bool { return sharesAre([]*leased{a, b, c}, 3, 4, 4) })
	until(t, func() bool {
		o := liveOwners(t, db)
		return len(o["runner-a"]) == 0 && slices.Equal(sizes(o), []int{5, 6})
	})
	assertAppliedOnce(t, db, log, k.events)
	k.assertTakenOver(t, db)
	b.stop(t)
	c.stop(t)
}

// killed is what killInBatch leaves: the events generated, and the units
// the killed runner owned before the kill, with their epochs.
type killed struct {
	name   string
	events int64
	epochs map[string]int64
}

// killInBatch starts ls, waits until ready holds, then generates 6,000
// events and kills a (one of ls) in the middle of its fourth batch: its
// transaction open, then no more heartbeats, nothing released, its
// connections cut — kill -9. The kill is armed by a's own commits, not by
// the test goroutine seeing them, so that it cannot miss the batches (a
// loaded machine may let the generator finish and a catch up in between).
// It returns once a has stopped and every event is in the log.
func killInBatch(t *testing.T, db *pgxpool.Pool, log *memlog.Log, a *leased, ls []*leased, ready func() bool) killed {
	t.Helper()
	ctx := context.Background()
	inBatch := make(chan struct{})
	var once sync.Once
	a.r.beforeCommit = func(ctx context.Context, _ pgx.Tx) error {
		if a.commits.Load() < 3 {
			return nil
		}
		once.Do(func() { close(inBatch) })
		<-ctx.Done() // the process hangs here until it dies
		return ctx.Err()
	}
	for _, l := range ls {
		l.start()
	}
	until(t, ready)
	k := killed{name: a.name, epochs: map[string]int64{}}
	for _, o := range a.r.Owned() {
		k.epochs[o.Name] = o.Epoch
	}
	genDone := make(chan error, 1)
	go func() {
		var err error
		k.events, err = generate(ctx, log, genOptions{Corp: "c1", Events: 6000, Writers: 4, Staff: 12, Customers: 60, Seed: 5})
		genDone <- err
	}()
	<-inBatch
	// kill -9: no more heartbeats, nothing released, connections gone.
	a.r.lease.crashed.Store(true)
	var cut int
	if err := db.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, a.name).Scan(&cut); err != nil {
		t.Fatal(err)
	}
	if cut == 0 {
		t.Fatalf("%s had no connection to cut", a.name)
	}
	a.cancel()
	a.stopped = true
	<-a.done
	if err := <-genDone; err != nil {
		t.Fatal(err)
	}
	return k
}

// assertTakenOver checks that every unit the killed runner owned is now
// another runner's, under a later epoch.
func (k killed) assertTakenOver(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	owners, err := Owners(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range owners {
		before, owned := k.epochs[o.Projection]
		if owned && (o.Instance == k.name || o.Epoch <= before) {
			t.Errorf("%s: owner %s epoch %d, want a takeover by another runner after epoch %d", o.Projection, o.Instance, o.Epoch, before)
		}
	}
}

// TestLeaseConnectionsCut: the connections of one runner are terminated
// again and again under load while it stays up; batches fail and are
// retried, projections may change hands, and every event is still applied
// once to each projection.
func TestLeaseConnectionsCut(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	log := memlog.New()
	ls := []*leased{newLeased(t, db, log, "runner-a", 150), newLeased(t, db, log, "runner-b", 150), newLeased(t, db, log, "runner-c", 150)}
	for _, l := range ls {
		l.start()
	}
	until(t, func() bool { return sharesAre(ls, 3, 4, 4) })
	genDone := make(chan error, 1)
	var n int64
	go func() {
		var err error
		n, err = generate(ctx, log, genOptions{Corp: "c1", Events: 6000, Writers: 4, Staff: 12, Customers: 60, Seed: 9})
		genDone <- err
	}()
	cuts := 0
	for generating := true; generating; {
		select {
		case err := <-genDone:
			if err != nil {
				t.Fatal(err)
			}
			generating = false
		case <-time.After(30 * time.Millisecond):
			var k int
			if err := db.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'runner-a'`).Scan(&k); err != nil {
				t.Fatal(err)
			}
			cuts += k
		}
	}
	if cuts == 0 {
		t.Fatal("no connection of runner-a was cut")
	}
	t.Logf("%d connections of runner-a cut", cuts)
	assertAppliedOnce(t, db, log, n)
	// runner-a is back to its share.
	until(t, func() bool { return slices.Equal(sizes(liveOwners(t, db)), []int{3, 4, 4}) })
	for _, l := range ls {
		l.stop(t)
	}
}

// TestLeaseRebalances: a runner alone owns every projection and applies
// like a runner without a lease; a second and a third joining get their
// shares; one stopping hands its projections over at once (it releases
// them), without waiting for its TTL.
func TestLeaseRebalances(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	log := memlog.New()
	n, err := generate(ctx, log, genOptions{Corp: "c1", Events: 3000, Writers: 3, Staff: 10, Customers: 40, Seed: 21})
	if err != nil {
		t.Fatal(err)
	}
	a := newLeased(t, db, log, "runner-a", 400)
	a.start()
	until(t, func() bool { return len(a.r.Owned()) == len(All()) })
	assertAppliedOnce(t, db, log, n)

	b := newLeased(t, db, log, "runner-b", 400)
	b.start()
	until(t, func() bool { return sharesAre([]*leased{a, b}, 5, 6) })
	c := newLeased(t, db, log, "runner-c", 400)
	c.start()
	until(t, func() bool { return sharesAre([]*leased{a, b, c}, 3, 4, 4) })
	if got := ownedBy(t, c)["runner-c"]; len(got) != 3 {
		t.Errorf("the last runner to join owns %v, want 3 projections (names sort last)", got)
	}
	m, err := generate(ctx, log, genOptions{Corp: "c2", Events: 1500, Writers: 2, Staff: 6, Customers: 30, Seed: 22})
	if err != nil {
		t.Fatal(err)
	}
	assertAppliedOnce(t, db, log, n+m)

	// A graceful stop releases: the others take over within a heartbeat
	// or two, well before b's TTL would have let them.
	stopped := time.Now()
	b.stop(t)
	until(t, func() bool { return sharesAre([]*leased{a, c}, 5, 6) })
	t.Logf("handed over %v after the stop (TTL %v)", time.Since(stopped), testTTL)
	k, err := generate(ctx, log, genOptions{Corp: "c3", Events: 1500, Writers: 2, Staff: 6, Customers: 30, Seed: 23})
	if err != nil {
		t.Fatal(err)
	}
	assertAppliedOnce(t, db, log, n+m+k)
	a.stop(t)
	c.stop(t)
}
