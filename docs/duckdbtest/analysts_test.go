package duckdbtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/google/uuid"

	"github.com/custody/custody/adapters/eventlog/memlog"
	"github.com/custody/custody/adapters/tools/export"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// duckDBBlocks returns the statements of the ```sql blocks of doc that read
// a Parquet file, one string per statement, comments kept.
func duckDBBlocks(t *testing.T, doc string) []string {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		block := m[1]
		if !strings.Contains(block, ".parquet'") {
			continue // a PostgreSQL example
		}
		for _, s := range strings.Split(block, ";\n") {
			if strings.TrimSpace(stripComments(s)) != "" {
				stmts = append(stmts, s)
			}
		}
	}
	return stmts
}

func stripComments(s string) string {
	return regexp.MustCompile(`(?m)--.*$`).ReplaceAllString(s, "")
}

// scenario appends a small corp "acme" with every event the examples ask
// about and returns the log.
func scenario(t *testing.T) *memlog.Log {
	t.Helper()
	ctx := context.Background()
	log := memlog.New()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	add := func(stream string, at time.Time, p events.Payload) {
		t.Helper()
		ev, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: "acme", OccurredAt: at, Actor: "wecom"}, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(ctx, stream, eventlog.ExpectAny, ev); err != nil {
			t.Fatal(err)
		}
	}
	c1, c2, c3 := events.CustomerStream("acme", "wm1"), events.CustomerStream("acme", "wm2"), events.CustomerStream("acme", "wm3")
	// wm1 came through the poster and stays; wm2 came through the poster
	// and leaves after 3 days; wm3 came through the expo and was deleted by
	// staff after 40 days (not churn, and kept 30 days).
	add(c1, t0, &events.CustomerRelationStarted{CustomerID: "wm1", StaffID: "zhangsan", Initiator: events.InitiatorCustomer, AddWay: 1, State: "poster", StartedBy: events.StartedByAdd})
	add(c2, t0, &events.CustomerRelationStarted{CustomerID: "wm2", StaffID: "zhangsan", Initiator: events.InitiatorCustomer, AddWay: 1, State: "poster", StartedBy: events.StartedByAdd})
	add(c3, t0, &events.CustomerRelationStarted{CustomerID: "wm3", StaffID: "lisi", Initiator: events.InitiatorCustomer, AddWay: 1, State: "expo", StartedBy: events.StartedByAdd})
	add(c2, t0.AddDate(0, 0, 3), &events.CustomerRelationEnded{CustomerID: "wm2", StaffID: "zhangsan", Reason: events.EndDeletedByCustomer})
	add(c3, t0.AddDate(0, 0, 40), &events.CustomerRelationEnded{CustomerID: "wm3", StaffID: "lisi", Reason: events.EndDeletedByStaff})
	add(c1, t0.AddDate(0, 0, 5), &events.HandoverRefused{HandoverID: "h-1", CustomerID: "wm1"})
	return log
}

func TestAnalystsDuckDBExamples(t *testing.T) {
	stmts := duckDBBlocks(t, "../analysts.md")
	if len(stmts) != 4 {
		t.Fatalf("found %d DuckDB statements in docs/analysts.md, want 4 (update this test with the doc)", len(stmts))
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "acme.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := export.Export(context.Background(), scenario(t), f, export.Options{Format: export.Parquet, Filter: export.Filter{CorpID: "acme"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // the examples read 'acme.parquet' from the working directory

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// want is each statement's answer, rows joined by "\n", columns by "|".
	want := []string{
		// types and counts
		"customer.relation_started|3\ncustomer.relation_ended|2\nhandover.refused|1",
		// churn per staff member and week: only wm2 (the customer deleted zhangsan)
		"zhangsan|2026-03-02|1",
		// channels and who stayed 30 days
		"poster|2|1\nexpo|1|1",
		// handover outcomes by month
		"2026-03|handover.refused|1",
	}
	// Older DuckDB releases read data->>'k' = 'v' as data->>('k' = 'v'):
	// every compared extraction must be in parentheses.
	bare := regexp.MustCompile(`(^|[^(])\bdata->>'[a-z_]+'\s*(=|<>|!=|IN\b)`)
	for i, stmt := range stmts {
		if m := bare.FindString(stmt); m != "" {
			t.Errorf("docs/analysts.md DuckDB example %d compares an extraction without parentheses: %q", i+1, m)
		}
	}
	for i, stmt := range stmts {
		rows, err := db.Query(stmt)
		if err != nil {
			t.Fatalf("docs/analysts.md DuckDB example %d fails as written: %v\n%s", i+1, err, stmt)
		}
		got := render(t, rows)
		if got != want[i] {
			t.Errorf("docs/analysts.md DuckDB example %d answers\n%s\nwant\n%s\n%s", i+1, got, want[i], stmt)
		}
	}
}

// render prints rows as "a|b\nc|d", times as their date (or month when the
// query truncated to a month).
func render(t *testing.T, rows *sql.Rows) string {
	t.Helper()
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var cells []string
		for i, v := range vals {
			switch v := v.(type) {
			case time.Time:
				if cols[i] == "month" {
					cells = append(cells, v.UTC().Format("2006-01"))
				} else {
					cells = append(cells, v.UTC().Format("2006-01-02"))
				}
			default:
				cells = append(cells, strings.TrimSpace(strings.ReplaceAll(fmt.Sprint(v), "\n", " ")))
			}
		}
		lines = append(lines, strings.Join(cells, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
