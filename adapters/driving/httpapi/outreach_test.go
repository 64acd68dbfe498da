package httpapi

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/projections"
)

// TestOutreachRoutes: plan, check, send and the audience over HTTP: the
// refusal reasons, the cap from the corp's settings, the audience's pages
// and filters, the dashboard, and the errors.
func TestOutreachRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	t0 := h.clock.Now()
	post := func(want int, path string, body any) answer {
		t.Helper()
		return h.must(want, "POST", b+path, tok, body)
	}
	for _, s := range []string{"alice", "bob"} {
		post(201, "/staff", map[string]any{"staff_id": s, "occurred_at": t0.Add(-72 * time.Hour)})
	}
	for i, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		post(201, "/customers/"+c+"/relations", map[string]any{"staff_id": "alice", "initiator": "customer", "state": "expo",
			"tags": []string{"vip", []string{"a", "b"}[i%2]}, "occurred_at": t0.Add(-48 * time.Hour)})
	}
	post(201, "/customers/c1/relations", map[string]any{"staff_id": "bob", "initiator": "staff", "occurred_at": t0.Add(-48 * time.Hour)})
	post(200, "/customers/c2/consents", map[string]any{"purpose": "marketing", "state": "disagree"})
	h.must(200, "PUT", b+"/settings", testAdminToken, map[string]any{"mass_message_cap_day": "1"})

	var plan OutreachPlanResult
	post(201, "/outreach/messages/spring/plan", map[string]any{"channel": "mass_message", "staff_id": "alice",
		"customer_ids": []string{"c1", "c2", "c3", "c9"}, "text": "春季新品上市"}).json(t, &plan)
	if len(plan.Events) != 1 || plan.Events[0].Type != "outreach.planned" || len(plan.Verdicts) != 4 {
		t.Fatalf("plan %+v", plan)
	}
	want := map[string][]string{"c1": {}, "c2": {"consent_withdrawn"}, "c3": {}, "c9": {"no_relation"}}
	for _, v := range plan.Verdicts {
		if !slices.Equal(v.Reasons, want[v.CustomerID]) || v.Allowed != (len(v.Reasons) == 0) {
			t.Errorf("plan verdict %+v", v)
		}
		if len(v.Allowances) != 2 || v.Allowances[0].Window != "day" || v.Allowances[0].Remaining != 1 {
			t.Errorf("allowances %+v", v.Allowances)
		}
	}
	if code := h.do("POST", b+"/outreach/messages/spring/plan", tok, map[string]any{"channel": "mass_message", "staff_id": "alice",
		"customer_ids": []string{"c1"}}).errCode(t); code != "already_planned" {
		t.Fatalf("second plan: %s", code)
	}

	var sent OutreachSendResult
	post(200, "/outreach/messages/spring/sends", map[string]any{"channel": "mass_message", "staff_id": "alice",
		"customer_ids": []string{"c1", "c2", "c3", "c9"}}).json(t, &sent)
	if !slices.Equal(sent.Reached, []string{"c1", "c3"}) || len(sent.Refused) != 2 || len(sent.Flagged) != 0 {
		t.Fatalf("send %+v", sent)
	}
	var check OutreachVerdicts
	post(200, "/outreach/messages/next/check", map[string]any{"channel": "mass_message", "staff_id": "bob",
		"customer_ids": []string{"c1"}}).json(t, &check)
	if len(check.Verdicts) != 1 || !slices.Equal(check.Verdicts[0].Reasons, []string{"cap_day"}) || check.Verdicts[0].Allowances[0].Used != 1 {
		t.Fatalf("check %+v", check)
	}

	h.projected()
	list := func(query string) []string {
		t.Helper()
		var out []string
		cursor := ""
		for {
			var p projections.Paged[projections.AudienceMember]
			q := query + "&limit=2"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			h.must(200, "GET", b+"/outreach/audience?"+q, tok, nil).json(t, &p)
			for _, m := range p.Items {
				out = append(out, m.CustomerID+"/"+m.StaffID)
			}
			if p.Next == "" {
				return out
			}
			cursor = p.Next
		}
	}
	today := t0.In(corp.Defaults().Location()).Format(time.DateOnly)
	if got := list("date=" + today); !slices.Equal(got, []string{"c4/alice", "c5/alice"}) {
		t.Errorf("today's audience %v", got)
	}
	tomorrow := t0.Add(24 * time.Hour).In(corp.Defaults().Location()).Format(time.DateOnly)
	if got := list("date=" + tomorrow); !slices.Equal(got, []string{"c1/alice", "c1/bob", "c3/alice", "c4/alice", "c5/alice"}) {
		t.Errorf("tomorrow's audience %v", got)
	}
	if got := list("date=" + tomorrow + "&staff_id=alice&tag=vip&tag=a&state=expo"); !slices.Equal(got, []string{"c1/alice", "c3/alice", "c5/alice"}) {
		t.Errorf("filtered audience %v", got)
	}
	if got := list("channel=moments&not_contacted_since=" + url.QueryEscape(t0.Add(-time.Hour).Format(time.RFC3339))); !slices.Equal(got, []string{"c4/alice", "c5/alice"}) {
		t.Errorf("moments audience of the not contacted %v", got)
	}
	var dash OutreachDashboard
	h.must(200, "GET", b+"/outreach/dashboard?date="+today, tok, nil).json(t, &dash)
	if dash.Date != today || dash.Customers != 5 || dash.ConsentWithdrawn != 1 || dash.AtCap != 2 || dash.Eligible != 2 || dash.DeliveredDay != 2 {
		t.Errorf("dashboard %+v", dash)
	}

	for _, tc := range []struct {
		method, path string
		body         any
		code         string
	}{
		{"POST", "/outreach/messages/m/sends", map[string]any{"channel": "sms", "staff_id": "alice", "customer_ids": []string{"c1"}}, CodeInvalidArgument},
		{"POST", "/outreach/messages/m/sends", map[string]any{"channel": "mass_message", "staff_id": "alice"}, CodeInvalidArgument},
		{"POST", "/outreach/messages/m/sends", map[string]any{"channel": "mass_message", "staff_id": "alice", "chat_ids": []string{"g"}}, CodeInvalidArgument},
		{"POST", "/outreach/messages/m/sends", `{"channel":"mass_message","staff_id":"alice","customer_ids":["c1"],"extra":1}`, "unknown_field"},
		{"POST", "/outreach/messages/spring/sends", map[string]any{"channel": "moments", "staff_id": "alice", "customer_ids": []string{"c1"}}, CodeInvalidArgument},
		{"GET", "/outreach/audience?date=2026-13-01", nil, CodeBadRequest},
		{"GET", "/outreach/audience?channel=sms", nil, CodeBadRequest},
		{"GET", "/outreach/audience?staff_id=a%20b", nil, CodeInvalidID},
		{"GET", "/outreach/audience?cursor=zz", nil, "bad_cursor"},
		{"GET", "/outreach/dashboard?date=yesterday", nil, CodeBadRequest},
	} {
		before := h.head()
		a := h.do(tc.method, b+tc.path, tok, tc.body)
		if a.status < 400 || a.status > 499 {
			t.Errorf("%s %s: HTTP %d %s", tc.method, tc.path, a.status, a.body)
			continue
		}
		if code := a.errCode(t); code != tc.code {
			t.Errorf("%s %s: code %s, want %s", tc.method, tc.path, code, tc.code)
		}
		if h.head() != before {
			t.Errorf("%s %s: a refused request recorded something", tc.method, tc.path)
		}
	}
}

// FuzzOutreachRequests feeds arbitrary bodies to the outreach routes'
// decoders and arbitrary query strings to the audience's: they answer a
// 4xx or a well-formed request, never panic.
func FuzzOutreachRequests(f *testing.F) {
	for _, s := range []string{
		`{"channel":"mass_message","staff_id":"alice","customer_ids":["c1","c2"]}`,
		`{"channel":"group_mass_message","staff_id":"alice","chat_ids":["g1"],"reported_by_wecom":true}`,
		`{"channel":"moments","staff_id":"a","customer_ids":["c1"],"text":"春季\n新品","personal":true}`,
		`{"channel":1}`, `{"customer_ids":"c1"}`, `{"customer_ids":[null]}`, `{"text":"\u0000"}`, `{"personal":"yes"}`,
		`{"occurred_at":"2026-13-01T00:00:00Z"}`, `[]`, `null`, ``, "\xff", `{"channel":"mass_message"}{}`,
		`date=2026-03-31&tag=vip&tag=a`, `date=2026-02-30`, `channel=moments&not_contacted_since=2026-03-01T00:00:00Z`,
		`tag=%00`, `staff_id=a%2Fb`, `state=` + strings.Repeat("x", 200), `date=0001-01-01`, `contacted_since=yesterday`,
	} {
		f.Add([]byte(s))
	}
	loc := corp.Defaults().Location()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{&outreachRequest{}, &planOutreachRequest{}, &sendOutreachRequest{}} {
			if err := decodeStrict(b, v); err != nil {
				if e := errorOf(err); e.status < 400 || e.status > 499 {
					t.Fatalf("decode %q: %d %s", b, e.status, e.code)
				}
			}
		}
		r := httptest.NewRequest("GET", "/x", nil)
		r.URL.RawQuery = string(b)
		c := &call{r: r}
		q, err := c.audienceQuery(corp.Defaults(), time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
		if err != nil {
			if e := errorOf(err); e.status != 400 {
				t.Fatalf("audience query %q: %d %s", b, e.status, e.code)
			}
		} else if q.Channel != "" && q.Channel != "mass_message" && q.Channel != "moments" {
			t.Fatalf("audience query %q accepted channel %q", b, q.Channel)
		}
		if d, err := parseDate("date", string(b), loc); err == nil && !d.IsZero() && (d.Year() < 2000 || d.Hour() != 12) {
			t.Fatalf("date %q parsed as %s", b, d)
		} else if err != nil && errorOf(err).status != 400 {
			t.Fatalf("date %q: %v", b, err)
		}
	})
}

// TestOutreachGroupAudienceRoute: the groups a group mass message may
// reach, each through its owner: dismissed groups, groups of a departed
// owner and groups at a cap are left out; a send through another member
// than the owner is refused; the owner filter, pages and bad input.
func TestOutreachGroupAudienceRoute(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	t0 := h.clock.Now()
	post := func(want int, path string, body any) answer {
		t.Helper()
		return h.must(want, "POST", b+path, tok, body)
	}
	for _, s := range []string{"alice", "bob", "carol"} {
		post(201, "/staff", map[string]any{"staff_id": s, "occurred_at": t0.Add(-72 * time.Hour)})
	}
	for _, g := range []struct{ chat, owner string }{{"g1", "alice"}, {"g2", "alice"}, {"g3", "bob"}, {"g4", "carol"}, {"g5", "alice"}} {
		post(201, "/groups", map[string]any{"chat_id": g.chat, "owner_id": g.owner, "occurred_at": t0.Add(-48 * time.Hour)})
	}
	post(200, "/groups/g2/dismissal", map[string]any{})
	post(200, "/staff/bob/departure", map[string]any{})
	h.must(200, "PUT", b+"/settings", testAdminToken, map[string]any{"mass_message_cap_day": "1"})
	var sent OutreachSendResult
	post(200, "/outreach/messages/g-spring/sends", map[string]any{"channel": "group_mass_message", "staff_id": "alice",
		"chat_ids": []string{"g1", "g4"}}).json(t, &sent)
	if !slices.Equal(sent.ReachedChats, []string{"g1"}) || len(sent.Refused) != 1 || sent.Refused[0].ChatID != "g4" ||
		!slices.Equal(sent.Refused[0].Reasons, []string{"not_group_owner"}) {
		t.Fatalf("send %+v", sent)
	}
	h.projected()
	list := func(query string) []string {
		t.Helper()
		var out []string
		cursor := ""
		for {
			var p projections.Paged[projections.GroupAudienceMember]
			q := query + "&limit=1"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			h.must(200, "GET", b+"/outreach/group-audience?"+q, tok, nil).json(t, &p)
			for _, g := range p.Items {
				out = append(out, fmt.Sprintf("%s/%s %d", g.ChatID, g.OwnerID, *g.Remaining))
			}
			if p.Next == "" {
				return out
			}
			cursor = p.Next
		}
	}
	loc := corp.Defaults().Location()
	today, tomorrow := t0.In(loc).Format(time.DateOnly), t0.Add(24*time.Hour).In(loc).Format(time.DateOnly)
	if got := list("date=" + today); !slices.Equal(got, []string{"g4/carol 1", "g5/alice 1"}) {
		t.Errorf("today's groups %v", got)
	}
	if got := list("date=" + tomorrow); !slices.Equal(got, []string{"g1/alice 1", "g4/carol 1", "g5/alice 1"}) {
		t.Errorf("tomorrow's groups %v", got)
	}
	if got := list("date=" + tomorrow + "&staff_id=alice"); !slices.Equal(got, []string{"g1/alice 1", "g5/alice 1"}) {
		t.Errorf("alice's groups %v", got)
	}
	if got := list("date=9999-12-31"); len(got) == 0 {
		t.Errorf("the last date accepted lists no groups")
	}
	for q, code := range map[string]string{"date=2026-02-30": CodeBadRequest, "staff_id=a%20b": CodeInvalidID, "cursor=zz": "bad_cursor",
		"staff_id=a%00b": CodeInvalidID, "staff_id=" + strings.Repeat("a", 1<<16): CodeInvalidID,
		"date=10000-01-01": CodeBadRequest, "date=1999-12-31": CodeBadRequest, "date=-2026-01-01": CodeBadRequest,
		"limit=-1": CodeBadRequest, "limit=99999999999999999999": CodeBadRequest, "cursor=" + strings.Repeat("z", 2000): CodeBadRequest} {
		if got := h.do("GET", b+"/outreach/group-audience?"+q, tok, nil).errCode(t); got != code {
			t.Errorf("%s: %s, want %s", q, got, code)
		}
	}
}

// TestMarketingGuideFanOutTable: every event the marketing guide's
// fan-out table names is in the catalog, and is published on the topic
// the table says (the relay's default route).
func TestMarketingGuideFanOutTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "marketing.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Keeping a list current without polling")
	if !ok {
		t.Fatal("docs/marketing.md has no fan-out section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	known := map[string]bool{}
	for _, ty := range events.Types() {
		known[ty] = true
	}
	code := regexp.MustCompile("`([a-z_.]+)`")
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		rows++
		topic := code.FindStringSubmatch(cells[2])
		category := ""
		names := regexp.MustCompile(`\([^)]*\)`).ReplaceAllString(cells[1], "") // (purpose `marketing`)
		for _, m := range code.FindAllStringSubmatch(names, -1) {
			name := m[1]
			if c, _, ok := strings.Cut(name, "."); ok {
				category = c
			} else {
				name = category + "." + name // `member_left` after `groupchat.member_joined`
			}
			if !known[name] {
				t.Errorf("fan-out table names %s, which is not an event type", name)
				continue
			}
			if want := (relay.Route{}).Topic(name); topic == nil || want != topic[1] {
				t.Errorf("fan-out table puts %s on %v; the relay publishes it on %s", name, topic, want)
			}
		}
	}
	if rows < 8 {
		t.Fatalf("fan-out table has %d rows", rows)
	}
}

// TestMarketingGuideExamples runs the curl examples of docs/marketing.md
// against the API, in the order the guide gives them, over the customers
// and groups they name: each answers 2xx, and an answer the guide shows
// (a "# {…}" comment after the command; "…" elides) is the answer given.
func TestMarketingGuideExamples(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	t0 := h.clock.Now()
	h.must(201, "POST", b+"/staff", tok, map[string]any{"staff_id": "zhangsan", "occurred_at": t0.Add(-72 * time.Hour)})
	for _, c := range []string{"wmQx1aBC", "wmRy2bCD"} {
		h.must(201, "POST", b+"/customers/"+c+"/relations", tok, map[string]any{"staff_id": "zhangsan", "initiator": "customer",
			"tags": []string{"vip"}, "occurred_at": t0.Add(-48 * time.Hour)})
	}
	h.must(200, "POST", b+"/customers/wmRy2bCD/consents", tok, map[string]any{"purpose": "marketing", "state": "disagree"})
	h.must(201, "POST", b+"/groups", tok, map[string]any{"chat_id": "wrSpring", "owner_id": "zhangsan", "occurred_at": t0.Add(-48 * time.Hour)})
	h.projected()

	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "marketing.md"))
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`'[^']*'|"[^"]*"|\S+`)
	unquote := func(s string) string {
		if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') {
			return s[1 : len(s)-1]
		}
		return s
	}
	ran := 0
	for _, blk := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		lines := strings.Split(strings.ReplaceAll(blk[1], "\\\n", " "), "\n")
		for i, line := range lines {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "curl ") {
				continue
			}
			method, path, body, auth := "GET", "", "", tok
			var hdr []string
			toks := token.FindAllString(line, -1)
			for j := 1; j < len(toks); j++ {
				switch tk := toks[j]; {
				case tk == "-X" && j+1 < len(toks):
					j++
					method = toks[j]
				case tk == "-d" && j+1 < len(toks):
					j++
					body = unquote(toks[j])
				case tk == "-H" && j+1 < len(toks):
					j++
					k, v, _ := strings.Cut(unquote(toks[j]), ": ")
					switch {
					case k == "Authorization" && strings.Contains(v, "$ADMIN_TOKEN"):
						auth = testAdminToken
					case k == "Idempotency-Key":
						hdr = append(hdr, k, v)
					}
				case strings.HasPrefix(unquote(tk), "http://localhost:8080/"):
					path = strings.TrimPrefix(unquote(tk), "http://localhost:8080")
				}
			}
			if path == "" {
				t.Fatalf("no URL in %s", line)
			}
			var reqBody any
			if body != "" {
				reqBody = body
			}
			a := h.do(method, path, auth, reqBody, hdr...)
			if a.status < 200 || a.status > 299 {
				t.Errorf("%s: HTTP %d %s", line, a.status, a.body)
				continue
			}
			ran++
			var shown strings.Builder
			for _, c := range lines[i+1:] {
				c = strings.TrimSpace(c)
				if !strings.HasPrefix(c, "#") {
					break
				}
				shown.WriteString(strings.TrimSpace(strings.TrimPrefix(c, "#")))
			}
			for _, frag := range strings.Split(shown.String(), "…") {
				if !strings.Contains(string(a.body), frag) {
					t.Errorf("%s: the guide shows %q, the answer is %s", line, frag, a.body)
				}
			}
			h.projected()
		}
	}
	if ran < 4 {
		t.Fatalf("ran %d examples", ran)
	}
}
