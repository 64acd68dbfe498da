package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

// benchAt is the date the generated audiences are asked about.
var benchAt = time.Date(2026, 3, 18, 10, 0, 0, 0, time.UTC)

// generateAudience fills the outreach tables of corp "bench" with n
// customers, straight in SQL (the shape Apply leaves, at a volume the
// log would take long to replay): 200 members, 10 channel codes, tags
// from two families, 5% consent withdrawn, 1% erased, 2% relations
// ended, 10% with a second member, 6% opted out of moments, a quarter
// contacted this month (1 to 3 mass messages), 2.5% at the month's cap,
// and n/100 groups of 30 customers.
func generateAudience(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	ctx := context.Background()
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, q := range []string{
		`INSERT INTO projections.outreach_customers (corp_id, customer_id, marketing_consent, consent_changed_at, erased, last_contact_at)
		SELECT 'bench', 'wm' || lpad(i::text, 8, '0'),
			CASE WHEN i % 20 = 0 THEN 'disagree' WHEN i % 3 = 0 THEN 'agree' ELSE '' END,
			CASE WHEN i % 20 = 0 OR i % 3 = 0 THEN $2::timestamptz END,
			i % 100 = 1,
			CASE WHEN i % 4 = 0 OR i % 40 = 2 THEN $2::timestamptz + (i % 17) * interval '1 day' END
		FROM generate_series(1, $1::int) AS i`,
		`INSERT INTO projections.outreach_audience (corp_id, customer_id, staff_id, active, channel, tags, since,
			moments_opted_out, marketing_consent, erased, last_contact_at)
		SELECT c.corp_id, c.customer_id, 's' || lpad((i % 200)::text, 3, '0'), i % 50 <> 7, 'state' || (i % 10),
			ARRAY['t' || (i % 7), 'u' || (i % 13)], $2::timestamptz - (i % 400) * interval '1 day', i % 17 = 0,
			c.marketing_consent, c.erased, c.last_contact_at
		FROM generate_series(1, $1::int) AS i
		JOIN projections.outreach_customers AS c ON c.corp_id = 'bench' AND c.customer_id = 'wm' || lpad(i::text, 8, '0')`,
		`INSERT INTO projections.outreach_audience (corp_id, customer_id, staff_id, active, channel, tags, since,
			marketing_consent, erased, last_contact_at)
		SELECT corp_id, customer_id, 's' || lpad(((substr(customer_id, 3)::int + 101) % 200)::text, 3, '0'), true, 'web', '{}',
			$2::timestamptz, marketing_consent, erased, last_contact_at
		FROM projections.outreach_audience WHERE corp_id = 'bench' AND substr(customer_id, 3)::int % 10 = 3 AND $1::int > 0`,
		`INSERT INTO projections.outreach_deliveries (corp_id, recipient_kind, recipient_id, message_id, channel, staff_id,
			sent_at, counted, reported_by)
		SELECT 'bench', 'customer', 'wm' || lpad(i::text, 8, '0'), 'msg' || k, 'mass_message', 's' || lpad((i % 200)::text, 3, '0'),
			$2::timestamptz + (k % 17) * interval '1 day' + interval '10 hours', true, 'custody'
		FROM generate_series(1, $1::int) AS i,
			generate_series(1, CASE WHEN i % 40 = 2 THEN 31 WHEN i % 4 = 0 THEN 1 + i % 3 ELSE 0 END) AS k`,
		`INSERT INTO projections.outreach_group_members (corp_id, chat_id, customer_id)
		SELECT 'bench', 'wr' || lpad((i % greatest($1::int / 100, 1))::text, 6, '0'), 'wm' || lpad(i::text, 8, '0')
		FROM generate_series(1, $1::int * 30 / 100) AS i`,
	} {
		args := []any{n, month}
		switch {
		case strings.HasPrefix(strings.TrimSpace(q), "ANALYZE"):
			args = nil
		case !strings.Contains(q, "$2"):
			args = args[:1]
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			tb.Fatalf("generate: %v\n%s", err, q)
		}
	}
	// The groups (read from the groups and staff projections' tables):
	// 1% dismissed, owners among the 200 members of whom s007 and s107
	// departed, a third had one group mass message this month, 1 in 50
	// the month's cap.
	for _, q := range []string{
		`INSERT INTO projections.staff (corp_id, staff_id, status, updated_at)
		SELECT 'bench', 's' || lpad(i::text, 3, '0'), CASE WHEN i % 100 = 7 THEN 'departed' ELSE 'active' END, now()
		FROM generate_series(0, 199) AS i`,
		`INSERT INTO projections.group_chats (corp_id, chat_id, owner_id, status, created_at, updated_at, customer_members)
		SELECT 'bench', 'wr' || lpad(i::text, 6, '0'), 's' || lpad((i % 200)::text, 3, '0'),
			CASE WHEN i % 100 = 5 THEN 'dismissed' ELSE 'active' END, now(), now(), 30
		FROM generate_series(0, greatest($1::int / 100, 1) - 1) AS i`,
		`INSERT INTO projections.outreach_deliveries (corp_id, recipient_kind, recipient_id, message_id, channel, staff_id,
			sent_at, counted, reported_by)
		SELECT 'bench', 'group', 'wr' || lpad(i::text, 6, '0'), 'gmsg' || k, 'group_mass_message', 's' || lpad((i % 200)::text, 3, '0'),
			$2::timestamptz + (k % 17) * interval '1 day' + interval '11 hours', true, 'custody'
		FROM generate_series(0, greatest($1::int / 100, 1) - 1) AS i,
			generate_series(1, CASE WHEN i % 50 = 3 THEN 31 WHEN i % 3 = 0 THEN 1 ELSE 0 END) AS k`,
	} {
		args := []any{n, month}
		switch {
		case !strings.Contains(q, "$1"):
			args = nil
		case !strings.Contains(q, "$2"):
			args = args[:1]
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			tb.Fatalf("generate: %v\n%s", err, q)
		}
	}
	// The dashboard counters, as the migration that added them computes
	// them for rows already there.
	backfill := migrations("outreach")[1]
	backfill = backfill[strings.Index(backfill, "-- +backfill"):strings.Index(backfill, readIndexesMarker)]
	if _, err := pool.Exec(ctx, strings.ReplaceAll(backfill, "{s}", LiveSchema)); err != nil {
		tb.Fatalf("generate: counters: %v", err)
	}
	// VACUUM as autovacuum would after such a load: it also sets the
	// visibility map, without which an index-only scan reads the heap.
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE projections.outreach_customers, projections.outreach_audience, projections.outreach_deliveries,
		projections.outreach_group_members, projections.outreach_reach, projections.outreach_counts, projections.outreach_usage,
		projections.outreach_corp_usage, projections.group_chats, projections.staff`); err != nil {
		tb.Fatal(err)
	}
}

// audienceCases are the query shapes the benchmark times and the plan
// test checks.
func audienceCases() []struct {
	name  string
	q     AudienceQuery
	after []string
} {
	set := corp.Defaults()
	return []struct {
		name  string
		q     AudienceQuery
		after []string
	}{
		{"first page", AudienceQuery{Settings: set, At: benchAt}, []string{"", ""}},
		{"deep page", AudienceQuery{Settings: set, At: benchAt}, []string{"wm00500000", "s000"}},
		{"owner", AudienceQuery{Settings: set, At: benchAt, StaffID: "s042"}, []string{"", ""}},
		{"tag", AudienceQuery{Settings: set, At: benchAt, Tags: []string{"t3"}}, []string{"", ""}},
		{"state and tags", AudienceQuery{Settings: set, At: benchAt, State: "state5", Tags: []string{"t5", "u5"}}, []string{"", ""}},
		{"group", AudienceQuery{Settings: set, At: benchAt, ChatID: "wr000042"}, []string{"", ""}},
		{"not contacted for a week", AudienceQuery{Settings: set, At: benchAt, NotContactedSince: benchAt.AddDate(0, 0, -7)}, []string{"", ""}},
		{"moments", AudienceQuery{Settings: set, At: benchAt, Channel: events.ChannelMoments}, []string{"", ""}},
	}
}

// audiencePlan is the JSON plan of sql; it fails on a sequential scan of
// outreach_audience or outreach_deliveries and returns the indexes used.
func audiencePlan(tb testing.TB, pool *pgxpool.Pool, sql string, args []any) []string {
	tb.Helper()
	var raw []byte
	if err := pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
		tb.Fatal(err)
	}
	var plan []map[string]any
	if err := json.Unmarshal(raw, &plan); err != nil {
		tb.Fatal(err)
	}
	var indexes []string
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if n["Node Type"] == "Seq Scan" {
			switch rel, _ := n["Relation Name"].(string); rel {
			case "outreach_audience", "outreach_deliveries", "outreach_reach", "outreach_usage", "outreach_group_members", "group_chats":
				tb.Errorf("sequential scan of %s:\n%s", rel, raw)
			}
		}
		if ix, ok := n["Index Name"].(string); ok {
			indexes = append(indexes, ix)
		}
		if kids, ok := n["Plans"].([]any); ok {
			for _, k := range kids {
				walk(k.(map[string]any))
			}
		}
	}
	walk(plan[0]["Plan"].(map[string]any))
	return indexes
}

// TestOutreachAudiencePlansUseIndexes: on 50,000 generated customers,
// every audience shape reads outreach_audience and the deliveries
// through indexes (BenchmarkOutreachAudience checks the same at
// 1,000,000 and times it).
func TestOutreachAudiencePlansUseIndexes(t *testing.T) {
	pool := newDB(t)
	generateAudience(t, pool, 50_000)
	for _, c := range audienceCases() {
		sql, args := audienceSQL("bench", c.q, c.after, 50)
		ix := audiencePlan(t, pool, sql, args)
		if !strings.Contains(strings.Join(ix, " "), "outreach_deliveries_window_idx") || !strings.Contains(strings.Join(ix, " "), "outreach_") {
			t.Errorf("%s: indexes %v", c.name, ix)
		}
	}
	// The group audience: groups in chat order through their primary key,
	// departed owners, dismissed and capped groups left out.
	for _, owner := range []string{"", "s042"} {
		sql, args := groupAudienceSQL("bench", GroupAudienceQuery{Settings: corp.Defaults(), At: benchAt, StaffID: owner}, "", 50)
		if ix := strings.Join(audiencePlan(t, pool, sql, args), " "); !strings.Contains(ix, "outreach_deliveries_window_idx") {
			t.Errorf("group audience %q: indexes %s", owner, ix)
		}
	}
	gp, err := NewReader(pool).GroupAudience(context.Background(), "bench", GroupAudienceQuery{Settings: corp.Defaults(), At: benchAt},
		Page{Limit: 400})
	if err != nil {
		t.Fatal(err)
	}
	if len(gp.Items) != 400 {
		t.Fatalf("group page of %d", len(gp.Items))
	}
	for _, g := range gp.Items {
		var i int
		fmt.Sscanf(g.ChatID, "wr%d", &i)
		if i%100 == 5 || i%100 == 7 || i%50 == 3 || *g.Remaining != 31-g.MonthUsed || g.OwnerID != fmt.Sprintf("s%03d", i%200) {
			t.Fatalf("ineligible group %+v", g)
		}
	}
	// The dashboard: the counters' ranges through their indexes, and the
	// figures the exact aggregate gives.
	rd := NewReader(pool)
	for _, set := range []corp.Settings{corp.Defaults(), weekCap(t, "1")} {
		win := capWindows(set, benchAt)
		sql, args := countsSQL("bench", win)
		ix := strings.Join(audiencePlan(t, pool, sql, args), " ")
		if !strings.Contains(ix, "outreach_usage_cap_idx") {
			t.Errorf("dashboard counts: indexes %s", ix)
		}
		fast, err := rd.AudienceCounts(context.Background(), "bench", AudienceQuery{Settings: set, At: benchAt})
		if err != nil {
			t.Fatal(err)
		}
		exact, err := rd.scanCounts(context.Background(), "bench", win)
		if err != nil {
			t.Fatal(err)
		}
		if fast != exact || fast.AtCap == 0 || fast.Eligible == 0 {
			t.Errorf("dashboard counts %+v, exact %+v", fast, exact)
		}
	}
	// The answers are what the rules say: no erased, withdrawn, ended
	// or capped customer on a long page.
	p, err := NewReader(pool).Audience(context.Background(), "bench", audienceCases()[0].q, Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1000 || p.Next == "" {
		t.Fatalf("page of %d, next %q", len(p.Items), p.Next)
	}
	for _, m := range p.Items {
		var i int
		fmt.Sscanf(m.CustomerID, "wm%d", &i)
		if i%20 == 0 || i%100 == 1 || i%40 == 2 || m.Remaining == nil || *m.Remaining != 31-m.MonthUsed {
			t.Fatalf("ineligible row %+v (customer %d)", m, i)
		}
	}
}

// BenchmarkOutreachAudience times the audience query and the dashboard
// counts over 1,000,000 generated customers (about 1.1 million audience
// rows, 1.2 million deliveries), after checking that every shape's plan
// uses the indexes. The baseline is a bare keyset page of the same table
// with no rule applied. OUTREACH_BENCH_CUSTOMERS sets another size.
//
//	go test ./projections -run '^$' -bench OutreachAudience -benchtime 200x
func BenchmarkOutreachAudience(b *testing.B) {
	n := 1_000_000
	if v := lookupEnvInt("OUTREACH_BENCH_CUSTOMERS"); v > 0 {
		n = v
	}
	pool := newDB(b)
	start := time.Now()
	generateAudience(b, pool, n)
	b.Logf("generated %d customers in %s", n, time.Since(start).Round(time.Second))
	ctx := context.Background()
	rd := NewReader(pool)
	b.Run("baseline bare page", func(b *testing.B) {
		for b.Loop() {
			rs, err := pool.Query(ctx, `SELECT customer_id, staff_id FROM projections.outreach_audience
				WHERE corp_id = 'bench' AND (customer_id, staff_id) > ('', '') ORDER BY customer_id, staff_id LIMIT 51`)
			if err != nil {
				b.Fatal(err)
			}
			rs.Close()
		}
	})
	for _, c := range audienceCases() {
		sql, args := audienceSQL("bench", c.q, c.after, 50)
		ix := audiencePlan(b, pool, sql, args)
		b.Logf("%s: indexes %v\n%s", c.name, ix, explainAnalyze(b, pool, sql, args))
		page := Page{Limit: 50}
		if c.after[0] != "" {
			page.After = encodeCursor(c.after)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := rd.Audience(ctx, "bench", c.q, page); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, owner := range []string{"", "s042"} {
		q := GroupAudienceQuery{Settings: corp.Defaults(), At: benchAt, StaffID: owner}
		sql, args := groupAudienceSQL("bench", q, "", 50)
		b.Logf("group audience %q: indexes %v", owner, audiencePlan(b, pool, sql, args))
		b.Run("group audience owner "+owner, func(b *testing.B) {
			for b.Loop() {
				if _, err := rd.GroupAudience(ctx, "bench", q, Page{Limit: 50}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The dashboard: the counters (AudienceCounts) against the exact
	// aggregate they replaced (scanCounts), alternately, under WeCom's
	// default caps and under all three windows on.
	for _, set := range []struct {
		name string
		caps map[string]string
	}{
		{"default caps", nil},
		{"day week month caps", map[string]string{"mass_message_cap_day": "1", "mass_message_cap_week": "2", "mass_message_cap_month": "3"}},
	} {
		s, err := corp.Defaults().Apply(set.caps)
		if err != nil {
			b.Fatal(err)
		}
		q := AudienceQuery{Settings: s, At: benchAt}
		sql, args := countsSQL("bench", capWindows(s, benchAt))
		b.Logf("dashboard counts, %s: indexes %v\n%s", set.name, audiencePlan(b, pool, sql, args), explainAnalyze(b, pool, sql, args))
		for round := range 2 {
			b.Run(fmt.Sprintf("dashboard counts %s round %d", set.name, round), func(b *testing.B) {
				for b.Loop() {
					if _, err := rd.AudienceCounts(ctx, "bench", q); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("dashboard exact aggregate %s round %d", set.name, round), func(b *testing.B) {
				for b.Loop() {
					if _, err := rd.scanCounts(ctx, "bench", capWindows(s, benchAt)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// lookupEnvInt is the environment variable's integer value, 0 when unset
// or not a number.
func lookupEnvInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

func weekCap(tb testing.TB, n string) corp.Settings {
	tb.Helper()
	s, err := corp.Defaults().Apply(map[string]string{"mass_message_cap_week": n})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// explainAnalyze is sql's EXPLAIN (ANALYZE, BUFFERS) as text.
func explainAnalyze(tb testing.TB, pool *pgxpool.Pool, sql string, args []any) string {
	tb.Helper()
	var plan strings.Builder
	rs, err := pool.Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON) "+sql, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var line string
		if err := rs.Scan(&line); err != nil {
			tb.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rs.Err(); err != nil {
		tb.Fatal(err)
	}
	return plan.String()
}
