package httpapi

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/jobs"
	"github.com/custody/custody/adapters/tools/demo"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the overview's screenshot to docs/overview.png")

// chromiumPath is Debian's chromium, installed by .ci/chromium.sh.
const chromiumPath = "/usr/bin/chromium"

// seedDemo runs the demo scenario against the harness and waits for the
// projections.
func seedDemo(t *testing.T, h *harness) demo.Summary {
	t.Helper()
	sum, err := demo.Run(t.Context(), demo.Options{URL: h.ts.URL, Token: testAdminToken, Corp: "acme", Now: h.clock.Now(), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	if len(sum.Refused) > 0 || len(sum.Unexpected) > 0 {
		t.Fatalf("demo on a fresh corp: refused %v, unexpected %v", sum.Refused, sum.Unexpected)
	}
	// The demo's own settle sees what the projections had caught up with;
	// settle again once they are complete, as the server's job would.
	h.projected()
	if _, err := (jobs.Settle{Commands: h.cmds, Pool: h.pool, Now: h.clock.Now}).Once(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.projected()
	return sum
}

// TestDemoAndOverview seeds the demo corp through the API and checks the
// dashboard's numbers and the page's HTML; a second run of the demo is
// answered from the idempotency store and records nothing.
func TestDemoAndOverview(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	sum := seedDemo(t, h)
	if sum.HandoversFailed != 1 || sum.HandoversRefused != 1 {
		t.Fatalf("demo summary: %+v", sum)
	}
	var ov Overview
	h.must(http.StatusOK, "GET", "/v1/corps/acme/overview", testAdminToken, nil).json(t, &ov)
	hl := ov.Headline
	if hl.ActiveStaff != 7 || hl.DepartedStaff != 1 || hl.Customers != 63 || hl.Groups != 3 || hl.Unassigned == 0 || hl.PendingHandovers != 2 {
		t.Fatalf("overview headline: %+v", hl)
	}
	if len(ov.Churn) == 0 || len(ov.Unassigned) != 1 || ov.Unassigned[0].StaffID != "frank" {
		t.Fatalf("overview churn %+v, unassigned %+v", ov.Churn, ov.Unassigned)
	}
	counts := map[string]int{}
	for _, p := range ov.Pipeline {
		counts[p.Status] = p.Count
	}
	// alice→bob: 5 asked, 1 refused, 4 completed; frank→grace: 4 completed;
	// carol→heidi: failed at capacity; dave→erin: 2 still pending.
	if counts["failed"] != 1 || counts["refused"] != 1 || counts["completed"] != 8 || counts["pending"] != 2 {
		t.Fatalf("pipeline %+v", ov.Pipeline)
	}

	head := h.head()
	again, err := demo.Run(t.Context(), demo.Options{URL: h.ts.URL, Token: testAdminToken, Corp: "acme", Now: h.clock.Now(), Logger: quietLogger()})
	if err != nil || again.Replayed != again.Commands {
		t.Fatalf("second demo run: %d of %d replayed, err %v", again.Replayed, again.Commands, err)
	}
	if h.head() != head {
		t.Fatal("second demo run recorded events")
	}

	// The page: sign-in redirect without a session, then the dashboard.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(h.ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("/ without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok := h.token("acme")
	resp, err = noRedirect.PostForm(h.ts.URL+"/login", url.Values{"token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("login: %d, cookies %+v", resp.StatusCode, cookies)
	}
	req, _ := http.NewRequest("GET", h.ts.URL+"/", nil)
	req.AddCookie(cookies[0])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	page.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`id="headline"`, "Handover pipeline", "<svg", "frank", "carol", "Unassigned customers of departed staff"} {
		if !strings.Contains(page.String(), want) {
			t.Fatalf("overview page lacks %q", want)
		}
	}
	// A corp token cannot open another corp's page.
	req, _ = http.NewRequest("GET", h.ts.URL+"/?corp=other", nil)
	req.AddCookie(cookies[0])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("corp token on another corp's page: %d", resp.StatusCode)
	}
	// Wrong token at sign-in.
	resp, err = noRedirect.PostForm(h.ts.URL+"/login", url.Values{"token": {"cust_wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("login with a wrong token: %d", resp.StatusCode)
	}
}

// TestOverviewInChromium renders the dashboard in headless Chromium: the
// DOM the browser built holds the headline, the chart and the tables, and
// a screenshot is taken (kept in docs/overview.png with -update-screenshot).
func TestOverviewInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("chromium not installed at %s (Debian package chromium; .ci/chromium.sh installs it): %v", chromiumPath, err)
	}
	h := newHarness(t, harnessOptions{})
	seedDemo(t, h)
	// The browser gets the admin session the way a signed-in user has it:
	// a cookie, set here because a command-line browser cannot sign in.
	browserSide := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: testAdminToken})
		h.srv.ServeHTTP(w, r)
	}))
	defer browserSide.Close()
	target := browserSide.URL + "/?corp=acme"
	if !strings.HasPrefix(browserSide.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on 127.0.0.1: %s", browserSide.URL)
	}

	dom := chromium(t, "--dump-dom", target)
	for _, want := range []string{`id="headline"`, `id="pipeline"`, "<svg", `id="churn"`, `id="unassigned"`, "frank", ">acme<"} {
		if !strings.Contains(dom, want) {
			t.Fatalf("the DOM Chromium built lacks %q:\n%.2000s", want, dom)
		}
	}
	shot := filepath.Join(t.TempDir(), "overview.png")
	chromium(t, "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars", target)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a plausible PNG (%d bytes)", len(png))
	}
	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join("..", "..", "..", "docs", "overview.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// chromium runs headless Chromium with a throw-away profile and returns its
// standard output.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	// A hung browser must not hang the suite: it is killed after a while.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, chromiumPath, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}
