package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

// checkUnavailable fails unless a is a 503 unavailable JSON error with a
// Retry-After.
func checkUnavailable(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("%s: HTTP %d, want 503: %s", what, a.status, a.body)
	}
	if code := a.errCode(t); code != CodeUnavailable {
		t.Fatalf("%s: code %q", what, code)
	}
	if ra := a.header.Get("Retry-After"); ra != strconv.Itoa(RetryAfterSeconds) {
		t.Fatalf("%s: Retry-After %q", what, ra)
	}
}

// TestOutageAnswers503: while the database refuses connections, commands
// and queries answer 503 unavailable with a Retry-After (not 500
// internal), and a 503 is not stored as an Idempotency-Key's answer: the
// same request succeeds once the database is back.
func TestOutageAnswers503(t *testing.T) {
	h := newHarness(t, harnessOptions{maxConns: 4, noRunner: true})
	b := "/v1/corps/acme"
	h.must(http.StatusCreated, "POST", b+"/staff", testAdminToken, map[string]any{"staff_id": "alice"})

	// Take the database away: no new connections, every open one killed.
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(h.dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	exec := func(sql string) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	ident := pgx.Identifier{db}.Sanitize()
	exec("ALTER DATABASE " + ident + " WITH ALLOW_CONNECTIONS false")
	t.Cleanup(func() { admin.Exec(ctx, "ALTER DATABASE "+ident+" WITH ALLOW_CONNECTIONS true") })
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db); err != nil {
		t.Fatal(err)
	}

	// The admin token needs no database; the first failure may be met by
	// a connection that died under it, the next ones by refused connects.
	for i := range 3 {
		checkUnavailable(t, "command", h.do("POST", b+"/staff", testAdminToken, map[string]any{"staff_id": "bob"}))
		checkUnavailable(t, "query", h.do("GET", b+"/staff/alice", testAdminToken, nil))
		checkUnavailable(t, "command with a key", h.do("POST", b+"/staff", testAdminToken, map[string]any{"staff_id": "carol"},
			"Idempotency-Key", "outage-"+strconv.Itoa(i%2)))
	}

	exec("ALTER DATABASE " + ident + " WITH ALLOW_CONNECTIONS true")
	a := h.must(http.StatusCreated, "POST", b+"/staff", testAdminToken, map[string]any{"staff_id": "carol"}, "Idempotency-Key", "outage-0")
	if a.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the retry replayed a stored answer: %s", a.body)
	}
	// Queries answer again (no projector runs here: not found).
	h.must(http.StatusNotFound, "GET", b+"/staff/alice", testAdminToken, nil)
}

// TestRetryAfterLostAnswerIsSafe: an append that was stored but whose answer
// was lost answers 503; the retry with the same Idempotency-Key records
// nothing new and answers the command's success (replayed).
func TestRetryAfterLostAnswerIsSafe(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	b := "/v1/corps/acme"
	tok := h.token("acme")
	h.log.loseAnswers.Store(true)
	checkUnavailable(t, "lost answer", h.do("POST", b+"/staff", tok, map[string]any{"staff_id": "alice"}, "Idempotency-Key", "k1"))
	h.log.loseAnswers.Store(false)
	before := h.head()
	var res CommandResult
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice"}, "Idempotency-Key", "k1").json(t, &res)
	if !res.Replayed || len(res.Events) != 1 {
		t.Fatalf("retry: %+v", res)
	}
	if h.head() != before {
		t.Fatal("the retry recorded something new")
	}
	// The answer is stored now: a third try replays it.
	a := h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice"}, "Idempotency-Key", "k1")
	if a.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("the success was not stored")
	}
}

// TestConflictIsNotStored: a 409 conflict (the retries on concurrent
// changes ran out) is not stored as the key's answer: the same request
// with the same key runs again and succeeds.
func TestConflictIsNotStored(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	b := "/v1/corps/acme"
	tok := h.token("acme")
	h.log.conflicts.Store(1 << 20)
	a := h.do("POST", b+"/staff", tok, map[string]any{"staff_id": "alice"}, "Idempotency-Key", "k1")
	if a.status != http.StatusConflict || a.errCode(t) != CodeConflict {
		t.Fatalf("HTTP %d: %s", a.status, a.body)
	}
	h.log.conflicts.Store(0)
	a = h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice"}, "Idempotency-Key", "k1")
	if a.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the conflict was stored as the key's answer")
	}
}
