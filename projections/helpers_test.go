package projections

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// base is minute 0 of the scenarios; tests name times as minutes after it.
var base = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func minute(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }

// world appends events to a memlog for corp c1.
type world struct {
	t   testing.TB
	log *memlog.Log
}

func newWorld(t testing.TB) *world {
	return &world{t: t, log: memlog.New(memlog.WithClock(func() time.Time { return base }))}
}

// add appends p at minute m to the aggregate stream its ids name.
func (w *world) add(m int, p events.Payload) events.Recorded {
	w.t.Helper()
	return w.addAt(minute(m), "c1", p)
}

func (w *world) addAt(at time.Time, corp string, p events.Payload) events.Recorded {
	w.t.Helper()
	e, err := events.New(uuid.New(), events.Meta{CorpID: corp, OccurredAt: at, Actor: "system"}, p)
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := w.log.Append(context.Background(), streamOf(corp, p), eventlog.ExpectAny, e)
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Events[0]
}

// allEvents reads w's whole log, decoded.
func allEvents(t *testing.T, w *world) []Event {
	t.Helper()
	recs, err := w.log.ReadAll(context.Background(), events.Start, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := decode(recs)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// streamOf routes a payload to its aggregate's stream.
func streamOf(corp string, p events.Payload) string {
	switch p := p.(type) {
	case *events.StaffJoined:
		return events.StaffStream(corp, p.StaffID)
	case *events.StaffDeparted:
		return events.StaffStream(corp, p.StaffID)
	case *events.StaffCapacityChanged:
		return events.StaffStream(corp, p.StaffID)
	case *events.StaffErased:
		return events.StaffStream(corp, p.StaffID)
	case *events.StaffSlotReserved:
		return events.StaffStream(corp, p.StaffID)
	case *events.StaffSlotReleased:
		return events.StaffStream(corp, p.StaffID)
	case *events.CustomerRelationStarted:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.CustomerRelationEdited:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.CustomerRelationEnded:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.CustomerErased:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.MomentsOptedOut:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.MomentsOptedIn:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.ConsentRecorded:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.HandoverRequested:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.HandoverRefused:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.HandoverCompleted:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.HandoverFailed:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.HandoverCancelled:
		return events.CustomerStream(corp, p.CustomerID)
	case *events.GroupChatCreated:
		return events.GroupChatStream(corp, p.ChatID)
	case *events.GroupChatMemberJoined:
		return events.GroupChatStream(corp, p.ChatID)
	case *events.GroupChatMemberLeft:
		return events.GroupChatStream(corp, p.ChatID)
	case *events.GroupChatOwnerChanged:
		return events.GroupChatStream(corp, p.ChatID)
	case *events.GroupChatRenamed:
		return events.GroupChatStream(corp, p.ChatID)
	case *events.GroupChatNoticeChanged:
		return events.GroupChatStream(corp, p.ChatID)
	case *events.GroupChatDismissed:
		return events.GroupChatStream(corp, p.ChatID)
	case *events.TagCreated, *events.TagRenamed, *events.TagDeleted, *events.TagsReordered:
		return events.CorpTagsStream(corp)
	case *events.WeComFactUnmatched:
		return events.CorpWeComStream(corp, p.CallbackKey)
	case *events.CorpSettingsChanged:
		return events.CorpSettingsStream(corp)
	case *events.OutreachPlanned:
		return events.OutreachMessageStream(corp, p.MessageID)
	case *events.OutreachSent:
		return events.OutreachMessageStream(corp, p.MessageID)
	case *events.OutreachRefused:
		return events.OutreachMessageStream(corp, p.MessageID)
	case *events.OutreachDelivered:
		if p.ChatID != "" && p.CustomerID == "" {
			return events.OutreachGroupStream(corp, p.ChatID)
		}
		return events.OutreachCustomerStream(corp, p.CustomerID)
	}
	panic(fmt.Sprintf("no stream for %T", p))
}

// newDB returns a fresh migrated database.
func newDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.NewPool(t)
	if err := Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

func newRunner(t testing.TB, pool *pgxpool.Pool, src Source, batch int) *Runner {
	t.Helper()
	r, err := NewRunner(pool, src, Options{BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func catchUp(t testing.TB, r *Runner) {
	t.Helper()
	if _, err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// rows runs sql and renders each row as one string: times as "m<minutes
// after base>", NULL as "-", arrays joined with "|", columns with " ".
func rows(t testing.TB, db Querier, sql string, args ...any) []string {
	t.Helper()
	rs, err := db.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			t.Fatal(err)
		}
		cols := make([]string, len(vals))
		for i, v := range vals {
			cols[i] = render(v)
		}
		out = append(out, strings.Join(cols, " "))
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func render(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case time.Time:
		d := x.Sub(base)
		if d%time.Minute == 0 {
			return fmt.Sprintf("m%d", int(d/time.Minute))
		}
		return x.UTC().Format(time.RFC3339Nano)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = render(p)
		}
		return "[" + strings.Join(parts, "|") + "]"
	case string:
		if x == "" {
			return `""`
		}
		return x
	}
	return fmt.Sprint(v)
}

func assertRows(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got:\n  %s\n want:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// tableDump is a table's rows as sorted JSON texts.
func tableDump(t testing.TB, db Querier, schema, table string) []string {
	t.Helper()
	q := fmt.Sprintf("SELECT to_jsonb(x)::text FROM %s.%s x ORDER BY 1", ident(schema), ident(table))
	rs, err := db.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("dump %s.%s: %v", schema, table, err)
	}
	out, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("dump %s.%s: %v", schema, table, err)
	}
	return out
}

// assertEqualsCleanRebuild builds each projection from scratch into its
// shadow schema (without swapping) and checks the live tables hold exactly
// the same rows. It returns the number of rows compared.
func assertEqualsCleanRebuild(t testing.TB, pool *pgxpool.Pool, src Source, ps []Projection) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	var res RebuildResult
	if _, err := buildShadows(ctx, pool, src, ps, RebuildOptions{BatchSize: 5000, Fresh: true, Logger: discardLogger()}, &res); err != nil {
		t.Fatalf("shadows: %v", err)
	}
	for _, p := range ps {
		for _, tbl := range p.Tables() {
			live := tableDump(t, pool, LiveSchema, tbl)
			clean := tableDump(t, pool, shadowSchema(p), tbl)
			n += len(live)
			if !slices.Equal(live, clean) {
				t.Errorf("%s.%s: live (%d rows) differs from a clean rebuild (%d rows); first difference: %s",
					p.Name(), tbl, len(live), len(clean), firstDiff(live, clean))
			}
		}
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+ident(shadowSchema(p))+" CASCADE"); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func firstDiff(a, b []string) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("live %s vs clean %s", a[i], b[i])
		}
	}
	if len(a) > len(b) {
		return "extra live row " + a[len(b)]
	}
	if len(b) > len(a) {
		return "missing live row " + b[len(a)]
	}
	return "none"
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// lastPosition pages through ReadAll to the end and returns the position of
// the last event (Start for an empty log). Tests wait for it rather than for
// Head, which a log may compute from an older visibility horizon than a
// ReadAll that already returned later events.
func lastPosition(t testing.TB, src Source) events.Position {
	t.Helper()
	pos := events.Start
	for {
		recs, err := src.ReadAll(context.Background(), pos, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return pos
		}
		pos = recs[len(recs)-1].Position
	}
}

// waitIdle waits until no other session of this database is inside a
// statement: a cancelled client may leave its backend finishing a COMMIT.
func waitIdle(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	for {
		var busy int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state NOT IN ('idle')`).Scan(&busy)
		if err != nil {
			t.Fatal(err)
		}
		if busy == 0 {
			return
		}
	}
}

// waitCaughtUp waits until r has applied every event of src. On PostgreSQL
// a log may hold back events while any transaction is open (the runner's
// own included), so the end of the log is read only while the database is
// idle, until it stops moving.
func waitCaughtUp(t testing.TB, pool *pgxpool.Pool, r *Runner, src Source) events.Position {
	t.Helper()
	ctx := context.Background()
	for {
		waitIdle(t, pool)
		p := lastPosition(t, src)
		if err := r.WaitFor(ctx, p); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, pool)
		if lastPosition(t, src) == p {
			return p
		}
	}
}
