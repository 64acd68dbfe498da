package storetest

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// wantConflict checks err is a *eventlog.ConflictError reporting actual.
func wantConflict(t *testing.T, err error, actual int64) {
	t.Helper()
	if !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	var ce *eventlog.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *eventlog.ConflictError", err, err)
	}
	if ce.Actual != actual {
		t.Fatalf("conflict reports actual version %d, want %d", ce.Actual, actual)
	}
}

// testExpectedVersion: NoStream, StreamExists, exact versions and Any, and
// that a conflict writes nothing.
func testExpectedVersion(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)

	// NoStream: only on a new stream.
	res := mustAppend(t, log, "s-nostream", eventlog.ExpectNoStream, batch(0, 2)...)
	if got := versions(res.Events); !reflect.DeepEqual(got, []int64{0, 1}) {
		t.Fatalf("versions %v, want [0 1]", got)
	}
	if res.NextExpected != eventlog.ExpectVersion(1) {
		t.Fatalf("NextExpected %s, want 1", res.NextExpected)
	}
	_, err := log.Append(ctx, "s-nostream", eventlog.ExpectNoStream, Event(2))
	wantConflict(t, err, 1)

	// StreamExists: only on a stream with events.
	_, err = log.Append(ctx, "s-exists", eventlog.ExpectStreamExists, Event(0))
	wantConflict(t, err, -1)
	mustAppend(t, log, "s-exists", eventlog.ExpectAny, Event(0))
	res = mustAppend(t, log, "s-exists", eventlog.ExpectStreamExists, Event(1))
	if res.Events[0].StreamVersion != 1 || res.NextExpected != 1 {
		t.Fatalf("stream-exists append got version %d next %s, want 1 and 1", res.Events[0].StreamVersion, res.NextExpected)
	}

	// Exact versions.
	_, err = log.Append(ctx, "s-exact", eventlog.ExpectVersion(0), Event(0))
	wantConflict(t, err, -1)
	mustAppend(t, log, "s-exact", eventlog.ExpectNoStream, Event(0))
	res = mustAppend(t, log, "s-exact", eventlog.ExpectVersion(0), Event(1), Event(2))
	if got := versions(res.Events); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Fatalf("versions %v, want [1 2]", got)
	}
	for _, stale := range []int64{0, 1, 3, 7} {
		_, err = log.Append(ctx, "s-exact", eventlog.ExpectVersion(stale), Event(9))
		wantConflict(t, err, 2)
	}
	mustAppend(t, log, "s-exact", res.NextExpected, Event(3))

	// Any: new and existing streams.
	res = mustAppend(t, log, "s-any", eventlog.ExpectAny, Event(0))
	if res.Events[0].StreamVersion != 0 {
		t.Fatalf("any on a new stream wrote version %d", res.Events[0].StreamVersion)
	}
	res = mustAppend(t, log, "s-any", eventlog.ExpectAny, Event(1), Event(2))
	if got := versions(res.Events); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Fatalf("versions %v, want [1 2]", got)
	}

	// A conflict writes nothing.
	recs, err := log.ReadStream(ctx, "s-nostream", 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("after conflicts s-nostream holds %d events (err %v), want 2", len(recs), err)
	}
	recs, err = log.ReadStream(ctx, "s-exact", 0)
	if err != nil || len(recs) != 4 {
		t.Fatalf("after conflicts s-exact holds %d events (err %v), want 4", len(recs), err)
	}
}

// testConcurrentConflict: writers race for each next version of one
// stream; exactly one wins every round, the others get ErrConflict.
func testConcurrentConflict(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	const rounds = 15
	const stream = "contended"
	exp := eventlog.ExpectNoStream
	for round := range rounds {
		var (
			wins, conflicts atomic.Int64
			winner          atomic.Value
			wg              sync.WaitGroup
			start           = make(chan struct{})
			errs            = make(chan error, Writers)
		)
		for w := range Writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				e := Event(round*100 + w)
				res, err := log.Append(ctx, stream, exp, e)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(res.Events[0].ID)
				case errors.Is(err, eventlog.ErrConflict):
					conflicts.Add(1)
				default:
					errs <- err
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: unexpected error: %v", round, err)
		}
		if wins.Load() != 1 || conflicts.Load() != int64(Writers-1) {
			t.Fatalf("round %d: %d wins and %d conflicts, want 1 and %d", round, wins.Load(), conflicts.Load(), Writers-1)
		}
		recs, err := log.ReadStream(ctx, stream, int64(round))
		if err != nil || len(recs) != 1 || recs[0].ID != winner.Load().(uuid.UUID) {
			t.Fatalf("round %d: stream tail %v (err %v), want only the winner", round, ids(recs), err)
		}
		exp = eventlog.ExpectVersion(int64(round))
	}
}

// testConcurrentAny: ExpectAny appends to one stream from many writers all
// succeed, with gap-free versions.
func testConcurrentAny(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	const per = 30
	var wg sync.WaitGroup
	errs := make(chan error, Writers)
	for w := range Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if _, err := log.Append(ctx, "any-stream", eventlog.ExpectAny, Event(w*1000+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append with ExpectAny under contention: %v", err)
	}
	recs, err := log.ReadStream(ctx, "any-stream", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != Writers*per {
		t.Fatalf("stream holds %d events, want %d", len(recs), Writers*per)
	}
	for i, r := range recs {
		if r.StreamVersion != int64(i) {
			t.Fatalf("event %d has version %d", i, r.StreamVersion)
		}
	}
}

// testIdempotent: re-appending stored events returns the originals, also
// after the stream moved on; a partly stored batch is a conflict.
func testIdempotent(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	const stream = "idem"
	first := batch(0, 2)
	orig := mustAppend(t, log, stream, eventlog.ExpectNoStream, first...)
	second := batch(2, 2)
	orig2 := mustAppend(t, log, stream, eventlog.ExpectVersion(1), second...)
	mustAppend(t, log, stream, eventlog.ExpectVersion(3), Event(4))

	same := func(what string, got eventlog.AppendResult, want eventlog.AppendResult) {
		t.Helper()
		if !reflect.DeepEqual(ids(got.Events), ids(want.Events)) ||
			!reflect.DeepEqual(versions(got.Events), versions(want.Events)) {
			t.Fatalf("%s: got %v %v, want the originals %v %v", what, ids(got.Events), versions(got.Events), ids(want.Events), versions(want.Events))
		}
		for i := range got.Events {
			if got.Events[i].Position != want.Events[i].Position {
				t.Fatalf("%s: event %d at %v, originally %v", what, i, got.Events[i].Position, want.Events[i].Position)
			}
		}
		if got.NextExpected != want.NextExpected {
			t.Fatalf("%s: NextExpected %s, want %s", what, got.NextExpected, want.NextExpected)
		}
		if h.caps().ReportsReplayed && !got.Replayed {
			t.Fatalf("%s: Replayed false, want true (nothing was written)", what)
		}
	}
	if orig.Replayed || orig2.Replayed {
		t.Fatalf("fresh appends reported Replayed")
	}

	// Retries with the original expected version, after the stream moved on.
	res, err := log.Append(ctx, stream, eventlog.ExpectNoStream, first...)
	if err != nil {
		t.Fatalf("retry of the first append: %v", err)
	}
	same("retry of the first append", res, orig)
	res, err = log.Append(ctx, stream, eventlog.ExpectVersion(1), second...)
	if err != nil {
		t.Fatalf("retry of the second append: %v", err)
	}
	same("retry of the second append", res, orig2)

	if h.caps().IdempotentWithAny {
		res, err = log.Append(ctx, stream, eventlog.ExpectAny, second...)
		if err != nil {
			t.Fatalf("retry with ExpectAny: %v", err)
		}
		same("retry with ExpectAny", res, orig2)
	}

	// Only some ids stored: a conflict, and nothing is written.
	_, err = log.Append(ctx, stream, eventlog.ExpectVersion(0), first[1], Event(99))
	if !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("append of one stored and one new event: err %v, want ErrConflict", err)
	}
	recs, err := log.ReadStream(ctx, stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("stream holds %d events after retries, want 5", len(recs))
	}
	seen := map[uuid.UUID]bool{}
	for _, r := range recs {
		if seen[r.ID] {
			t.Fatalf("event %s stored twice", r.ID)
		}
		seen[r.ID] = true
	}
}

// testBadInput: malformed appends fail with ErrInvalidEvent and write
// nothing, not even the valid events of the same batch.
func testBadInput(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	mustAppend(t, log, "existing", eventlog.ExpectNoStream, Event(0))
	before := readAllEventually(t, log, 1)
	head, err := log.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	type tc struct {
		name     string
		stream   string
		expected eventlog.ExpectedVersion
		evs      []events.Event
	}
	mod := func(f func(*events.Event)) []events.Event {
		e := Event(1)
		f(&e)
		return []events.Event{e}
	}
	cases := []tc{
		{"empty stream", "", eventlog.ExpectAny, batch(1, 1)},
		{"nil id", "bad", eventlog.ExpectAny, mod(func(e *events.Event) { e.ID = uuid.Nil })},
		{"empty type", "bad", eventlog.ExpectAny, mod(func(e *events.Event) { e.Type = "" })},
		{"empty corp", "bad", eventlog.ExpectAny, mod(func(e *events.Event) { e.CorpID = "" })},
		{"personal data without subject", "bad", eventlog.ExpectAny, mod(func(e *events.Event) { e.PII = []byte(`{"name":"x"}`) })},
		{"invalid expected version", "bad", eventlog.ExpectedVersion(-4), batch(1, 1)},
		{"invalid JSON data", "bad", eventlog.ExpectAny, mod(func(e *events.Event) { e.Data = []byte(`{"n":`) })},
		{"no data", "bad", eventlog.ExpectAny, mod(func(e *events.Event) { e.Data = nil })},
		{"one bad event in a batch", "bad", eventlog.ExpectAny, append(batch(1, 2), mod(func(e *events.Event) { e.Type = "" })...)},
		{"bad event appended to an existing stream", "existing", eventlog.ExpectVersion(0), append(batch(1, 1), mod(func(e *events.Event) { e.ID = uuid.Nil })...)},
	}
	for _, c := range cases {
		_, err := log.Append(ctx, c.stream, c.expected, c.evs...)
		if !errors.Is(err, eventlog.ErrInvalidEvent) {
			t.Errorf("%s: err %v, want ErrInvalidEvent", c.name, err)
		}
	}
	if _, err := log.ReadStream(ctx, "bad", 0); !errors.Is(err, eventlog.ErrStreamNotFound) {
		t.Errorf("a refused append created its stream: err %v", err)
	}
	if h2, err := log.Head(ctx); err != nil || h2 != head {
		t.Errorf("head moved from %v to %v (err %v) after refused appends", head, h2, err)
	}
	// A later valid append shows that nothing refused was stored.
	res := mustAppend(t, log, "existing", eventlog.ExpectVersion(0), Event(2))
	waitHead(t, log, res.Events[0].Position)
	after := readAll(t, log, 100)
	if len(after) != len(before)+1 {
		t.Errorf("log holds %d events, want %d", len(after), len(before)+1)
	}
}
