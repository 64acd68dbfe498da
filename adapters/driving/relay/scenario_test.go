package relay_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events/eventlog"
	"github.com/jackc/pgx/v5/pgxpool"
)

// newLog is the event log the scenarios follow — pgstore in the test's own
// database (memlog when RELAY_TEST_LOG=memlog) — and that database's pool,
// with the relay's checkpoint table migrated.
func newLog(t testing.TB) (eventlog.EventLog, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := relay.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RELAY_TEST_LOG") == "memlog" {
		return memlog.New(), pool
	}
	store, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: pii.NewMemoryKeyring(), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return store, pool
}

// broker is a destination under test.
type broker struct {
	url string
	// subscriber builds a subscriber for the route's topics; nil for the
	// in-process broker (the relay's own gochannel is used).
	subscriber func(t testing.TB) message.Subscriber
	// cleanup removes the topics a test created, when the broker keeps them.
	cleanup func(t testing.TB, route relay.Route)
}

// scenarioSize is the number of events of the delivery scenario: 20,000,
// or 3,000 under -race (RELAY_SCENARIO_EVENTS overrides it).
func scenarioSize() int {
	if raceEnabled {
		return envInt("RELAY_SCENARIO_EVENTS", 3000)
	}
	return envInt("RELAY_SCENARIO_EVENTS", 20000)
}

// deliveryScenario writes scenarioSize() events from 8 concurrent writers
// while a relay publishes them to b, and checks the delivery contract.
func deliveryScenario(t *testing.T, b broker) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, pool := newLog(t)
	route := relay.Route{Name: uniqueName("route"), URL: b.url, TopicPrefix: uniqueName("t")}
	if b.cleanup != nil {
		t.Cleanup(func() { b.cleanup(t, route) })
	}
	col := newCollector()
	opts := relay.Options{Log: log, Pool: pool, Routes: []relay.Route{route}}
	var r *relay.Relay
	if b.subscriber == nil {
		var err error
		r, err = relay.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		col.subscribe(ctx, t, r.InProcess(), route)
		_, stop := runRelay(t, r)
		defer stop()
	} else {
		sub := b.subscriber(t)
		col.subscribe(ctx, t, sub, route)
		_, stop := startRelay(t, opts)
		defer stop()
	}
	n := scenarioSize()
	want := writeConcurrently(ctx, t, log, "corp1", 8, n, 10, 5)
	// The checkpoint reaching the head means the broker acknowledged
	// everything; the subscriber then only has to drain it.
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, pool, route.Name, head)
	col.waitUniqueFor(t, n, time.Minute)
	col.verify(t, want, route)
}

// runRelay runs an already built relay until the test ends.
func runRelay(t testing.TB, r *relay.Relay) (*relay.Relay, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return r, stop
}

func TestDeliveryInProcess(t *testing.T) {
	deliveryScenario(t, broker{url: relay.InProcessURL})
}
