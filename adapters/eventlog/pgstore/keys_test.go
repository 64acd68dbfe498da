package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// statements counts the statements sent through a pool, and those that
// store a key on their own (the key store's LoadOrCreate). The NOTIFY an
// append sends afterwards, from a goroutine of its own and outside the
// append's transaction, is not counted: whether it has started when an
// append returns depends on the scheduler (it did under -race).
type statements struct{ all, keyAlone atomic.Int64 }

func (c *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "pg_notify(") {
		return ctx
	}
	c.all.Add(1)
	if strings.HasPrefix(strings.TrimSpace(d.SQL), "INSERT INTO pii_keys") {
		c.keyAlone.Add(1)
	}
	return ctx
}

func (c *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// tracedPool returns a pool on a fresh migrated database whose
// statements go through tracer.
func tracedPool(t *testing.T, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgstore.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

// keyedStores returns a pool on a fresh migrated database whose
// statements are counted, and a function making stores on it, each with
// a keyring of its own (as processes have) over the same keys.
func keyedStores(t *testing.T) (*pgxpool.Pool, *statements, func() *pgstore.Store) {
	t.Helper()
	count := new(statements)
	pool := tracedPool(t, count)
	return pool, count, func() *pgstore.Store {
		k, err := pii.NewKeyring(make([]byte, pii.KeySize), pii.NewPostgresKeyStore(pool), pii.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := pgstore.New(context.Background(), pool, pgstore.Options{Keyring: k})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func withPII(n int, subject string) events.Event {
	e := storetest.Event(n)
	e.Subject, e.PII = subject, fmt.Appendf(nil, `{"name":"n%d"}`, n)
	return e
}

// readPII reads stream back through s and returns each event's personal
// data ("erased" for erased ones).
func readPII(t *testing.T, s *pgstore.Store, stream string) []string {
	t.Helper()
	recs, err := s.ReadStream(context.Background(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.PIIErased {
			out = append(out, "erased")
			continue
		}
		out = append(out, string(r.PII))
	}
	return out
}

// A new subject's key is stored by the statement that appends the events
// sealed with it: one statement, no transaction of its own for the key.
func TestNewSubjectKeyStoredWithItsEvents(t *testing.T) {
	pool, count, newStore := keyedStores(t)
	s := newStore()
	ctx := context.Background()
	before, keysBefore := count.all.Load(), count.keyAlone.Load()
	e1, e2 := withPII(1, "customer/corp1/new"), withPII(2, "customer/corp1/new")
	if _, err := s.Append(ctx, "customer-corp1-new", eventlog.ExpectNoStream, e1, e2); err != nil {
		t.Fatal(err)
	}
	if n, k := count.all.Load()-before, count.keyAlone.Load()-keysBefore; n != 1 || k != 0 {
		t.Errorf("append of a new subject's events: %d statements, %d storing the key alone; want 1 and 0", n, k)
	}
	var keys int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pii_keys WHERE subject = 'customer/corp1/new' AND wrapped_key IS NOT NULL`).Scan(&keys); err != nil || keys != 1 {
		t.Fatalf("keys stored for the subject: %d (%v), want 1", keys, err)
	}
	// Another process (a keyring that never saw the key) opens them.
	if got := readPII(t, newStore(), "customer-corp1-new"); len(got) != 2 || got[0] != string(e1.PII) || got[1] != string(e2.PII) {
		t.Fatalf("read back %q", got)
	}
	// The key is now known: the next append needs no key at all.
	before = count.all.Load()
	if _, err := s.Append(ctx, "customer-corp1-new", eventlog.ExpectVersion(1), withPII(3, "customer/corp1/new")); err != nil {
		t.Fatal(err)
	}
	if n := count.all.Load() - before; n != 1 {
		t.Errorf("append for a known subject: %d statements, want 1", n)
	}
}

// A subject this process does not know but that has a key (made by
// another process) keeps that key: the events are sealed again with it,
// and both processes read them.
func TestSubjectKeyedElsewhereKeepsItsKey(t *testing.T) {
	_, _, newStore := keyedStores(t)
	a, b := newStore(), newStore()
	ctx := context.Background()
	if _, err := a.Append(ctx, "customer-corp1-x", eventlog.ExpectNoStream, withPII(1, "customer/corp1/x")); err != nil {
		t.Fatal(err)
	}
	e := withPII(2, "customer/corp1/x")
	if _, err := b.Append(ctx, "customer-corp1-x", eventlog.ExpectVersion(0), e); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*pgstore.Store{"first": a, "second": b, "third": newStore()} {
		if got := readPII(t, s, "customer-corp1-x"); len(got) != 2 || got[1] != string(e.PII) {
			t.Errorf("%s process reads %q", name, got)
		}
	}
	// A stale expectation is still a conflict, not a retry loop.
	_, err := b.Append(ctx, "customer-corp1-y", eventlog.ExpectVersion(3), withPII(3, "customer/corp1/y"))
	if !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("append at a wrong version for a new subject: %v, want a conflict", err)
	}
}

// A subject erased by another process (its tombstone unknown here) gets
// no key back: its new personal data is dropped.
func TestSubjectErasedElsewhereGetsNoKey(t *testing.T) {
	pool, _, newStore := keyedStores(t)
	a, b := newStore(), newStore()
	ctx := context.Background()
	if _, err := a.Append(ctx, "customer-corp1-z", eventlog.ExpectNoStream, withPII(1, "customer/corp1/z")); err != nil {
		t.Fatal(err)
	}
	if err := a.Erase(ctx, "customer/corp1/z"); err != nil {
		t.Fatal(err)
	}
	// Never seen here, and a subject erased before it had any key.
	for _, subject := range []string{"customer/corp1/z", "customer/corp1/never"} {
		if subject == "customer/corp1/never" {
			if err := a.Erase(ctx, subject); err != nil {
				t.Fatal(err)
			}
		}
		res, err := b.Append(ctx, "s-"+subject, eventlog.ExpectAny, withPII(2, subject))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Events[0].PIIErased || len(res.Events[0].PII) != 0 {
			t.Errorf("%s: append reports %q (erased %v), want its personal data dropped", subject, res.Events[0].PII, res.Events[0].PIIErased)
		}
		var live int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pii_keys WHERE subject = $1 AND wrapped_key IS NOT NULL`, subject).Scan(&live); err != nil || live != 0 {
			t.Errorf("%s: %d keys after the erasure (%v), want none", subject, live, err)
		}
		if got := readPII(t, newStore(), "s-"+subject); len(got) != 1 || got[0] != "erased" {
			t.Errorf("%s: reads back %q", subject, got)
		}
	}
}

// Concurrent appends for one new subject, grouped into one transaction
// or not, from two processes: one key wins and every event opens with it.
func TestConcurrentAppendsOfOneNewSubject(t *testing.T) {
	pool, _, newStore := keyedStores(t)
	stores := []*pgstore.Store{newStore(), newStore()}
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := stores[i%2].Append(ctx, fmt.Sprintf("s-%d", i), eventlog.ExpectNoStream, withPII(i, "customer/corp1/shared"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var keys int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pii_keys WHERE subject = 'customer/corp1/shared'`).Scan(&keys); err != nil || keys != 1 {
		t.Fatalf("%d keys (%v), want 1", keys, err)
	}
	reader := newStore()
	for i := range n {
		want := string(withPII(i, "").PII)
		if got := readPII(t, reader, fmt.Sprintf("s-%d", i)); len(got) != 1 || got[0] != want {
			t.Errorf("stream s-%d reads back %q, want %s", i, got, want)
		}
	}
}
