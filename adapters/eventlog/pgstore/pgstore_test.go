package pgstore_test

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/internal/pgmigrate"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newStore returns a migrated store on a fresh database, with a keyring
// whose keys live in the same database.
func newStore(t testing.TB, o pgstore.Options) (*pgstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if o.Keyring == nil {
		master := make([]byte, pii.KeySize)
		for i := range master {
			master[i] = byte(i)
		}
		k, err := pii.NewKeyring(master, pii.NewPostgresKeyStore(pool), pii.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.Keyring = k
	}
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	s, err := pgstore.New(ctx, pool, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		// A small page makes the suite cross page boundaries often.
		s, _ := newStore(t, pgstore.Options{PageSize: 64})
		return storetest.Harness{Log: s, Eraser: s}
	})
}

func TestOptionsValidate(t *testing.T) {
	err := pgstore.Options{PageSize: -1, PollInterval: -time.Second}.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"PageSize", "PollInterval", "Keyring"} {
		if !containsString(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := pgstore.New(context.Background(), nil, pgstore.Options{Keyring: pii.NewMemoryKeyring()}); err == nil {
		t.Error("New accepted a nil pool")
	}
}

func containsString(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestMigrateConcurrentlyAndTwice(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pgstore.Migrate(ctx, pool)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE component IN ('pgstore', 'pii')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	want := 0 // every migration file of pgstore and pii, each once
	for _, c := range []pgmigrate.Component{pgstore.Migrations(), pii.Migrations()} {
		files, err := fs.Glob(c.FS, c.Dir+"/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		want += len(files)
	}
	if want < 5 || n != want {
		t.Fatalf("%d migrations recorded, want %d (one per file)", n, want)
	}
}

// An open transaction that wrote an event holds back every later event
// from readers until it commits; then all appear, in order.
func TestInFlightTransactionHoldsBackReaders(t *testing.T) {
	s, pool := newStore(t, pgstore.Options{})
	ctx := context.Background()
	first := storetest.Event(1)
	res, err := s.Append(ctx, "a", eventlog.ExpectNoStream, first)
	if err != nil {
		t.Fatal(err)
	}

	// On a shared server another transaction may hold the first event back
	// for a while; wait until it is visible.
	waitHead(t, s, res.Events[0].Position)

	// A slow writer: its transaction takes an id and stays open.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	slow := storetest.Event(2)
	if _, err := tx.Exec(ctx, `INSERT INTO events (event_id, stream, stream_version, type, schema_version, corp_id, occurred_at, data)
		VALUES ($1, 'slow', 0, 'test.happened', 1, 'corp1', now(), '{}')`, slow.ID); err != nil {
		t.Fatal(err)
	}
	// A fast writer commits after the slow one started.
	fast := storetest.Event(3)
	if _, err := s.Append(ctx, "b", eventlog.ExpectNoStream, fast); err != nil {
		t.Fatal(err)
	}

	recs, err := s.ReadAll(ctx, events.Start, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != first.ID {
		t.Fatalf("while a transaction is in flight ReadAll returned %d events, want only the first", len(recs))
	}
	head, err := s.Head(ctx)
	if err != nil || head != res.Events[0].Position {
		t.Fatalf("head %v (err %v), want %v", head, err, res.Events[0].Position)
	}

	// A subscriber is held back too, and gets both once the slow one commits.
	got := make(chan events.Recorded, 3)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(sctx, recs[0].Position, func(r events.Recorded) error {
			got <- r
			return nil
		})
	}()
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := recv(t, got), recv(t, got)
	if a.ID != slow.ID || b.ID != fast.ID {
		t.Fatalf("after the commit the subscriber got %s then %s, want the slow writer's event first", a.ID, b.ID)
	}
	if !a.Position.Less(b.Position) {
		t.Fatalf("positions %v, %v out of order", a.Position, b.Position)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe ended with %v", err)
	}
}

// A subscriber in another process (another Store on another pool) is
// woken by NOTIFY long before its poll interval.
func TestSubscribeWokenByOtherStore(t *testing.T) {
	writer, pool := newStore(t, pgstore.Options{})
	reader, err := pgstore.New(context.Background(), pool, pgstore.Options{
		PollInterval: time.Hour, // only a notification can wake it
		Keyring:      pii.NewMemoryKeyring(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan events.Recorded, 10)
	done := make(chan error, 1)
	go func() {
		done <- reader.Subscribe(ctx, events.Start, func(r events.Recorded) error {
			got <- r
			return nil
		})
	}()
	// The reader may still be starting its listener: keep appending until
	// one event arrives; every later append must then arrive too.
	var want []events.Event
	for i := 0; ; i++ {
		e := storetest.Event(i)
		want = append(want, e)
		if _, err := writer.Append(ctx, "s", eventlog.ExpectAny, e); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r.ID != want[0].ID {
				t.Fatalf("first event %s, want %s", r.ID, want[0].ID)
			}
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	for _, e := range want[1:] {
		if r := recv(t, got); r.ID != e.ID {
			t.Fatalf("got %s, want %s", r.ID, e.ID)
		}
	}
	last := storetest.Event(1000)
	if _, err := writer.Append(ctx, "s", eventlog.ExpectAny, last); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, got); r.ID != last.ID {
		t.Fatalf("got %s, want %s", r.ID, last.ID)
	}
	cancel()
	<-done
}

func TestInvalidDataRefusedByDatabase(t *testing.T) {
	s, _ := newStore(t, pgstore.Options{})
	ctx := context.Background()
	e := storetest.Event(1)
	e.Data = []byte(`{"s":"nul \u0000 byte"}`) // valid JSON, refused by jsonb
	_, err := s.Append(ctx, "x", eventlog.ExpectAny, e)
	if !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Fatalf("err %v, want ErrInvalidEvent", err)
	}
	if _, err := s.ReadStream(ctx, "x", 0); !errors.Is(err, eventlog.ErrStreamNotFound) {
		t.Fatalf("refused event was stored: %v", err)
	}
}

// Event ids are unique across the whole log: an id stored in another
// stream is a conflict, not a silent duplicate.
func TestIDStoredInAnotherStream(t *testing.T) {
	s, _ := newStore(t, pgstore.Options{})
	ctx := context.Background()
	e := storetest.Event(1)
	if _, err := s.Append(ctx, "one", eventlog.ExpectAny, e); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, "two", eventlog.ExpectAny, e)
	if !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("err %v, want ErrConflict", err)
	}
}

// recv waits for the next delivered event; the deadline only turns a hang
// into a failure.
func recv(t *testing.T, ch <-chan events.Recorded) events.Recorded {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(time.Minute):
		t.Fatal("no event delivered")
		return events.Recorded{}
	}
}

// A subscription outlives lost connections (server restart, failover,
// a killed backend): it retries from its position, delivering every
// event exactly once.
func TestSubscribeSurvivesLostConnections(t *testing.T) {
	s, pool := newStore(t, pgstore.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan events.Recorded, 10)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, events.Start, func(r events.Recorded) error {
			got <- r
			return nil
		})
	}()
	first := storetest.Event(1)
	if _, err := s.Append(ctx, "s", eventlog.ExpectNoStream, first); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, got); r.ID != first.ID {
		t.Fatalf("got %s, want %s", r.ID, first.ID)
	}

	// The subscription's LISTEN connection starts once it has caught up,
	// on its own goroutine: wait for another backend to exist.
	killed := 0
	for wait := time.Now().Add(time.Minute); killed == 0; time.Sleep(10 * time.Millisecond) {
		if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed == 0 && time.Now().After(wait) {
			t.Fatal("no connection to kill: the test would prove nothing")
		}
	}

	// The writer may hit dead pooled connections too (one per append
	// until the pool has replaced them); a retry with the same ids is safe.
	appendRetrying := func(expected eventlog.ExpectedVersion, e events.Event) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			_, err := s.Append(ctx, "s", expected, e)
			if err == nil {
				return
			}
			if !errors.Is(err, eventlog.ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("append after the connections died: %v", err)
			}
		}
	}
	second := storetest.Event(2)
	appendRetrying(eventlog.ExpectVersion(0), second)
	if r := recv(t, got); r.ID != second.ID {
		t.Fatalf("got %s, want %s", r.ID, second.ID)
	}
	third := storetest.Event(3)
	appendRetrying(eventlog.ExpectVersion(1), third)
	if r := recv(t, got); r.ID != third.ID {
		t.Fatalf("got %s, want %s (a duplicate?)", r.ID, third.ID)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe ended with %v", err)
	}
}

// An error that needs a person ends the subscription instead of looping.
func TestSubscribeStopsOnPermanentError(t *testing.T) {
	s, pool := newStore(t, pgstore.Options{})
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `DROP TABLE events`); err != nil {
		t.Fatal(err)
	}
	err := s.Subscribe(ctx, events.Start, func(events.Recorded) error { return nil })
	if err == nil || !containsString(err.Error(), "events") {
		t.Fatalf("subscribe on a missing table: %v", err)
	}
}

func waitHead(t *testing.T, s *pgstore.Store, pos events.Position) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		h, err := s.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !h.Less(pos) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("head stays at %v, want %v", h, pos)
		}
		time.Sleep(time.Millisecond) // polling a condition
	}
}
