package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/standin"
)

// WeCom's sample corp (WECOM.md); the secret is the app's.
const (
	corpID = "wx5823bf96d3bd56c7"
	secret = "s3cret-app-secret_0123456789abcdefghij"
)

// fakeClock is the clock of the stand-in, its corp and the client: Sleep
// advances it instead of waiting, and records what was asked.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// env is one stand-in corp served over real HTTP.
type env struct {
	t    *testing.T
	clk  *fakeClock
	corp *standin.Corp
	srv  *standin.APIServer
	http *httptest.Server

	mu     sync.Mutex
	tokens map[string]bool // every access_token the server saw
	// fail, when set, answers instead of the stand-in (HTTP failures).
	fail func(w http.ResponseWriter, r *http.Request) bool
}

func newEnv(t *testing.T, staff ...string) *env {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	corp, err := standin.New(standin.Options{CorpID: corpID, Token: "QDG6eK",
		EncodingAESKey: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range staff {
		if err := corp.AddStaff(s, "name of "+s); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, clk: clk, corp: corp, srv: standin.NewAPIServer(standin.APIOptions{Now: clk.Now}), tokens: map[string]bool{}}
	e.srv.AddCorp(corp, secret)
	e.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		if tok := r.URL.Query().Get("access_token"); tok != "" {
			e.tokens[tok] = true
		}
		fail := e.fail
		e.mu.Unlock()
		if fail != nil && fail(w, r) {
			return
		}
		e.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(e.http.Close)
	return e
}

// options are fast and generous: a test narrows what it tests.
func (e *env) options() api.Options {
	return api.Options{BaseURL: e.http.URL, Now: e.clk.Now, Sleep: e.clk.Sleep, RatePerMinute: 1_000_000, Burst: 1_000,
		CallTimeout: 5 * time.Second}
}

func (e *env) client(mod ...func(*api.Options)) *api.Client {
	e.t.Helper()
	o := e.options()
	for _, m := range mod {
		m(&o)
	}
	c, err := api.New(corpID, secret, o)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) seenTokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for t := range e.tokens {
		out = append(out, t)
	}
	return out
}

func (e *env) setFail(f func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail = f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
