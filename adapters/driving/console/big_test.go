package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/httpapi"
	"github.com/custody/custody/adapters/tools/importer"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// bigCorp is a corp of 100,000 customers (111,112 relations over 200
// members, 500 groups of 20), onboarded with the importer (the same rules
// and events as the commands, written with COPY) and projected by the
// projector; then two members depart (their customers become unassigned)
// and 100 of them are handed over through the command handler (pending).
type bigCorp struct {
	h        *harness
	staff    string // an active member
	departed string // a departed member with unassigned customers
	customer string // one of the handed-over customers
}

const bigCorpID = "big"

var (
	bigOnce sync.Once
	big     *bigCorp
	bigErr  error
)

// seedBig builds the corp once per test binary: the plan test and the
// benchmark share it.
func seedBig(tb testing.TB) *bigCorp {
	tb.Helper()
	bigOnce.Do(func() { big, bigErr = buildBig(tb) })
	if bigErr != nil {
		tb.Fatal(bigErr)
	}
	return big
}

func buildBig(tb testing.TB) (*bigCorp, error) {
	h := newHarness(tb)
	ctx := context.Background()
	now := h.clock.Now()
	path := filepath.Join(tb.TempDir(), "big.jsonl")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := importer.WriteSample(f, importer.Sample{Staff: 200, Relations: 111_112, Groups: 500, MembersPerGroup: 20, Seed: 7,
		Start: now.Add(-50 * time.Hour)}); err != nil {
		return nil, err
	}
	f.Close()
	if _, err := importer.Run(ctx, importer.Options{Pool: h.pool, Store: h.store, Corp: bigCorpID, Path: path, Now: h.clock.Now, Logger: quiet()}); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	// The import wrote with COPY, not through the tracked log: wait for
	// the log's head.
	head, err := h.store.Head(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	if err := h.runner.WaitFor(wctx, head); err != nil {
		return nil, fmt.Errorf("projecting the import: %w", err)
	}
	b := &bigCorp{h: h, staff: "s00001", departed: "s00002"}
	for _, s := range []string{"s00002", "s00003"} {
		if _, err := h.cmds.DepartStaff(ctx, commands.DepartStaff{Meta: commands.Meta{CorpID: bigCorpID}, StaffID: s}); err != nil {
			return nil, fmt.Errorf("depart %s: %w", s, err)
		}
	}
	h.projected()
	var ids []string
	rows, err := h.pool.Query(ctx, `SELECT customer_id FROM projections.relations WHERE corp_id = $1 AND staff_id = $2 AND status = 'unassigned' ORDER BY customer_id LIMIT 100`, bigCorpID, b.departed)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if rows.Err() != nil || len(ids) < 100 {
		return nil, fmt.Errorf("unassigned customers of %s: %d, %v", b.departed, len(ids), rows.Err())
	}
	batch, err := h.cmds.RequestHandover(ctx, commands.RequestHandover{Meta: commands.Meta{CorpID: bigCorpID}, Kind: events.HandoverResigned,
		FromStaffID: b.departed, ToStaffID: b.staff, CustomerIDs: ids})
	if err != nil {
		return nil, err
	}
	if batch.Outcomes[0].Status != "pending" {
		return nil, fmt.Errorf("handover: %+v", batch.Outcomes[0])
	}
	b.customer = ids[0]
	h.projected()
	// What autovacuum does to a table after a bulk load: statistics and
	// the visibility map.
	if _, err := h.pool.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		return nil, err
	}
	var customers int
	h.pool.QueryRow(ctx, `SELECT count(*) FROM projections.customers WHERE corp_id = $1`, bigCorpID).Scan(&customers)
	if customers < 100_000 {
		return nil, fmt.Errorf("the big corp has %d customers", customers)
	}
	return b, nil
}

// bigTables are the tables that grow with customers: a sequential scan of
// one of them on a page is a page that slows down as the corp grows.
var bigTables = []string{"customers", "relations", "ownership_intervals", "unassigned_relations", "handovers",
	"group_members", "group_membership_history", "moments_opt_outs", "moments_audience", "consents", "consent_history", "daily_staff_activity"}

// seqScans returns the big tables a JSON plan scans sequentially.
func seqScans(plan []byte) ([]string, error) {
	var doc []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &doc); err != nil {
		return nil, err
	}
	var out []string
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if n["Node Type"] == "Seq Scan" {
			if rel, _ := n["Relation Name"].(string); slices.Contains(bigTables, rel) {
				out = append(out, rel)
			}
		}
		kids, _ := n["Plans"].([]any)
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				walk(m)
			}
		}
	}
	for _, d := range doc {
		walk(d.Plan)
	}
	return out, nil
}

// TestPageQueryPlans runs EXPLAIN on every query the pages run, over the
// corp of 100,000 customers, twice:
//
//   - as the planner chooses: no sequential scan of a table holding 10,000
//     rows or more here (customers, relations, ownership intervals, the
//     moments audience, group members...). Corp-wide aggregates (the
//     customer count, the channels page) read every row of the corp; on a
//     database holding one corp a sequential scan is then the right plan,
//     so for them only the second check applies;
//   - with sequential scans disabled: none may remain on any table that
//     grows with the customers (bigTables), also those still small in this
//     data set (handovers, consents, daily activity) — a remaining one
//     means no index can serve the query.
func TestPageQueryPlans(t *testing.T) {
	b := seedBig(t)
	ctx := context.Background()
	large := map[string]bool{}
	rows, err := b.h.pool.Query(ctx, `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'projections' AND c.relkind = 'r' AND c.reltuples >= 10000`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		large[n] = true
	}
	if !large["customers"] || !large["relations"] {
		t.Fatalf("the data set is not large: %v", large)
	}
	t.Logf("tables of 10,000 rows or more: %v", large)
	conn, err := b.h.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	explain := func(q namedQuery) []string {
		var plan []byte
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q.SQL, q.Args...).Scan(&plan); err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		scans, err := seqScans(plan)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		return scans
	}
	queries := pageQueries(bigCorpID, b.staff, b.departed, b.customer, b.h.clock.Now())
	for _, q := range queries {
		for _, tbl := range explain(q) {
			if large[tbl] && !q.CorpWide {
				t.Errorf("page query %q scans %s (10,000 rows or more) sequentially", q.Name, tbl)
			}
		}
	}
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET enable_seqscan")
	for _, q := range queries {
		if scans := explain(q); len(scans) > 0 {
			t.Errorf("page query %q: no index serves it, it scans %v sequentially", q.Name, scans)
		}
	}
}

// BenchmarkConsolePages renders every page of the console for the corp of
// 100,000 customers through the whole server (session, corp settings,
// queries, template) and reports each page's p50 and p99. The baseline,
// measured in the same run over the same data, is the JSON API's
// GET /v1/corps/{corp}/overview (the dashboard numbers the old overview
// page rendered).
func BenchmarkConsolePages(b *testing.B) {
	bc := seedBig(b)
	h := bc.h
	br := h.browser("zh-CN")
	br.t = b
	br.signIn(h.token(bigCorpID, httpapi.TokenOptions{}))
	apiToken := h.token(bigCorpID, httpapi.TokenOptions{})
	b.Run("baseline-api-overview", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			req, _ := http.NewRequest("GET", h.ts.URL+"/v1/corps/big/overview", nil)
			req.Header.Set("Authorization", "Bearer "+apiToken)
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			d = append(d, time.Since(start))
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("API overview: %d", resp.StatusCode)
			}
		}
		reportPercentiles(b, d)
	})
	pages := []struct{ name, path string }{
		{"overview", "/console/big/"},
		{"staff", "/console/big/staff"},
		{"staff-member", "/console/big/staff/" + bc.staff},
		{"departed", "/console/big/departed"},
		{"departed-member", "/console/big/departed/" + bc.departed},
		{"customer", "/console/big/customers/" + bc.customer},
		{"handovers", "/console/big/handovers?status=pending"},
		{"groups", "/console/big/groups"},
		{"channels", "/console/big/channels"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var d []time.Duration
			for b.Loop() {
				start := time.Now()
				pg := br.get(p.path)
				d = append(d, time.Since(start))
				if pg.status != http.StatusOK {
					b.Fatalf("%s: %d %.300s", p.path, pg.status, pg.body)
				}
			}
			reportPercentiles(b, d)
		})
	}
}

// reportPercentiles reports the median and the 99th percentile of d.
func reportPercentiles(b *testing.B, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[min(len(d)-1, len(d)*99/100)].Microseconds())/1000, "p99-ms")
}
