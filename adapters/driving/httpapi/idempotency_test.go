package httpapi

import (
	"bytes"
	"net/http"
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
