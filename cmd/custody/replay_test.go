package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/custody/custody/adapters/tools/export"
	"github.com/custody/custody/adapters/tools/timeline"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections/asof"
	"github.com/custody/custody/projections/asof/asoftest"
)

// TestAnalystCommands runs the analysts' commands as a user would, on a
// private PostgreSQL named by DATABASE_URL: export in two formats, the
// three as-of questions, a timeline, and a replay built, listed, queried
// and dropped.
func TestAnalystCommands(t *testing.T) {
	ctx := context.Background()
	pkgDir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// Seed the log as a running service would have.
	env := newCLIEnv(t, "analysts", 7)
	pool, log := env.pool, env.log
	n := 0
	var last time.Time
	err = asoftest.Generate(asoftest.Config{Events: 600, Seed: 11, PII: true}, func(it asoftest.Item) error {
		n++
		last = it.Event.OccurredAt
		_, err := log.Append(ctx, it.Stream, eventlog.ExpectAny, it.Event)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Export: JSON Lines and Parquet files with every event.
	jsonl := filepath.Join(t.TempDir(), "all.jsonl")
	if err := runEventsExport(ctx, []string{"--format", "jsonl", "--include-pii", "--out", jsonl}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("line %d is not JSON", lines+1)
		}
	}
	f.Close()
	pq := filepath.Join(t.TempDir(), "starts.parquet")
	if err := runEventsExport(ctx, []string{"--format", "parquet", "--types", "customer.relation_started", "--out", pq}); err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.ReadFile[export.Row](pq)
	if err != nil {
		t.Fatal(err)
	}
	if lines != n || len(rows) == 0 || len(rows) >= n {
		t.Fatalf("jsonl %d lines for %d events; parquet %d relation starts", lines, n, len(rows))
	}
	for _, r := range rows {
		if r.Type != "customer.relation_started" || r.PII != "" {
			t.Fatalf("parquet row %+v", r)
		}
	}

	// As-of, with the projections brought up to date by --catch-up.
	at := last.Add(-24 * time.Hour).Format(time.RFC3339)
	var out, errOut bytes.Buffer
	if err := asOf(ctx, []string{"numbers", "--corp", "acme", "--at", at, "--catch-up", "--json"}, &out, &errOut); err != nil {
		t.Fatalf("asof numbers: %v: %s", err, errOut.String())
	}
	var nums asof.Numbers
	if err := json.Unmarshal(out.Bytes(), &nums); err != nil || nums.Customers == 0 || nums.Relations < nums.Customers {
		t.Fatalf("asof numbers: %+v %v: %s", nums, err, out.String())
	}
	want, err := asof.Queries{DB: pool}.Numbers(ctx, "acme", nums.At)
	if err != nil || want.Customers != nums.Customers {
		t.Fatalf("the command says %+v, the package %+v (%v)", nums, want, err)
	}
	owners, err := asof.Queries{DB: pool}.Customers(ctx, "acme", "s000", nums.At, asof.Page{})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := asOf(ctx, []string{"customers", "s000", "--corp", "acme", "--at", at}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\nc0"); got != len(owners.Customers) {
		t.Fatalf("asof customers printed %d customers, want %d:\n%s", got, len(owners.Customers), out.String())
	}
	if len(owners.Customers) > 0 {
		out.Reset()
		c := owners.Customers[0].CustomerID
		if err := asOf(ctx, []string{"owners", "--corp", "acme", "--at", at, c}, &out, &errOut); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "\ns000 ") {
			t.Fatalf("asof owners of %s does not name s000:\n%s", c, out.String())
		}
	}

	// Timeline of a customer, groups found through the projection.
	out.Reset()
	if err := showTimeline(ctx, []string{"--corp", "acme", "--json", "c00003"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var tl timeline.Timeline
	if err := json.Unmarshal(out.Bytes(), &tl); err != nil || len(tl.Entries) == 0 {
		t.Fatalf("timeline: %v: %s", err, out.String())
	}

	// Replay: build, list, ask, drop.
	out.Reset()
	if err := replayCmd(ctx, []string{"--until", at, "--schema", "day_before", "--progress=false"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := replayCmd(ctx, []string{"list"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "day_before") {
		t.Fatalf("replay list: %v\n%s", err, out.String())
	}
	// The PostgreSQL examples of docs/analysts.md and docs/schema.md run as
	// written, against the live tables and a replay under the doc's name.
	if err := replayCmd(ctx, []string{"--until", at, "--schema", "acme_q1", "--progress=false"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{"../../docs/analysts.md", "../../docs/schema.md"} {
		stmts := docSQL(t, filepath.Join(pkgDir, doc))
		if len(stmts) == 0 {
			t.Fatalf("no PostgreSQL examples found in %s", doc)
		}
		for _, stmt := range stmts {
			rows, err := pool.Query(ctx, stmt)
			if err == nil {
				for rows.Next() {
				}
				rows.Close()
				err = rows.Err()
			}
			if err != nil {
				t.Errorf("%s: example fails as written: %v\n%s", doc, err, stmt)
			}
		}
	}
	replayed, err := asof.Queries{DB: pool, Schema: "day_before"}.Numbers(ctx, "acme", nums.At)
	if err != nil || replayed.Customers != nums.Customers || replayed.Relations != nums.Relations {
		t.Fatalf("as-of on the replay %+v, on live %+v (%v)", replayed, nums, err)
	}
	if err := replayCmd(ctx, []string{"drop", "--schema", "day_before"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'day_before')`).Scan(&exists); err != nil || exists {
		t.Fatalf("replay schema still there (%v)", err)
	}
}

// docSQL returns the statements of doc's ```sql blocks that PostgreSQL
// runs (not the DuckDB ones, which read a Parquet file).
func docSQL(t *testing.T, doc string) []string {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], ".parquet'") {
			continue
		}
		for _, s := range strings.Split(m[1], ";") {
			if strings.TrimSpace(regexp.MustCompile(`(?m)--.*$`).ReplaceAllString(s, "")) != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
