package projections

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// departureLoad is the projector's load of the outreach rows a member's
// departure reaches (the orDeparted fanout of outreachCustomersDef), per
// table of the definition, with its arguments for staff of corp.
func departureLoad(corp string, staff ...string) (sqls []string, args []any) {
	corps := make([]string, len(staff))
	for i := range staff {
		corps[i] = corp
	}
	for _, t := range outreachCustomersDef.tables {
		sqls = append(sqls, strings.ReplaceAll(t.fanoutQ[0], "{s}", ident(LiveSchema)))
	}
	return sqls, []any{corps, staff}
}

// TestOutreachDepartureLoadUsesIndex: the rows a departure reaches are
// found through outreach_audience_serving_idx, not by reading the corp's
// rows, and they are every row of the member's that is not departed yet
// (erased, withdrawn and ended ones included).
func TestOutreachDepartureLoadUsesIndex(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	generateAudience(t, pool, 50_000)
	// Some rows of the member already departed (an earlier departure of
	// the member with another customer), which the load leaves out.
	if _, err := pool.Exec(ctx, `UPDATE projections.outreach_audience SET staff_departed = true
		WHERE corp_id = 'bench' AND staff_id = 's042' AND substr(customer_id, 3)::int % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE projections.outreach_audience`); err != nil {
		t.Fatal(err)
	}
	sqls, args := departureLoad("bench", "s042")
	rows, _ := pool.Query(ctx, `SELECT customer_id FROM projections.outreach_audience
		WHERE corp_id = 'bench' AND staff_id = 's042' AND NOT staff_departed ORDER BY customer_id`)
	want, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 100 {
		t.Fatalf("the generated audience gives s042 %d rows not departed", len(want))
	}
	for _, sql := range sqls {
		if ix := audiencePlan(t, pool, sql, args); !slices.Contains(ix, "outreach_audience_serving_idx") {
			t.Errorf("departure load without outreach_audience_serving_idx (indexes %v):\n%s", ix, explainAnalyze(t, pool, sql, args))
		}
		// Every customer of those rows is loaded (each table has its
		// customer_id second).
		rows, err := pool.Query(ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			seen[vals[1].(string)] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for _, c := range want {
			if !seen[c] {
				t.Errorf("%.40s…: customer %s of s042 not loaded", sql, c)
				break
			}
		}
	}
}

// BenchmarkOutreachDepartureLoad: the departure's load of one member's
// rows among a corp's CUSTODY_BENCH_AUDIENCE customers (default 120,000),
// with outreach_audience_serving_idx ("index") and without it ("pk", as
// before 003_departures.sql), alternating in one run on one database.
func BenchmarkOutreachDepartureLoad(b *testing.B) {
	ctx := context.Background()
	pool := newDB(b)
	n := 120_000
	if v := lookupEnvInt("CUSTODY_BENCH_AUDIENCE"); v > 0 {
		n = v
	}
	generateAudience(b, pool, n)
	sqls, args := departureLoad("bench", "s042")
	exec := func(sql string) {
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, pool *pgxpool.Pool) {
		var took time.Duration
		for b.Loop() {
			start := time.Now()
			for _, sql := range sqls {
				rows, err := pool.Query(ctx, sql, args...)
				if err != nil {
					b.Fatal(err)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					b.Fatal(err)
				}
			}
			took += time.Since(start)
		}
		b.ReportMetric(float64(took.Microseconds())/float64(b.N)/1000, "ms/departure")
	}
	serving := migrations("outreach")[2] // 003_departures.sql
	for range 2 {
		b.Run("pk", func(b *testing.B) {
			exec(`DROP INDEX IF EXISTS projections.outreach_audience_serving_idx`)
			exec(`ANALYZE projections.outreach_audience`)
			run(b, pool)
		})
		b.Run("index", func(b *testing.B) {
			exec(strings.ReplaceAll(serving, "{s}", ident(LiveSchema)))
			exec(`ANALYZE projections.outreach_audience`)
			run(b, pool)
		})
	}
}
