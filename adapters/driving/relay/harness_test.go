package relay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/relay/cloudevents"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// waitLimit bounds every wait on a condition, so a broken relay fails the
// test instead of hanging it.
const waitLimit = 3 * time.Minute

// categories the scenario's events fall into (see scenarioEvent).
var scenarioCategories = []string{"customer", "moments", "consent"}

// scenarioEvent is the i-th event of a customer stream: the relation
// starts (with personal data), then opt-outs, opt-ins and consents follow.
func scenarioEvent(t testing.TB, corp, customer string, i int) events.Event {
	t.Helper()
	var p events.Payload
	switch {
	case i == 0:
		p = &events.CustomerRelationStarted{
			CustomerID: customer, StaffID: "staff-1", Initiator: events.InitiatorStaff, AddWay: 1,
			StartedBy: events.StartedByAdd,
			PII:       events.RelationPII{CustomerName: "Name " + customer, Remark: "secret remark"},
		}
	case i%5 == 0:
		p = &events.ConsentRecorded{CustomerID: customer, Purpose: events.PurposeMarketing,
			State: events.ConsentAgree, ChangedAt: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)}
	case i%2 == 1:
		p = &events.MomentsOptedOut{CustomerID: customer, StaffID: "staff-1", Source: "test"}
	default:
		p = &events.MomentsOptedIn{CustomerID: customer, StaffID: "staff-1", Source: "test"}
	}
	ev, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{
		CorpID: corp, OccurredAt: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Actor: "system",
	}, p)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// appended is what the writers stored: event id → where.
type appended struct {
	mu   sync.Mutex
	byID map[string]events.Recorded
}

func (a *appended) add(rs []events.Recorded) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range rs {
		a.byID[r.ID.String()] = r
	}
}

func (a *appended) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byID)
}

// writeConcurrently appends total events from `writers` goroutines, each
// owning its streams and appending `batch` events per call with an exact
// expected version.
func writeConcurrently(ctx context.Context, t testing.TB, log eventlog.EventLog, corp string, writers, total, perStream, batch int) *appended {
	t.Helper()
	a := &appended{byID: map[string]events.Recorded{}}
	streams := total / perStream
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := w; s < streams; s += writers {
				customer := fmt.Sprintf("c%05d", s)
				stream := events.CustomerStream(corp, customer)
				next := eventlog.ExpectNoStream
				for i := 0; i < perStream; i += batch {
					var evs []events.Event
					for j := i; j < min(i+batch, perStream); j++ {
						evs = append(evs, scenarioEvent(t, corp, customer, j))
					}
					res, err := log.Append(ctx, stream, next, evs...)
					for try := 0; errors.Is(err, eventlog.ErrUnavailable) && try < 10; try++ {
						// The log's contract: carry the same append out
						// again; it keeps one copy.
						time.Sleep(50 * time.Millisecond)
						res, err = log.Append(ctx, stream, next, evs...)
					}
					if err != nil {
						errs <- fmt.Errorf("append %s: %w", stream, err)
						return
					}
					a.add(res.Events)
					next = res.NextExpected
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if a.len() != total {
		t.Fatalf("writers stored %d events, want %d", a.len(), total)
	}
	return a
}

// received is one delivered message.
type received struct {
	topic string
	uuid  string
	body  []byte
	ev    cloudevents.Event
}

// collector gathers deliveries from every topic of a route.
type collector struct {
	mu      sync.Mutex
	seq     map[string][]received // topic → deliveries in arrival order
	first   map[string]received   // topic + " " + event id → first delivery
	bad     []string
	unique  atomic.Int64
	total   atomic.Int64
	changed chan struct{}
}

func newCollector() *collector {
	return &collector{seq: map[string][]received{}, first: map[string]received{}, changed: make(chan struct{}, 1)}
}

// subscribe consumes the route's topics from sub until ctx is done.
func (c *collector) subscribe(ctx context.Context, t testing.TB, sub message.Subscriber, route relay.Route) {
	t.Helper()
	for _, cat := range scenarioCategories {
		topic := route.Topic(cat + ".x")
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatalf("subscribe %s: %v", topic, err)
		}
		go c.consume(topic, ch)
	}
}

func (c *collector) consume(topic string, ch <-chan *message.Message) {
	for msg := range ch {
		c.add(topic, msg.UUID, msg.Payload)
		msg.Ack()
	}
}

func (c *collector) add(topic, id string, body []byte) {
	ev, err := cloudevents.Unmarshal(body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total.Add(1)
	if err != nil {
		c.bad = append(c.bad, fmt.Sprintf("%s: undecodable message %s: %v", topic, id, err))
		return
	}
	r := received{topic: topic, uuid: id, body: slices.Clone(body), ev: ev}
	if id != ev.ID {
		c.bad = append(c.bad, fmt.Sprintf("%s: message uuid %s carries event %s", topic, id, ev.ID))
	}
	key := topic + " " + ev.ID
	if prev, dup := c.first[key]; dup {
		if string(prev.body) != string(body) {
			c.bad = append(c.bad, fmt.Sprintf("duplicate of %s differs from the first delivery", ev.ID))
		}
	} else {
		c.first[key] = r
		c.unique.Add(1)
	}
	c.seq[topic] = append(c.seq[topic], r)
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// waitUnique waits until n distinct events arrived.
func (c *collector) waitUnique(t testing.TB, n int) { c.waitUniqueFor(t, n, waitLimit) }

// waitUniqueFor waits until n distinct events arrived, at most limit.
func (c *collector) waitUniqueFor(t testing.TB, n int, limit time.Duration) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for c.unique.Load() < int64(n) {
		select {
		case <-c.changed:
		case <-deadline.C:
			t.Fatalf("only %d of %d events arrived (%d deliveries) within %s", c.unique.Load(), n, c.total.Load(), limit)
		}
	}
}

// verify checks the delivery contract against what the writers stored:
// every event arrived, with the message UUID = event id, on the topic the
// route maps its type to; within each topic every stream's events arrived
// in stream order (first deliveries, duplicates aside); duplicates are
// byte-identical; personal data only when the route carries it.
func (c *collector) verify(t testing.TB, want *appended, route relay.Route) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bad {
		t.Error(b)
	}
	want.mu.Lock()
	defer want.mu.Unlock()
	for id, r := range want.byID {
		got, ok := c.first[route.Topic(r.Type)+" "+id]
		if !ok {
			t.Errorf("event %s (%s v%d) never arrived", id, r.Stream, r.StreamVersion)
			continue
		}
		if got.topic != route.Topic(r.Type) || got.ev.Subject != r.Stream || got.ev.StreamVersion != r.StreamVersion || got.ev.Type != r.Type {
			t.Errorf("event %s arrived as %s/%s v%d on %s", id, got.ev.Type, got.ev.Subject, got.ev.StreamVersion, got.topic)
		}
	}
	if len(c.first) != len(want.byID) {
		t.Errorf("%d distinct events arrived, %d were written", len(c.first), len(want.byID))
	}
	// Expected per-topic, per-stream version sequences.
	expect := map[string]map[string][]int64{}
	for _, r := range want.byID {
		topic := route.Topic(r.Type)
		if expect[topic] == nil {
			expect[topic] = map[string][]int64{}
		}
		expect[topic][r.Stream] = append(expect[topic][r.Stream], r.StreamVersion)
	}
	for topic, byStream := range expect {
		seen := map[string]bool{}
		got := map[string][]int64{}
		for _, d := range c.seq[topic] {
			if seen[d.ev.ID] {
				continue
			}
			seen[d.ev.ID] = true
			got[d.ev.Subject] = append(got[d.ev.Subject], d.ev.StreamVersion)
		}
		bad := 0
		for stream, versions := range byStream {
			slices.Sort(versions)
			if !slices.Equal(got[stream], versions) && bad < 5 {
				bad++
				t.Errorf("topic %s stream %s: arrival order %v, want %v", topic, stream, got[stream], versions)
			}
		}
	}
	if !route.IncludePII {
		for _, d := range c.first {
			if slices.Contains([]string{"customer.relation_started"}, d.ev.Type) && bytes.Contains(d.body, []byte("secret remark")) {
				t.Fatalf("personal data published on a route without include_pii: %s", d.body)
			}
		}
	}
	t.Logf("%d deliveries, %d distinct events", c.total.Load(), len(c.first))
}

// startRelay runs a relay until the test ends (or stop is called) and
// returns stop, which cancels it and waits for Run to return.
func startRelay(t testing.TB, opts relay.Options) (r *relay.Relay, stop func()) {
	t.Helper()
	r, err := relay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// waitCheckpoint waits until the route's stored checkpoint reaches pos.
func waitCheckpoint(t testing.TB, pool *pgxpool.Pool, route string, pos events.Position) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got, err := relay.Checkpoint(context.Background(), pool, route)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Less(pos) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint of %s stuck at %s, want %s", route, got, pos)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not synchronising
	}
}

func uniqueName(prefix string) string { return prefix + "_" + watermill.NewShortUUID()[:10] }

// envInt reads a size knob for big scenarios.
func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}
