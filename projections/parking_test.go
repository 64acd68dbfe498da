package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custody/custody/events"
)

// chatNames is a test projection with a real data error: its table refuses
// the group name "boom" (a CHECK constraint), as a stricter schema than the
// events would. fixed adds a migration dropping the constraint, as a
// release fixing the projection would. It builds through Apply and, in a
// rebuild, through staging and a fold whose COPY meets the same constraint.
type chatNames struct{ fixed bool }

func (chatNames) Name() string     { return "chat_names" }
func (chatNames) Tables() []string { return []string{"chat_names"} }
func (c chatNames) Migrations() []string {
	ms := []string{`CREATE TABLE {s}.chat_names (corp_id text NOT NULL, chat_id text NOT NULL,
		name text NOT NULL CONSTRAINT name_allowed CHECK (name <> 'boom'), PRIMARY KEY (corp_id, chat_id))`}
	if c.fixed {
		ms = append(ms, `ALTER TABLE {s}.chat_names DROP CONSTRAINT name_allowed`)
	}
	return ms
}

func (chatNames) Apply(w *Writer, e Event) error {
	var chat, name string
	switch p := e.Payload.(type) {
	case *events.GroupChatCreated:
		chat, name = p.ChatID, p.Name
	case *events.GroupChatRenamed:
		chat, name = p.ChatID, p.Name
	default:
		return nil
	}
	w.Queue(`INSERT INTO {s}.chat_names VALUES ($1, $2, $3) ON CONFLICT (corp_id, chat_id) DO UPDATE SET name = excluded.name`,
		e.CorpID, chat, name)
	return nil
}

func (c chatNames) bulkPlan() bulkPlan {
	return bulkPlan{
		// The staging table refuses what the table refuses, so that the
		// bulk build meets the poison (the fold alone would only write
		// the last name).
		staging: []string{"corp text", "chat text", "cpos bigint", "ppos bigint", "name text CHECK (name <> 'boom')"},
		stage: func(e Event) []any {
			row := func(chat, name string) []any {
				return []any{e.CorpID, chat, int64(e.Position.Commit), int64(e.Position.Prepare), name}
			}
			switch p := e.Payload.(type) {
			case *events.GroupChatCreated:
				return row(p.ChatID, p.Name)
			case *events.GroupChatRenamed:
				return row(p.ChatID, p.Name)
			}
			return nil
		},
		query:   `SELECT DISTINCT ON (corp, chat) corp, chat, name FROM {s}.bulk_staging ORDER BY corp, chat, cpos DESC, ppos DESC`,
		outputs: map[string][]string{"chat_names": {"corp_id", "chat_id", "name"}},
		newFold: func() folder { return chatNamesFold{} },
	}
}

type chatNamesFold struct{}

func (chatNamesFold) add(rows pgx.Rows, out *bulkOut) error {
	var corp, chat, name string
	if err := rows.Scan(&corp, &chat, &name); err != nil {
		return err
	}
	out.emit("chat_names", corp, chat, name)
	return nil
}

func (chatNamesFold) finish(*bulkOut) error { return nil }

// parkedRows renders the parked table as "projection corp position type reason-prefix".
func parkedRows(t *testing.T, db Querier) []string {
	t.Helper()
	ps, err := ParkedCorps(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		reason, _, _ := strings.Cut(p.Reason, ":")
		out = append(out, fmt.Sprintf("%s %s %s %s %s %s", p.Projection, p.CorpID, p.Position, p.EventID, p.EventType, reason))
	}
	return out
}

// TestParkingIsolatesPoisonEvents stores, for corp ca, an event the test
// projection chat_names cannot apply (a CHECK violation) and, for corp cd,
// a relation start whose payload does not decode; corp cb's events keep
// appearing in every projection while the runner keeps running, the
// parked corps name the events, parking survives a restart of the runner,
// a rebuild that meets the same poison parks the same way, and a rebuild
// with the fixed projection un-parks.
func TestParkingIsolatesPoisonEvents(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	set := append(All(), chatNames{})
	if err := MigrateProjections(ctx, pool, chatNames{}); err != nil {
		t.Fatal(err)
	}
	l := newRawLog()
	l.add(t, "ca", 0, &events.GroupChatCreated{ChatID: "g1", OwnerID: "s1", Name: "first"})
	l.add(t, "cb", 0, &events.StaffJoined{StaffID: "s1", PII: events.StaffPII{Name: "Bob"}})
	l.add(t, "cd", 0, &events.StaffJoined{StaffID: "s1", PII: events.StaffPII{Name: "Dee"}})
	l.add(t, "cd", 1, &events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s1", Initiator: "staff", StartedBy: "added"})
	boom := l.add(t, "ca", 2, &events.GroupChatRenamed{ChatID: "g1", Name: "boom"})
	l.add(t, "ca", 3, &events.GroupChatRenamed{ChatID: "g1", Name: "after"})
	bad := l.addBytes("cd", events.CustomerStream("cd", "cu2"), "customer.relation_started", 1,
		`{"customer_id": 5, "staff_id": "s1", "initiator": "staff", "add_way": 0, "started_by": "added"}`, "")
	l.add(t, "cd", 4, &events.CustomerRelationStarted{CustomerID: "cu3", StaffID: "s1", Initiator: "staff", StartedBy: "added"})
	l.add(t, "cb", 5, &events.GroupChatCreated{ChatID: "g2", OwnerID: "s1", Name: "bee"})

	start := func() (*Runner, func()) {
		r, err := NewRunner(pool, l, Options{Projections: set, BatchSize: 3, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond,
			Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(runCtx) }()
		return r, func() {
			select {
			case err := <-done:
				t.Fatalf("runner stopped early: %v", err)
			default:
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("runner: %v", err)
			}
		}
	}
	caughtUp := func(r *Runner) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := r.WaitFor(wctx, lastPosition(t, l)); err != nil {
			t.Fatalf("runner does not catch up: %v", err)
		}
	}
	q := func(sql string) []string { return rows(t, pool, sql) }

	r, stop := start()
	caughtUp(r)
	wantParked := []string{
		fmt.Sprintf("activity cd %s %s customer.relation_started decode", bad.Position, bad.ID),
		fmt.Sprintf("chat_names ca %s %s groupchat.renamed SQLSTATE 23514", boom.Position, boom.ID),
		fmt.Sprintf("customers cd %s %s customer.relation_started decode", bad.Position, bad.ID),
		fmt.Sprintf("moments cd %s %s customer.relation_started decode", bad.Position, bad.ID),
		fmt.Sprintf("outreach cd %s %s customer.relation_started decode", bad.Position, bad.ID),
		fmt.Sprintf("relations cd %s %s customer.relation_started decode", bad.Position, bad.ID),
		fmt.Sprintf("staff cd %s %s customer.relation_started decode", bad.Position, bad.ID),
	}
	assertRows(t, "parked", parkedRows(t, pool), wantParked)
	// ca's chat name stays as before the poison; the groups projection,
	// which could apply it, has every rename.
	assertRows(t, "chat_names", q(`SELECT corp_id, chat_id, name FROM projections.chat_names ORDER BY 1`), []string{"ca g1 first", "cb g2 bee"})
	assertRows(t, "group_chats", q(`SELECT corp_id, name FROM projections.group_chats ORDER BY 1`), []string{"ca after", "cb bee"})
	// cd's staff counts stop before the bad event; cu3 is not counted.
	assertRows(t, "staff", q(`SELECT corp_id, active_customers FROM projections.staff ORDER BY 1`), []string{"cb 0", "cd 1"})
	var reason string
	if err := pool.QueryRow(ctx, `SELECT reason FROM projections.parked WHERE projection = 'chat_names'`).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(reason, "boom") {
		t.Errorf("reason %q holds the event's data", reason)
	}

	// cb keeps flowing; ca's and cd's later events are skipped.
	l.add(t, "cb", 6, &events.GroupChatRenamed{ChatID: "g2", Name: "bee2"})
	l.add(t, "cb", 6, &events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s1", Initiator: "staff", StartedBy: "added"})
	l.add(t, "ca", 7, &events.GroupChatRenamed{ChatID: "g1", Name: "later"})
	l.add(t, "cd", 7, &events.CustomerRelationStarted{CustomerID: "cu4", StaffID: "s1", Initiator: "staff", StartedBy: "added"})
	caughtUp(r)
	assertRows(t, "chat_names", q(`SELECT corp_id, chat_id, name FROM projections.chat_names ORDER BY 1`), []string{"ca g1 first", "cb g2 bee2"})
	assertRows(t, "staff", q(`SELECT corp_id, active_customers FROM projections.staff ORDER BY 1`), []string{"cb 1", "cd 1"})
	stop()

	// A new runner (a restart) still skips the parked corps.
	l.add(t, "ca", 8, &events.GroupChatRenamed{ChatID: "g1", Name: "restarted"})
	l.add(t, "cb", 8, &events.GroupChatRenamed{ChatID: "g2", Name: "bee3"})
	r, stop = start()
	caughtUp(r)
	assertRows(t, "chat_names after a restart", q(`SELECT corp_id, chat_id, name FROM projections.chat_names ORDER BY 1`), []string{"ca g1 first", "cb g2 bee3"})
	assertRows(t, "parked after a restart", parkedRows(t, pool), wantParked)
	stop()

	// A rebuild meets the same poison and parks the same way, in the bulk
	// path (staff: staging; chat_names: the staging COPY fails, the
	// shadow is built again through Apply): the rebuilt tables equal the
	// live ones.
	assertEqualsCleanRebuild(t, pool, l, []Projection{Staff{}, chatNames{}})
	if _, err := Rebuild(ctx, pool, l, []Projection{Staff{}, chatNames{}}, RebuildOptions{Logger: discardLogger()}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	assertRows(t, "parked after a rebuild", parkedRows(t, pool), wantParked)

	// The fixed projection, rebuilt, un-parks ca and has its whole history.
	if err := MigrateProjections(ctx, pool, chatNames{fixed: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rebuild(ctx, pool, l, []Projection{chatNames{fixed: true}}, RebuildOptions{Logger: discardLogger()}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	assertRows(t, "parked after the fix", parkedRows(t, pool), slicesWithout(wantParked, "chat_names"))
	assertRows(t, "chat_names after the fix", q(`SELECT corp_id, chat_id, name FROM projections.chat_names ORDER BY 1`), []string{"ca g1 restarted", "cb g2 bee3"})
}

func slicesWithout(s []string, prefix string) []string {
	var out []string
	for _, v := range s {
		if !strings.HasPrefix(v, prefix+" ") {
			out = append(out, v)
		}
	}
	return out
}

func TestIsDataError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "22021"}, true},                      // invalid byte sequence
		{&pgconn.PgError{Code: "22003"}, true},                      // numeric value out of range
		{fmt.Errorf("x: %w", &pgconn.PgError{Code: "23505"}), true}, // unique violation
		{&pgconn.PgError{Code: "42804"}, true},                      // datatype mismatch
		{&dataError{reason: "decode"}, true},
		{&pgconn.PgError{Code: "40001"}, false}, // serialization failure
		{&pgconn.PgError{Code: "40P01"}, false}, // deadlock
		{&pgconn.PgError{Code: "57P01"}, false}, // admin shutdown
		{&pgconn.PgError{Code: "08006"}, false}, // connection failure
		{&pgconn.PgError{Code: "42P01"}, false}, // undefined table
		{context.Canceled, false},
		{fmt.Errorf("%w: %w", context.DeadlineExceeded, &pgconn.PgError{Code: "22021"}), false},
		{errors.New("connection reset"), false},
	} {
		if got := isDataError(c.err); got != c.want {
			t.Errorf("isDataError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if r := reasonOf(&pgconn.PgError{Code: "22P02", Message: `invalid input syntax for type integer: "Alice"`}); strings.Contains(r, "Alice") {
		t.Errorf("reason %q holds a value", r)
	}
}
