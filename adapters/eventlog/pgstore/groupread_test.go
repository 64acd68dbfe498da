package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/testkit/poll"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestConformanceWithoutGroupedReads(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		s, _ := newStore(t, pgstore.Options{PageSize: 64, ReadGroups: -1})
		return storetest.Harness{Log: s, Eraser: s}
	})
}

// streamRead is one ReadStream of a grouped-read test and its answer.
type streamRead struct {
	ctx    context.Context // default Background
	stream string
	from   int64
	recs   []events.Recorded
	err    error
}

// readsQueued holds the store's one round trip of reads in flight (a read
// waiting for a lock on the events table), queues every read of group
// behind it, then lets it go and waits for all of them. beforeRelease,
// when not nil, runs once every read is queued.
func readsQueued(t *testing.T, s *pgstore.Store, pool *pgxpool.Pool, group []*streamRead, beforeRelease func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE events IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := s.ReadStream(ctx, "s-0", 0)
		blocked <- err
	}()
	poll.Until(t, "the first read waits for the lock", func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM events WHERE stream%'`).Scan(&n)
		return err == nil && n == 1
	})
	var wg sync.WaitGroup
	for _, r := range group {
		wg.Go(func() {
			rctx := r.ctx
			if rctx == nil {
				rctx = ctx
			}
			r.recs, r.err = s.ReadStream(rctx, r.stream, r.from)
		})
	}
	poll.Until(t, "every read queued", func() bool { return pgstore.QueuedReads(s) == len(group) })
	if beforeRelease != nil {
		beforeRelease()
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err != nil {
		t.Fatalf("blocked read: %v", err)
	}
	wg.Wait()
}

// fillStreams appends to s-0 … s-(n-1) i+1 events each, every other one
// carrying personal data of its own subject.
func fillStreams(t *testing.T, s *pgstore.Store, n int) {
	t.Helper()
	for i := range n {
		var evs []events.Event
		for j := range i + 1 {
			e := storetest.Event(100*i + j)
			if j%2 == 0 {
				e.Subject = fmt.Sprintf("subject-%d", i)
				e.PII = fmt.Appendf(nil, `{"name":"customer %d.%d"}`, i, j)
			}
			evs = append(evs, e)
		}
		if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i), eventlog.ExpectNoStream, evs...); err != nil {
			t.Fatal(err)
		}
	}
}

// sameAnswer fails unless r got what a store without grouping answered
// (want, wantErr).
func sameAnswer(t *testing.T, r *streamRead, want []events.Recorded, wantErr error) {
	t.Helper()
	if (r.err == nil) != (wantErr == nil) || errors.Is(r.err, eventlog.ErrStreamNotFound) != errors.Is(wantErr, eventlog.ErrStreamNotFound) {
		t.Fatalf("read %s from %d: error %v, alone %v", r.stream, r.from, r.err, wantErr)
	}
	if (r.recs == nil) != (want == nil) || len(r.recs) != len(want) {
		t.Fatalf("read %s from %d: %d events (nil %v), alone %d (nil %v)", r.stream, r.from, len(r.recs), r.recs == nil, len(want), want == nil)
	}
	for i := range want {
		g, w := r.recs[i], want[i]
		if g.ID != w.ID || g.StreamVersion != w.StreamVersion || g.Position != w.Position || g.Stream != w.Stream ||
			!bytes.Equal(g.Data, w.Data) || !bytes.Equal(g.PII, w.PII) || g.Subject != w.Subject || !g.RecordedAt.Equal(w.RecordedAt) {
			t.Fatalf("read %s from %d: event %d is %+v, alone %+v", r.stream, r.from, i, g, w)
		}
	}
}

// TestReadsGrouped: reads queued behind a read in flight are sent in one
// round trip and each answers exactly what it answers alone: from the
// start, from the middle, at and past the end, and a stream that does not
// exist. A caller that gives up while queued gets its context's error
// and takes nothing from the others.
func TestReadsGrouped(t *testing.T) {
	s, pool := newStore(t, pgstore.Options{ReadGroups: 1})
	alone := storeOn(t, pool, pgstore.Options{ReadGroups: -1})
	fillStreams(t, s, 8)
	ctx := context.Background()

	var group []*streamRead
	for i := range 8 {
		for _, from := range []int64{0, int64(i) / 2, int64(i), int64(i) + 1, int64(i) + 3} {
			group = append(group, &streamRead{stream: fmt.Sprintf("s-%d", i), from: from})
		}
	}
	group = append(group, &streamRead{stream: "no-such-stream", from: 0}, &streamRead{stream: "no-such-stream", from: 2})
	gaveUp, cancel := context.WithCancel(ctx)
	quitter := &streamRead{ctx: gaveUp, stream: "s-7", from: 0}
	group = append(group, quitter)

	trips0 := pgstore.ReadRoundTrips(s)
	readsQueued(t, s, pool, group, cancel)
	if got := pgstore.ReadRoundTrips(s) - trips0; got != 2 {
		t.Fatalf("%d round trips of reads, want 2 (the read in flight, then the %d queued ones together)", got, len(group)-1)
	}
	if !errors.Is(quitter.err, context.Canceled) {
		t.Fatalf("the read that gave up answered %v, %d events", quitter.err, len(quitter.recs))
	}
	for _, r := range group[:len(group)-1] {
		want, wantErr := alone.ReadStream(ctx, r.stream, r.from)
		sameAnswer(t, r, want, wantErr)
	}
}

// TestReadGroupFails: a statement the server refuses fails its group's
// round trip; every read of the group then runs alone, so only the bad
// one fails, and the reader goes on grouping afterwards.
func TestReadGroupFails(t *testing.T) {
	s, pool := newStore(t, pgstore.Options{ReadGroups: 1})
	alone := storeOn(t, pool, pgstore.Options{ReadGroups: -1})
	fillStreams(t, s, 4)
	ctx := context.Background()
	var group []*streamRead
	for i := range 4 {
		group = append(group, &streamRead{stream: fmt.Sprintf("s-%d", i), from: 0})
	}
	bad := &streamRead{stream: "nul\x00stream", from: 0} // PostgreSQL refuses a NUL in text
	group = append(group[:2], append([]*streamRead{bad}, group[2:]...)...)
	readsQueued(t, s, pool, group, nil)
	if bad.err == nil || errors.Is(bad.err, eventlog.ErrStreamNotFound) {
		t.Fatalf("the bad read answered %v", bad.err)
	}
	for _, r := range group {
		if r == bad {
			continue
		}
		want, wantErr := alone.ReadStream(ctx, r.stream, r.from)
		sameAnswer(t, r, want, wantErr)
	}
	// Grouping still works.
	again := []*streamRead{{stream: "s-1", from: 0}, {stream: "s-2", from: 1}, {stream: "s-3", from: 3}}
	trips0 := pgstore.ReadRoundTrips(s)
	readsQueued(t, s, pool, again, nil)
	if got := pgstore.ReadRoundTrips(s) - trips0; got != 2 {
		t.Fatalf("%d round trips after a failed group, want 2", got)
	}
	for _, r := range again {
		want, wantErr := alone.ReadStream(ctx, r.stream, r.from)
		sameAnswer(t, r, want, wantErr)
	}
}

// TestConcurrentGroupedReads: 48 goroutines read streams that 8 others
// append to, with reads grouped; every answer is a gap-free run of the
// stream from the version asked, its events the ones appended, and the
// reads shared round trips.
func TestConcurrentGroupedReads(t *testing.T) {
	s, _ := newStore(t, pgstore.Options{ReadGroups: 2})
	ctx := context.Background()
	const streams, appends = 8, 40
	var (
		mu       sync.Mutex
		appended = map[string][]events.Event{} // by stream, in version order
	)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			st := fmt.Sprintf("c-%d", i)
			for j := range appends {
				e := storetest.Event(1000*i + j)
				if j%3 == 0 {
					e.Subject, e.PII = st, fmt.Appendf(nil, `{"n":%d}`, j)
				}
				if _, err := s.Append(ctx, st, eventlog.ExpectVersion(int64(j)-1), e); err != nil {
					t.Errorf("append %s %d: %v", st, j, err)
					return
				}
				mu.Lock()
				appended[st] = append(appended[st], e)
				mu.Unlock()
			}
		})
	}
	trips0 := pgstore.ReadRoundTrips(s)
	var reads sync.WaitGroup
	var nreads int64
	var nmu sync.Mutex
	for g := range 48 {
		reads.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 60 {
				st := fmt.Sprintf("c-%d", rng.IntN(streams))
				from := int64(rng.IntN(appends / 2))
				mu.Lock()
				known := len(appended[st]) // appended before the read began
				mu.Unlock()
				recs, err := s.ReadStream(ctx, st, from)
				if errors.Is(err, eventlog.ErrStreamNotFound) && known == 0 {
					continue
				}
				if err != nil {
					t.Errorf("read %s from %d: %v", st, from, err)
					return
				}
				if int64(known) > from && int64(len(recs)) < int64(known)-from {
					t.Errorf("read %s from %d: %d events, %d were appended before it began", st, from, len(recs), known)
					return
				}
				mu.Lock()
				stored := appended[st]
				for k, r := range recs {
					v := from + int64(k)
					if r.StreamVersion != v {
						t.Errorf("read %s from %d: event %d at version %d", st, from, k, r.StreamVersion)
					}
					if v < int64(len(stored)) && (r.ID != stored[v].ID || !bytes.Equal(r.PII, stored[v].PII)) {
						t.Errorf("read %s from %d: version %d is not the event appended there", st, from, v)
					}
				}
				mu.Unlock()
				nmu.Lock()
				nreads++
				nmu.Unlock()
			}
		})
	}
	wg.Wait()
	reads.Wait()
	if trips := pgstore.ReadRoundTrips(s) - trips0; trips >= nreads {
		t.Fatalf("%d reads took %d round trips: none shared", nreads, trips)
	}
}
