package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/internal/proccpu"
)

func envInt(b *testing.B, k string, def int) int {
	if v := os.Getenv(k); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("%s: %v", k, err)
		}
		return n
	}
	return def
}

// postmasterPID returns the pid of pool's server when it runs on this
// machine and its data directory is readable, else 0.
func postmasterPID(ctx context.Context, pool *pgxpool.Pool) int {
	var dir string
	if err := pool.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir); err != nil {
		return 0
	}
	b, err := os.ReadFile(dir + "/postmaster.pid")
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// pgLogOf generates a history of n events (in memory, which is fast) and
// loads it into a PostgreSQL event log in pool's database: streams are
// appended concurrently, each in order, so the global order differs from
// the generated one but every stream reads back the same; subjects erased
// in the generated log are erased in the loaded one. The in-memory log is
// dropped, so the process heap afterwards is the projector's.
func pgLogOf(b *testing.B, pool *pgxpool.Pool, n int) (*pgstore.Store, int64) {
	ctx := context.Background()
	mem := memlog.New()
	t0 := time.Now()
	got, err := generate(ctx, mem, genOptions{Corp: "c1", Events: n, Writers: 8, Staff: 200, Customers: n / 40, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	byStream := map[string][]events.Event{}
	erased := map[string]bool{}
	for from := events.Start; ; {
		page, err := mem.ReadAll(ctx, from, 10000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			e := r.Event
			if r.PIIErased {
				e.PII, erased[e.Subject] = []byte(`{}`), true
			}
			byStream[r.Stream] = append(byStream[r.Stream], e)
		}
		from = page[len(page)-1].Position
	}
	mem = nil
	log := newPGLog(b, pool)
	streams := make(chan string, 64)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range errs {
		wg.Go(func() {
			for st := range streams {
				evs := byStream[st]
				for i := 0; i < len(evs) && errs[w] == nil; i += 500 {
					_, errs[w] = log.Append(ctx, st, eventlog.ExpectAny, evs[i:min(i+500, len(evs))]...)
				}
			}
		})
	}
	for st := range byStream {
		streams <- st
	}
	close(streams)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	for subject := range erased {
		if err := log.Erase(ctx, subject); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("generated %d events and loaded them into the PostgreSQL log in %v", got, time.Since(t0))
	return log, got
}

// BenchmarkRebuildVsCopy rebuilds every projection from a generated
// PostgreSQL log of CUSTODY_BENCH_EVENTS events (default 1,000,000) and
// compares the time with a pgx CopyFrom of the resulting rows into the same
// (indexed, emptied) tables, in CUSTODY_BENCH_ROUNDS rounds (default 3) of
// one rebuild then one CopyFrom, so that both see the same machine. It
// reports events/s for both and the heap before each rebuild, at its peak
// (sampled every 3 s) and at each quarter of the log (the log is in
// PostgreSQL, so the heap is the projector's).
func BenchmarkRebuildVsCopy(b *testing.B) {
	ctx := context.Background()
	n := envInt(b, "CUSTODY_BENCH_EVENTS", 1_000_000)
	// The pool `custody projections rebuild` opens: 16 connections.
	cfg := newDB(b).Config().Copy()
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	log, got := pgLogOf(b, pool, n)
	rounds := envInt(b, "CUSTODY_BENCH_ROUNDS", 3)
	pgPID := postmasterPID(ctx, pool)
	// cpu is the CPU time used by this process and the server, summed.
	type cpu struct{ goSec, pgSec float64 }
	cpuNow := func() cpu {
		g, p := proccpu.Self().Seconds(), proccpu.Tree(pgPID).Seconds()
		return cpu{g, p}
	}
	since := func(c0 cpu) cpu {
		c := cpuNow()
		return cpu{c.goSec - c0.goSec, c.pgSec - c0.pgSec}
	}
	// CUSTODY_BENCH_PROJECTIONS (names, comma-separated; default all)
	// rebuilds a subset, to see what each costs.
	set := All()
	if v := os.Getenv("CUSTODY_BENCH_PROJECTIONS"); v != "" {
		if set, err = Lookup(All(), strings.Split(v, ",")...); err != nil {
			b.Fatal(err)
		}
	}

	// rebuild rebuilds every projection and logs the projector's heap.
	rebuild := func() (time.Duration, cpu) {
		var heap []string
		next := int64(0)
		// Besides the quarters, sample the heap every 3 s: the folds run
		// after the last batch.
		start := heapMiB()
		peak := start
		sampling, sampled := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(sampled)
			tick := time.NewTicker(3 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-sampling:
					return
				case <-tick.C:
					peak = max(peak, heapMiB())
				}
			}
		}()
		logger := discardLogger()
		if os.Getenv("CUSTODY_BENCH_LOG") != "" {
			logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
		// The collector's target custody projections rebuild sets for
		// itself; CUSTODY_BENCH_GCPERCENT=100 measures Go's default.
		gc := DefaultRebuildGCPercent
		if v := os.Getenv("CUSTODY_BENCH_GCPERCENT"); v != "" {
			if gc, err = strconv.Atoi(v); err != nil {
				b.Fatalf("CUSTODY_BENCH_GCPERCENT=%q: %v", v, err)
			}
		}
		c0 := cpuNow()
		res, err := Rebuild(ctx, pool, log, set, RebuildOptions{BatchSize: 5000, Fresh: true, Logger: logger, GCPercent: gc,
			Progress: func(applied int64, _ events.Position) {
				if applied >= next {
					heap = append(heap, fmt.Sprintf("%d events: %.0f MiB", applied, heapMiB()))
					next += got / 4
				}
			}})
		used := since(c0)
		close(sampling)
		<-sampled
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("projector heap before the rebuild %.0f MiB, peak during it %.0f MiB (+%.0f MiB); at quarters of the log: %v",
			start, peak, peak-start, heap)
		return res.Duration, used
	}
	// copyRows reads every table the rebuild produced, empties it and
	// loads the same rows back with CopyFrom, timing only the CopyFrom.
	copyRows := func() (time.Duration, int, cpu) {
		var used cpu
		took, rows := recopyTables(b, pool, set, func(copy func()) {
			c0 := cpuNow()
			copy()
			u := since(c0)
			used.goSec, used.pgSec = used.goSec+u.goSec, used.pgSec+u.pgSec
		})
		return took, rows, used
	}

	b.ResetTimer()
	for range b.N {
		// Rebuild and baseline alternate, so both see the same machine.
		var rebuildTotal, copyTotal time.Duration
		// CUSTODY_BENCH_WORK_MEM (e.g. 64MB,256MB) sets the folds'
		// work_mem, round by round in turn.
		defer func(w string) { foldWorkMem = w }(foldWorkMem)
		var workMems []string
		if v := os.Getenv("CUSTODY_BENCH_WORK_MEM"); v != "" {
			workMems = strings.Split(v, ",")
		}
		for r := range rounds {
			if len(workMems) > 0 {
				foldWorkMem = workMems[r%len(workMems)]
				b.Logf("round %d: folds' work_mem %s", r+1, foldWorkMem)
			}
			rt, rcpu := rebuild()
			b.StopTimer()
			ct, rows, ccpu := copyRows()
			b.StartTimer()
			rebuildTotal, copyTotal = rebuildTotal+rt, copyTotal+ct
			b.Logf("round %d: rebuild of all projections: %d events in %v = %.0f events/s; CopyFrom of the resulting %d rows: %v = %.0f events/s equivalent (%.0f rows/s); rebuild at %.1f%% of CopyFrom",
				r+1, got, rt.Round(time.Millisecond), float64(got)/rt.Seconds(), rows, ct.Round(time.Millisecond),
				float64(got)/ct.Seconds(), float64(rows)/ct.Seconds(), 100*ct.Seconds()/rt.Seconds())
			if pgPID != 0 {
				b.Logf("round %d: CPU time (this process + PostgreSQL): rebuild %.1f s + %.1f s, CopyFrom %.1f s + %.1f s: rebuild at %.1f%% of CopyFrom by CPU time",
					r+1, rcpu.goSec, rcpu.pgSec, ccpu.goSec, ccpu.pgSec, 100*(ccpu.goSec+ccpu.pgSec)/(rcpu.goSec+rcpu.pgSec))
			}
		}
		rebuildRate := float64(got) * float64(rounds) / rebuildTotal.Seconds()
		copyRate := float64(got) * float64(rounds) / copyTotal.Seconds()
		b.ReportMetric(rebuildRate, "events/s")
		b.ReportMetric(copyRate, "copy-equiv-events/s")
		b.ReportMetric(100*rebuildRate/copyRate, "%-of-copy")
		b.Logf("%d rounds: rebuild %.0f events/s, CopyFrom %.0f events/s equivalent: rebuild at %.1f%% of CopyFrom",
			rounds, rebuildRate, copyRate, 100*rebuildRate/copyRate)
	}
}

// BenchmarkLiveLag appends single-event commands to the PostgreSQL log at
// CUSTODY_BENCH_RATE per second (default 1,000) from 8 goroutines for
// CUSTODY_BENCH_SECONDS (default 20) while a Runner follows it, and reports
// the p50/p99 time from Append returning to the event's rows being
// committed (visible), plus the process heap at start and end.
// CUSTODY_BENCH_LINGER_MS sets the runner's Options.Linger (default 0).
func BenchmarkLiveLag(b *testing.B) {
	ctx := context.Background()
	rate := envInt(b, "CUSTODY_BENCH_RATE", 1000)
	secs := envInt(b, "CUSTODY_BENCH_SECONDS", 20)
	linger := time.Duration(envInt(b, "CUSTODY_BENCH_LINGER_MS", 0)) * time.Millisecond
	for range b.N {
		pool := newDB(b)
		log := newPGLog(b, pool)
		// A history to start from, so the tables are not empty.
		if _, err := generate(ctx, log, genOptions{Corp: "c0", Events: 20_000, Writers: 8, Staff: 20, Customers: 500, Seed: 9}); err != nil {
			b.Fatal(err)
		}
		r, err := NewRunner(pool, log, Options{BatchSize: 1000, Linger: linger, Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		type pending struct {
			pos events.Position
			at  time.Time
		}
		var waiting []pending
		var lat []time.Duration
		r.afterCommit = func(last events.Position) {
			now := time.Now()
			mu.Lock()
			keep := waiting[:0]
			for _, p := range waiting {
				if !last.Less(p.pos) {
					lat = append(lat, now.Sub(p.at))
				} else {
					keep = append(keep, p)
				}
			}
			waiting = keep
			mu.Unlock()
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(runCtx) }()
		head, _ := log.Head(ctx)
		if err := r.WaitFor(ctx, head); err != nil {
			b.Fatal(err)
		}
		heapStart := heapMiB()

		const writers = 8
		interval := time.Duration(writers) * time.Second / time.Duration(rate)
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		var wg sync.WaitGroup
		var appended [writers]int
		b.ResetTimer()
		for w := range writers {
			wg.Go(func() {
				tick := time.NewTicker(interval)
				defer tick.Stop()
				for i := 0; time.Now().Before(deadline); i++ {
					<-tick.C
					cust := fmt.Sprintf("lag-%d-%d", w, i%500)
					ev, err := events.New(uuid.New(), events.Meta{CorpID: "c1", OccurredAt: time.Now(), Actor: "system"},
						&events.ConsentRecorded{CustomerID: cust, Purpose: events.PurposeMarketing, State: events.ConsentAgree, ChangedAt: time.Now()})
					if i%2 == 0 {
						ev, err = events.New(uuid.New(), events.Meta{CorpID: "c1", OccurredAt: time.Now(), Actor: "system"},
							&events.CustomerRelationStarted{CustomerID: cust, StaffID: fmt.Sprintf("s%d", i%20), StartedBy: events.StartedByAdd,
								PII: events.RelationPII{CustomerName: "n"}})
					}
					if err != nil {
						b.Error(err)
						return
					}
					res, err := log.Append(ctx, events.CustomerStream("c1", cust), eventlog.ExpectAny, ev)
					if err != nil {
						b.Error(err)
						return
					}
					at := time.Now()
					mu.Lock()
					waiting = append(waiting, pending{res.Events[0].Position, at})
					mu.Unlock()
					appended[w]++
				}
			})
		}
		wg.Wait()
		head, _ = log.Head(ctx)
		if err := r.WaitFor(ctx, head); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		heapEnd := heapMiB()
		stop()
		<-done
		mu.Lock()
		slices.Sort(lat)
		total := 0
		for _, a := range appended {
			total += a
		}
		if len(lat) == 0 {
			b.Fatal("no latencies")
		}
		p50, p99 := lat[len(lat)*50/100], lat[len(lat)*99/100]
		mu.Unlock()
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(total)/float64(secs), "cmds/s")
		b.Logf("%d commands in %ds (%.0f/s, target %d/s): append-to-visible p50 %v, p99 %v, max %v; heap %.0f MiB at start, %.0f MiB at end",
			total, secs, float64(total)/float64(secs), rate, p50.Round(time.Microsecond), p99.Round(time.Microsecond),
			lat[len(lat)-1].Round(time.Microsecond), heapStart, heapEnd)
	}
}

// recopyTables reads every table of set, empties it and loads the same
// rows back with CopyFrom: the baseline of the rebuild benchmarks. It
// returns the time the CopyFrom calls took and the rows they copied;
// around, when set, runs around each CopyFrom (to measure it too).
func recopyTables(b *testing.B, pool *pgxpool.Pool, set []Projection, around func(copy func())) (time.Duration, int) {
	ctx := context.Background()
	if around == nil {
		around = func(copy func()) { copy() }
	}
	var took time.Duration
	rows := 0
	for _, p := range set {
		for _, tbl := range p.Tables() {
			rs, err := pool.Query(ctx, fmt.Sprintf("SELECT * FROM %s.%s", ident(LiveSchema), ident(tbl)))
			if err != nil {
				b.Fatal(err)
			}
			cols := make([]string, len(rs.FieldDescriptions()))
			for i, f := range rs.FieldDescriptions() {
				cols[i] = f.Name
			}
			var data [][]any
			for rs.Next() {
				v, err := rs.Values()
				if err != nil {
					b.Fatal(err)
				}
				data = append(data, v)
			}
			if err := rs.Err(); err != nil {
				b.Fatal(err)
			}
			if _, err := pool.Exec(ctx, fmt.Sprintf("TRUNCATE %s.%s", ident(LiveSchema), ident(tbl))); err != nil {
				b.Fatal(err)
			}
			around(func() {
				start := time.Now()
				c, err := pool.CopyFrom(ctx, pgx.Identifier{LiveSchema, tbl}, cols, pgx.CopyFromRows(data))
				if err != nil {
					b.Fatalf("copy %s: %v", tbl, err)
				}
				took += time.Since(start)
				rows += int(c)
			})
		}
	}
	return took, rows
}
