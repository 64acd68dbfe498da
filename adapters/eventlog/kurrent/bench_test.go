package kurrent_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/kurrentstandin"
	"github.com/custody/custody/adapters/testkit/storetest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// These benchmarks measure the adapter against the protocol-level
// stand-in: in-process, in memory, on loopback. They show the adapter's
// and the client's cost and the adapter's overhead over the bare client
// (the "raw" baselines, measured in the same run); they are NOT KurrentDB
// server figures, which depend on the server's disk, fsync policy and
// network.

func benchLog(b *testing.B) (*kurrentstandin.Server, *kurrent.Log, *esdb.Client) {
	b.Helper()
	srv := startStandin(b, kurrentstandin.Options{})
	l, err := kurrent.Open(context.Background(), srv.URL(), kurrent.Options{Keyring: pii.NewMemoryKeyring(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	conf, _ := esdb.ParseConnectionString(srv.URL())
	conf.Logger = esdb.NoopLogging()
	raw, err := esdb.NewClient(conf)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close() })
	return srv, l, raw
}

func rawEvents(n int) []esdb.EventData {
	out := make([]esdb.EventData, n)
	for i := range out {
		e := storetest.Event(i)
		out[i] = esdb.EventData{EventID: e.ID, EventType: e.Type, ContentType: esdb.ContentTypeJson, Data: e.Data,
			Metadata: []byte(`{"corp_id":"corp1","schema_version":1,"occurred_at":"2026-11-22T01:02:03.456789Z","actor":"system"}`)}
	}
	return out
}

// BenchmarkAppend appends batches of 1 and 100 events with exact expected
// versions, through the adapter (which also reads the records back for
// their positions) and through the bare client.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("adapter/batch=%d", size), func(b *testing.B) {
			_, l, _ := benchLog(b)
			ctx := context.Background()
			exp := eventlog.ExpectNoStream
			b.ResetTimer()
			for b.Loop() {
				evs := make([]events.Event, size)
				for i := range evs {
					evs[i] = storetest.Event(i)
				}
				res, err := l.Append(ctx, "staff-bench-1", exp, evs...)
				if err != nil {
					b.Fatal(err)
				}
				exp = res.NextExpected
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run(fmt.Sprintf("raw-client/batch=%d", size), func(b *testing.B) {
			_, _, raw := benchLog(b)
			ctx := context.Background()
			var rev esdb.ExpectedRevision = esdb.NoStream{}
			b.ResetTimer()
			for b.Loop() {
				wr, err := raw.AppendToStream(ctx, "staff-bench-1", esdb.AppendToStreamOptions{ExpectedRevision: rev}, rawEvents(size)...)
				if err != nil {
					b.Fatal(err)
				}
				rev = esdb.Revision(wr.NextExpectedVersion)
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

const readEvents = 20_000

// fillForRead writes readEvents events in batches of 100.
func fillForRead(b *testing.B, l *kurrent.Log) {
	b.Helper()
	ctx := context.Background()
	for i := 0; i < readEvents; i += 100 {
		evs := make([]events.Event, 100)
		for j := range evs {
			evs[j] = storetest.Event(i + j)
		}
		if _, err := l.Append(ctx, fmt.Sprintf("customer-bench-%d", i/100%50), eventlog.ExpectAny, evs...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadAll pages through 20,000 events (1,000 per call) through
// the adapter (filtering and decoding envelopes) and through the bare
// client.
func BenchmarkReadAll(b *testing.B) {
	_, l, raw := benchLog(b)
	fillForRead(b, l)
	ctx := context.Background()
	b.Run("adapter", func(b *testing.B) {
		for b.Loop() {
			n, pos := 0, events.Start
			for {
				page, err := l.ReadAll(ctx, pos, 1000)
				if err != nil {
					b.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				n += len(page)
				pos = page[len(page)-1].Position
			}
			if n != readEvents {
				b.Fatalf("read %d events", n)
			}
		}
		b.ReportMetric(float64(b.N*readEvents)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("raw-client", func(b *testing.B) {
		for b.Loop() {
			rs, err := raw.ReadAll(ctx, esdb.ReadAllOptions{}, readEvents+10)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				if _, err := rs.Recv(); err != nil {
					break
				}
				n++
			}
			rs.Close()
			if n < readEvents {
				b.Fatalf("read %d events", n)
			}
		}
		b.ReportMetric(float64(b.N*readEvents)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkSubscribeCatchUp delivers 20,000 stored events to a new
// subscriber through the adapter and through the bare client.
func BenchmarkSubscribeCatchUp(b *testing.B) {
	_, l, raw := benchLog(b)
	fillForRead(b, l)
	ctx := context.Background()
	stop := errors.New("stop")
	b.Run("adapter", func(b *testing.B) {
		for b.Loop() {
			n := 0
			err := l.Subscribe(ctx, events.Start, func(events.Recorded) error {
				if n++; n == readEvents {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*readEvents)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("raw-client", func(b *testing.B) {
		for b.Loop() {
			sub, err := raw.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{},
				Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"customer-"}}})
			if err != nil {
				b.Fatal(err)
			}
			for n := 0; n < readEvents; {
				if e := sub.Recv(); e.EventAppeared != nil {
					n++
				} else if e.SubscriptionDropped != nil {
					b.Fatal(e.SubscriptionDropped.Error)
				}
			}
			sub.Close()
		}
		b.ReportMetric(float64(b.N*readEvents)/b.Elapsed().Seconds(), "events/s")
	})
}
