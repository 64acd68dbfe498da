package export_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/tools/export"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// BenchmarkExport (issue 8): export rate of the PostgreSQL log to JSON
// Lines, CSV and Parquet against a baseline COPY (SELECT ...) TO STDOUT of
// the same rows, and the exporter's peak heap, at 100,000 and 1,000,000
// events. Output goes to a byte counter (no disk in the measurement).
// Reproduce with:
//
//	go test -run '^$' -bench Export -benchtime 1x -timeout 60m ./adapters/tools/export/
//
// CUSTODY_BENCH_EVENTS changes the large size (default 1,000,000). The log
// is filled once per run; plain `go test` never pays for it.
func BenchmarkExport(b *testing.B) {
	total := 1_000_000
	if v := os.Getenv("CUSTODY_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("CUSTODY_BENCH_EVENTS=%q: want a number >= 100", v)
		}
		total = n
	}
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	if err := pgstore.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	keyring, err := pii.NewKeyring(make([]byte, pii.KeySize), pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		b.Fatal(err)
	}
	store, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: keyring})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, store, total)
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
		b.Fatal(err)
	}

	for _, n := range []int{total / 10, total} {
		var c, p int64
		if err := pool.QueryRow(ctx, `SELECT tx_id::text::bigint, id FROM events ORDER BY tx_id, id OFFSET $1 LIMIT 1`, n-1).Scan(&c, &p); err != nil {
			b.Fatal(err)
		}
		until := events.Position{Commit: uint64(c), Prepare: uint64(p)}
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			// Each round runs the baseline and every format back to back,
			// so a change in the machine's load hits all of them alike;
			// the reported rate of each is its best round.
			best := map[string]float64{}
			peak := map[string]uint64{}
			size := map[string]int64{}
			cpu := map[string]time.Duration{} // this process's CPU time, best round
			for range b.N * rounds(n) {
				c0 := cpuTime()
				rate, bytes := copyRows(b, pool, until, n)
				c1 := cpuTime()
				best["copy"] = max(best["copy"], rate)
				size["copy"] = bytes
				cpu["copy"] = minCPU(cpu["copy"], c1-c0)
				for _, f := range export.Formats {
					c0 := cpuTime()
					rate, bytes, pk := exportRows(b, store, f, until, n)
					c1 := cpuTime()
					best[string(f)] = max(best[string(f)], rate)
					peak[string(f)] = max(peak[string(f)], pk)
					size[string(f)] = bytes
					cpu[string(f)] = minCPU(cpu[string(f)], c1-c0)
				}
			}
			b.ReportMetric(float64(cpu["copy"].Nanoseconds())/float64(n), "copy-client-cpu-ns/event")
			b.ReportMetric(best["copy"], "copy-events/s")
			for _, f := range export.Formats {
				b.ReportMetric(best[string(f)], string(f)+"-events/s")
				b.ReportMetric(100*best[string(f)]/best["copy"], string(f)+"-%-of-copy")
				b.ReportMetric(float64(peak[string(f)])/(1<<20), string(f)+"-peak-heap-MB")
				b.ReportMetric(float64(size[string(f)])/float64(n), string(f)+"-bytes/event")
				b.ReportMetric(float64(cpu[string(f)].Nanoseconds())/float64(n), string(f)+"-cpu-ns/event")
			}
			b.ReportMetric(float64(size["copy"])/float64(n), "copy-bytes/event")
		})
	}
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func minCPU(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// benchPageSize is CUSTODY_BENCH_PAGE_SIZE, or 0 for the default.
var benchPageSize, _ = strconv.Atoi(os.Getenv("CUSTODY_BENCH_PAGE_SIZE"))

// rounds is how often each size is measured: more for the small one.
func rounds(n int) int {
	if n <= 200_000 {
		return 3
	}
	return 2
}

// exportRows exports the first n events and returns events/s, output bytes
// and the peak heap in use, sampled after every page.
func exportRows(b *testing.B, store *pgstore.Store, f export.Format, until events.Position, n int) (float64, int64, uint64) {
	b.Helper()
	runtime.GC()
	var peak uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	var out countingWriter
	start := time.Now()
	st, err := export.Export(context.Background(), store, &out, export.Options{
		Format: f, Until: until, PageSize: benchPageSize, OnProgress: func(export.Progress) { sample() },
	})
	elapsed := time.Since(start)
	sample()
	if err != nil || st.Written != int64(n) {
		b.Fatalf("export %s: %d of %d events, %v", f, st.Written, n, err)
	}
	return float64(n) / elapsed.Seconds(), out.n, peak
}

// copyRows is the baseline: COPY (SELECT ...) TO STDOUT of the same rows,
// in the same order, in PostgreSQL's text format.
func copyRows(b *testing.B, pool *pgxpool.Pool, until events.Position, n int) (float64, int64) {
	b.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	var out countingWriter
	start := time.Now()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, &out, fmt.Sprintf(`COPY (SELECT id, tx_id, event_id, stream,
		stream_version, type, schema_version, corp_id, occurred_at, recorded_at, actor, command_id,
		correlation_id, causation_id, data, pii_sealed, subject FROM events
		WHERE (tx_id, id) <= ('%d'::xid8, %d) ORDER BY tx_id, id) TO STDOUT`, until.Commit, until.Prepare))
	elapsed := time.Since(start)
	if err != nil || tag.RowsAffected() != int64(n) {
		b.Fatalf("copy: %d rows, %v", tag.RowsAffected(), err)
	}
	return float64(n) / elapsed.Seconds(), out.n
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// fill appends total events in batches of 1,000 from 4 writers, so
// transactions interleave as in real use: customer streams with relation
// starts (one in three carrying sealed personal data of one of 20,000
// customers), edits, ends, opt-outs, consents and handovers.
func fill(b *testing.B, store *pgstore.Store, total int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	const size, writers = 1000, 4
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(size)) - size
				if from >= total {
					return
				}
				evs := make([]events.Event, min(size, total-from))
				c := fmt.Sprintf("wm%06d", from/size)
				for i := range evs {
					k := from + i
					s := fmt.Sprintf("staff%03d", k%200)
					var p events.Payload
					switch k % 6 {
					case 0, 1:
						st := &events.CustomerRelationStarted{CustomerID: c, StaffID: s, Initiator: events.InitiatorCustomer,
							AddWay: 1, State: "qr-spring-fair", StartedBy: events.StartedByAdd, Tags: []string{"vip", "shanghai"}}
						if k%3 == 0 {
							st.PII = events.RelationPII{CustomerName: "王小明", Remark: "VIP customer from the spring fair",
								Phones: []string{"+86 138 0000 0000"}}
						}
						p = st
					case 2:
						p = &events.CustomerRelationEnded{CustomerID: c, StaffID: s, Reason: events.EndDeletedByCustomer}
					case 3:
						p = &events.MomentsOptedOut{CustomerID: c, StaffID: s, Source: "crm"}
					case 4:
						p = &events.ConsentRecorded{CustomerID: c, Purpose: events.PurposeMarketing, State: events.ConsentAgree, ChangedAt: t0}
					default:
						p = &events.HandoverRequested{HandoverID: uuid.NewString(), CustomerID: c, Kind: events.HandoverInService,
							FromStaffID: s, ToStaffID: "staff999", Deadline: t0.Add(24 * time.Hour)}
					}
					e, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: "wwcorp0001",
						OccurredAt: t0.Add(time.Duration(k) * time.Second), Actor: "wecom", CommandID: fmt.Sprintf("cmd-%d", k)}, p)
					if err != nil {
						errs <- err
						return
					}
					evs[i] = e
				}
				if _, err := store.Append(ctx, events.CustomerStream("wwcorp0001", c), eventlog.ExpectNoStream, evs...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.Logf("filled the log with %d events in %v", total, time.Since(start).Round(time.Millisecond))
}
