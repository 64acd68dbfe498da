// Package storetest is the conformance suite every eventlog.EventLog must
// pass: expected-version semantics, conflicts under concurrent appends,
// idempotent event ids, global ordering and paging of ReadAll, gap-free
// subscriptions under concurrent writers, resuming, large streams, sealed
// personal data with erasure, refusal of bad input, and the optional
// eventlog.Snapshots of the logs that have them.
//
// An adapter's test calls Run with a constructor returning a fresh, empty
// log per test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Harness {
//			l := memlog.New()
//			return storetest.Harness{Log: l, Eraser: l}
//		})
//	}
//
// The suite knows nothing about storage: it only uses the port.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Harness is one fresh log under test.
type Harness struct {
	Log    eventlog.EventLog
	Eraser eventlog.Eraser
	// Capabilities narrows what the suite expects; nil means everything.
	Capabilities *Capabilities
}

// Capabilities lists guarantees some logs cannot give.
type Capabilities struct {
	// IdempotentWithAny: re-appending stored events with ExpectAny returns
	// the originals. KurrentDB only guarantees idempotency for an exact
	// expected version.
	IdempotentWithAny bool
	// ReportsReplayed: a retry of a stored append says so
	// (AppendResult.Replayed). A server that deduplicates silently
	// (KurrentDB, for an exact expected version) answers it as a write.
	ReportsReplayed bool
}

func (h Harness) caps() Capabilities {
	if h.Capabilities == nil {
		return Capabilities{IdempotentWithAny: true, ReportsReplayed: true}
	}
	return *h.Capabilities
}

// Sizes of the heavier scenarios. They are the required minimums
// and fit the default run; raise them locally to stress an adapter.
var (
	// Writers is how many goroutines append concurrently in the
	// subscription and conflict tests.
	Writers = 8
	// EventsPerWriter is how many events each writer appends in the
	// gap-free subscription test.
	EventsPerWriter = 150
	// LargeStream is the event count of the large-stream test.
	LargeStream = 10_000
)

// waitFor bounds every wait on a condition. It guards against a hang in a
// broken adapter, it is no performance limit.
const waitFor = 2 * time.Minute

// Run runs the whole suite, each test on a fresh log from newLog.
func Run(t *testing.T, newLog func(t *testing.T) Harness) {
	t.Run("ExpectedVersion", func(t *testing.T) { testExpectedVersion(t, newLog(t)) })
	t.Run("ConcurrentConflict", func(t *testing.T) { testConcurrentConflict(t, newLog(t)) })
	t.Run("ConcurrentAny", func(t *testing.T) { testConcurrentAny(t, newLog(t)) })
	t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, newLog(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newLog(t)) })
	t.Run("ReadStream", func(t *testing.T) { testReadStream(t, newLog(t)) })
	t.Run("ReadAllOrderAndPaging", func(t *testing.T) { testReadAll(t, newLog(t)) })
	t.Run("SubscribeGapFree", func(t *testing.T) { testSubscribeGapFree(t, newLog(t)) })
	t.Run("SubscribeResume", func(t *testing.T) { testSubscribeResume(t, newLog(t)) })
	t.Run("LargeStream", func(t *testing.T) { testLargeStream(t, newLog(t)) })
	t.Run("PersonalDataAndErasure", func(t *testing.T) { testPersonalData(t, newLog(t)) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, newLog(t)) })
	t.Run("Identity", func(t *testing.T) { testIdentity(t, newLog(t), newLog(t)) })
	// Copying with the source's recording times is optional too.
	t.Run("Copier", func(t *testing.T) {
		h := newLog(t)
		if cp, ok := h.Log.(eventlog.Copier); ok {
			testCopier(t, h, cp)
		}
	})
	// Snapshots are optional: checked for the logs that have them.
	t.Run("Snapshots", func(t *testing.T) {
		h := newLog(t)
		if snaps, ok := h.Log.(eventlog.Snapshots); ok {
			testSnapshots(t, h, snaps)
		}
	})
}

// Event builds a valid test event with a fresh id and the given number in
// its data. Exported for adapter-specific tests.
func Event(n int) events.Event {
	return events.Event{
		ID:            uuid.Must(uuid.NewV7()),
		Type:          "test.happened",
		SchemaVersion: 1,
		CorpID:        "corp1",
		OccurredAt:    time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC),
		Actor:         "system",
		Data:          fmt.Appendf(nil, `{"n":%d}`, n),
	}
}

func batch(from, n int) []events.Event {
	out := make([]events.Event, n)
	for i := range out {
		out[i] = Event(from + i)
	}
	return out
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

func mustAppend(t *testing.T, log eventlog.EventLog, stream string, exp eventlog.ExpectedVersion, evs ...events.Event) eventlog.AppendResult {
	t.Helper()
	res, err := log.Append(ctxFor(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s expecting %s: %v", len(evs), stream, exp, err)
	}
	if len(res.Events) != len(evs) {
		t.Fatalf("append returned %d records for %d events", len(res.Events), len(evs))
	}
	return res
}

func versions(recs []events.Recorded) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.StreamVersion
	}
	return out
}

func ids(recs []events.Recorded) []uuid.UUID {
	out := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func eventIDs(evs []events.Event) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// waitHead waits until the log's head reaches pos: a durable log may hold
// back committed events while an earlier transaction is still in flight.
func waitHead(t *testing.T, log eventlog.EventLog, pos events.Position) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		h, err := log.Head(ctxFor(t))
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		if !h.Less(pos) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("head stays at %v, want at least %v", h, pos)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition, not synchronising
	}
}

// readAll pages through the whole log with ReadAll.
func readAll(t *testing.T, log eventlog.EventLog, page int) []events.Recorded {
	t.Helper()
	var out []events.Recorded
	pos := events.Start
	for {
		recs, err := log.ReadAll(ctxFor(t), pos, page)
		if err != nil {
			t.Fatalf("read all after %v: %v", pos, err)
		}
		if len(recs) > page {
			t.Fatalf("read all with limit %d returned %d events", page, len(recs))
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		pos = recs[len(recs)-1].Position
	}
}

func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored JSON %q does not parse: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("test JSON %q does not parse: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}
