package relay_test

import (
	"context"
	"errors"
	"github.com/custody/custody/adapters/testkit/poll"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/relay/cloudevents"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/prometheus/client_golang/prometheus"
)

func TestOptionsValidate(t *testing.T) {
	_, err := relay.New(relay.Options{Routes: []relay.Route{
		{Name: "a", URL: "ftp://x"},
		{Name: "a", URL: "nats://127.0.0.1:4222"},
		{URL: "gochannel:"},
		{Name: "b", URL: "amqp://u:pw@h/", Topics: map[string]string{"customer": ""}},
	}})
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"Log is nil", "Pool is nil", `unsupported broker URL scheme "ftp"`, `"a" used twice`, "route name is empty", `topic for "customer" is empty`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("error leaks a password: %v", err)
	}
}

func TestRouteTopic(t *testing.T) {
	r := relay.Route{}
	for typ, want := range map[string]string{
		"customer.relation_started": "custody.customer",
		"handover.requested":        "custody.handover",
		"staff.joined":              "custody.staff",
		"groupchat.created":         "custody.groupchat",
	} {
		if got := r.Topic(typ); got != want {
			t.Errorf("Topic(%s) = %s, want %s", typ, got, want)
		}
	}
	r = relay.Route{TopicPrefix: "crm", Topics: map[string]string{"handover.requested": "asks", "handover": "handovers", "*": "rest"}}
	for typ, want := range map[string]string{
		"handover.requested": "asks", "handover.completed": "handovers", "staff.joined": "rest",
	} {
		if got := r.Topic(typ); got != want {
			t.Errorf("Topic(%s) = %s, want %s", typ, got, want)
		}
	}
	if got := relay.NATSName("custody.customer"); got != "custody_customer" {
		t.Errorf("NATSName = %s", got)
	}
}

// inProcessCollect subscribes a collector to a relay's in-process broker.
func inProcessCollect(t *testing.T, opts relay.Options, topics ...string) (*relay.Relay, *collector, func()) {
	t.Helper()
	r, err := relay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, topic := range topics {
		ch, err := r.InProcess().Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		go col.consume(topic, ch)
	}
	_, stop := runRelay(t, r)
	return r, col, stop
}

func TestFiltersTopicsAndPII(t *testing.T) {
	ctx := context.Background()
	log, pool := newLog(t)
	for _, corp := range []string{"corp1", "corp2"} {
		for i := 0; i < 3; i++ {
			if _, err := log.Append(ctx, events.CustomerStream(corp, "c1"), eventlog.ExpectAny, scenarioEvent(t, corp, "c1", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	plain := relay.Route{Name: "plain", URL: relay.InProcessURL, TopicPrefix: "plain"}
	withPII := relay.Route{Name: "pii", URL: relay.InProcessURL, Topics: map[string]string{"*": "pii"}, IncludePII: true}
	filtered := relay.Route{Name: "filtered", URL: relay.InProcessURL, Topics: map[string]string{"*": "filtered"},
		Corps: []string{"corp2"}, Types: []string{"moments.*"}}
	_, col, stop := inProcessCollect(t, relay.Options{Log: log, Pool: pool, Routes: []relay.Route{plain, withPII, filtered}},
		"plain.customer", "plain.moments", "pii", "filtered")
	col.waitUnique(t, 6)
	head, _ := log.Head(ctx)
	for _, r := range []string{"plain", "pii", "filtered"} {
		waitCheckpoint(t, pool, r, head)
	}
	stop()

	col.mu.Lock()
	defer col.mu.Unlock()
	for _, b := range col.bad {
		t.Error(b)
	}
	if n := len(col.seq["plain.customer"]) + len(col.seq["plain.moments"]); n != 6 {
		t.Errorf("plain route delivered %d events, want 6", n)
	}
	for _, d := range append(col.seq["plain.customer"], col.seq["plain.moments"]...) {
		if strings.Contains(string(d.body), "secret remark") || strings.Contains(string(d.body), `"pii"`) {
			t.Errorf("plain route published personal data: %s", d.body)
		}
	}
	if len(col.seq["pii"]) != 6 {
		t.Fatalf("pii route delivered %d events, want 6", len(col.seq["pii"]))
	}
	sawPII := 0
	for _, d := range col.seq["pii"] {
		rec, err := d.ev.Recorded()
		if err != nil {
			t.Fatal(err)
		}
		p, err := events.DecodeRecorded(rec)
		if err != nil {
			t.Fatalf("decode %s: %v", d.ev.Type, err)
		}
		if s, ok := p.(*events.CustomerRelationStarted); ok {
			if s.PII.Remark != "secret remark" {
				t.Errorf("pii route lost personal data: %+v", s.PII)
			}
			sawPII++
		}
	}
	if sawPII != 2 {
		t.Errorf("saw %d relation_started with personal data, want 2", sawPII)
	}
	// corp2's moments events only: versions 1 and 2 of its stream.
	if len(col.seq["filtered"]) != 2 {
		t.Fatalf("filtered route delivered %d events, want 2", len(col.seq["filtered"]))
	}
	for _, d := range col.seq["filtered"] {
		if d.ev.CorpID != "corp2" || !strings.HasPrefix(d.ev.Type, "moments.") || d.ev.Source != "custody/corp2" {
			t.Errorf("filtered route delivered %s of %s", d.ev.Type, d.ev.CorpID)
		}
	}
}

// flaky fails every publish while down is set, and every third otherwise,
// before handing messages to the in-process broker.
type flaky struct {
	next  message.Publisher
	down  atomic.Bool
	calls atomic.Int64
	fails atomic.Int64
}

var errBrokerDown = errors.New("broker down (injected)")

func (f *flaky) Publish(topic string, msgs ...*message.Message) error {
	if f.down.Load() || f.calls.Add(1)%3 == 0 {
		f.fails.Add(1)
		return errBrokerDown
	}
	return f.next.Publish(topic, msgs...)
}

func (f *flaky) Close() error { return nil }

func TestRetriesKeepOrderAndHoldTheCheckpoint(t *testing.T) {
	ctx := context.Background()
	log, pool := newLog(t)
	inproc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)
	defer inproc.Close()
	pub := &flaky{next: inproc}
	reg := prometheus.NewRegistry()
	route := relay.Route{Name: "flaky", URL: relay.InProcessURL, Publisher: pub, TopicPrefix: "flaky"}
	col := newCollector()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	col.subscribe(sctx, t, inproc, route)
	_, stop := startRelay(t, relay.Options{Log: log, Pool: pool, Routes: []relay.Route{route}, Registerer: reg,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, CheckpointInterval: 10 * time.Millisecond})

	want := writeConcurrently(ctx, t, log, "corp1", 4, 600, 10, 3)
	col.waitUnique(t, 600)
	head, _ := log.Head(ctx)
	waitCheckpoint(t, pool, route.Name, head)

	// With the broker down, the checkpoint stays before the first
	// unpublished event.
	pub.down.Store(true)
	more := writeConcurrently(ctx, t, log, "corp2", 2, 40, 10, 5)
	poll.Until(t, "publish failures while the broker is down", func() bool {
		return pub.fails.Load() > 300+int64(600/3)
	})
	cp, err := relay.Checkpoint(ctx, pool, route.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cp != head {
		t.Fatalf("checkpoint moved to %s while the broker was down (head before: %s)", cp, head)
	}
	pub.down.Store(false)
	col.waitUnique(t, 640)
	head, _ = log.Head(ctx)
	waitCheckpoint(t, pool, route.Name, head)
	stop()
	for id, r := range more.byID {
		want.byID[id] = r
	}
	col.verify(t, want, route)
	if got := metricValue(t, reg, "custody_relay_published_total", "flaky"); got < 640 {
		t.Errorf("custody_relay_published_total = %v, want >= 640", got)
	}
	if got := metricValue(t, reg, "custody_relay_retries_total", "flaky"); got != float64(pub.fails.Load()) {
		t.Errorf("custody_relay_retries_total = %v, want %d (the failed publishes)", got, pub.fails.Load())
	}
}

// metricValue reads a relay metric's value for route from reg (0 when
// absent).
func metricValue(t testing.TB, reg *prometheus.Registry, name, route string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func TestOneProcessPerRoute(t *testing.T) {
	ctx := context.Background()
	log, pool := newLog(t)
	route := relay.Route{Name: "shared", URL: relay.InProcessURL}
	first, stopFirst := startRelay(t, relay.Options{Log: log, Pool: pool, Routes: []relay.Route{route}, RetryMax: 20 * time.Millisecond})
	poll.Until(t, "first relay running", func() bool { return first.Status()[0].Running })
	second, stopSecond := startRelay(t, relay.Options{Log: log, Pool: pool, Routes: []relay.Route{route}, RetryMax: 20 * time.Millisecond})
	defer stopSecond()
	if _, err := log.Append(ctx, "customer-corp1-x", eventlog.ExpectAny, scenarioEvent(t, "corp1", "x", 0)); err != nil {
		t.Fatal(err)
	}
	head, _ := log.Head(ctx)
	waitCheckpoint(t, pool, "shared", head)
	if second.Status()[0].Running {
		t.Fatal("two relays run the same route at once")
	}
	stopFirst()
	poll.Until(t, "second relay taking over", func() bool { return second.Status()[0].Running })
	if err := second.Run(ctx); !errors.Is(err, relay.ErrAlreadyRun) {
		t.Errorf("second Run: %v, want ErrAlreadyRun", err)
	}
}

func TestCloudEventOnTheWire(t *testing.T) {
	ctx := context.Background()
	log, pool := newLog(t)
	ev := scenarioEvent(t, "corp9", "c1", 1)
	res, err := log.Append(ctx, events.CustomerStream("corp9", "c1"), eventlog.ExpectAny, ev)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got *message.Message
	r, err := relay.New(relay.Options{Log: log, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := r.InProcess().Subscribe(sctx, "custody.moments")
	if err != nil {
		t.Fatal(err)
	}
	runRelay(t, r)
	select {
	case m := <-ch:
		mu.Lock()
		got = m
		mu.Unlock()
		m.Ack()
	case <-time.After(waitLimit):
		t.Fatal("nothing published")
	}
	if got.UUID != ev.ID.String() || got.Metadata.Get(relay.PartitionKeyMetadata) != "customer-corp9-c1" {
		t.Errorf("message uuid %s, partition key %q", got.UUID, got.Metadata.Get(relay.PartitionKeyMetadata))
	}
	ce, err := cloudevents.Unmarshal(got.Payload)
	if err != nil {
		t.Fatal(err)
	}
	rec := res.Events[0]
	if ce.ID != ev.ID.String() || ce.Source != "custody/corp9" || ce.Type != "moments.opted_out" ||
		ce.Subject != "customer-corp9-c1" || !ce.Time.Equal(ev.OccurredAt) || ce.Position != rec.Position.String() {
		t.Errorf("cloud event: %+v", ce)
	}
}

// With Parallelism 1 a route publishes in log order across streams.
func TestParallelismOneKeepsLogOrder(t *testing.T) {
	ctx := context.Background()
	log, pool := newLog(t)
	route := relay.Route{Name: "ordered", URL: relay.InProcessURL, Topics: map[string]string{"*": "all"}}
	r, err := relay.New(relay.Options{Log: log, Pool: pool, Routes: []relay.Route{route}, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := r.InProcess().Subscribe(sctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	go col.consume("all", ch)
	runRelay(t, r)
	want := writeConcurrently(ctx, t, log, "corp1", 4, 400, 10, 2)
	col.waitUnique(t, 400)
	col.verify(t, want, route)
	col.mu.Lock()
	defer col.mu.Unlock()
	var last events.Position
	for i, d := range col.seq["all"] {
		p, err := events.ParsePosition(d.ev.Position)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && !last.Less(p) {
			t.Fatalf("delivery %d at %s after %s: not in log order", i, p, last)
		}
		last = p
	}
}
