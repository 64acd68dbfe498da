package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// testRoundTrip: every envelope field comes back from ReadStream, ReadAll
// and Subscribe (JSON compared by value: a log may normalise it).
func testRoundTrip(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	e := Event(7)
	e.Type = "customer.relation_started"
	e.SchemaVersion = 2
	e.CorpID = "wwcorp"
	e.OccurredAt = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.FixedZone("CST", 8*3600))
	e.Actor = "staff:zhangsan"
	e.CommandID = "cmd-1"
	e.CorrelationID = "corr-1"
	e.CausationID = "cause-1"
	e.Data = []byte(`{"staff": "zhangsan", "tags": ["a", "b"], "nested": {"x": 1.5, "ok": true}}`)
	e.Subject = "customer/wwcorp/wm1"
	e.PII = []byte(`{"remark": "张三的客户"}`)
	res := mustAppend(t, log, "customer-wwcorp-wm1", eventlog.ExpectNoStream, e)
	waitHead(t, log, res.Events[0].Position)

	check := func(where string, r events.Recorded) {
		t.Helper()
		if r.ID != e.ID || r.Type != e.Type || r.SchemaVersion != e.SchemaVersion || r.CorpID != e.CorpID ||
			r.Actor != e.Actor || r.CommandID != e.CommandID || r.CorrelationID != e.CorrelationID ||
			r.CausationID != e.CausationID || r.Subject != e.Subject {
			t.Fatalf("%s: envelope %+v, want %+v", where, r.Event, e)
		}
		if !r.OccurredAt.Equal(e.OccurredAt) {
			t.Fatalf("%s: occurred at %v, want %v", where, r.OccurredAt, e.OccurredAt)
		}
		if r.RecordedAt.IsZero() {
			t.Fatalf("%s: recorded at is zero", where)
		}
		if !jsonEqual(t, r.Data, e.Data) {
			t.Fatalf("%s: data %s, want %s", where, r.Data, e.Data)
		}
		if r.PIIErased || !jsonEqual(t, r.PII, e.PII) {
			t.Fatalf("%s: personal data %s (erased %v), want %s", where, r.PII, r.PIIErased, e.PII)
		}
		if r.Stream != "customer-wwcorp-wm1" || r.StreamVersion != 0 || r.Position != res.Events[0].Position {
			t.Fatalf("%s: at %s/%d %v, want customer-wwcorp-wm1/0 %v", where, r.Stream, r.StreamVersion, r.Position, res.Events[0].Position)
		}
	}
	recs, err := log.ReadStream(ctx, "customer-wwcorp-wm1", 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("read stream: %d events, err %v", len(recs), err)
	}
	check("ReadStream", recs[0])
	all, err := log.ReadAll(ctx, events.Start, 10)
	if err != nil || len(all) != 1 {
		t.Fatalf("read all: %d events, err %v", len(all), err)
	}
	check("ReadAll", all[0])
	got := subscribeN(t, log, events.Start, 1)
	check("Subscribe", got[0])
}

// testReadStream: stream order, reading from a version, past the end, and
// a missing stream.
func testReadStream(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	if _, err := log.ReadStream(ctx, "nothing-here", 0); !errors.Is(err, eventlog.ErrStreamNotFound) {
		t.Fatalf("read of a missing stream: err %v, want ErrStreamNotFound", err)
	}
	mustAppend(t, log, "a", eventlog.ExpectNoStream, batch(0, 5)...)
	mustAppend(t, log, "b", eventlog.ExpectNoStream, batch(10, 2)...)
	mustAppend(t, log, "a", eventlog.ExpectVersion(4), batch(5, 2)...)
	recs, err := log.ReadStream(ctx, "a", 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := versions(recs); !reflect.DeepEqual(got, []int64{3, 4, 5, 6}) {
		t.Fatalf("read from 3: versions %v", got)
	}
	for i, r := range recs {
		if r.Stream != "a" || !jsonEqual(t, r.Data, fmt.Appendf(nil, `{"n":%d}`, 3+i)) {
			t.Fatalf("event %d: %s %s", i, r.Stream, r.Data)
		}
	}
	recs, err = log.ReadStream(ctx, "a", 7)
	if err != nil || len(recs) != 0 {
		t.Fatalf("read past the end: %d events, err %v; want none and no error", len(recs), err)
	}
}

// testReadAll: global order equals append order, whatever the page size,
// with strictly increasing positions; Head is the last position.
func testReadAll(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	if head, err := log.Head(ctx); err != nil || !head.IsZero() {
		t.Fatalf("head of an empty log: %v, %v; want Start", head, err)
	}
	if recs, err := log.ReadAll(ctx, events.Start, 10); err != nil || len(recs) != 0 {
		t.Fatalf("read all of an empty log: %d events, err %v", len(recs), err)
	}
	var want []uuid.UUID
	var last events.Position
	for i := range 25 {
		evs := batch(i*10, 1+i%3)
		res := mustAppend(t, log, fmt.Sprintf("s-%d", i%4), eventlog.ExpectAny, evs...)
		want = append(want, eventIDs(evs)...)
		last = res.Events[len(res.Events)-1].Position
	}
	waitHead(t, log, last)
	head, err := log.Head(ctx)
	if err != nil || head != last {
		t.Fatalf("head %v (err %v), want the last append's %v", head, err, last)
	}
	for _, page := range []int{1, 3, 7, 1000} {
		got := readAll(t, log, page)
		if !reflect.DeepEqual(ids(got), want) {
			t.Fatalf("page size %d: read %d events out of append order", page, len(got))
		}
		for i := 1; i < len(got); i++ {
			if !got[i-1].Position.Less(got[i].Position) {
				t.Fatalf("page size %d: position %v after %v", page, got[i].Position, got[i-1].Position)
			}
		}
	}
	recs, err := log.ReadAll(ctx, last, 10)
	if err != nil || len(recs) != 0 {
		t.Fatalf("read after the head: %d events, err %v", len(recs), err)
	}
}

// testLargeStream: a stream of LargeStream events appends, reads and
// subscribes whole.
func testLargeStream(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	const stream = "large"
	exp := eventlog.ExpectNoStream
	var last events.Position
	for i := 0; i < LargeStream; {
		n := min(500, LargeStream-i)
		if i%2000 == 0 {
			n = 1 // single appends in between, too
		}
		res := mustAppend(t, log, stream, exp, batch(i, n)...)
		exp = res.NextExpected
		last = res.Events[n-1].Position
		i += n
	}
	if exp != eventlog.ExpectVersion(int64(LargeStream-1)) {
		t.Fatalf("next expected %s, want %d", exp, LargeStream-1)
	}
	recs, err := log.ReadStream(ctx, stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != LargeStream {
		t.Fatalf("read %d events, want %d", len(recs), LargeStream)
	}
	for i, r := range recs {
		if r.StreamVersion != int64(i) {
			t.Fatalf("event %d has version %d", i, r.StreamVersion)
		}
	}
	if !jsonEqual(t, recs[LargeStream-1].Data, fmt.Appendf(nil, `{"n":%d}`, LargeStream-1)) {
		t.Fatalf("last event holds %s", recs[LargeStream-1].Data)
	}
	tail, err := log.ReadStream(ctx, stream, int64(LargeStream-10))
	if err != nil || len(tail) != 10 || tail[0].StreamVersion != int64(LargeStream-10) {
		t.Fatalf("tail: %d events, err %v", len(tail), err)
	}
	waitHead(t, log, last)
	got := subscribeN(t, log, events.Start, LargeStream)
	if got[LargeStream-1].Position != last {
		t.Fatalf("subscription ends at %v, want %v", got[LargeStream-1].Position, last)
	}
}
