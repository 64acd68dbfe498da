package importer

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/custody/custody/internal/proccpu"
)

// BenchmarkImportVsCopy imports a synthetic corp (CUSTODY_IMPORT_RELATIONS
// relations, default 100,000, over 1,000 staff members, plus 1,000 group
// chats of 20 members) into a fresh database, then copies the very rows the
// import wrote (read back from its events table, personal data as sealed)
// into another fresh event log with plain pgx CopyFrom, in pages of 100,000
// rows, timing only the CopyFrom calls. Both run in the same process on the
// same server, one after the other, each iteration (-benchtime 1x for one
// round). The import's time is everything Run does: hashing and checking
// the file, decoding every line again, the domain decisions, sealing, COPY
// and the progress rows. peak-heap-MB is the highest Go heap (objects,
// garbage included) seen while importing, sampled every 50 ms;
// live-heap-MB the most the import retained, measured after a forced GC
// at every fifth chunk (those GCs are inside the import's time). When the
// server is the tests' private one (a child of this process, Linux), the
// CPU seconds per round are reported too, steadier than wall time on a
// shared machine: import-pg-cpu-s and copy-pg-cpu-s are PostgreSQL's
// (postmaster, backends and background processes) during the import and
// during the CopyFrom calls, import-go-cpu-s this process's during the
// import.
func BenchmarkImportVsCopy(b *testing.B) {
	relations := 100_000
	if v := os.Getenv("CUSTODY_IMPORT_RELATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("CUSTODY_IMPORT_RELATIONS=%q: want a number >= 100", v)
		}
		relations = n
	}
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "corp.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := WriteSample(f, Sample{Staff: 1000, Relations: relations, Groups: 1000, MembersPerGroup: 20, Seed: 42}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.ResetTimer()
	var importTotal, copyTotal time.Duration
	var importPG, importGo, copyPG float64
	var evTotal int64
	var peak, live uint64
	for range b.N {
		b.StopTimer()
		imp := newEnv(b)
		o := imp.opts(path)
		o.afterChunk = func(n int) {
			if n%5 == 4 { // every fifth chunk: what the import retains
				runtime.GC()
				s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
				metrics.Read(s)
				live = max(live, s[0].Value.Uint64())
			}
		}
		runtime.GC()
		stop := samplePeakHeap(&peak)
		b.StartTimer()
		pg0, go0 := pgCPU(), proccpu.Self().Seconds()
		start := time.Now()
		res, err := Run(ctx, o)
		took := time.Since(start)
		b.StopTimer()
		importPG += pgCPU() - pg0
		importGo += proccpu.Self().Seconds() - go0
		stop()
		if err != nil {
			b.Fatal(err)
		}
		base := newEnv(b)
		copyTook, pg := copyRows(b, imp, base)
		copyPG += pg
		b.Logf("%d relations (%d MB file): import wrote %d events (%d rejected records) in %v = %.0f events/s; "+
			"CopyFrom of the same rows: %v = %.0f events/s; import at %.1f%% of CopyFrom",
			relations, st.Size()>>20, res.Events, res.Rejected, took.Round(time.Millisecond), float64(res.Events)/took.Seconds(),
			copyTook.Round(time.Millisecond), float64(res.Events)/copyTook.Seconds(), 100*copyTook.Seconds()/took.Seconds())
		importTotal += took
		copyTotal += copyTook
		evTotal += res.Events
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(evTotal)/importTotal.Seconds(), "import-events/s")
	b.ReportMetric(float64(evTotal)/copyTotal.Seconds(), "copy-events/s")
	b.ReportMetric(100*copyTotal.Seconds()/importTotal.Seconds(), "%-of-copy")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(live)/(1<<20), "live-heap-MB")
	if importPG > 0 {
		n := float64(b.N)
		b.ReportMetric(importPG/n, "import-pg-cpu-s")
		b.ReportMetric(importGo/n, "import-go-cpu-s")
		b.ReportMetric(copyPG/n, "copy-pg-cpu-s")
	}
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(float64(hwm)/1024, "peak-rss-MB")
	}
}

// copyRows copies every row of from's events table into to's with pgx
// CopyFrom, 100,000 rows per call, and returns the time of the CopyFrom
// calls alone and PostgreSQL's CPU seconds during them (pgCPU).
func copyRows(b *testing.B, from, to *env) (time.Duration, float64) {
	ctx := context.Background()
	var took time.Duration
	var cpu float64
	var after int64
	for {
		rows, err := from.pool.Query(ctx, `SELECT id, event_id, stream, stream_version, type, schema_version, corp_id, occurred_at,
			actor, command_id, correlation_id, causation_id, data::text, pii_sealed, subject FROM events WHERE id > $1 ORDER BY id LIMIT 100000`, after)
		if err != nil {
			b.Fatal(err)
		}
		var page [][]any
		for rows.Next() {
			var (
				id                                         int64
				eid                                        pgtype.UUID
				stream, typ, corp, actor, cmd, corr, cause string
				version                                    int64
				schema                                     int32
				at                                         time.Time
				data, subject                              string
				sealed                                     []byte
			)
			if err := rows.Scan(&id, &eid, &stream, &version, &typ, &schema, &corp, &at, &actor, &cmd, &corr, &cause, &data, &sealed, &subject); err != nil {
				b.Fatal(err)
			}
			after = id
			var s any
			if sealed != nil {
				s = sealed
			}
			page = append(page, []any{eid, stream, version, typ, schema, corp, at, actor, cmd, corr, cause, data, s, subject})
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			return took, cpu
		}
		cpu0 := pgCPU()
		start := time.Now()
		if _, err := to.pool.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"event_id", "stream", "stream_version", "type", "schema_version",
			"corp_id", "occurred_at", "actor", "command_id", "correlation_id", "causation_id", "data", "pii_sealed", "subject"},
			pgx.CopyFromRows(page)); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		cpu += pgCPU() - cpu0
	}
}

// samplePeakHeap records the highest heap in use into peak until stopped.
func samplePeakHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// vmHWM is the process's peak resident set in KiB (Linux), 0 if unknown.
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// pgCPU is the CPU seconds used so far by the PostgreSQL servers this
// process started (the tests' private server); 0 with a server named by
// TEST_DATABASE_URL.
func pgCPU() float64 { return proccpu.Descendants(os.Getpid()).Seconds() }
