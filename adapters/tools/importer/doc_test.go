package importer

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestDocExample imports the example of docs/import.md and checks what the
// page says of it: the events recorded and the refusal reported.
func TestDocExample(t *testing.T) {
	b, err := os.ReadFile("../../../docs/import.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	block := func(lang string) string {
		m := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```").FindStringSubmatch(doc)
		if m == nil {
			t.Fatalf("docs/import.md has no ```%s block", lang)
		}
		return m[1]
	}
	ctx := context.Background()
	e := newEnv(t)
	res, err := Run(ctx, e.opts(writeFile(t, block("jsonl"))))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range dumpLog(t, e) {
		counts[r.Type]++
	}
	var got []string
	for typ, n := range counts {
		got = append(got, fmt.Sprintf("%d %s", n, typ))
	}
	sort.Strings(got)
	want := "1 groupchat.created, 2 groupchat.member_joined, 2 staff.joined, 3 customer.relation_started, 3 staff.slot_reserved"
	if strings.Join(got, ", ") != want || res.Events != 11 || !strings.Contains(doc, "It records 11 events") {
		t.Errorf("the example records %v (%d events), the page says %s", got, res.Events, want)
	}
	// Personal data is sealed: not in the stored rows, readable through the log.
	var plain, sealed int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE data::text LIKE '%Wang Fang%' OR encode(pii_sealed, 'escape') LIKE '%Wang Fang%'),
		count(*) FILTER (WHERE length(pii_sealed) > 0) FROM events`).Scan(&plain, &sealed); err != nil {
		t.Fatal(err)
	}
	readable := 0
	for _, r := range dumpLog(t, e) {
		if strings.Contains(r.PII, "Wang Fang") {
			readable++
		}
	}
	if plain != 0 || sealed != 3 || readable != 1 {
		t.Errorf("personal data: %d rows hold it in plain text, %d rows sealed (want 3: a name, a relation, a nickname), %d read back (want 1)", plain, sealed, readable)
	}

	rejects, err := Rejects(ctx, e.pool, res.ImportID)
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	for _, r := range rejects {
		fmt.Fprintf(&report, "line %d: %s\n", r.Line, r.Reason)
	}
	if report.String() != block("text") {
		t.Errorf("rejects reported:\n%s\nthe page shows:\n%s", report.String(), block("text"))
	}
}
