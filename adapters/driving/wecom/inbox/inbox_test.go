package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newInbox(t *testing.T) (*inbox.Inbox, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	if err := inbox.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	// Migrating twice is harmless (several instances start at once).
	if err := inbox.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return inbox.New(pool), pool
}

func cb(corp, key, subject string) inbox.Callback {
	return inbox.Callback{
		CorpID: corp, DedupKey: key, Kind: "change_external_contact/add_external_contact", Subject: subject,
		CreateTime: time.Unix(1409659813, 0), Payload: []byte("<xml>" + key + "</xml>"),
	}
}

// TestStoreDeduplicatesConcurrentDeliveries: WeCom delivers a callback up
// to three times, sometimes at once; the fact is stored once.
func TestStoreDeduplicatesConcurrentDeliveries(t *testing.T) {
	ib, _ := newInbox(t)
	ctx := context.Background()
	const deliveries = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[int64]int{}
	dups := 0
	errs := make(chan error, deliveries)
	for range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := ib.Store(ctx, cb("acme", "k1", "c1"))
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			ids[s.ID]++
			if s.Duplicate {
				dups++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(ids) != 1 || dups != deliveries-1 {
		t.Fatalf("ids %v, duplicates %d; want one id and %d duplicates", ids, dups, deliveries-1)
	}
	items, err := ib.List(ctx, "acme", inbox.StatusPending, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Deliveries != deliveries {
		t.Fatalf("items %+v; want one with %d deliveries", items, deliveries)
	}
	// The same key in another corp is another fact.
	if s, err := ib.Store(ctx, cb("other", "k1", "c1")); err != nil || s.Duplicate {
		t.Fatalf("other corp: %+v %v", s, err)
	}
}

func TestStoreRefusesIncompleteCallbacks(t *testing.T) {
	ib, _ := newInbox(t)
	for _, c := range []inbox.Callback{
		{DedupKey: "k", Kind: "k", Payload: []byte("x")},
		{CorpID: "a", Kind: "k", Payload: []byte("x")},
		{CorpID: "a", DedupKey: "k", Payload: []byte("x")},
		{CorpID: "a", DedupKey: "k", Kind: "k"},
	} {
		if _, err := ib.Store(context.Background(), c); !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("Store(%+v) = %v, want ErrInvalid", c, err)
		}
	}
}

// TestDrainInOrderStopsAtFailure: callbacks are translated in the order
// received; an infrastructure failure stops the drain so nothing overtakes
// the failed callback, and the next drain starts with it.
func TestDrainInOrderStopsAtFailure(t *testing.T) {
	ib, _ := newInbox(t)
	ctx := context.Background()
	for i := range 6 {
		if _, err := ib.Store(ctx, cb("acme", fmt.Sprintf("k%d", i), "c1")); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	outage := errors.New("event log unavailable")
	d, err := ib.Drain(ctx, 100, func(_ context.Context, it inbox.Item) (inbox.Outcome, error) {
		seen = append(seen, it.DedupKey)
		switch it.DedupKey {
		case "k1":
			return inbox.Outcome{Status: inbox.StatusUnknown, Reason: "kind not translated"}, nil
		case "k2":
			return inbox.Outcome{Status: inbox.StatusRejected, Reason: "bad \x00 value"}, nil
		case "k3":
			return inbox.Outcome{}, outage
		}
		return inbox.Outcome{Status: inbox.StatusDone}, nil
	})
	if !errors.Is(err, outage) {
		t.Fatalf("Drain error = %v, want the outage", err)
	}
	if fmt.Sprint(seen) != "[k0 k1 k2 k3]" || d.Done != 1 || d.Unknown != 1 || d.Rejected != 1 {
		t.Fatalf("seen %v, drained %+v", seen, d)
	}
	pending, err := ib.List(ctx, "acme", inbox.StatusPending, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 3 || pending[0].DedupKey != "k3" || pending[0].Attempts != 1 || pending[0].LastError == "" {
		t.Fatalf("pending after failure: %+v", pending)
	}
	rejected, _ := ib.List(ctx, "acme", inbox.StatusRejected, 0, 10)
	if len(rejected) != 1 || rejected[0].LastError != "bad \uFFFD value" {
		t.Fatalf("rejected: %+v", rejected)
	}

	seen = nil
	d, err = ib.Drain(ctx, 100, func(_ context.Context, it inbox.Item) (inbox.Outcome, error) {
		seen = append(seen, it.DedupKey)
		return inbox.Outcome{Status: inbox.StatusDone}, nil
	})
	if err != nil || fmt.Sprint(seen) != "[k3 k4 k5]" || d.Done != 3 {
		t.Fatalf("second drain: seen %v, %+v, %v", seen, d, err)
	}
	counts, err := ib.Counts(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if counts[inbox.StatusDone] != 4 || counts[inbox.StatusPending] != 0 {
		t.Fatalf("counts %v", counts)
	}
}

// TestOneDrainerAtATime: a second drainer, in this or another process,
// backs off while the first runs, so a subject's order holds.
func TestOneDrainerAtATime(t *testing.T) {
	ib, pool := newInbox(t)
	other := inbox.New(pool)
	ctx := context.Background()
	if _, err := ib.Store(ctx, cb("acme", "k0", "c1")); err != nil {
		t.Fatal(err)
	}
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := ib.Drain(ctx, 10, func(context.Context, inbox.Item) (inbox.Outcome, error) {
			close(inside)
			<-release
			return inbox.Outcome{Status: inbox.StatusDone}, nil
		})
		done <- err
	}()
	<-inside
	d, err := other.Drain(ctx, 10, func(context.Context, inbox.Item) (inbox.Outcome, error) {
		t.Error("second drainer translated a callback while the first held the lock")
		return inbox.Outcome{Status: inbox.StatusDone}, nil
	})
	if err != nil || !d.Busy {
		t.Fatalf("second drain = %+v, %v; want Busy", d, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The lock is free again.
	d, err = other.Drain(ctx, 10, func(context.Context, inbox.Item) (inbox.Outcome, error) {
		return inbox.Outcome{Status: inbox.StatusDone}, nil
	})
	if err != nil || d.Busy {
		t.Fatalf("drain after release = %+v, %v", d, err)
	}
}
