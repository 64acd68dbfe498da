package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/custody/custody/adapters/driving/httpapi"
	"github.com/custody/custody/commands"
)

var checkboxes = regexp.MustCompile(`name="customer" value="([^"]+)"`)

// TestConsoleHTTP drives the console as a plain HTTP client: sign-in,
// language, every page, a resigned handover with its outcomes, the
// customer page showing it pending, cancellation; and what must be
// refused: a post without or with a wrong CSRF token, another corp's
// pages, a viewer acting, a viewer reading personal data.
func TestConsoleHTTP(t *testing.T) {
	h := newHarness(t)
	h.seedDemo("acme")
	h.seedDemo("other")

	anon := h.browser("")
	if p := anon.get("/"); p.status != http.StatusSeeOther || p.loc != "/console/" {
		t.Fatalf("/ with the console mounted: %d %q", p.status, p.loc)
	}
	if p := anon.get("/console/acme/"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/console/login") {
		t.Fatalf("a page without a session: %d %q", p.status, p.loc)
	}
	// Sign-in without the form's CSRF token is refused.
	if p := anon.do("POST", "/console/login", url.Values{"token": {adminToken}}); p.status != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF: %d", p.status)
	}

	b := h.browser("zh-CN,zh;q=0.9,en;q=0.5")
	lp := b.get("/console/login")
	if !strings.Contains(lp.body, "登录") || !strings.Contains(lp.body, `lang="zh-CN"`) {
		t.Fatalf("login page not in Chinese:\n%.800s", lp.body)
	}
	if p := b.do("POST", "/console/login", url.Values{"csrf": {lp.csrf(t)}, "token": {"cust_wrong"}}); p.status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", p.status)
	}
	b.signIn(h.token("acme", httpapi.TokenOptions{}))
	ov := b.get("/console/acme/")
	for _, want := range []string{"概览", "Asia/Shanghai (UTC&#43;08:00)", "<svg", "Zhao Lei (frank)", "剩余天数", "近 30 天每日新增与流失"} {
		if !strings.Contains(ov.body, want) {
			t.Fatalf("overview lacks %q:\n%.3000s", want, ov.body)
		}
	}
	// The switch: English, kept in a cookie.
	if p := b.get("/console/lang?to=en&back=" + url.QueryEscape("/console/acme/")); p.status != http.StatusSeeOther || p.loc != "/console/acme/" {
		t.Fatalf("language switch: %d %q", p.status, p.loc)
	}
	if p := b.get("/console/acme/"); !strings.Contains(p.body, "Overview") || !strings.Contains(p.body, `lang="en"`) {
		t.Fatalf("after the switch the overview is not English")
	}
	if p := b.get("/console/lang?to=en&back=" + url.QueryEscape("https://evil.example/")); p.loc != "/console/" {
		t.Fatalf("the switch redirected off the console: %q", p.loc)
	}
	for _, path := range []string{"/console/acme/staff", "/console/acme/staff/alice", "/console/acme/departed", "/console/acme/handovers?status=completed",
		"/console/acme/groups", "/console/acme/channels", "/console/acme/handovers"} {
		if p := b.get(path); p.status != http.StatusOK {
			t.Fatalf("%s: %d\n%.1000s", path, p.status, p.body)
		}
	}
	if p := b.get("/console/acme/customers/nobody"); p.status != http.StatusNotFound {
		t.Fatalf("unknown customer: %d", p.status)
	}
	// Another corp's pages and actions are refused.
	if p := b.get("/console/other/"); p.status != http.StatusForbidden {
		t.Fatalf("corp token on another corp's page: %d", p.status)
	}
	if p := b.get("/console/other/customers/wm_demo_001"); p.status != http.StatusForbidden {
		t.Fatalf("corp token on another corp's customer: %d", p.status)
	}

	// A departed member's unassigned customers, three handed over.
	dp := b.get("/console/acme/departed/frank")
	ids := checkboxes.FindAllStringSubmatch(dp.body, -1)
	if len(ids) < 3 {
		t.Fatalf("frank has %d selectable customers:\n%.3000s", len(ids), dp.body)
	}
	formID := regexp.MustCompile(`name="form_id" value="([^"]+)"`).FindStringSubmatch(dp.body)[1]
	form := url.Values{"form_id": {formID}, "to": {"grace"}, "customer": {ids[0][1], ids[1][1], ids[2][1]}}
	// Without the CSRF token, and with another session's: 403, nothing recorded.
	head := h.log.last()
	if p := b.do("POST", "/console/acme/departed/frank/handover", form); p.status != http.StatusForbidden {
		t.Fatalf("handover without CSRF: %d", p.status)
	}
	other := h.browser("en")
	other.signIn(h.token("acme", httpapi.TokenOptions{}))
	form.Set("csrf", other.get("/console/acme/").csrf(t))
	if p := b.do("POST", "/console/acme/departed/frank/handover", form); p.status != http.StatusForbidden {
		t.Fatalf("handover with another session's CSRF token: %d", p.status)
	}
	if h.log.last() != head {
		t.Fatal("a refused post recorded events")
	}
	form.Set("csrf", dp.csrf(t))
	res := b.do("POST", "/console/acme/departed/frank/handover", form)
	if res.status != http.StatusOK || strings.Count(res.body, "pending: the customer may refuse until") != 3 {
		t.Fatalf("handover outcomes: %d\n%.3000s", res.status, res.body)
	}
	// The same form again is the same command: nothing new recorded.
	head = h.log.last()
	again := b.do("POST", "/console/acme/departed/frank/handover", form)
	if !strings.Contains(again.body, "already submitted") || h.log.last() != head {
		t.Fatalf("a second post of the same form recorded anew:\n%.2000s", again.body)
	}
	h.projected()
	cp := b.get("/console/acme/customers/" + ids[0][1])
	if cp.status != http.StatusOK || !strings.Contains(cp.body, `id="pending"`) || !strings.Contains(cp.body, "Sun Li (grace)") {
		t.Fatalf("customer page without the pending handover:\n%.4000s", cp.body)
	}
	for _, want := range []string{`id="ownership"`, `id="timeline"`, `id="followers"`, "Zhao Lei (frank)"} {
		if !strings.Contains(cp.body, want) {
			t.Fatalf("customer page lacks %q", want)
		}
	}
	// Capacity: heidi takes 3 customers at most.
	form = url.Values{"csrf": {dp.csrf(t)}, "form_id": {"capacity-check"}, "to": {"heidi"}, "customer": {ids[3][1]}}
	if len(ids) > 3 {
		res = b.do("POST", "/console/acme/departed/frank/handover", form)
		if !strings.Contains(res.body, "failed: Zhou Tao (heidi) is at capacity") && !strings.Contains(res.body, "pending") {
			t.Fatalf("handover to heidi:\n%.2000s", res.body)
		}
	}
	// Cancel the first pending handover from the customer page.
	action := regexp.MustCompile(`action="(/console/acme/customers/[^"]+/cancel)"`).FindStringSubmatch(cp.body)
	if action == nil {
		t.Fatal("no cancel form on the customer page")
	}
	if p := b.do("POST", action[1], url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("cancel without CSRF: %d", p.status)
	}
	if p := b.do("POST", action[1], url.Values{"csrf": {cp.csrf(t)}}); p.status != http.StatusSeeOther {
		t.Fatalf("cancel: %d %s", p.status, p.body)
	}
	h.projected()
	if p := b.get("/console/acme/handovers?status=cancelled"); !strings.Contains(p.body, ids[0][1]) {
		t.Fatal("the cancelled handover is not listed as cancelled")
	}

	// In-service handover from a member's page, and a group transfer: each
	// customer's or group's outcome in words.
	sp := b.get("/console/acme/staff/bob")
	bobs := checkboxes.FindAllStringSubmatch(sp.body, -1)
	if len(bobs) == 0 {
		t.Fatalf("bob's page has no selectable customer:\n%.2000s", sp.body)
	}
	res = b.do("POST", "/console/acme/staff/bob/handover", url.Values{"csrf": {sp.csrf(t)}, "form_id": {"inservice1"}, "to": {"carol"}, "customer": {bobs[0][1]}})
	if res.status != http.StatusOK || !strings.Contains(res.body, `data-id="`+bobs[0][1]+`"`) ||
		!(strings.Contains(res.body, "pending: the customer may refuse until") || strings.Contains(res.body, "refused by rule")) {
		t.Fatalf("in-service handover: %d\n%.2000s", res.status, res.body)
	}
	res = b.do("POST", "/console/acme/groups/transfer", url.Values{"csrf": {sp.csrf(t)}, "form_id": {"groups1"}, "to": {"grace"}, "chat": {"wr_demo_vip"}})
	if res.status != http.StatusOK || !strings.Contains(res.body, "refused by rule: the member has not departed") {
		t.Fatalf("transfer of an active owner's group: %d\n%.2000s", res.status, res.body)
	}
	if p := b.do("POST", "/console/acme/groups/transfer", url.Values{"csrf": {sp.csrf(t)}, "form_id": {"groups2"}, "to": {"grace"}, "chat": {"../x"}}); p.status != http.StatusBadRequest {
		t.Fatalf("a bad chat id: %d", p.status)
	}

	// A viewer without personal data: pages, ids instead of names, no
	// forms, and a post refused.
	v := h.browser("en")
	v.signIn(h.token("acme", httpapi.TokenOptions{Viewer: true}))
	vp := v.get("/console/acme/departed/frank")
	if vp.status != http.StatusOK || strings.Contains(vp.body, "Zhao Lei") || strings.Contains(vp.body, `name="customer"`) || !strings.Contains(vp.body, "Read-only") {
		t.Fatalf("viewer's departed page:\n%.3000s", vp.body)
	}
	form.Set("csrf", vp.csrf(t))
	if p := v.do("POST", "/console/acme/departed/frank/handover", form); p.status != http.StatusForbidden {
		t.Fatalf("viewer acting: %d", p.status)
	}
	// An erased customer: the page says so and shows none of their
	// personal data, even to a token allowed to see it.
	erased := ids[1][1]
	named := b.get("/console/acme/customers/" + erased)
	name := regexp.MustCompile(`<h1 id="customer-name">([^<(]+) \(`).FindStringSubmatch(named.body)
	if _, err := h.cmds.EraseCustomer(t.Context(), commands.EraseCustomer{Meta: commands.Meta{CorpID: "acme"}, CustomerID: erased}); err != nil {
		t.Fatal(err)
	}
	h.projected()
	ep := b.get("/console/acme/customers/" + erased)
	if ep.status != http.StatusOK || !strings.Contains(ep.body, `id="erased"`) || !strings.Contains(ep.body, "erased · "+erased) ||
		(name != nil && strings.Contains(ep.body, strings.TrimSpace(name[1]))) {
		t.Fatalf("erased customer's page (name before: %v):\n%.3000s", name, ep.body)
	}

	// The admin sees both corps.
	a := h.browser("en")
	a.signIn(adminToken)
	if p := a.get("/console/other/"); p.status != http.StatusOK || !strings.Contains(p.body, `href="/console/acme/"`) {
		t.Fatalf("admin on another corp: %d", p.status)
	}
	// Signing out ends the session.
	if p := b.do("POST", "/console/logout", url.Values{"csrf": {dp.csrf(t)}}); p.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", p.status)
	}
	if p := b.get("/console/acme/"); p.status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", p.status)
	}
}

// TestViewerTokenRefusedByAPI: a viewer token opens the console only.
func TestViewerTokenRefusedByAPI(t *testing.T) {
	h := newHarness(t)
	tok := h.token("acme", httpapi.TokenOptions{Viewer: true, PersonalData: true})
	req, _ := http.NewRequest("GET", h.ts.URL+"/v1/corps/acme/overview", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer token on the API: %d", resp.StatusCode)
	}
}
