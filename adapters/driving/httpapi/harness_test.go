package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/pending"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testAdminToken = "admin-token-for-tests-0123456789"

// testClock is a settable clock shared by the commands and the server.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// harness is a server over a fresh database, a real event log, the real
// command handler and a running projector.
type harness struct {
	t      testing.TB
	pool   *pgxpool.Pool
	log    *trackedLog
	cmds   *commands.Handler
	srv    *Server
	ts     *httptest.Server
	runner *projections.Runner
	clock  *testClock
	// dsn is the test database's, when harnessOptions.maxConns is set.
	dsn string
}

type harnessOptions struct {
	maxBody int64
	// maxConns sizes the pool (default pgxpool's, max(4, CPUs)).
	maxConns  int
	noRunner  bool
	logWriter io.Writer
	// groupTransfers, when set, carries every corp's group-owner changes
	// out "in WeCom" (corp.Settings.HandoversInWeCom).
	groupTransfers commands.GroupTransfers
}

// inWeComSettings marks every corp as connected with an app secret.
type inWeComSettings struct{}

func (inWeComSettings) Settings(ctx context.Context, corpID string) (corp.Settings, error) {
	s, err := commands.DefaultSettings{}.Settings(ctx, corpID)
	s.HandoversInWeCom = true
	return s, err
}

func newHarness(t testing.TB, ho harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()
	var pool *pgxpool.Pool
	var dsn string
	if ho.maxConns > 0 {
		var err error
		dsn = pgtest.NewDatabase(t)
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = int32(ho.maxConns)
		if pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
	} else {
		pool = pgtest.NewPool(t)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := projections.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for _, m := range []func(context.Context, *pgxpool.Pool) error{connection.Migrate, inbox.Migrate} {
		if err := m(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	clock := &testClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	log := &trackedLog{EventLog: newTestLog(t, pool)}
	// Settings as production reads them: from each corp's settings stream.
	var settings commands.SettingsSource = &commands.LogSettings{Log: log}
	if ho.groupTransfers != nil {
		settings = inWeComSettings{}
	}
	cmds, err := commands.New(commands.Options{
		Log: log, Eraser: log.EventLog.(eventlog.Eraser), Settings: settings, Clock: clock,
		Pending: pending.Handovers{Pool: pool}, GroupTransfers: ho.groupTransfers,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Request lines are debug records: captured when a test reads the log,
	// skipped otherwise (as at the default info level in production).
	w, level := ho.logWriter, slog.LevelDebug
	if w == nil {
		w, level = io.Discard, slog.LevelInfo
	}
	srv, err := New(Options{
		Pool: pool, Commands: cmds, Log: log, AdminToken: testAdminToken, Now: clock.Now,
		MaxBodyBytes: ho.maxBody, Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})),
		WeComConnections: connection.NewStore(pool, pii.NewMemoryKeyring()), WeComInbox: inbox.New(pool),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every answer has the type the OpenAPI document names.
	responseCheck = func(rt route, resp any) {
		if got, want := reflect.TypeOf(resp), reflect.TypeOf(rt.response); got != want {
			t.Errorf("%s answered a %v, documented as %v", rt.pattern(), got, want)
		}
	}
	t.Cleanup(func() { responseCheck = nil })
	ts := httptest.NewUnstartedServer(srv)
	ts.Listener = Listener(ts.Listener)
	ts.Start()
	t.Cleanup(ts.Close)
	h := &harness{t: t, pool: pool, log: log, cmds: cmds, srv: srv, ts: ts, clock: clock, dsn: dsn}
	if !ho.noRunner {
		h.runner, err = projections.NewRunner(pool, log, projections.Options{BatchSize: 500, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { h.runner.Run(rctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return h
}

// newTestLog is the event log the tests run on: the PostgreSQL log in the
// test's database, sealing personal data with keys in the same database.
func newTestLog(t testing.TB, pool *pgxpool.Pool) eventlog.EventLog {
	t.Helper()
	ctx := context.Background()
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	kr, err := pii.NewKeyring(master, pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: kr, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// answer is a decoded HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// errCode returns the error code of an error answer, failing the test when
// the body is not the error shape.
func (a answer) errCode(t testing.TB) string {
	t.Helper()
	var eb struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(a.body, &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
		t.Fatalf("HTTP %d answer is not {\"error\":{\"code\",\"message\"}}: %q", a.status, a.body)
	}
	return eb.Error.Code
}

// do sends a request; token "" sends none; body may be a string, []byte or
// a value to encode.
func (h *harness) do(method, path, token string, body any, hdr ...string) answer {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// must sends a request and fails the test unless it answers want.
func (h *harness) must(want int, method, path, token string, body any, hdr ...string) answer {
	h.t.Helper()
	a := h.do(method, path, token, body, hdr...)
	if a.status != want {
		h.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, a.status, want, a.body)
	}
	return a
}

// token creates a corp-bound token.
func (h *harness) token(corp string) string {
	h.t.Helper()
	_, secret, err := h.srv.Tokens().Create(context.Background(), corp, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	return secret
}

// logState is the log's head together with the highest position ever
// appended (the head may trail a just-committed event): when neither moved,
// nothing was written.
type logState struct{ head, appended events.Position }

// head is the log's state once its Head has caught up with every event
// appended so far: the Head may trail a just-committed append while
// another transaction (the projector's, the keeper's) is open, and a test
// comparing states must not mistake that catching up for an append.
func (h *harness) head() logState {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		appended := h.log.last()
		p, err := h.log.Head(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if !p.Less(appended) {
			return logState{head: p, appended: appended}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the log's head %v stays behind the last append %v", p, appended)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// projected waits until the projections have applied every event appended
// so far. (The log's Head may trail a just-committed event while another
// transaction is open, so the wait is on the appended positions.)
func (h *harness) projected() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.runner.WaitFor(ctx, h.log.last()); err != nil {
		h.t.Fatalf("projections did not catch up: %v", err)
	}
}

// trackedLog remembers the highest position appended through it.
type trackedLog struct {
	eventlog.EventLog
	mu  sync.Mutex
	max events.Position
	// loseAnswers makes every Append store its events and then fail with
	// eventlog.ErrUnavailable, as when the connection drops after the
	// commit and before the answer arrives.
	loseAnswers atomic.Bool
	// conflicts, while positive, is how many more Appends fail with a
	// conflict without writing.
	conflicts atomic.Int64
}

func (l *trackedLog) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	if l.conflicts.Add(-1) >= 0 {
		return eventlog.AppendResult{}, &eventlog.ConflictError{Stream: stream, Expected: expected, Actual: 99}
	}
	l.conflicts.Store(0)
	res, err := l.EventLog.Append(ctx, stream, expected, evs...)
	if err == nil && l.loseAnswers.Load() {
		err = fmt.Errorf("%w: connection lost after the commit", eventlog.ErrUnavailable)
	}
	l.mu.Lock()
	for _, r := range res.Events {
		if l.max.Less(r.Position) {
			l.max = r.Position
		}
	}
	l.mu.Unlock()
	return res, err
}

func (l *trackedLog) last() events.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.max
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// readSince returns every event appended after from, waiting until the
// log's reads show all of them.
func (h *harness) readSince(from events.Position) []events.Recorded {
	h.t.Helper()
	want := h.log.last()
	deadline := time.Now().Add(time.Minute)
	for {
		recs, err := h.log.ReadAll(context.Background(), from, 10000)
		if err != nil {
			h.t.Fatal(err)
		}
		if n := len(recs); n > 0 && !recs[n-1].Position.Less(want) || want == from {
			return recs
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("events up to %v not readable", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
