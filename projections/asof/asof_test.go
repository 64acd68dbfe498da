package asof_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/asof"
	"github.com/custody/custody/projections/asof/asoftest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// world is a generated history in a log, projected into a fresh database.
type world struct {
	pool *pgxpool.Pool
	q    asof.Queries
	// streams holds every stream's events in stream order.
	streams map[string][]events.Recorded
	corps   []string
	start   time.Time
	end     time.Time
	times   []time.Time // every occurred_at, for edge cases
}

func newWorld(t *testing.T, cfg asoftest.Config) *world {
	t.Helper()
	ctx := context.Background()
	log := memlog.New()
	err := asoftest.Generate(cfg, func(it asoftest.Item) error {
		_, err := log.Append(ctx, it.Stream, eventlog.ExpectAny, it.Event)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.NewPool(t)
	if err := projections.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	r, err := projections.NewRunner(pool, log, projections.Options{BatchSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	w := &world{pool: pool, q: asof.Queries{DB: pool}, streams: map[string][]events.Recorded{}, corps: cfg.Corps}
	recs, err := log.ReadAll(ctx, events.Start, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		w.streams[r.Stream] = append(w.streams[r.Stream], r)
		w.times = append(w.times, r.OccurredAt)
	}
	w.start, w.end = recs[0].OccurredAt, recs[len(recs)-1].OccurredAt
	return w
}

// upTo is the prefix of a stream that happened at or before at.
func upTo(recs []events.Recorded, at time.Time) []events.Recorded {
	n := 0
	for n < len(recs) && !recs[n].OccurredAt.After(at) {
		n++
	}
	return recs[:n]
}

// truth is what the domain aggregates say about one corp at one time.
type truth struct {
	owners      map[string][]string // customer -> followers, sorted
	customersOf map[string][]string // staff -> customers, sorted
	departed    map[string]bool
	active      int64
	pending     int64
	settled     map[string]int64
	relations   int64
	unassigned  int64
	added       int64
	churned     int64
	deleted     int64
	handedOver  int64
}

func (w *world) truth(t *testing.T, corp string, at time.Time) truth {
	t.Helper()
	tr := truth{owners: map[string][]string{}, customersOf: map[string][]string{}, departed: map[string]bool{}, settled: map[string]int64{}}
	for stream, recs := range w.streams {
		if recs[0].CorpID != corp {
			continue
		}
		prefix := upTo(recs, at)
		if len(prefix) == 0 {
			continue
		}
		switch {
		case stream[:len(events.StaffStreamPrefix)] == events.StaffStreamPrefix:
			s, err := staff.Rehydrate(stream[len(events.StaffStream(corp, "")):], prefix)
			if err != nil {
				t.Fatal(err)
			}
			st := s.Status()
			if st.Departed {
				tr.departed[s.ID()] = true
			} else if st.Joined {
				tr.active++
			}
		case stream[:len(events.CustomerStreamPrefix)] == events.CustomerStreamPrefix:
			id := stream[len(events.CustomerStream(corp, "")):]
			c, err := customer.Rehydrate(id, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if f := c.Followers(); len(f) > 0 {
				tr.owners[id] = f
			}
			for _, h := range c.Handovers() {
				if h.Status == customer.StatusPending {
					tr.pending++
				} else {
					tr.settled[h.Status]++
				}
			}
			for _, r := range prefix {
				p, err := events.DecodeRecorded(r)
				if err != nil {
					t.Fatal(err)
				}
				switch p := p.(type) {
				case *events.CustomerRelationStarted:
					if p.StartedBy == events.StartedByAdd {
						tr.added++
					}
				case *events.CustomerRelationEnded:
					switch p.Reason {
					case events.EndDeletedByCustomer:
						tr.churned++
					case events.EndDeletedByStaff:
						tr.deleted++
					case events.EndHandedOver:
						tr.handedOver++
					}
				}
			}
		}
	}
	for c, ss := range tr.owners {
		for _, s := range ss {
			tr.customersOf[s] = append(tr.customersOf[s], c)
			tr.relations++
			if tr.departed[s] {
				tr.unassigned++
			}
		}
	}
	for _, cs := range tr.customersOf {
		slices.Sort(cs)
	}
	return tr
}

// randomTimes mixes uniform times, exact event times (the interval edges)
// and times just before them.
func (w *world) randomTimes(rng *rand.Rand, n int) []time.Time {
	out := []time.Time{w.start.Add(-time.Hour), w.end.Add(time.Hour)}
	span := w.end.Sub(w.start)
	for len(out) < n {
		switch rng.IntN(3) {
		case 0:
			out = append(out, w.start.Add(time.Duration(rng.Int64N(int64(span)))))
		case 1:
			out = append(out, w.times[rng.IntN(len(w.times))])
		default:
			out = append(out, w.times[rng.IntN(len(w.times))].Add(-time.Microsecond))
		}
	}
	return out
}

func TestAgreesWithDomainReplay(t *testing.T) {
	cfg := asoftest.Config{Corps: []string{"acme", "globex"}, Staff: 8, Customers: 30, Events: 4000, Seed: 8}
	w := newWorld(t, cfg)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	checked := 0
	var seen asof.Numbers // maxima, to show the history exercises every figure
	for _, at := range w.randomTimes(rng, 60) {
		for _, corp := range w.corps {
			tr := w.truth(t, corp, at)
			for i := range cfg.Customers {
				c := fmt.Sprintf("c%05d", i)
				got, err := w.q.Owners(ctx, corp, c, at)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, o := range got {
					ids = append(ids, o.StaffID)
					if o.Unassigned != tr.departed[o.StaffID] || o.CustomerID != c || o.CorpID != corp || o.StartedAt.After(at) {
						t.Fatalf("%s %s at %s: ownership %+v (staff departed: %v)", corp, c, at, o, tr.departed[o.StaffID])
					}
				}
				if !slices.Equal(ids, tr.owners[c]) {
					t.Fatalf("%s owners of %s at %s: got %v, domain replay says %v", corp, c, at, ids, tr.owners[c])
				}
				checked++
			}
			for i := range cfg.Staff {
				s := fmt.Sprintf("s%03d", i)
				var ids []string
				page := asof.Page{Limit: 4}
				for {
					res, err := w.q.Customers(ctx, corp, s, at, page)
					if err != nil {
						t.Fatal(err)
					}
					for _, o := range res.Customers {
						ids = append(ids, o.CustomerID)
					}
					if res.Next == "" {
						break
					}
					page.After = res.Next
				}
				if !slices.Equal(ids, tr.customersOf[s]) {
					t.Fatalf("%s customers of %s at %s: got %v, domain replay says %v", corp, s, at, ids, tr.customersOf[s])
				}
			}
			n, err := w.q.Numbers(ctx, corp, at)
			if err != nil {
				t.Fatal(err)
			}
			want := asof.Numbers{
				CorpID: corp, At: at.UTC(),
				Customers: int64(len(tr.owners)), Relations: tr.relations, StaffWithCustomers: int64(len(tr.customersOf)),
				UnassignedRelations: tr.unassigned, ActiveStaff: tr.active, DepartedStaff: int64(len(tr.departed)),
				PendingHandovers: tr.pending, HandoversSettled: tr.settled,
				Added: tr.added, DeletedByCustomer: tr.churned, DeletedByStaff: tr.deleted, HandedOver: tr.handedOver,
			}
			seen.Customers = max(seen.Customers, n.Customers)
			seen.UnassignedRelations = max(seen.UnassignedRelations, n.UnassignedRelations)
			seen.PendingHandovers = max(seen.PendingHandovers, n.PendingHandovers)
			seen.HandedOver = max(seen.HandedOver, n.HandedOver)
			seen.DepartedStaff = max(seen.DepartedStaff, n.DepartedStaff)
			seen.Relations = max(seen.Relations, n.Relations-n.Customers) // customers with several owners
			if fmt.Sprint(n) != fmt.Sprint(want) {
				t.Fatalf("%s numbers at %s:\n got %+v\nwant %+v", corp, at, n, want)
			}
		}
	}
	t.Logf("%d owner questions; maxima %+v", checked, seen)
	if seen.Customers == 0 || seen.UnassignedRelations == 0 || seen.PendingHandovers == 0 || seen.HandedOver == 0 ||
		seen.DepartedStaff == 0 || seen.Relations == 0 {
		t.Fatalf("the history does not exercise every figure: maxima %+v", seen)
	}
	if checked < 1000 {
		t.Fatalf("only %d owner questions checked", checked)
	}
}

func TestInvalidArguments(t *testing.T) {
	q := asof.Queries{DB: pgtest.NewPool(t)}
	ctx := context.Background()
	at := time.Now()
	if _, err := q.Owners(ctx, "", "c1", at); !errors.Is(err, asof.ErrInvalidArgument) {
		t.Errorf("empty corp: %v", err)
	}
	if _, err := q.Owners(ctx, "acme", "c1", time.Time{}); !errors.Is(err, asof.ErrInvalidArgument) {
		t.Errorf("zero time: %v", err)
	}
	if _, err := q.Customers(ctx, "acme", "s1", at, asof.Page{Limit: -1}); !errors.Is(err, asof.ErrInvalidArgument) {
		t.Errorf("bad limit: %v", err)
	}
	if _, err := q.Numbers(ctx, "", at); !errors.Is(err, asof.ErrInvalidArgument) {
		t.Errorf("empty corp: %v", err)
	}
}
