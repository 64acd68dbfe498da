package console

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/httpapi"
	"github.com/custody/custody/adapters/driving/jobs"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/adapters/tools/demo"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/pending"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const adminToken = "admin-token-for-console-tests-0123"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a settable clock shared by the commands, the API and the
// console.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// trackedLog remembers the highest position appended through it, so a
// test can wait until the projections have applied everything.
type trackedLog struct {
	eventlog.EventLog
	mu  sync.Mutex
	max events.Position
}

func (l *trackedLog) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	res, err := l.EventLog.Append(ctx, stream, expected, evs...)
	l.mu.Lock()
	for _, r := range res.Events {
		if l.max.Less(r.Position) {
			l.max = r.Position
		}
	}
	l.mu.Unlock()
	return res, err
}

func (l *trackedLog) last() events.Position { l.mu.Lock(); defer l.mu.Unlock(); return l.max }

// harness is the API with the console mounted, over a fresh database, the
// real PostgreSQL event log, the real command handler and a running
// projector: what custody serve runs.
type harness struct {
	t      testing.TB
	pool   *pgxpool.Pool
	log    *trackedLog
	cmds   *commands.Handler
	api    *httpapi.Server
	ts     *httptest.Server
	runner *projections.Runner
	clock  *clock
	store  *pgstore.Store
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{httpapi.Migrate, projections.Migrate, pgstore.Migrate} {
		if err := m(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	master := make([]byte, 32)
	rand.Read(master)
	kr, err := pii.NewKeyring(master, pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: kr, PollInterval: 20 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	log := &trackedLog{EventLog: store}
	clk := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	cmds, err := commands.New(commands.Options{Log: log, Eraser: store, Settings: &commands.LogSettings{Log: log}, Clock: clk, Pending: pending.Handovers{Pool: pool}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Options{Pool: pool, Commands: cmds, Log: log, AdminToken: adminToken, Now: clk.Now, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	cons, err := New(Options{Auth: api, Commands: cmds, Log: log, Projections: pool, SessionKey: key, Now: clk.Now, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(Prefix, cons)
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)
	runner, err := projections.NewRunner(pool, log, projections.Options{BatchSize: 1000, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runner.Run(rctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &harness{t: t, pool: pool, log: log, cmds: cmds, api: api, ts: ts, runner: runner, clock: clk, store: store}
}

// projected waits until the projections have applied every event appended
// so far.
func (h *harness) projected() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := h.runner.WaitFor(ctx, h.log.last()); err != nil {
		h.t.Fatalf("projections did not catch up: %v", err)
	}
}

// seedDemo seeds corp through the API with the demo scenario (as `custody
// demo` does) and settles what is due, as the server's job would.
func (h *harness) seedDemo(corp string) {
	h.t.Helper()
	sum, err := demo.Run(context.Background(), demo.Options{URL: h.ts.URL, Token: adminToken, Corp: corp, Now: h.clock.Now(), Logger: quiet()})
	if err != nil {
		h.t.Fatalf("demo: %v", err)
	}
	if len(sum.Refused) > 0 || len(sum.Unexpected) > 0 {
		h.t.Fatalf("demo: refused %v, unexpected %v", sum.Refused, sum.Unexpected)
	}
	h.projected()
	if _, err := (jobs.Settle{Commands: h.cmds, Pool: h.pool, Now: h.clock.Now}).Once(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.projected()
}

// token creates a corp token.
func (h *harness) token(corp string, o httpapi.TokenOptions) string {
	h.t.Helper()
	_, secret, err := h.api.Tokens().CreateWith(context.Background(), corp, "test", o)
	if err != nil {
		h.t.Fatal(err)
	}
	return secret
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t    testing.TB
	h    *harness
	c    *http.Client
	lang string
}

func (h *harness) browser(lang string) *browser {
	jar := newJar()
	return &browser{t: h.t, h: h, lang: lang, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer with its body.
type page struct {
	status int
	loc    string
	body   string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.h.ts.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, loc: resp.Header.Get("Location"), body: string(raw)}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the first form of p.
func (p page) csrf(t testing.TB) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%.1500s", p.body)
	}
	return m[1]
}

// signIn signs in with token through the form.
func (b *browser) signIn(token string) {
	b.t.Helper()
	lp := b.get("/console/login")
	if lp.status != http.StatusOK {
		b.t.Fatalf("login page: %d", lp.status)
	}
	p := b.do("POST", "/console/login", url.Values{"csrf": {lp.csrf(b.t)}, "token": {token}})
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("sign in: %d %s", p.status, p.body)
	}
}
