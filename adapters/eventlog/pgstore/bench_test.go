package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Benchmarks of issue 3. Each runs the store and its baseline on the same
// database and an identical table (bench_baseline is CREATE TABLE ... (LIKE
// events INCLUDING ALL)), alternating in slices so both see the same
// machine, and reports both rates and %-of-baseline. Reproduce with:
//
//	go test -run '^$' -bench Append -benchtime 3s ./adapters/eventlog/pgstore/
//	go test -run '^$' -bench CatchUp -benchtime 3x ./adapters/eventlog/pgstore/
//
// BenchmarkCatchUp builds its log (1,000,000 events by default,
// CUSTODY_BENCH_EVENTS to change) once per run; plain `go test` never runs
// benchmarks, so never pays for it. The database is pgtest's: a private
// server with fsync off unless TEST_DATABASE_URL names another.

var benchData = []byte(`{"staff_id":"zhangsan","external_user_id":"wmABCDEFGHIJKLMNOPQRSTUVWX","add_way":1,"state":"qr-channel-0001","initiator":"customer"}`)

func benchEvent() events.Event {
	return events.Event{
		ID:            uuid.Must(uuid.NewV7()),
		Type:          "customer.relation_started",
		SchemaVersion: 1,
		CorpID:        "wwcorp0001",
		OccurredAt:    time.Now().UTC(),
		Actor:         "wecom",
		CommandID:     "cmd-0001",
		Data:          benchData,
	}
}

// benchPool is a fresh migrated database with a pool big enough for the
// concurrent benchmarks, plus the baseline table.
func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	ctx := context.Background()
	if err := pgstore.Migrate(ctx, pool); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_baseline (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	return pool
}

func benchStore(b *testing.B, pool *pgxpool.Pool) *pgstore.Store {
	b.Helper()
	k, err := pii.NewKeyring(make([]byte, pii.KeySize), pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		b.Fatal(err)
	}
	page, _ := strconv.Atoi(os.Getenv("CUSTODY_BENCH_PAGE")) // 0: the default
	s, err := pgstore.New(context.Background(), pool, pgstore.Options{Keyring: k, PageSize: page})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// rounds is how many alternating slices a store benchmark and its
// baseline are cut into: on a shared, noisy machine both then see the same
// conditions, and the ratio is what to trust.
const rounds = 10

// versus runs store and baseline for b.N operations each, alternating in
// slices, and reports both rates (per second of unit) and their ratio.
// run(n) performs n operations and returns how long they took.
func versus(b *testing.B, unit string, perOp int, store, baseline func(n int) (time.Duration, error)) {
	b.Helper()
	var st, bt time.Duration
	done := 0
	for r := range rounds {
		n := b.N*(r+1)/rounds - done
		done += n
		if n == 0 {
			continue
		}
		d, err := store(n)
		if err != nil {
			b.Fatal(err)
		}
		st += d
		if d, err = baseline(n); err != nil {
			b.Fatal(err)
		}
		bt += d
	}
	sr := float64(b.N*perOp) / st.Seconds()
	br := float64(b.N*perOp) / bt.Seconds()
	b.ReportMetric(0, "ns/op") // two workloads per op: ns/op would mislead
	b.ReportMetric(sr, "store-"+unit+"/s")
	b.ReportMetric(br, "baseline-"+unit+"/s")
	b.ReportMetric(100*sr/br, "%-of-baseline")
}

// parallel performs n operations split over clients goroutines and
// returns how long they took; op gets the client number and a per-client
// sequence number.
func parallel(clients, n int, seq []int, op func(client, i int) error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := op(c, seq[c]); err != nil {
					errs <- err
					return
				}
				seq[c]++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	return elapsed, <-errs
}

// BenchmarkAppendSingle: one event per append, each client on its own
// streams with exact expected versions (how commands write), against a
// plain pgx INSERT of one row per transaction (autocommit) at the same
// concurrency.
func BenchmarkAppendSingle(b *testing.B) {
	pool := benchPool(b)
	s := benchStore(b, pool)
	ctx := context.Background()
	var run atomic.Int64
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			prefix := fmt.Sprintf("bench-%d-", run.Add(1))
			next := make([]eventlog.ExpectedVersion, clients)
			storeSeq, baseSeq := make([]int, clients), make([]int, clients)
			versus(b, "appends", 1, func(n int) (time.Duration, error) {
				return parallel(clients, n, storeSeq, func(c, i int) error {
					// A new stream every 100 events keeps streams realistic.
					if i%100 == 0 {
						next[c] = eventlog.ExpectNoStream
					}
					res, err := s.Append(ctx, prefix+strconv.Itoa(c)+"-"+strconv.Itoa(i/100), next[c], benchEvent())
					next[c] = res.NextExpected
					return err
				})
			}, func(n int) (time.Duration, error) {
				return parallel(clients, n, baseSeq, func(c, i int) error {
					e := benchEvent()
					_, err := pool.Exec(ctx, `INSERT INTO bench_baseline (event_id, stream, stream_version, type, schema_version,
						corp_id, occurred_at, actor, command_id, correlation_id, causation_id, data, pii_sealed, subject)
						VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
						pgtype.UUID{Bytes: e.ID, Valid: true}, prefix+strconv.Itoa(c)+"-"+strconv.Itoa(i/100), i%100, e.Type, e.SchemaVersion,
						e.CorpID, e.OccurredAt, e.Actor, e.CommandID, e.CorrelationID, e.CausationID, string(e.Data), nil, e.Subject)
					return err
				})
			})
		})
	}
}

// BenchmarkAppendBatch: 1,000 events in one append to a new stream,
// against pgx CopyFrom of the same rows.
func BenchmarkAppendBatch(b *testing.B) {
	const size = 1000
	pool := benchPool(b)
	s := benchStore(b, pool)
	ctx := context.Background()
	batch := func() []events.Event {
		evs := make([]events.Event, size)
		for i := range evs {
			evs[i] = benchEvent()
		}
		return evs
	}
	cols := []string{"event_id", "stream", "stream_version", "type", "schema_version", "corp_id", "occurred_at",
		"actor", "command_id", "correlation_id", "causation_id", "data", "pii_sealed", "subject"}
	versus(b, "events", size, func(n int) (time.Duration, error) {
		var elapsed time.Duration
		for range n {
			evs := batch()
			start := time.Now()
			if _, err := s.Append(ctx, "batch-"+uuid.NewString(), eventlog.ExpectNoStream, evs...); err != nil {
				return 0, err
			}
			elapsed += time.Since(start)
		}
		return elapsed, nil
	}, func(n int) (time.Duration, error) {
		var elapsed time.Duration
		for range n {
			evs := batch()
			stream := "batch-" + uuid.NewString()
			start := time.Now()
			rows := make([][]any, size)
			for j, e := range evs {
				rows[j] = []any{pgtype.UUID{Bytes: e.ID, Valid: true}, stream, int64(j), e.Type, int32(e.SchemaVersion), e.CorpID, e.OccurredAt,
					e.Actor, e.CommandID, e.CorrelationID, e.CausationID, string(e.Data), nil, e.Subject}
			}
			if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_baseline"}, cols, pgx.CopyFromRows(rows)); err != nil {
				return 0, err
			}
			elapsed += time.Since(start)
		}
		return elapsed, nil
	})
}

// BenchmarkCatchUp: a subscriber reading the whole log from the start,
// every event fully decoded into an events.Recorded (envelope, data, and
// personal data unsealed for the events that carry it), against a plain
// pgx scan of the same rows into local variables, over the first 10% and
// over all of the log, alternating the two per iteration (-benchtime 3x
// for three rounds). peak-heap-MB is the process's highest heap in use
// while subscribing (garbage included), live-heap-MB the most it retained
// (after a forced GC, ten times per run); equal figures for 10% and 100%
// show memory stays flat as the log grows.
func BenchmarkCatchUp(b *testing.B) {
	total := 1_000_000
	if v := os.Getenv("CUSTODY_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			b.Fatalf("CUSTODY_BENCH_EVENTS=%q: want a number >= 10", v)
		}
		total = n
	}
	pool := benchPool(b)
	s := benchStore(b, pool)
	ctx := context.Background()
	fillLog(b, pool, s, total)

	for _, n := range []int{total / 10, total} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			every := max(n/10, 1)
			var (
				peak, live uint64
				st, bt     time.Duration
				stop       = errors.New("done")
			)
			// Each iteration reads the log once through the store, then once
			// with the baseline, so both see the same machine.
			for range b.N {
				runtime.GC()
				got := 0
				start := time.Now()
				err := s.Subscribe(ctx, events.Start, func(r events.Recorded) error {
					got++
					if got%5_000 == 0 {
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
					if got%every == 0 {
						// What the reader retains, ten times per run whatever
						// its length: a forced GC, then the heap still in use.
						runtime.GC()
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						live = max(live, ms.HeapAlloc)
					}
					if got == n {
						return stop
					}
					return nil
				})
				st += time.Since(start)
				if err != stop {
					b.Fatalf("subscribe: %v after %d events", err, got)
				}
				start = time.Now()
				if err := scanBaseline(ctx, pool, events.Start, n); err != nil {
					b.Fatal(err)
				}
				bt += time.Since(start)
			}
			sr := float64(n*b.N) / st.Seconds()
			br := float64(n*b.N) / bt.Seconds()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(sr, "store-events/s")
			b.ReportMetric(br, "baseline-events/s")
			b.ReportMetric(100*sr/br, "%-of-baseline")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(live)/(1<<20), "live-heap-MB")
		})
	}
}

// scanBaseline reads n events after from in global order with one plain
// query, scanning every column into local variables.
func scanBaseline(ctx context.Context, pool *pgxpool.Pool, from events.Position, n int) error {
	rows, err := pool.Query(ctx, `SELECT id, tx_id, event_id, stream, stream_version, type, schema_version, corp_id,
		occurred_at, recorded_at, actor, command_id, correlation_id, causation_id, data, pii_sealed, subject
		FROM events WHERE (tx_id, id) > ($1::xid8, $2::int8) ORDER BY tx_id, id LIMIT $3`, from.Commit, int64(from.Prepare), n)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		id, ver                   int64
		tx                        uint64
		eid                       pgtype.UUID
		stream, typ, corp, actor  string
		cmd, corr, cause, subject string
		sv                        int32
		occ, rec                  time.Time
		data, sealed              []byte
	)
	got := 0
	for rows.Next() {
		if err := rows.Scan(&id, &tx, &eid, &stream, &ver, &typ, &sv, &corp, &occ, &rec, &actor, &cmd, &corr, &cause, &data, &sealed, &subject); err != nil {
			return err
		}
		got++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("baseline scan: %d rows, want %d", got, n)
	}
	return nil
}

// fillLog writes total events quickly: batches of 1,000 through the
// store's Append from 4 writers (so transactions interleave as in real
// use). One event in three carries personal data of one of 5,000
// customers, sealed as usual.
func fillLog(b *testing.B, pool *pgxpool.Pool, s *pgstore.Store, total int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	const size, writers = 1000, 4
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(size)) - size
				if from >= total {
					return
				}
				evs := make([]events.Event, min(size, total-from))
				for i := range evs {
					evs[i] = benchEvent()
					if (from+i)%3 == 0 {
						c := (from + i) % 5000
						evs[i].Subject = fmt.Sprintf("customer/wwcorp0001/wm%d", c)
						evs[i].PII = []byte(`{"remark":"VIP customer from the spring fair","description":"prefers WeChat calls after 18:00"}`)
					}
				}
				if _, err := s.Append(ctx, fmt.Sprintf("fill-%d-%d", w, from), eventlog.ExpectNoStream, evs...); err != nil {
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
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled the log with %d events in %v", total, time.Since(start).Round(time.Millisecond))
}
