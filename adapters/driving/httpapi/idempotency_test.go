package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/custody/custody/adapters/testkit/poll"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIdempotencyKey: the same key with the same request answers the same
// bytes and records nothing new; the same key with another request is
// refused; the key is scoped to its corp.
func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	body := `{"staff_id":"alice","name":"Li Na"}`
	first := h.must(http.StatusCreated, "POST", "/v1/corps/acme/staff", tok, body, "Idempotency-Key", "join-alice")
	head := h.head()
	second := h.must(http.StatusCreated, "POST", "/v1/corps/acme/staff", tok, body, "Idempotency-Key", "join-alice")
	if !bytes.Equal(first.body, second.body) {
		t.Fatalf("replayed answer differs:\n%s\n%s", first.body, second.body)
	}
	if second.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("replay not marked")
	}
	if h.head() != head {
		t.Fatal("replay recorded events")
	}
	// A domain refusal is an answer too: replayed alike.
	r1 := h.must(http.StatusConflict, "POST", "/v1/corps/acme/staff", tok, body, "Idempotency-Key", "join-alice-again")
	r2 := h.must(http.StatusConflict, "POST", "/v1/corps/acme/staff", tok, body, "Idempotency-Key", "join-alice-again")
	if !bytes.Equal(r1.body, r2.body) {
		t.Fatal("replayed refusal differs")
	}
	// Same key, different request.
	a := h.must(http.StatusUnprocessableEntity, "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"bob"}`, "Idempotency-Key", "join-alice")
	if a.errCode(t) != CodeIdempotencyReused {
		t.Fatalf("reused key: %s", a.body)
	}
	// Pruned answers: a retry runs the command again under the same command
	// id and records nothing new.
	if n, err := h.srv.PruneIdempotency(t.Context(), -time.Hour); err != nil || n < 2 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	var res CommandResult
	h.must(http.StatusCreated, "POST", "/v1/corps/acme/staff", tok, body, "Idempotency-Key", "join-alice").json(t, &res)
	if !res.Replayed || h.head() != head {
		t.Fatalf("retry after pruning: %+v, head moved %v", res, h.head() != head)
	}
	// Same key in another corp is another request.
	h.must(http.StatusCreated, "POST", "/v1/corps/other/staff", testAdminToken, body, "Idempotency-Key", "join-alice")
	if h.head() == head {
		t.Fatal("another corp's request with the same key recorded nothing")
	}
}

// TestIdempotencyConcurrent: many concurrent requests with one key record
// one set of events and all answer the same.
func TestIdempotencyConcurrent(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	h.must(http.StatusCreated, "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"alice"}`)
	before := h.head()
	const n = 16
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = h.do("POST", "/v1/corps/acme/customers/c1/relations", tok,
				`{"staff_id":"alice","initiator":"customer","remark":"r"}`, "Idempotency-Key", "add-c1")
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.status != http.StatusCreated {
			t.Fatalf("request %d: HTTP %d %s", i, a.status, a.body)
		}
	}
	recs := h.readSince(before.appended)
	var started int
	for _, r := range recs {
		if r.Type == "customer.relation_started" {
			started++
		}
	}
	if started != 1 {
		t.Fatalf("%d relation_started events for one Idempotency-Key", started)
	}
	for i := 1; i < n; i++ {
		var a, b CommandResult
		answers[0].json(t, &a)
		answers[i].json(t, &b)
		if len(a.Events) != len(b.Events) || (len(a.Events) > 0 && a.Events[0].ID != b.Events[0].ID) {
			t.Fatalf("answers differ: %s vs %s", answers[0].body, answers[i].body)
		}
	}
}

// TestIdempotencySavesGrouped: saves that arrive while a group is being
// written are stored together, in one transaction, and each caller gets
// its own outcome: its answer stored, the answer a request with the same
// key stored first (in an earlier group or earlier in its own), or the
// refusal of a key stored for another request.
func TestIdempotencySavesGrouped(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	ctx := t.Context()
	s := h.srv.idem
	hash := func(i int) []byte { return requestHash("POST", fmt.Sprintf("/v1/corps/acme/r%d", i), nil) }
	// An answer stored before, for another request than the one that comes.
	if _, err := s.save(ctx, "acme", "taken", hash(-1), storedAnswer{status: 201, body: []byte(`{"old":true}`)}); err != nil {
		t.Fatal(err)
	}
	// Hold the table so that the first save's group waits, and every other
	// save queues behind it.
	tx, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE http_idempotency IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	const n = 40
	type outcome struct {
		a   storedAnswer
		err error
	}
	out := make([]outcome, n+2)
	var wg sync.WaitGroup
	save := func(i int, key string, h []byte) {
		defer wg.Done()
		a, err := s.save(ctx, "acme", key, h, storedAnswer{status: 201, body: fmt.Appendf(nil, `{"i":%d}`, i)})
		out[i] = outcome{a, err}
	}
	wg.Add(1)
	go save(0, "k-0", hash(0))
	// The first group (k-0 alone: nothing else is saved yet) waits for
	// the table. (The store's own state would not tell: the loop of the
	// save above may still be running with an empty queue.)
	poll.Until(t, "the first group waits for the table", func() bool { return waitingForTable(t, h, 1) })
	for i := 1; i < n; i++ {
		wg.Add(1)
		go save(i, fmt.Sprintf("k-%d", i), hash(i))
	}
	// The same key as save 1, the same request: whichever of the two
	// queued first is stored, and both answer it.
	wg.Add(2)
	go save(n, "k-1", hash(1))
	// A key stored before for another request: refused.
	go save(n+1, "taken", hash(n+1))
	poll.Until(t, "every other save queued", func() bool { return s.queued() == n+1 })
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range n {
		if i != 1 && (out[i].err != nil || string(out[i].a.body) != fmt.Sprintf(`{"i":%d}`, i)) {
			t.Fatalf("save %d: %s, %v", i, out[i].a.body, out[i].err)
		}
	}
	var stored []byte
	if err := h.pool.QueryRow(ctx, `SELECT body FROM http_idempotency WHERE corp_id = 'acme' AND key = 'k-1'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, n} {
		if out[i].err != nil || !bytes.Equal(out[i].a.body, stored) {
			t.Fatalf("save %d of k-1: %s, %v; want the stored answer %s", i, out[i].a.body, out[i].err, stored)
		}
	}
	if s := string(stored); s != `{"i":1}` && s != fmt.Sprintf(`{"i":%d}`, n) {
		t.Fatalf("k-1 stored %s, neither save's answer", s)
	}
	if !errors.Is(out[n+1].err, errKeyReused) {
		t.Fatalf("save of a key stored for another request: %s, %v", out[n+1].a.body, out[n+1].err)
	}
	// Rows of one INSERT share their transaction id: k-0 alone, then the
	// rest in one group.
	var rows, txs int
	if err := h.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM http_idempotency WHERE key LIKE 'k-%'`).Scan(&rows, &txs); err != nil {
		t.Fatal(err)
	}
	if rows != n || txs != 2 {
		t.Fatalf("%d answers stored in %d transactions; want %d in 2", rows, txs, n)
	}
}

// waitingForTable reports whether n statements wait for a lock on
// http_idempotency.
func waitingForTable(t *testing.T, h *harness, n int) bool {
	t.Helper()
	var waiting int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks
		WHERE NOT granted AND relation = 'http_idempotency'::regclass`).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	return waiting == n
}

// queued is how many saves wait for a group.
func (s *idempotencyStore) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// TestIdempotencySaveGroupFails: a group whose INSERT fails fails each of
// its saves with the error, stores nothing, and the saves after it are
// grouped and stored as usual.
func TestIdempotencySaveGroupFails(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	ctx := t.Context()
	s := h.srv.idem
	hash := requestHash("POST", "/v1/corps/acme/staff", nil)
	if _, err := h.pool.Exec(ctx, `ALTER TABLE http_idempotency RENAME TO http_idempotency_away`); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.save(ctx, "acme", fmt.Sprintf("f-%d", i), hash, storedAnswer{status: 201, body: []byte(`{}`)})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "idempotency save") {
			t.Fatalf("save %d with the table gone: %v", i, err)
		}
	}
	if _, err := h.pool.Exec(ctx, `ALTER TABLE http_idempotency_away RENAME TO http_idempotency`); err != nil {
		t.Fatal(err)
	}
	if a, err := s.save(ctx, "acme", "f-0", hash, storedAnswer{status: 201, body: []byte(`{"again":true}`)}); err != nil || string(a.body) != `{"again":true}` {
		t.Fatalf("save after the failed group: %s, %v", a.body, err)
	}
	var rows int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM http_idempotency WHERE key LIKE 'f-%'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Fatalf("%d answers stored, want 1 (none of the failed group)", rows)
	}
}
