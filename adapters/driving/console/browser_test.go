package console

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/custody/custody/adapters/driving/httpapi"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the console's screenshots (1280 and 360 px) to docs/")

// chromiumPath is Debian's chromium, installed by .ci/chromium.sh.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile, speaking lang.
func newBrowser(t *testing.T, lang string) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("chromium not installed at %s (Debian package chromium; .ci/chromium.sh installs it): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", lang), chromedp.Flag("accept-lang", lang), chromedp.WindowSize(1280, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// A hung browser must not hang the suite.
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that answers a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestConsoleInChromium is the flow in real headless Chromium:
// sign in (Chinese, from the browser's language), switch to English, open
// a departed member, select three unassigned customers, hand them over to
// a member, read the outcomes, open a customer's page showing the pending
// handover; another corp's page is refused. Screenshots at 1280 and 360 px
// go to docs/ with -update-screenshots.
func TestConsoleInChromium(t *testing.T) {
	h := newHarness(t)
	h.seedDemo("acme")
	h.seedDemo("other")
	tok := h.token("acme", httpapi.TokenOptions{})
	ctx := newBrowser(t, "zh-CN")
	base := h.ts.URL

	var heading, zone string
	run(t, ctx, "sign in",
		chromedp.Navigate(base+"/console/acme/"),
		chromedp.WaitVisible(chromedp.ID(`token`)),
	)
	heading = get(t, ctx, "read h1", chromedp.Text(chromedp.CSS(`h1`)))
	if heading != "登录" {
		t.Fatalf("the sign-in page in a zh-CN browser says %q", heading)
	}
	shots := map[string][]byte{}
	shoot := func(name string) {
		t.Helper()
		for _, width := range []int64{1280, 360} {
			run(t, ctx, "viewport", chromedp.EmulateViewport(width, 800))
			png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
			if len(png) < 5_000 || string(png[:4]) != "\x89PNG" {
				t.Fatalf("screenshot %s at %d px: %d bytes", name, width, len(png))
			}
			shots["console-"+name+"-"+itoa(width)+".png"] = png
		}
		run(t, ctx, "viewport back", chromedp.EmulateViewport(1280, 900))
	}
	run(t, ctx, "submit the token",
		chromedp.SendKeys(chromedp.ID(`token`), tok),
		chromedp.Click(chromedp.ID(`signin`)),
		chromedp.WaitVisible(chromedp.ID(`headline`)),
	)
	zone = get(t, ctx, "read #zone", chromedp.Text(chromedp.ID(`zone`)))
	heading = get(t, ctx, "read h1", chromedp.Text(chromedp.CSS(`h1`)))
	if heading != "概览" || !strings.Contains(zone, "Asia/Shanghai") {
		t.Fatalf("overview after sign-in: heading %q, zone %q", heading, zone)
	}
	shoot("overview-zh")
	run(t, ctx, "switch to English",
		chromedp.Click(chromedp.ID(`lang`)),
		chromedp.WaitVisible(chromedp.ID(`headline`)),
	)
	heading = get(t, ctx, "read h1", chromedp.Text(chromedp.CSS(`h1`)))
	if heading != "Overview" {
		t.Fatalf("after the switch the heading is %q", heading)
	}
	shoot("overview-en")
	var name string
	run(t, ctx, "open the departed member",
		chromedp.Click(chromedp.ID(`nav-departed`)),
		chromedp.WaitVisible(chromedp.ID(`departed`)),
		chromedp.Click(chromedp.CSS(`a.departed-link[data-id="frank"]`)),
		chromedp.WaitVisible(chromedp.ID(`handover-form`)),
	)
	name = get(t, ctx, "read #staff-name", chromedp.Text(chromedp.ID(`staff-name`)))
	if name != "Zhao Lei (frank)" {
		t.Fatalf("departed member's page names %q", name)
	}
	var picked []string
	run(t, ctx, "select three customers",
		chromedp.SetValue(chromedp.ID(`to`), "grace"),
	)
	picked = get(t, ctx, "evaluate", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#customers input[name=customer]')).slice(0,3).map(function(b){b.click();return b.value})`))
	if len(picked) != 3 {
		t.Fatalf("selected %v", picked)
	}
	shoot("departed")
	var outcomes string
	run(t, ctx, "hand them over",
		chromedp.Click(chromedp.ID(`handover-submit`)),
		chromedp.WaitVisible(chromedp.ID(`outcomes`)),
	)
	outcomes = get(t, ctx, "read #outcomes", chromedp.Text(chromedp.ID(`outcomes`)))
	if strings.Count(outcomes, "pending: the customer may refuse until") != 3 {
		t.Fatalf("outcomes:\n%s", outcomes)
	}
	for _, id := range picked {
		if !strings.Contains(outcomes, id) {
			t.Fatalf("outcomes lack %s:\n%s", id, outcomes)
		}
	}
	shoot("outcomes")
	h.projected()
	var pending string
	run(t, ctx, "open a customer",
		chromedp.Click(chromedp.CSS(`#outcomes li a`)),
		chromedp.WaitVisible(chromedp.ID(`pending`)),
	)
	pending = get(t, ctx, "read #pending", chromedp.Text(chromedp.ID(`pending`)))
	if !strings.Contains(pending, "Sun Li (grace)") || !strings.Contains(pending, "Zhao Lei (frank)") {
		t.Fatalf("customer page's pending handover: %q", pending)
	}
	shoot("customer")
	var body string
	run(t, ctx, "another corp",
		chromedp.Navigate(base+"/console/other/"),
		chromedp.WaitVisible(chromedp.ID(`flash`)),
	)
	body = get(t, ctx, "read #flash", chromedp.Text(chromedp.ID(`flash`)))
	if !strings.Contains(body, "may not open that corp") {
		t.Fatalf("another corp's page: %q", body)
	}
	// The same refusal, as a status code.
	b := h.browser("en")
	b.signIn(tok)
	if p := b.get("/console/other/"); p.status != http.StatusForbidden {
		t.Fatalf("another corp's page: %d", p.status)
	}
	if *updateScreenshots {
		for n, png := range shots {
			if err := os.WriteFile(filepath.Join("..", "..", "..", "docs", n), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
