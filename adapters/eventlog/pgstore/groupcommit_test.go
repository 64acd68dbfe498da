package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/custody/custody/adapters/testkit/poll"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestConformanceWithoutGroupCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		s, _ := newStore(t, pgstore.Options{PageSize: 64, GroupCommits: -1})
		return storetest.Harness{Log: s, Eraser: s}
	})
}

// groupAppend is one append of a group commit test and its outcome.
type groupAppend struct {
	ctx      context.Context // default Background
	stream   string
	expected eventlog.ExpectedVersion
	event    events.Event
	res      eventlog.AppendResult
	err      error
}

// appendQueued holds the store's one group commit in flight (an append
// waiting for a row another transaction inserted), queues every append of
// group behind it, then lets it go, and waits for all of them: the queued
// appends are flushed as one group. beforeRelease, when not nil, runs
// once every append is queued.
func appendQueued(t *testing.T, s *pgstore.Store, pool *pgxpool.Pool, blocker string, group []*groupAppend, beforeRelease func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO events (event_id, stream, stream_version, type, schema_version, corp_id, occurred_at, data)
		VALUES ($1, $2, 0, 'test.happened', 1, 'corp1', now(), '{}')`, storetest.Event(9999).ID, blocker); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, blocker, eventlog.ExpectNoStream, storetest.Event(9998))
		blocked <- err
	}()
	poll.Until(t, "the first append waits for the open transaction", func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO events%'`).Scan(&n)
		return err == nil && n == 1
	})
	var wg sync.WaitGroup
	for _, a := range group {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx := a.ctx
			if actx == nil {
				actx = ctx
			}
			a.res, a.err = s.Append(actx, a.stream, a.expected, a.event)
		}()
	}
	poll.Until(t, "every append queued", func() bool { return pgstore.QueuedAppends(s) == len(group) })
	if beforeRelease != nil {
		beforeRelease()
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("blocked append: %v, want a conflict", err)
	}
	wg.Wait()
}

// TestGroupCommit: appends queued behind a commit in flight share one
// transaction, each with its own expected-version check; a statement that
// fails rolls the group back and every append is decided alone, as if
// there had been no group.
func TestGroupCommit(t *testing.T) {
	s, pool := newStore(t, pgstore.Options{})
	ctx := context.Background()
	first := storetest.Event(1)
	if _, err := s.Append(ctx, "taken", eventlog.ExpectNoStream, first); err != nil {
		t.Fatal(err)
	}

	// One group: fresh streams and an append whose expectation fails.
	var group []*groupAppend
	for i := range 6 {
		group = append(group, &groupAppend{stream: fmt.Sprintf("g1-%d", i), expected: eventlog.ExpectNoStream, event: storetest.Event(100 + i)})
	}
	mismatch := &groupAppend{stream: "taken", expected: eventlog.ExpectNoStream, event: storetest.Event(200)}
	group = append(group, mismatch)
	appendQueued(t, s, pool, "blocker-1", group, nil)
	tx := map[uint64]bool{}
	for _, a := range group[:6] {
		if a.err != nil {
			t.Fatalf("append to %s: %v", a.stream, a.err)
		}
		if len(a.res.Events) != 1 || a.res.Events[0].ID != a.event.ID || a.res.Events[0].StreamVersion != 0 || a.res.Replayed {
			t.Fatalf("append to %s answered %+v", a.stream, a.res)
		}
		tx[a.res.Events[0].Position.Commit] = true
	}
	if len(tx) != 1 {
		t.Fatalf("the queued appends were committed in %d transactions, want one group", len(tx))
	}
	var conflict *eventlog.ConflictError
	if !errors.As(mismatch.err, &conflict) || conflict.Actual != 0 {
		t.Fatalf("append to a taken stream: %v, want a conflict at version 0", mismatch.err)
	}

	// Another group: an event whose id is stored in another stream (the
	// unique constraint refuses it: the statement fails), a retry of a
	// stored append, and fresh streams. The group is rolled back and each
	// append gets the answer it gets alone.
	group = nil
	for i := range 4 {
		group = append(group, &groupAppend{stream: fmt.Sprintf("g2-%d", i), expected: eventlog.ExpectNoStream, event: storetest.Event(300 + i)})
	}
	bad := &groupAppend{stream: "bad", expected: eventlog.ExpectAny, event: first}
	again := &groupAppend{stream: "taken", expected: eventlog.ExpectNoStream, event: first}
	group = append(group, bad, again)
	appendQueued(t, s, pool, "blocker-2", group, nil)
	for _, a := range group[:4] {
		if a.err != nil || len(a.res.Events) != 1 || a.res.Events[0].ID != a.event.ID {
			t.Fatalf("append to %s: %+v, %v", a.stream, a.res, a.err)
		}
	}
	if !errors.Is(bad.err, eventlog.ErrConflict) {
		t.Fatalf("an id stored in another stream: %v, want ErrConflict", bad.err)
	}
	if _, err := s.ReadStream(ctx, "bad", 0); !errors.Is(err, eventlog.ErrStreamNotFound) {
		t.Fatalf("refused event was stored: %v", err)
	}
	if again.err != nil || !again.res.Replayed || again.res.Events[0].ID != again.event.ID {
		t.Fatalf("retried append: %+v, %v, want the stored original", again.res, again.err)
	}
	recs, err := s.ReadStream(ctx, "taken", 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("stream taken holds %d events (%v), want 1", len(recs), err)
	}
}

// TestGroupCommitGivenUp: an append whose caller gives up while it is
// queued is left out of its group: nothing of it is stored, and the rest
// of the group is.
func TestGroupCommitGivenUp(t *testing.T) {
	s, pool := newStore(t, pgstore.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quitter := &groupAppend{ctx: ctx, stream: "quitter", expected: eventlog.ExpectNoStream, event: storetest.Event(1)}
	stayer := &groupAppend{stream: "stayer", expected: eventlog.ExpectNoStream, event: storetest.Event(2)}
	appendQueued(t, s, pool, "blocker", []*groupAppend{quitter, stayer}, cancel)
	if !errors.Is(quitter.err, context.Canceled) {
		t.Fatalf("given-up append: %v, want context.Canceled", quitter.err)
	}
	if stayer.err != nil {
		t.Fatal(stayer.err)
	}
	if _, err := s.ReadStream(context.Background(), "quitter", 0); !errors.Is(err, eventlog.ErrStreamNotFound) {
		t.Fatalf("the given-up append was stored: %v", err)
	}
}
