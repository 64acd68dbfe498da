package importer

import (
	"bufio"
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testMaster is the master key of every test keyring (the child process of
// the kill test shares the parent's keys).
var testMaster = bytes.Repeat([]byte{7}, pii.KeySize)

// testNow is the importer's clock: after every business time of the
// samples.
var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type env struct {
	url   string
	pool  *pgxpool.Pool
	store *pgstore.Store
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnvAt(t testing.TB, url string) *env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	kr, err := pii.NewKeyring(testMaster, pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: kr, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{url: url, pool: pool, store: st}
}

func newEnv(t testing.TB) *env { return newEnvAt(t, pgtest.NewDatabase(t)) }

func (e *env) opts(path string) Options {
	return Options{Pool: e.pool, Store: e.store, Corp: "acme", Path: path, Now: func() time.Time { return testNow }, Logger: quiet()}
}

func writeFile(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sampleFile(t testing.TB, s Sample) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSample(&b, s); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, b.String())
}

// logRow is an event as compared between logs: everything but the
// positions and recorded_at (a property of the writing transaction).
type logRow struct {
	ID                                           string
	Stream                                       string
	Version                                      int64
	Type                                         string
	Schema                                       int
	Corp, Actor, Command, Correlation, Causation string
	OccurredAt                                   time.Time
	Data, PII, Subject                           string
	Erased                                       bool
}

// settle waits until readers of the log see every committed event: they
// read below the oldest running transaction of the server (pgstore's xid8
// order), and other transactions on a shared test server hold that back.
func settle(t testing.TB, pool *pgxpool.Pool, st *pgstore.Store) {
	t.Helper()
	ctx := context.Background()
	for {
		var want events.Position
		var id int64
		err := pool.QueryRow(ctx, `SELECT tx_id, id FROM events ORDER BY tx_id DESC, id DESC LIMIT 1`).Scan(&want.Commit, &id)
		if errors.Is(err, pgx.ErrNoRows) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want.Prepare = uint64(id)
		head, err := st.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dumpLog(t testing.TB, e *env) []logRow {
	t.Helper()
	settle(t, e.pool, e.store)
	st := e.store
	var out []logRow
	from := events.Start
	for {
		recs, err := st.ReadAll(context.Background(), from, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out = append(out, logRow{
				ID: r.ID.String(), Stream: r.Stream, Version: r.StreamVersion, Type: r.Type, Schema: r.SchemaVersion,
				Corp: r.CorpID, Actor: r.Actor, Command: r.CommandID, Correlation: r.CorrelationID, Causation: r.CausationID,
				OccurredAt: r.OccurredAt.UTC(), Data: string(r.Data), PII: string(r.PII), Subject: r.Subject, Erased: r.PIIErased,
			})
		}
		from = recs[len(recs)-1].Position
	}
}

func sameLogs(t *testing.T, what string, got, want []logRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d differs:\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

// viaCommands feeds the file's records to the command handlers, one command
// each, with the envelope the importer gives them, and returns the lines
// the handlers refused.
func viaCommands(t *testing.T, e *env, path, importID string) []int64 {
	t.Helper()
	ctx := context.Background()
	h, err := commands.New(commands.Options{Log: e.store, Eraser: e.store, Settings: commands.DefaultSettings{},
		Clock: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var refused []int64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxLineBytes+1)
	for n := 1; sc.Scan(); n++ {
		rec, err := Decode(sc.Bytes(), n, "acme", testNow)
		if err != nil {
			t.Fatal(err)
		}
		meta := func(m commands.Meta) commands.Meta {
			m.CommandID, m.CorrelationID, m.Actor = CommandID(importID, n), CorrelationID(importID), "system"
			return m
		}
		switch {
		case rec.Staff != nil:
			c := *rec.Staff
			c.Meta = meta(c.Meta)
			_, err = h.JoinStaff(ctx, c)
		case rec.Relation != nil:
			c := *rec.Relation
			c.Meta = meta(c.Meta)
			_, err = h.StartRelation(ctx, c)
		case rec.Group != nil:
			c := *rec.Group
			c.Meta = meta(c.Meta)
			_, err = h.CreateGroupChat(ctx, c)
		case rec.Member != nil:
			c := *rec.Member
			c.Meta = meta(c.Meta)
			_, err = h.JoinGroupChat(ctx, c)
		}
		if err != nil {
			if errors.Is(err, commands.ErrInvalidCommand) || errors.Is(err, eventlog.ErrConflict) {
				t.Fatalf("line %d: %v", n, err)
			}
			refused = append(refused, int64(n))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return refused
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// projectionTables dumps every table of the schema projections as the
// live projector (custody serve) leaves it, but the projector's own
// bookkeeping (positions and times of the writing transactions).
func projectionTables(t *testing.T, e *env) map[string][]string {
	t.Helper()
	ctx := context.Background()
	if err := projections.Migrate(ctx, e.pool); err != nil {
		t.Fatal(err)
	}
	r, err := projections.NewRunner(e.pool, e.store, projections.Options{Logger: quiet(), BatchSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	settle(t, e.pool, e.store)
	if _, err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := e.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'projections' AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, tbl := range tables {
		if skipTable[tbl] {
			continue
		}
		// Positions' commit parts are transaction ids, which differ between
		// two databases; everything else must be equal.
		rows, err := e.pool.Query(ctx, fmt.Sprintf(`SELECT (SELECT jsonb_object_agg(k, v) FROM jsonb_each(to_jsonb(x)) AS j(k, v)
			WHERE k NOT LIKE '%%commit%%')::text FROM projections.%s x ORDER BY 1`, pgx.Identifier{tbl}.Sanitize()))
		if err != nil {
			t.Fatal(err)
		}
		out[tbl], err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// skipTable: the projector's bookkeeping, which holds log positions (the
// transaction ids differ between two logs of the same events).
var skipTable = map[string]bool{"projection_checkpoints": true, "checkpoints": true, "parked": true, "schema_migrations": true}

// TestImportMatchesCommandPath: the same file imported, and fed command by
// command to the handlers, gives the same log (ids, streams, versions,
// types, envelopes, data and personal data, in the same order), the same
// refusals, and the same projections.
func TestImportMatchesCommandPath(t *testing.T) {
	ctx := context.Background()
	path := sampleFile(t, Sample{Staff: 7, Relations: 400, Groups: 4, MembersPerGroup: 12, Seed: 1})
	// A few records the domain refuses: a member joining twice, a staff
	// member joining twice, a member of a group that does not exist.
	b, _ := os.ReadFile(path)
	extra := `{"kind":"group_member","at":"2025-01-01T00:00:00Z","chat_id":"wr000001","member_id":"s00001","member_type":"staff","join_scene":"link"}
{"kind":"staff","at":"2025-01-01T00:00:01Z","staff_id":"s00001"}
{"kind":"group_member","at":"2025-01-01T00:00:02Z","chat_id":"nope","member_id":"wm00000001","member_type":"customer","join_scene":"qrcode"}
{"kind":"relation","at":"2025-01-01T00:00:03Z","customer_id":"wm_new","staff_id":"s_never_joined","initiator":"customer","add_way":0}
`
	path = writeFile(t, string(b)+extra)

	imp := newEnv(t)
	o := imp.opts(path)
	o.ChunkRecords = 97 // chunks cut through customers, members and groups
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cmd := newEnv(t)
	refused := viaCommands(t, cmd, path, res.ImportID)

	got, want := dumpLog(t, imp), dumpLog(t, cmd)
	sameLogs(t, "import vs command path", got, want)
	if int64(len(got)) != res.Events {
		t.Errorf("result counts %d events, the log holds %d", res.Events, len(got))
	}
	rejects, err := Rejects(ctx, imp.pool, res.ImportID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int64
	for _, r := range rejects {
		lines = append(lines, r.Line)
	}
	if fmt.Sprint(lines) != fmt.Sprint(refused) || len(refused) < 3 {
		t.Errorf("import rejected lines %v, the handlers refused %v", lines, refused)
	}
	if res.Rejected != int64(len(rejects)) {
		t.Errorf("result counts %d rejects, the table %d", res.Rejected, len(rejects))
	}

	// With caches too small to hold anything between chunks, every
	// aggregate is read back from the log: the same log again.
	small := newEnv(t)
	ot := small.opts(path)
	ot.ChunkRecords, ot.CacheEntries, ot.StaffCacheEntries = 31, 1, 1
	if _, err := Run(ctx, ot); err != nil {
		t.Fatal(err)
	}
	sameLogs(t, "import with tiny caches vs command path", dumpLog(t, small), want)

	pi, pc := projectionTables(t, imp), projectionTables(t, cmd)
	if len(pi) == 0 {
		t.Fatal("no projection tables")
	}
	rows := 0
	for tbl, w := range pc {
		g := pi[tbl]
		rows += len(g)
		if strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("projection table %s differs: import %d rows, command path %d rows", tbl, len(g), len(w))
			for i := range min(len(g), len(w), 2) {
				t.Logf("import: %s\ncommand: %s", g[i], w[i])
			}
		}
	}
	if rows < 400 {
		t.Errorf("only %d projection rows compared", rows)
	}

	// Again: the whole file is done, nothing is written.
	again, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !again.AlreadyDone || again.Events != res.Events {
		t.Errorf("second run: %+v", again)
	}
	sameLogs(t, "after a second run", dumpLog(t, imp), got)
}

// TestBadInputWritesNothing: a file with bad lines is refused as a whole,
// every bad line named (never its content), nothing written.
func TestBadInputWritesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	secret := "SECRET-PHONE-13800000000"
	content := `{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"alice"}
{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"bob","Name":"x"}
{"kind":"relation","at":"2025-01-01T00:00:00Z","customer_id":"c1","staff_id":"alice","initiator":"staff","add_way":1,"remark":"` + secret + `\u0000"}
{"kind":"relation","at":"1999-01-01T00:00:00Z","customer_id":"c1","staff_id":"alice","initiator":"staff","add_way":1}
{"kind":"relation","at":"2025-01-01T00:00:00Z","customer_id":"c 1","staff_id":"alice","initiator":"staff","add_way":1}
{"kind":"tag","at":"2025-01-01T00:00:00Z"}
not json ` + secret + `
{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"carol","capacity":-1}
{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"dave","staff_id":"dave"}
{"kind":"group_member","at":"2025-01-01T00:00:00Z","chat_id":"g","member_id":"m","member_type":"robot","join_scene":"link"}

{"kind":"staff","staff_id":"erin"}
`
	_, err := Run(ctx, e.opts(writeFile(t, content)))
	if !errors.Is(err, ErrBadFile) {
		t.Fatalf("err = %v, want ErrBadFile", err)
	}
	msg := err.Error()
	for _, want := range []string{"line 2: ", "unknown field Name", "line 3: ", "remark", "line 4: ", "occurred_at", "line 5: ", "customer_id",
		"line 6: ", "kind", "line 7: ", "line 8: ", "capacity", "line 9: ", "duplicate field", "line 10: ", "member_type", "line 11: ", "empty line",
		"line 12: ", "at: required"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "line 1:") {
		t.Errorf("good line 1 reported:\n%s", msg)
	}
	if strings.Contains(msg, "SECRET") {
		t.Errorf("the error quotes the input:\n%s", msg)
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM import_progress)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows written for a refused file", n)
	}
}

// TestRefusesStreamsWithOtherEvents: a customer whose stream already holds
// events of the command path is not imported into; the chunk naming it
// writes nothing, earlier chunks stay and a rerun stops at the same place.
func TestRefusesStreamsWithOtherEvents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	h, err := commands.New(commands.Options{Log: e.store, Eraser: e.store, Settings: commands.DefaultSettings{}, Clock: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.StartRelation(ctx, commands.StartRelation{Meta: commands.Meta{CorpID: "acme"}, CustomerID: "wm00000150",
		StaffID: "x", Initiator: "staff"}); err != nil {
		t.Fatal(err)
	}
	before := dumpLog(t, e)
	o := e.opts(sampleFile(t, Sample{Staff: 3, Relations: 300, Seed: 2}))
	o.ChunkRecords = 50
	_, err = Run(ctx, o)
	if !errors.Is(err, ErrForeignStream) || !strings.Contains(err.Error(), "customer-acme-wm00000150") {
		t.Fatalf("err = %v, want ErrForeignStream naming the customer", err)
	}
	after := dumpLog(t, e)
	var p progress
	if err := e.pool.QueryRow(ctx, `SELECT line, records FROM import_progress`).Scan(&p.line, &p.records); err != nil {
		t.Fatal(err)
	}
	if p.line == 0 || p.line >= 3+150 {
		t.Errorf("progress at line %d: want a chunk boundary before the customer's line", p.line)
	}
	for _, r := range after[len(before):] {
		if r.Stream == "customer-acme-wm00000150" {
			t.Errorf("imported into the foreign stream: %+v", r)
		}
	}
	if _, err := Run(ctx, o); !errors.Is(err, ErrForeignStream) {
		t.Fatalf("rerun: err = %v", err)
	}
	sameLogs(t, "after the rerun", dumpLog(t, e), after)

	// Another file naming the streams the first import wrote is another
	// import: refused, by the log's unique (stream, version) constraint
	// since this run never wrote the customer's stream (tiny caches: every
	// chunk evicts, and reads back only the streams the run wrote).
	var second strings.Builder
	for i := range 5 {
		fmt.Fprintf(&second, `{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"z%d"}`+"\n", i)
	}
	second.WriteString(`{"kind":"relation","at":"2025-01-01T00:00:00Z","customer_id":"wm00000003","staff_id":"z1","initiator":"staff"}` + "\n")
	o2 := e.opts(writeFile(t, second.String()))
	o2.ChunkRecords, o2.CacheEntries, o2.StaffCacheEntries = 5, 1, 1
	_, err = Run(ctx, o2)
	if !errors.Is(err, ErrForeignStream) || !strings.Contains(err.Error(), "not written by this import") {
		t.Fatalf("second file: err = %v, want ErrForeignStream", err)
	}
	// Its first chunk (new streams) stands; the refused one wrote nothing.
	got := dumpLog(t, e)
	if len(got) < len(after) {
		t.Fatalf("the log shrank: %d events, had %d", len(got), len(after))
	}
	sameLogs(t, "after the second file", got[:len(after)], after)
	if len(got) != len(after)+5 || got[len(got)-1].Type != "staff.joined" {
		t.Errorf("second file wrote %d events, want the 5 staff.joined of its first chunk", len(got)-len(after))
	}
}

// TestResumeAfterKill starts the import in a child process, kills it (kill
// -9) while a chunk's transaction is open, runs the same import again and
// compares the log with an uninterrupted import of the same file.
func TestResumeAfterKill(t *testing.T) {
	if os.Getenv("IMPORTER_CHILD_DB") != "" {
		t.Skip("the child process runs TestChildImport only")
	}
	ctx := context.Background()
	path := sampleFile(t, Sample{Staff: 9, Relations: 2000, Groups: 5, MembersPerGroup: 20, Seed: 3})
	e := newEnv(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestChildImport$", "-test.v")
	cmd.Env = append(os.Environ(), "IMPORTER_CHILD_DB="+e.url, "IMPORTER_CHILD_FILE="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if sc.Text() == "CHUNK-3-IN-TRANSACTION" {
			ready = true
			break
		}
	}
	if !ready {
		cmd.Wait()
		t.Fatal("the child ended before its fourth chunk")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	go io.Copy(io.Discard, out)

	var line int
	var finished bool
	if err := e.pool.QueryRow(ctx, `SELECT line, finished_at IS NOT NULL FROM import_progress`).Scan(&line, &finished); err != nil {
		t.Fatal(err)
	}
	if finished || line != 3*childChunk {
		t.Fatalf("after the kill: progress at line %d (finished %v), want %d", line, finished, 3*childChunk)
	}

	o := e.opts(path)
	o.ChunkRecords = childChunk
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed {
		t.Error("the rerun did not resume")
	}
	whole := newEnv(t)
	ow := whole.opts(path)
	ow.ChunkRecords = 1000 // other chunks: the log does not depend on them
	if _, err := Run(ctx, ow); err != nil {
		t.Fatal(err)
	}
	sameLogs(t, "killed and resumed vs uninterrupted", dumpLog(t, e), dumpLog(t, whole))
	r1, _ := Rejects(ctx, e.pool, res.ImportID)
	r2, _ := Rejects(ctx, whole.pool, res.ImportID)
	if fmt.Sprint(r1) != fmt.Sprint(r2) {
		t.Errorf("rejects differ: %v vs %v", r1, r2)
	}
}

const childChunk = 300

// TestChildImport is the child process of TestResumeAfterKill: it imports
// and, in the transaction of its fourth chunk, says so and waits to be
// killed.
func TestChildImport(t *testing.T) {
	url := os.Getenv("IMPORTER_CHILD_DB")
	if url == "" {
		t.Skip("run by TestResumeAfterKill")
	}
	e := newEnvAt(t, url)
	o := e.opts(os.Getenv("IMPORTER_CHILD_FILE"))
	o.ChunkRecords = childChunk
	o.beforeCommit = func(n int) {
		if n == 3 {
			fmt.Println("CHUNK-3-IN-TRANSACTION")
			os.Stdout.Sync()
			select {}
		}
	}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

// TestAppendBulkRefusesBadBatches: AppendBulk checks versions and the
// append rules before writing anything.
func TestAppendBulkRefusesBadBatches(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := func(text string) events.Event {
		x, err := events.New(commands.EventID("k", text, 0, 0), events.Meta{CorpID: "acme", OccurredAt: testNow},
			&events.StaffJoined{StaffID: text})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if _, err := e.store.AppendBulk(ctx, []pgstore.BulkEvent{{Stream: "s-a", Version: 0, Event: ev("a")}, {Stream: "s-a", Version: 2, Event: ev("b")}}, nil); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("gap in versions: %v", err)
	}
	if _, err := e.store.AppendBulk(ctx, []pgstore.BulkEvent{{Stream: "s-b", Version: 0, Event: ev("bad\x00")}}, nil); !errors.Is(err, eventlog.ErrInvalidEvent) {
		t.Errorf("NUL in data: %v", err)
	}
	if _, err := e.store.Append(ctx, "s-c", eventlog.ExpectNoStream, ev("c")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.AppendBulk(ctx, []pgstore.BulkEvent{{Stream: "s-d", Version: 0, Event: ev("d")}, {Stream: "s-c", Version: 0, Event: ev("c2")}}, nil); !errors.Is(err, eventlog.ErrConflict) {
		t.Errorf("stream holding events: %v", err)
	}
	if _, err := e.store.AppendBulk(ctx, []pgstore.BulkEvent{{Stream: "s-e", Version: 3, Event: ev("e")}}, nil); !errors.Is(err, eventlog.ErrConflict) {
		t.Errorf("stream behind the batch: %v", err)
	}
	fail := errors.New("progress refused")
	if _, err := e.store.AppendBulk(ctx, []pgstore.BulkEvent{{Stream: "s-f", Version: 0, Event: ev("f")}},
		func(context.Context, pgx.Tx, events.Position) error { return fail }); !errors.Is(err, fail) {
		t.Errorf("inTx failure: %v", err)
	}
	got := dumpLog(t, e)
	if len(got) != 1 || got[0].Stream != "s-c" {
		t.Errorf("log after refused batches: %+v", got)
	}
	last, err := e.store.AppendBulk(ctx, []pgstore.BulkEvent{{Stream: "s-g", Version: 0, Event: ev("g")}, {Stream: "s-c", Version: 1, Event: ev("c3")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	settle(t, e.pool, e.store)
	head, err := e.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last != head {
		t.Errorf("AppendBulk returned %v, head is %v", last, head)
	}
	recs, err := e.store.ReadStream(ctx, "s-c", 0)
	if err != nil || len(recs) != 2 || recs[1].StreamVersion != 1 {
		t.Errorf("s-c: %v %+v", err, recs)
	}
	// s-c stands at 1: a batch continuing it from 2 (a gap the unique
	// constraint would let through) or from 0 is refused, naming it.
	for _, v := range []int64{3, 1} {
		_, err := e.store.AppendBulk(ctx, []pgstore.BulkEvent{{Stream: "s-h", Version: 0, Event: ev("h")}, {Stream: "s-c", Version: v, Event: ev(fmt.Sprint("again", v))}}, nil)
		if !errors.Is(err, eventlog.ErrConflict) || !strings.Contains(err.Error(), `"s-c" holds events up to version 1`) {
			t.Errorf("s-c continued from %d: %v", v-1, err)
		}
	}
	if got := dumpLog(t, e); len(got) != 3 {
		t.Errorf("refused batches wrote: %d events, want 3", len(got))
	}
}

// TestAppendBulkSealsPersonalData: AppendBulk writes an event's personal
// data sealed (opened on read), drops an erased subject's (read back as
// erased) and writes no personal data as none, and the rest of each event
// as given.
func TestAppendBulkSealsPersonalData(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.store.Erase(ctx, "staff-gone"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.UTC)
	ev := func(id, name string) events.Event {
		x, err := events.New(commands.EventID("k", id, 0, 0), events.Meta{CorpID: "acme", OccurredAt: at, Actor: "a", CommandID: "c-" + id,
			CorrelationID: "r", CausationID: "z"}, &events.StaffJoined{StaffID: id, Capacity: 3, PII: events.StaffPII{Name: name}})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	kept, gone, none := ev("kept", "Li Na"), ev("gone", "Wang"), ev("none", "")
	if kept.Subject == "" || len(kept.PII) == 0 || len(none.PII) != 0 {
		t.Fatalf("test events: kept subject %q, PII %d bytes; none PII %d bytes", kept.Subject, len(kept.PII), len(none.PII))
	}
	gone.Subject = "staff-gone"
	if _, err := e.store.AppendBulk(ctx, []pgstore.BulkEvent{{Stream: "s-kept", Event: kept}, {Stream: "s-gone", Event: gone},
		{Stream: "s-none", Version: 0, Event: none}, {Stream: "s-none", Version: 1, Event: ev("next", "")}}, nil); err != nil {
		t.Fatal(err)
	}
	got := dumpLog(t, e)
	if len(got) != 4 {
		t.Fatalf("%d events", len(got))
	}
	want := func(x events.Event, stream string, version int64, pii string, erased bool) logRow {
		return logRow{ID: x.ID.String(), Stream: stream, Version: version, Type: x.Type, Schema: x.SchemaVersion, Corp: "acme", Actor: "a",
			Command: x.CommandID, Correlation: "r", Causation: "z", OccurredAt: at.Truncate(time.Microsecond), Data: string(x.Data),
			PII: pii, Subject: x.Subject, Erased: erased}
	}
	for i, w := range []logRow{want(kept, "s-kept", 0, string(kept.PII), false), want(gone, "s-gone", 0, "", true),
		want(none, "s-none", 0, "", false), want(ev("next", ""), "s-none", 1, "", false)} {
		g := got[i]
		g.Data, w.Data = normJSON(t, g.Data), normJSON(t, w.Data) // jsonb orders keys its own way
		if g != w {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	var plain int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE position('Li Na' in encode(pii_sealed, 'escape')) > 0`).Scan(&plain); err != nil || plain != 0 {
		t.Errorf("personal data stored in the clear: %d rows, %v", plain, err)
	}
}

// normJSON re-encodes a JSON object with sorted keys and no spaces.
func normJSON(t *testing.T, s string) string {
	t.Helper()
	var v map[string]any
	if err := stdjson.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("data %q: %v", s, err)
	}
	b, err := stdjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
