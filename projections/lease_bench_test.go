package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/events"
	"github.com/custody/custody/internal/proccpu"
)

// gated holds a Source's reads until open is closed: runners can divide
// the projections before the clock starts.
type gated struct {
	Source
	open chan struct{}
}

func (g gated) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Source.ReadAll(ctx, from, limit)
}

func (g gated) Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Source.Subscribe(ctx, from, handle)
}

// cpuTicks reads the machine's busy and total CPU time (/proc/stat).
func cpuTicks() (busy, total uint64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0])
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// resetProjections empties every projection and its checkpoint, and the
// owner tables: the next runners catch up from the start of the log.
func resetProjections(b *testing.B, db *pgxpool.Pool) {
	ctx := context.Background()
	var ts []string
	for _, p := range All() {
		for _, t := range p.Tables() {
			ts = append(ts, ident(LiveSchema)+"."+ident(t))
		}
	}
	for _, q := range []string{
		"TRUNCATE " + strings.Join(ts, ", "),
		`DELETE FROM projections.projection_checkpoints WHERE partition_of IS NOT NULL`,
		`UPDATE projections.projection_checkpoints SET commit_pos = 0, prepare_pos = 0, last_recorded_at = NULL, events_applied = 0, parts = 1`,
		`DELETE FROM projections.parked`,
		`DELETE FROM projections.projection_owners`,
		`DELETE FROM projections.projection_instances`,
		`VACUUM ANALYZE`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}

// BenchmarkSharedCatchUp measures the projector's catch-up of a
// PostgreSQL log of CUSTODY_BENCH_EVENTS events (default 1,000,000; the
// history of BenchmarkRebuildVsCopy) by 1, 2 and 3 runners dividing the
// work under leases, each on its own pool, in CUSTODY_BENCH_ROUNDS rounds
// (default 1). Each round runs 1, 2 and 3 runners dividing the
// projections ("by projection": Options.Partitions 1), then 1, 2 and 3
// runners dividing the partitions of the fold projections
// (CUSTODY_BENCH_PARTITIONS, default 6; "partitioned"), so that all see
// the same machine; CUSTODY_BENCH_MODES ("projection,partition") picks the
// modes. Each run starts from empty projections; the runners divide the
// work before their reads are let through, and the clock stops when every
// projection's stored checkpoint (its slowest partition's) is at the
// log's last event. It reports events/s per mode and runner count, the
// machine's CPU busy share and this process's CPU time, and when each
// runner was done. CUSTODY_BENCH_RUNNERS ("1,2,3") picks the runner
// counts; CUSTODY_BENCH_SKIP (e.g. "outreach") leaves projections out.
func BenchmarkSharedCatchUp(b *testing.B) {
	ctx := context.Background()
	n := envInt(b, "CUSTODY_BENCH_EVENTS", 1_000_000)
	rounds := envInt(b, "CUSTODY_BENCH_ROUNDS", 1)
	db := newDB(b)
	log, total := pgLogOf(b, db, n)
	last := lastPosition(b, log)
	parts := envInt(b, "CUSTODY_BENCH_PARTITIONS", 6)
	type mode struct {
		name  string
		parts int
	}
	var modes []mode
	for _, m := range strings.Split(cmp.Or(os.Getenv("CUSTODY_BENCH_MODES"), "projection,partition"), ",") {
		switch m {
		case "projection":
			modes = append(modes, mode{"by-projection", 1})
		case "partition":
			modes = append(modes, mode{fmt.Sprintf("partitioned-%d", parts), parts})
		default:
			b.Fatalf("CUSTODY_BENCH_MODES: unknown mode %q", m)
		}
	}
	// CUSTODY_BENCH_SKIP lists projections the runners leave out.
	var ps []Projection
	for _, p := range All() {
		if !slices.Contains(strings.Split(os.Getenv("CUSTODY_BENCH_SKIP"), ","), p.Name()) {
			ps = append(ps, p)
		}
	}
	var counts []int
	for _, c := range strings.Split(cmp.Or(os.Getenv("CUSTODY_BENCH_RUNNERS"), "1,2,3"), ",") {
		k, err := strconv.Atoi(c)
		if err != nil || k < 1 {
			b.Fatalf("CUSTODY_BENCH_RUNNERS: %q", c)
		}
		counts = append(counts, k)
	}
	sum := map[string]time.Duration{}
	for b.Loop() {
		for round := 1; round <= rounds; round++ {
			for _, m := range modes {
				for _, k := range counts {
					resetProjections(b, db)
					src := gated{Source: log, open: make(chan struct{})}
					var ls []*leased
					for i := range k {
						l := &leased{name: fmt.Sprintf("runner-%d", i+1), pool: poolAs(b, db, fmt.Sprintf("bench-%d-%d-%d", round, k, i)), done: make(chan error, 1)}
						var err error
						l.r, err = NewRunner(l.pool, src, Options{Logger: discardLogger(), Partitions: m.parts, Projections: ps,
							Lease: &LeaseOptions{Instance: l.name, TTL: 5 * time.Second, Heartbeat: 100 * time.Millisecond}})
						if err != nil {
							b.Fatal(err)
						}
						l.start()
						ls = append(ls, l)
					}
					until(b, func() bool { return divided(b, ps, m.parts, ls...) })
					busy0, total0 := cpuTicks()
					cpu0 := proccpu.Self()
					t0 := time.Now()
					close(src.open)
					// When each runner's units were all at the end.
					finished := make([]time.Duration, k)
					until(b, func() bool {
						units, err := readCheckpointRows(ctx, db, names(unitsOf(ps, m.parts)), false, false)
						if errors.Is(err, ErrPartitionsChanged) {
							return false // not divided yet
						}
						if err != nil {
							b.Fatal(err)
						}
						done := true
						for i, l := range ls {
							at := true
							for _, o := range l.r.Owned() {
								if units[o.Name].Position.Less(last) {
									at = false
								}
							}
							if at && finished[i] == 0 {
								finished[i] = time.Since(t0)
							}
							done = done && at
						}
						if !done {
							return false
						}
						cps, err := readCheckpoints(ctx, db, names(ps), false)
						if err != nil {
							b.Fatal(err)
						}
						for _, cp := range cps {
							if cp.Position.Less(last) {
								return false
							}
						}
						return true
					})
					took := time.Since(t0)
					owned := make([][]Owned, k)
					for i, l := range ls {
						owned[i] = l.r.Owned()
					}
					busy1, total1 := cpuTicks()
					cpu := proccpu.Self() - cpu0
					for _, l := range ls {
						l.stop(b)
						l.pool.Close()
					}
					cps, err := readCheckpoints(ctx, db, names(ps), false)
					if err != nil {
						b.Fatal(err)
					}
					for _, cp := range cps {
						if cp.EventsApplied != total {
							b.Fatalf("%s applied %d events, want %d", cp.Name, cp.EventsApplied, total)
						}
					}
					units, err := readCheckpointRows(ctx, db, names(unitsOf(ps, m.parts)), false, false)
					if err != nil {
						b.Fatal(err)
					}
					for _, cp := range units {
						if cp.of != "" && cp.EventsApplied != total {
							b.Fatalf("partition %s applied %d events, want %d", cp.Name, cp.EventsApplied, total)
						}
					}
					sum[fmt.Sprintf("%s-%d", m.name, k)] += took
					busyPct := 0.0
					if total1 > total0 {
						busyPct = 100 * float64(busy1-busy0) / float64(total1-total0)
					}
					var fin []string
					for i, d := range finished {
						var whole []string
						for _, o := range owned[i] {
							if ProjectionOf(o.Name) == o.Name {
								whole = append(whole, o.Name)
							}
						}
						fin = append(fin, fmt.Sprintf("%s %v (%d units; whole: %s)", ls[i].name, d.Round(100*time.Millisecond), len(owned[i]), strings.Join(whole, ",")))
					}
					// Also on stderr: go test keeps only the first lines of a
					// benchmark's log.
					line := fmt.Sprintf("round %d, %s, %d runner(s): %d events in %v = %.0f events/s; machine CPU busy %.0f %%, this process %v CPU (%.2f cores); done: %s",
						round, m.name, k, total, took.Round(10*time.Millisecond), float64(total)/took.Seconds(), busyPct,
						cpu.Round(10*time.Millisecond), cpu.Seconds()/took.Seconds(), strings.Join(fin, "; "))
					b.Log(line)
					fmt.Fprintln(os.Stderr, "SharedCatchUp:", line)
				}
			}
		}
	}
	for _, m := range modes {
		for _, k := range counts {
			b.ReportMetric(float64(total)*float64(rounds)/sum[fmt.Sprintf("%s-%d", m.name, k)].Seconds(), fmt.Sprintf("events/s-%s-%d-runners", m.name, k))
		}
	}
}
