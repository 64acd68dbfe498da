package kurrentstandin_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/custody/custody/adapters/testkit/kurrentstandin"
)

// These tests drive the stand-in with the real esdb client over loopback
// gRPC and pin the server behaviours the issue lists as client traps, so a
// change that makes the stand-in less faithful fails here.

func start(t *testing.T, opts kurrentstandin.Options) (*kurrentstandin.Server, *esdb.Client) {
	t.Helper()
	srv, err := kurrentstandin.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	conf, err := esdb.ParseConnectionString(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func ev(typ string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{"a":1}`), Metadata: []byte(`{"m":2}`)}
}

func readStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, n uint64) ([]*esdb.RecordedEvent, error) {
	t.Helper()
	rs, err := c.ReadStream(ctx(t), stream, opts, n)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e.Event)
	}
}

func readAll(t *testing.T, c *esdb.Client, opts esdb.ReadAllOptions, n uint64) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := c.ReadAll(ctx(t), opts, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Event)
	}
}

func isWrongVersion(err error) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.Code() == esdb.ErrorCodeWrongExpectedVersion
}

func TestRoundTripMetadataAndIDs(t *testing.T) {
	now := time.Date(2026, 11, 22, 1, 2, 3, 400, time.UTC)
	_, c := start(t, kurrentstandin.Options{Now: func() time.Time { return now }})
	e := ev("t.one")
	wr, err := c.AppendToStream(ctx(t), "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, e)
	if err != nil {
		t.Fatal(err)
	}
	if wr.NextExpectedVersion != 0 {
		t.Fatalf("next expected %d, want 0", wr.NextExpectedVersion)
	}
	got, err := readStream(t, c, "s", esdb.ReadStreamOptions{}, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("read: %v, %d events", err, len(got))
	}
	r := got[0]
	// The client decodes ids from two 64-bit halves and "created" from
	// 100 ns ticks; a wrong encoding shows up as a different id or time.
	if r.EventID != e.EventID || r.EventType != "t.one" || r.ContentType != "application/json" {
		t.Fatalf("read back %s %q %q", r.EventID, r.EventType, r.ContentType)
	}
	if !r.CreatedDate.Equal(now.Truncate(100 * time.Nanosecond)) {
		t.Fatalf("created %v, want %v", r.CreatedDate, now)
	}
	if string(r.Data) != `{"a":1}` || string(r.UserMetadata) != `{"m":2}` {
		t.Fatalf("data %s metadata %s", r.Data, r.UserMetadata)
	}
	if r.Position.Commit != wr.CommitPosition || r.Position.Prepare != wr.PreparePosition {
		t.Fatalf("position %v, append said %d/%d", r.Position, wr.CommitPosition, wr.PreparePosition)
	}
}

func TestExpectedRevisionsAndIdempotency(t *testing.T) {
	_, c := start(t, kurrentstandin.Options{})
	a, b := ev("t"), ev("t")
	app := func(rev esdb.ExpectedRevision, evs ...esdb.EventData) (*esdb.WriteResult, error) {
		return c.AppendToStream(ctx(t), "s", esdb.AppendToStreamOptions{ExpectedRevision: rev}, evs...)
	}
	if _, err := app(esdb.StreamExists{}, a); !isWrongVersion(err) {
		t.Fatalf("stream-exists on no stream: %v", err)
	}
	if _, err := app(esdb.Revision(0), a); !isWrongVersion(err) {
		t.Fatalf("revision 0 on no stream: %v", err)
	}
	if _, err := app(esdb.NoStream{}, a, b); err != nil {
		t.Fatal(err)
	}
	// Same ids at the same place with a non-Any expectation: success, no write.
	wr, err := app(esdb.NoStream{}, a, b)
	if err != nil || wr.NextExpectedVersion != 1 {
		t.Fatalf("idempotent retry: %v, next %v", err, wr)
	}
	wr, err = app(esdb.Revision(0), b)
	if err != nil || wr.NextExpectedVersion != 1 {
		t.Fatalf("idempotent retry of the second event: %v, next %v", err, wr)
	}
	// Different ids at a stale place: refused.
	if _, err := app(esdb.Revision(0), ev("t")); !isWrongVersion(err) {
		t.Fatalf("stale revision: %v", err)
	}
	// Any recognises a batch already stored, as a server does: the
	// originals are answered, nothing is written.
	wr, err = app(esdb.Any{}, a, b)
	if err != nil || wr.NextExpectedVersion != 1 {
		t.Fatalf("Any retry of a stored batch: %v, next %v", err, wr)
	}
	wr, err = app(esdb.StreamExists{}, b)
	if err != nil || wr.NextExpectedVersion != 1 {
		t.Fatalf("stream-exists retry of the stored second event: %v, next %v", err, wr)
	}
	// A batch starting with a stored id but going on differently is refused.
	if _, err := app(esdb.Any{}, a, ev("t")); !isWrongVersion(err) {
		t.Fatalf("Any batch matching only in part: %v", err)
	}
	got, _ := readStream(t, c, "s", esdb.ReadStreamOptions{}, 10)
	if len(got) != 2 {
		t.Fatalf("after Any retries the stream holds %d events, want 2", len(got))
	}
	// Appended after other events, the ids are still recognised.
	cev := ev("t")
	if _, err := app(esdb.Any{}, cev); err != nil {
		t.Fatal(err)
	}
	if wr, err = app(esdb.Any{}, a); err != nil || wr.NextExpectedVersion != 0 {
		t.Fatalf("Any retry of the first event after later ones: %v, next %v", err, wr)
	}

	// With NoAnyDeduplication, Any always writes (the weakest behaviour the
	// server's guarantee allows).
	_, weak := start(t, kurrentstandin.Options{NoAnyDeduplication: true})
	for range 2 {
		if _, err := weak.AppendToStream(ctx(t), "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, b); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := readStream(t, weak, "s", esdb.ReadStreamOptions{}, 10); len(got) != 2 || got[1].EventID != b.EventID {
		t.Fatalf("without Any deduplication the stream holds %d events, want 2 (a duplicate)", len(got))
	}
	got, _ = readStream(t, c, "s", esdb.ReadStreamOptions{}, 10)
	if len(got) != 3 {
		t.Fatalf("stream holds %d events, want 3", len(got))
	}
	if _, err := readStream(t, c, "missing", esdb.ReadStreamOptions{}, 10); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("read of a missing stream: %v", err)
	}
	back, _ := readStream(t, c, "s", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2)
	if len(back) != 2 || back[0].EventNumber != 2 || back[1].EventNumber != 1 {
		t.Fatalf("backwards read: %d events", len(back))
	}
}

func TestMaxAppendSize(t *testing.T) {
	_, c := start(t, kurrentstandin.Options{MaxAppendSize: 100})
	big := ev("t")
	big.Data = []byte(`"` + strings.Repeat("x", 200) + `"`)
	if _, err := c.AppendToStream(ctx(t), "s", esdb.AppendToStreamOptions{}, big); err == nil {
		t.Fatal("an append over the maximum size was accepted")
	}
	if _, err := readStream(t, c, "s", esdb.ReadStreamOptions{}, 1); err == nil {
		t.Fatal("the refused append created its stream")
	}
}

func TestAllPositionsAndSubscriptions(t *testing.T) {
	srv, c := start(t, kurrentstandin.Options{})
	for i := range 3 {
		if _, err := c.AppendToStream(ctx(t), "app-"+string(rune('a'+i)), esdb.AppendToStreamOptions{}, ev("t"), ev("t")); err != nil {
			t.Fatal(err)
		}
		srv.AppendSystemEvent("$stats", "$statsCollected")
	}
	all := readAll(t, c, esdb.ReadAllOptions{}, 100)
	if len(all) != 10 { // $settings, then 3 × (2 events + 1 system event)
		t.Fatalf("$all holds %d records, want 10", len(all))
	}
	for i := 1; i < len(all); i++ {
		p, q := all[i-1].Position, all[i].Position
		if !(p.Commit < q.Commit || p.Commit == q.Commit && p.Prepare < q.Prepare) {
			t.Fatalf("$all position %v after %v", q, p)
		}
	}
	// Outside explicit transactions every event's commit position is its
	// prepare position, as on KurrentDB since 20.6.
	for _, r := range all {
		if r.Position.Commit != r.Position.Prepare {
			t.Fatalf("position %v: commit differs from prepare", r.Position)
		}
	}
	// A read from a position includes the event there.
	from := readAll(t, c, esdb.ReadAllOptions{From: all[4].Position}, 100)
	if len(from) != 6 || from[0].EventID != all[4].EventID {
		t.Fatalf("read from %v: %d records starting %v", all[4].Position, len(from), from[0].Position)
	}
	back := readAll(t, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2)
	if len(back) != 2 || back[0].EventID != all[9].EventID {
		t.Fatalf("backwards read of $all: %d records", len(back))
	}

	// A filtered subscription from a position: confirmation first (the
	// client fails to subscribe otherwise), then events strictly after it,
	// then live ones; filtered-out records only move checkpoints.
	sub, err := c.SubscribeToAll(ctx(t), esdb.SubscribeToAllOptions{
		From:   all[4].Position,
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"app-"}},
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	next := func() *esdb.RecordedEvent {
		t.Helper()
		for {
			e := sub.Recv()
			switch {
			case e.SubscriptionDropped != nil:
				t.Fatalf("dropped: %v", e.SubscriptionDropped.Error)
			case e.EventAppeared != nil:
				return e.EventAppeared.Event
			}
		}
	}
	for _, want := range []int{5, 7, 8} {
		if got := next(); got.EventID != all[want].EventID {
			t.Fatalf("subscription delivered %s %s, want record %d", got.StreamID, got.EventID, want)
		}
	}
	// Then caught up, as a server says once the stored events are sent.
	for caught := false; !caught; {
		switch e := sub.Recv(); {
		case e.SubscriptionDropped != nil:
			t.Fatalf("dropped: %v", e.SubscriptionDropped.Error)
		case e.EventAppeared != nil:
			t.Fatalf("event %s before caught-up", e.EventAppeared.Event.EventID)
		case e.CaughtUp != nil:
			caught = true
		}
	}
	live := ev("t")
	if _, err := c.AppendToStream(ctx(t), "app-z", esdb.AppendToStreamOptions{}, live); err != nil {
		t.Fatal(err)
	}
	if got := next(); got.EventID != live.EventID {
		t.Fatalf("live event %s, want %s", got.EventID, live.EventID)
	}
	// A dropped subscription ends; the client does not resubscribe.
	if n := srv.DropSubscriptions(); n != 1 {
		t.Fatalf("dropped %d subscriptions, want 1", n)
	}
	for {
		e := sub.Recv()
		if e.SubscriptionDropped != nil {
			break
		}
	}
}

func TestStreamReadPositions(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		_, c := start(t, kurrentstandin.Options{LegacyStreamReadPositions: legacy})
		wr, err := c.AppendToStream(ctx(t), "s", esdb.AppendToStreamOptions{}, ev("t"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := readStream(t, c, "s", esdb.ReadStreamOptions{}, 1)
		if err != nil || len(got) != 1 {
			t.Fatal(err)
		}
		want := esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}
		if legacy {
			want = esdb.Position{Commit: ^uint64(0), Prepare: ^uint64(0)}
		}
		if got[0].Position != want {
			t.Fatalf("legacy %v: stream read position %v, want %v", legacy, got[0].Position, want)
		}
		if all := readAll(t, c, esdb.ReadAllOptions{From: esdb.Start{}}, 10); all[len(all)-1].Position.Commit != wr.CommitPosition {
			t.Fatalf("legacy %v: $all read position %v, want the append's", legacy, all[len(all)-1].Position)
		}
	}
}

func TestWithoutServerFeatures(t *testing.T) {
	_, c := start(t, kurrentstandin.Options{DisableServerFeatures: true})
	if _, err := c.AppendToStream(ctx(t), "s", esdb.AppendToStreamOptions{}, ev("t")); err != nil {
		t.Fatalf("append against a server without ServerFeatures: %v", err)
	}
}
