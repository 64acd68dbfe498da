package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// tailReads counts the queries of the log in global order (ReadAll and
// subscriptions) sent through a pool.
type tailReads struct{ n atomic.Int64 }

func (c *tailReads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "pg_snapshot_xmin") && strings.Contains(d.SQL, "ORDER BY tx_id, id LIMIT") {
		c.n.Add(1)
	}
	return ctx
}

func (c *tailReads) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// countingStore is newStore on a pool whose tail reads are counted, with
// polls out of the way (only appends and notifications wake).
func countingStore(t *testing.T) (*pgstore.Store, *tailReads) {
	t.Helper()
	reads := new(tailReads)
	pool := tracedPool(t, reads)
	ctx := context.Background()
	k, err := pii.NewKeyring(make([]byte, pii.KeySize), pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: k, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s, reads
}

// Caught-up subscriptions of one Store share their reads of the log's
// tail: every one must read at least once for each event delivered alone,
// so without sharing six subscriptions make at least six reads per event;
// shared, a wake-up costs one read (each append wakes them twice: its own
// commit and its NOTIFY). Every subscription still gets every event, in
// order, with its personal data.
func TestSubscriptionsShareTailReads(t *testing.T) {
	s, reads := countingStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const subs, appends = 6, 60
	got := make([]chan events.Recorded, subs)
	done := make(chan error, subs)
	for i := range got {
		got[i] = make(chan events.Recorded, appends+1)
		go func() {
			done <- s.Subscribe(ctx, events.Start, func(r events.Recorded) error {
				got[i] <- r
				return nil
			})
		}()
	}
	appendOne := func(i int) events.Event {
		e := storetest.Event(i)
		e.Subject, e.PII = fmt.Sprintf("subject-%d", i), []byte(fmt.Sprintf(`{"name":"n%d"}`, i))
		if _, err := s.Append(ctx, "s", eventlog.ExpectAny, e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	deliveredToAll := func(e events.Event) {
		t.Helper()
		for i := range got {
			r := recv(t, got[i])
			if r.ID != e.ID || string(r.PII) != string(e.PII) {
				t.Fatalf("subscription %d got %s (%s), want %s (%s)", i, r.ID, r.PII, e.ID, e.PII)
			}
		}
	}
	// Every subscription catches up and listens.
	deliveredToAll(appendOne(0))
	before := reads.n.Load()
	for i := 1; i <= appends; i++ {
		deliveredToAll(appendOne(i))
	}
	n := reads.n.Load() - before
	t.Logf("%d tail reads for %d events delivered to %d subscriptions", n, appends, subs)
	if n >= 3*appends {
		t.Errorf("%d tail reads for %d appends: the %d subscriptions did not share them (each reads at least once per event alone)", n, appends, subs)
	}
	cancel()
	for range subs {
		<-done
	}
}

// A subscription whose handler stalls holds back neither the others nor
// its own events: the others go on being served, and once it moves again
// it reads what it missed by itself, every event once and in order.
func TestStalledSubscriptionDoesNotHoldOthers(t *testing.T) {
	s, _ := countingStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 40
	fast := make(chan events.Recorded, n+1)
	slow := make(chan events.Recorded, n+1)
	release := make(chan struct{})
	var once sync.Once
	done := make(chan error, 2)
	go func() {
		done <- s.Subscribe(ctx, events.Start, func(r events.Recorded) error {
			fast <- r
			return nil
		})
	}()
	go func() {
		done <- s.Subscribe(ctx, events.Start, func(r events.Recorded) error {
			slow <- r
			if r.StreamVersion == 1 {
				<-release // stalls on its second event
			}
			return nil
		})
	}()
	var want []events.Event
	for i := range n {
		e := storetest.Event(i)
		want = append(want, e)
		if _, err := s.Append(ctx, "s", eventlog.ExpectAny, e); err != nil {
			t.Fatal(err)
		}
		// The fast one gets each event while the slow one is stuck.
		if r := recv(t, fast); r.ID != e.ID {
			t.Fatalf("fast subscription got %s, want %s", r.ID, e.ID)
		}
	}
	once.Do(func() { close(release) })
	for i, e := range want {
		if r := recv(t, slow); r.ID != e.ID {
			t.Fatalf("stalled subscription's event %d is %s, want %s", i, r.ID, e.ID)
		}
	}
	select {
	case r := <-slow:
		t.Fatalf("stalled subscription got %s twice or extra", r.ID)
	default:
	}
	cancel()
	<-done
	<-done
}
