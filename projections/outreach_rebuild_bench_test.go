package projections

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// BenchmarkOutreachRebuild rebuilds the outreach projection from a
// generated PostgreSQL log of CUSTODY_BENCH_EVENTS events (default
// 200,000) by its fold (Outreach) and by replaying its statements
// (sqlOutreach, the code before), alternately (the first one changes every
// round), in CUSTODY_BENCH_ROUNDS rounds (default 3), and compares both
// with a pgx CopyFrom of the resulting rows into the same (indexed,
// emptied) tables. CUSTODY_BENCH_ALL=1 rebuilds every projection instead,
// outreach either way; CUSTODY_BENCH_LOG=1 logs the rebuild's phases.
//
//	CUSTODY_BENCH_EVENTS=200000 go test ./projections -run '^$' -bench OutreachRebuild -benchtime 1x -timeout 60m -v
func BenchmarkOutreachRebuild(b *testing.B) {
	ctx := context.Background()
	n := envInt(b, "CUSTODY_BENCH_EVENTS", 200_000)
	cfg := newDB(b).Config().Copy()
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	log, got := pgLogOf(b, pool, n)
	rounds := envInt(b, "CUSTODY_BENCH_ROUNDS", 3)
	fold, replay := []Projection{Outreach{}}, []Projection{sqlOutreach{}}
	if os.Getenv("CUSTODY_BENCH_ALL") != "" {
		fold, replay = All(), nil
		for _, p := range All() {
			if p.Name() == (Outreach{}).Name() {
				p = sqlOutreach{}
			}
			replay = append(replay, p)
		}
	}
	logger := discardLogger()
	if os.Getenv("CUSTODY_BENCH_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	rebuild := func(set []Projection) time.Duration {
		res, err := Rebuild(ctx, pool, log, set, RebuildOptions{BatchSize: 5000, Fresh: true, Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		return res.Duration
	}
	// dumps reads outreach's tables, the only ones the two sets build
	// differently.
	dumps := func() map[string][]string {
		out := map[string][]string{}
		for _, t := range (Outreach{}).Tables() {
			out[t] = tableDump(b, pool, LiveSchema, t)
		}
		return out
	}
	// copyRows reads every table of set, empties it and loads the same
	// rows back with CopyFrom, timing only the CopyFrom.
	copyRows := func(set []Projection) (time.Duration, int) { return recopyTables(b, pool, set, nil) }
	b.ResetTimer()
	for range b.N {
		var foldTotal, replayTotal, copyTotal time.Duration
		for r := range rounds {
			var ft, rt time.Duration
			var want map[string][]string
			if r%2 == 0 {
				rt = rebuild(replay)
				b.StopTimer()
				want = dumps()
				b.StartTimer()
				ft = rebuild(fold)
			} else {
				ft = rebuild(fold)
				b.StopTimer()
				want = dumps()
				b.StartTimer()
				rt = rebuild(replay)
			}
			b.StopTimer()
			// Both ways yield the same rows.
			for t, rows := range dumps() {
				if !slices.Equal(rows, want[t]) {
					b.Fatalf("%s: fold and replay differ: %s", t, firstDiff(rows, want[t]))
				}
			}
			ct, rows := copyRows(fold)
			b.StartTimer()
			foldTotal, replayTotal, copyTotal = foldTotal+ft, replayTotal+rt, copyTotal+ct
			b.Logf("round %d: rebuild of %d projections, %d events: fold %v (%.0f events/s, %.1f%% of CopyFrom), replay %v (%.0f events/s, %.1f%% of CopyFrom); CopyFrom of the %d rows %v",
				r+1, len(fold), got, ft.Round(time.Millisecond), float64(got)/ft.Seconds(), 100*ct.Seconds()/ft.Seconds(),
				rt.Round(time.Millisecond), float64(got)/rt.Seconds(), 100*ct.Seconds()/rt.Seconds(), rows, ct.Round(time.Millisecond))
		}
		b.ReportMetric(100*copyTotal.Seconds()/foldTotal.Seconds(), "fold-%-of-copy")
		b.ReportMetric(100*copyTotal.Seconds()/replayTotal.Seconds(), "replay-%-of-copy")
		b.ReportMetric(replayTotal.Seconds()/foldTotal.Seconds(), "fold-speedup")
		b.Logf("%d rounds: fold at %.1f%% of CopyFrom, replay at %.1f%%: the fold rebuilds %.2fx faster",
			rounds, 100*copyTotal.Seconds()/foldTotal.Seconds(), 100*copyTotal.Seconds()/replayTotal.Seconds(),
			replayTotal.Seconds()/foldTotal.Seconds())
	}
}
