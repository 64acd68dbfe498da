package erasure_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/tools/erasure"
	"github.com/custody/custody/adapters/tools/replay"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
	"github.com/custody/custody/projections"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The erased customer's distinctive values; every one must be gone from
// the database after the erasure.
var secrets = []string{"Qiuyue Zhangsun", "remark-velvet-heron", "describes-amber-otter", "+86 139 7777 0421", "nick-saffron-lynx"}

const (
	corp     = "acme"
	customer = "wm_erased_1"
	subject  = "customer/acme/wm_erased_1"
)

type world struct {
	pool *pgxpool.Pool
	url  string
	log  *pgstore.Store
	cmds *commands.Handler
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := projections.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := erasure.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	k, err := pii.NewKeyring(make([]byte, pii.KeySize), pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	log, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: k, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := commands.New(commands.Options{Log: log, Eraser: log, Settings: commands.DefaultSettings{}})
	if err != nil {
		t.Fatal(err)
	}
	return &world{pool: pool, url: url, log: log, cmds: cmds}
}

func must(t *testing.T) func(commands.Result, error) {
	return func(_ commands.Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// seed records the customer with every personal field, in a group with a
// nickname, then filler events so that a rebuild can be interrupted after
// the customer's events are staged.
func (w *world) seed(t *testing.T) {
	ctx := context.Background()
	m := commands.Meta{CorpID: corp}
	must(t)(w.cmds.JoinStaff(ctx, commands.JoinStaff{Meta: m, StaffID: "alice"}))
	must(t)(w.cmds.StartRelation(ctx, commands.StartRelation{Meta: m, CustomerID: customer, StaffID: "alice",
		Initiator: events.InitiatorStaff, CustomerName: secrets[0], Remark: secrets[1], Description: secrets[2], Phones: []string{secrets[3]}}))
	must(t)(w.cmds.StartRelation(ctx, commands.StartRelation{Meta: m, CustomerID: "wm_other", StaffID: "alice",
		Initiator: events.InitiatorStaff, CustomerName: "Other Person", Remark: "stays"}))
	must(t)(w.cmds.CreateGroupChat(ctx, commands.CreateGroupChat{Meta: m, ChatID: "g1", OwnerID: "alice"}))
	must(t)(w.cmds.JoinGroupChat(ctx, commands.JoinGroupChat{Meta: m, ChatID: "g1", MemberID: customer,
		MemberType: events.MemberCustomer, JoinScene: events.JoinQRCode, Nickname: secrets[4]}))
	for i := range 30 {
		must(t)(w.cmds.JoinStaff(ctx, commands.JoinStaff{Meta: m, StaffID: fmt.Sprintf("filler%02d", i)}))
	}
}

// copies makes the copies custody creates besides the live tables: the
// live projections, a replay as of now, and an interrupted rebuild whose
// shadow schemas hold staged events.
func (w *world) copies(t *testing.T) {
	ctx := context.Background()
	r, err := projections.NewRunner(w.pool, w.log, projections.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Build(ctx, w.pool, w.log, replay.Options{Schema: "before_erasure", Until: time.Now().Add(time.Hour),
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err = projections.Rebuild(rctx, w.pool, w.log, projections.All(), projections.RebuildOptions{BatchSize: 6,
		Logger: slog.New(slog.DiscardHandler), Progress: func(applied int64, _ events.Position) {
			if applied >= 12 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the rebuild was to be interrupted, got %v", err)
	}
	var shadows int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'projections\_rebuild\_%'`).Scan(&shadows); err != nil || shadows == 0 {
		t.Fatalf("no interrupted rebuild left behind (%d, %v)", shadows, err)
	}
	if _, err := w.pool.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
}

func (w *world) erase(t *testing.T) {
	must(t)(w.cmds.EraseCustomer(context.Background(), commands.EraseCustomer{Meta: commands.Meta{CorpID: corp}, CustomerID: customer}))
}

func kinds(rep erasure.Report) map[string][]string {
	out := map[string][]string{}
	for _, f := range rep.Findings {
		out[f.Kind] = append(out[f.Kind], f.Where)
	}
	return out
}

// TestVerifyFindsResidue is the privacy officer's check on copies that
// were not scrubbed: after the erasure alone (the key destroyed, the live
// projections updated), the replay schema, the interrupted rebuild's
// staging tables and the column statistics of tables made without the
// statistics rule still hold the customer's values, and Verify names them
// all.
func TestVerifyFindsResidue(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.seed(t)
	w.copies(t)
	// A replay made before statistics were disabled: sample its columns.
	for _, c := range []string{"customer_name", "remark", "description", "phones"} {
		if _, err := w.pool.Exec(ctx, "ALTER TABLE before_erasure.relations ALTER COLUMN "+c+" SET STATISTICS -1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.pool.Exec(ctx, "ANALYZE before_erasure.relations"); err != nil {
		t.Fatal(err)
	}

	before, err := erasure.Verify(ctx, w.pool, subject, erasure.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if before.KeyStatus != "present" || before.Clean() {
		t.Fatalf("before the erasure the key must be reported: %+v", before)
	}

	w.erase(t)
	r, err := projections.NewRunner(w.pool, w.log, projections.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := erasure.Verify(ctx, w.pool, subject, erasure.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := kinds(rep)
	want := map[string][]string{
		erasure.KindRow:        {"before_erasure.relations", "before_erasure.customers", "before_erasure.group_members", "projections_rebuild_relations.bulk_staging"},
		erasure.KindStatistics: {"before_erasure.relations.customer_name", "before_erasure.relations.remark"},
		erasure.KindValue:      {"before_erasure.relations.customer_name", "projections_rebuild_relations.bulk_staging.remark"},
	}
	for kind, wheres := range want {
		for _, where := range wheres {
			if !contains(k[kind], where) {
				t.Errorf("no %s finding at %s; findings: %v", kind, where, k)
			}
		}
	}
	for _, where := range k[erasure.KindRow] {
		if strings.HasPrefix(where, "projections.") {
			t.Errorf("the live projections applied the erasure, yet %s has rows of the subject", where)
		}
	}
	if !rep.Erased || rep.Values < len(secrets) {
		t.Errorf("erased %v, %d values searched, want the %d residual ones", rep.Erased, rep.Values, len(secrets))
	}
	assertNoValues(t, rep)
}

// TestErasureEndToEnd: after the erasure, Scrub and Rewrite, Verify finds
// nothing, and neither pg_dump nor pg_stats holds any of the values.
func TestErasureEndToEnd(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.seed(t)
	w.copies(t)
	if got := dump(t, w.url); !strings.Contains(got, secrets[1]) {
		t.Fatal("pg_dump before the erasure does not show the seeded values: the test would prove nothing")
	}

	w.erase(t)
	if _, err := erasure.Scrub(ctx, w.pool); err != nil {
		t.Fatal(err)
	}
	due, ok, err := erasure.RewriteDue(ctx, w.pool)
	if err != nil || !ok || due.IsZero() {
		t.Fatalf("a rewrite must be due after an erasure: %v %v %v", due, ok, err)
	}
	rep, err := erasure.Verify(ctx, w.pool, subject, erasure.VerifyOptions{Values: secrets})
	if err != nil {
		t.Fatal(err)
	}
	if k := kinds(rep); len(k) != 1 || len(k[erasure.KindRewrite]) != 1 {
		t.Fatalf("before the rewrite only the rewrite may be pending: %+v", rep.Findings)
	}
	if _, err := erasure.Rewrite(ctx, w.pool); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := erasure.RewriteDue(ctx, w.pool); ok {
		t.Fatal("a rewrite is still due after Rewrite")
	}
	rep, err = erasure.Verify(ctx, w.pool, subject, erasure.VerifyOptions{Values: secrets})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || rep.Values != len(secrets) || rep.Tables == 0 {
		t.Fatalf("after the erasure: %+v", rep)
	}
	d := dump(t, w.url)
	var stats strings.Builder
	rows, err := w.pool.Query(ctx, "SELECT * FROM pg_stats")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vs, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&stats, vs...)
	}
	rows.Close()
	for _, s := range secrets {
		if strings.Contains(d, s) {
			t.Errorf("pg_dump still holds %q", s)
		}
		if strings.Contains(stats.String(), s) {
			t.Errorf("pg_stats still holds %q", s)
		}
	}
	if !strings.Contains(d, "Other Person") {
		t.Error("the other customer's name is gone too: the erasure reached too far")
	}
	assertNoValues(t, rep)
}

// assertNoValues checks a report never contains the values it is about.
func assertNoValues(t *testing.T, rep erasure.Report) {
	t.Helper()
	s := fmt.Sprintf("%+v", rep)
	for _, v := range secrets {
		if strings.Contains(s, v) {
			t.Errorf("the report contains the personal value %q", v)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// dump runs pg_dump on the database and returns its output.
func dump(t *testing.T, url string) string {
	t.Helper()
	bin := "pg_dump"
	for _, v := range []string{"17", "16", "15"} {
		if p := "/usr/lib/postgresql/" + v + "/bin/pg_dump"; exists(p) {
			bin = p
			break
		}
	}
	cmd := exec.Command(bin, "--no-owner", "--dbname", url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	b, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, errb.String())
	}
	return string(b)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestPersonalColumnsHaveNoStatistics ties the catalog to the projections'
// migrations: every personal column of the live schema exists there and
// has statistics disabled, in a shadow as well as live.
func TestPersonalColumnsHaveNoStatistics(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	n := 0
	for _, tb := range erasure.Personal {
		if tb.Name == "bulk_staging" {
			continue
		}
		for _, c := range tb.Columns {
			var target int
			err := w.pool.QueryRow(ctx, `SELECT attstattarget FROM pg_attribute
				WHERE attrelid = ('projections.' || $1)::regclass AND attname = $2 AND NOT attisdropped`, tb.Name, c.Name).Scan(&target)
			if err != nil {
				t.Errorf("projections.%s.%s: %v", tb.Name, c.Name, err)
				continue
			}
			if target != 0 {
				t.Errorf("projections.%s.%s has statistics target %d, want 0", tb.Name, c.Name, target)
			}
			n++
		}
	}
	if n < 9 {
		t.Fatalf("only %d personal columns checked", n)
	}
}
