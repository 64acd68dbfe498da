package logcopy_test

import (
	"context"
	"testing"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/tools/logcopy"
	"github.com/custody/custody/events/eventlog"
)

const benchEvents = 10_000

// BenchmarkCopy measures the copy rate of a 10,000-event log between
// PostgreSQL (the private test server) and the protocol-level KurrentDB
// stand-in, with copying into an in-memory log as the baseline measured in
// the same run (the source read plus the copier's own cost). The stand-in
// figures are NOT KurrentDB server figures.
func BenchmarkCopy(b *testing.B) {
	keyring := newKeyring(b)
	src := newPG(b, keyring)
	fill(b, src, src, benchEvents)
	copyAll := func(b *testing.B, from eventlog.EventLog, to func() (eventlog.EventLog, eventlog.Eraser)) {
		for b.Loop() {
			b.StopTimer()
			dst, eraser := to()
			b.StartTimer()
			res, err := logcopy.Copy(context.Background(), from, dst, logcopy.Options{Eraser: eraser, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			if res.Events != benchEvents {
				b.Fatalf("copied %d events", res.Events)
			}
		}
		b.ReportMetric(float64(b.N*benchEvents)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("postgres-to-memlog", func(b *testing.B) {
		copyAll(b, src, func() (eventlog.EventLog, eventlog.Eraser) {
			l := memlog.New(memlog.WithKeyring(keyring))
			return l, l
		})
	})
	b.Run("postgres-to-standin", func(b *testing.B) {
		copyAll(b, src, func() (eventlog.EventLog, eventlog.Eraser) {
			l := newKurrent(b, keyring)
			return l, l
		})
	})
	kdb := newKurrent(b, keyring)
	if _, err := logcopy.Copy(context.Background(), src, kdb, logcopy.Options{Eraser: kdb, Logger: quiet}); err != nil {
		b.Fatal(err)
	}
	b.Run("standin-to-postgres", func(b *testing.B) {
		copyAll(b, kdb, func() (eventlog.EventLog, eventlog.Eraser) {
			l := newPG(b, keyring)
			return l, l
		})
	})
}
