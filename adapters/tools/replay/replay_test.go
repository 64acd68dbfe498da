package replay_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/tools/replay"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/asof"
	"github.com/custody/custody/projections/asof/asoftest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// prefix is a log cut after a position: what the log held back then.
type prefix struct {
	src  projections.Source
	last events.Position
}

func (p prefix) ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error) {
	recs, err := p.src.ReadAll(ctx, from, limit)
	for i := range recs {
		if p.last.Less(recs[i].Position) {
			return recs[:i], err
		}
	}
	return recs, err
}

func (p prefix) Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func (p prefix) Head(context.Context) (events.Position, error) { return p.last, nil }

// project builds the live projections of src in pool.
func project(t *testing.T, pool *pgxpool.Pool, src projections.Source) {
	t.Helper()
	ctx := context.Background()
	if err := projections.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	r, err := projections.NewRunner(pool, src, projections.Options{BatchSize: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
}

// dump is every row of every projection table in schema, as JSON text,
// sorted; plus the checkpoint table when schema is the live one.
func dump(t *testing.T, pool *pgxpool.Pool, schema string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	tables := []string{}
	for _, p := range projections.All() {
		tables = append(tables, p.Tables()...)
	}
	if schema == projections.LiveSchema {
		tables = append(tables, "projection_checkpoints")
	}
	for _, tb := range tables {
		rows, err := pool.Query(context.Background(), fmt.Sprintf(`SELECT to_jsonb(t)::text FROM %s.%s t ORDER BY 1`, schema, tb))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[tb] = append(out[tb], s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func equalDumps(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	rows := 0
	for tb, w := range want {
		if tb == "projection_checkpoints" {
			continue
		}
		g := got[tb]
		rows += len(w)
		if !slices.Equal(g, w) {
			for i := range max(len(g), len(w)) {
				var a, b string
				if i < len(g) {
					a = g[i]
				}
				if i < len(w) {
					b = w[i]
				}
				if a != b {
					t.Fatalf("%s: table %s differs at row %d of %d/%d:\n got %s\nwant %s", what, tb, i, len(g), len(w), a, b)
				}
			}
		}
	}
	if rows == 0 {
		t.Fatalf("%s: no rows at all: the comparison proves nothing", what)
	}
}

func TestReplayEqualsProjectingThePrefix(t *testing.T) {
	ctx := context.Background()
	// Recorded time steps one second per append, so recorded and occurred
	// cuts fall in different places.
	rec := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	log := memlog.New(memlog.WithClock(func() time.Time { rec = rec.Add(time.Second); return rec }))
	err := asoftest.Generate(asoftest.Config{Corps: []string{"acme", "globex"}, Events: 3000, Seed: 3, PII: true},
		func(it asoftest.Item) error {
			_, err := log.Append(ctx, it.Stream, eventlog.ExpectAny, it.Event)
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	all, err := log.ReadAll(ctx, events.Start, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	live := pgtest.NewPool(t)
	project(t, live, log)
	before := dump(t, live, projections.LiveSchema)

	for _, c := range []struct {
		name  string
		field replay.TimeField
		cut   int // index of the last event kept
	}{
		{"occurred", replay.Occurred, len(all) / 3},
		{"recorded", replay.Recorded, 2 * len(all) / 3},
		{"everything", replay.Occurred, len(all) - 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			until := all[c.cut].OccurredAt
			if c.field == replay.Recorded {
				until = all[c.cut].RecordedAt
			}
			// Events sharing the cut's time are kept too.
			last := c.cut
			for last+1 < len(all) && !all[last+1].OccurredAt.After(until) && c.field == replay.Occurred {
				last++
			}
			info, err := replay.Build(ctx, live, log, replay.Options{Schema: "replay_" + c.name, Until: until, TimeField: c.field, BatchSize: 700})
			if err != nil {
				t.Fatal(err)
			}
			if info.Read != int64(len(all)) || info.Applied != int64(last+1) {
				t.Fatalf("info %+v: want %d read, %d applied", info, len(all), last+1)
			}
			want := pgtest.NewPool(t)
			project(t, want, prefix{src: log, last: all[last].Position})
			equalDumps(t, "replay vs the projected prefix", dump(t, live, "replay_"+c.name), dump(t, want, projections.LiveSchema))

			// As-of over the replay schema agrees with as-of over live.
			for _, corp := range []string{"acme", "globex"} {
				a, err := asof.Queries{DB: live}.Numbers(ctx, corp, until)
				if err != nil {
					t.Fatal(err)
				}
				b, err := asof.Queries{DB: live, Schema: "replay_" + c.name}.Numbers(ctx, corp, until)
				if err != nil {
					t.Fatal(err)
				}
				if c.field == replay.Occurred && fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("as-of numbers at %s: live %+v, replay %+v", until, a, b)
				}
			}
			got, err := replay.Describe(ctx, live, "replay_"+c.name)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Until.Equal(until.Truncate(time.Microsecond)) || got.TimeField != c.field || got.Applied != info.Applied || got.Position != all[len(all)-1].Position {
				t.Fatalf("describe %+v, build said %+v", got, info)
			}
		})
	}
	// The live tables and checkpoints never moved.
	after := dump(t, live, projections.LiveSchema)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("a replay changed the live tables")
	}
	list, err := replay.List(ctx, live)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %d replays, %v", len(list), err)
	}
}

// TestReplaceAndDrop runs on the PostgreSQL log, in the database that also
// holds the replay schemas.
func TestReplaceAndDrop(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	k, err := pii.NewKeyring(make([]byte, pii.KeySize), pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: k})
	if err != nil {
		t.Fatal(err)
	}
	err = asoftest.Generate(asoftest.Config{Events: 300, Seed: 4, PII: true}, func(it asoftest.Item) error {
		_, err := log.Append(ctx, it.Stream, eventlog.ExpectAny, it.Event)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	t2 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	if _, err := replay.Build(ctx, pool, log, replay.Options{Schema: "day", Until: t1}); err != nil {
		t.Fatal(err)
	}
	first := dump(t, pool, "day")
	if _, err := replay.Build(ctx, pool, log, replay.Options{Schema: "day", Until: t2}); err != nil {
		t.Fatal(err)
	}
	info, err := replay.Describe(ctx, pool, "day")
	if err != nil || !info.Until.Equal(t2) {
		t.Fatalf("after replacing: %+v %v", info, err)
	}
	if fmt.Sprint(dump(t, pool, "day")) == fmt.Sprint(first) {
		t.Fatal("the replaced replay still holds the old state")
	}
	var scratch int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%building%'`).Scan(&scratch); err != nil || scratch != 0 {
		t.Fatalf("%d scratch schemas left (%v)", scratch, err)
	}

	if err := replay.Drop(ctx, pool, "day"); err != nil {
		t.Fatal(err)
	}
	if err := replay.Drop(ctx, pool, "day"); !errors.Is(err, replay.ErrNotFound) {
		t.Fatalf("second drop: %v", err)
	}
	// Schemas a replay did not make are never replaced or dropped.
	if _, err := pool.Exec(ctx, `CREATE SCHEMA analyst_work; CREATE TABLE analyst_work.notes (x int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Build(ctx, pool, log, replay.Options{Schema: "analyst_work", Until: t1}); !errors.Is(err, replay.ErrNotReplaySchema) {
		t.Fatalf("build over a foreign schema: %v", err)
	}
	if err := replay.Drop(ctx, pool, "analyst_work"); !errors.Is(err, replay.ErrNotReplaySchema) {
		t.Fatalf("drop of a foreign schema: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM analyst_work.notes`).Scan(&n); err != nil {
		t.Fatalf("foreign schema damaged: %v", err)
	}
	for _, bad := range []string{"projections", "public", "pg_x", "projections_rebuild_staff", "Bad", "a-b", "x__building", ""} {
		if err := replay.Drop(ctx, pool, bad); !errors.Is(err, replay.ErrInvalidOptions) {
			t.Errorf("drop %q: %v", bad, err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	o := replay.Options{Schema: "public", TimeField: "later", BatchSize: -1}
	err := o.Validate()
	if !errors.Is(err, replay.ErrInvalidOptions) {
		t.Fatalf("Validate = %v", err)
	}
	for _, want := range []string{"reserved", "until is required", "time field", "batch size"} {
		if !contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
