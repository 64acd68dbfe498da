package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// samplePath fills a route's wildcards: corp as given, every other id "x1".
func samplePath(rt route, corp string) string {
	p := rt.path
	for _, name := range rt.pathParams() {
		v := "x1"
		if name == "corp" {
			v = corp
		}
		p = strings.Replace(p, "{"+name+"}", v, 1)
	}
	return p
}

// TestTenantIsolation proves, on every registered route, that a token of
// corp A can neither read nor change corp B: each answer is 403 forbidden,
// no event is recorded, and corp B's data is not in the answer. The same
// requests with B's own token get past the tenant check, so the test fails
// if a route stops checking.
func TestTenantIsolation(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tokA := h.token("corpa")
	tokB := h.token("corpb")
	// Corp B has data under the ids the sample paths use.
	b := "/v1/corps/corpb"
	h.must(http.StatusCreated, "POST", b+"/staff", tokB, map[string]any{"staff_id": "x1", "name": "secret-name-of-b"})
	h.must(http.StatusCreated, "POST", b+"/customers/x1/relations", tokB, map[string]any{"staff_id": "x1", "initiator": "staff", "remark": "secret-remark-of-b"})

	if len(h.srv.routes) < 25 {
		t.Fatalf("only %d routes registered", len(h.srv.routes))
	}
	for _, rt := range h.srv.routes {
		t.Run(rt.op, func(t *testing.T) {
			before := h.head()
			var body any
			if rt.write {
				body = `{}`
			}
			a := h.do(rt.method, samplePath(rt, "corpb"), tokA, body)
			if a.status != http.StatusForbidden || a.errCode(t) != CodeForbidden {
				t.Fatalf("%s with corp A's token on corp B: HTTP %d %s, want 403 forbidden", rt.pattern(), a.status, a.body)
			}
			if strings.Contains(string(a.body), "secret") {
				t.Fatalf("%s leaked corp B's data: %s", rt.pattern(), a.body)
			}
			if h.head() != before {
				t.Fatalf("%s with corp A's token recorded events in the log", rt.pattern())
			}
			// Idempotency-Key replay must not cross corps either.
			a = h.do(rt.method, samplePath(rt, "corpb"), tokA, body, "Idempotency-Key", "k-"+rt.op)
			if a.status != http.StatusForbidden {
				t.Fatalf("%s with an Idempotency-Key: HTTP %d, want 403", rt.pattern(), a.status)
			}
			// Control: B's own token passes the tenant check on the same
			// request (it may still be refused for other reasons).
			// Admin routes: B's token is refused too, the admin's passes.
			own := tokB
			if rt.admin {
				if a = h.do(rt.method, samplePath(rt, "corpb"), tokB, body); a.status != http.StatusForbidden {
					t.Fatalf("%s is the admin's, yet corp B's token gets HTTP %d %s", rt.pattern(), a.status, a.body)
				}
				own = testAdminToken
			}
			a = h.do(rt.method, samplePath(rt, "corpb"), own, body)
			if a.status == http.StatusForbidden || a.status == http.StatusUnauthorized {
				t.Fatalf("%s with corp B's own token: HTTP %d %s", rt.pattern(), a.status, a.body)
			}
			if rt.admin && (a.status != http.StatusOK || strings.Contains(string(a.body), "secret")) {
				t.Fatalf("%s with the admin token: HTTP %d %s", rt.pattern(), a.status, a.body)
			}
		})
	}
	// The admin token is valid for every corp.
	h.must(http.StatusOK, "GET", b+"/overview", testAdminToken, nil)
}

// TestTokens covers the token store: hashed at rest, revocation effective
// on the next request, revoked and unknown tokens alike 401.
func TestTokens(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	ctx := t.Context()
	tok, secret, err := h.srv.Tokens().Create(ctx, "acme", "ci")
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := h.pool.QueryRow(ctx, `SELECT token_hash FROM http_tokens WHERE id = $1`, tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), secret) || len(stored) != 32 {
		t.Fatalf("token stored as %x, want its sha256 only", stored)
	}
	h.must(http.StatusOK, "GET", "/v1/corps/acme/overview", secret, nil)
	if err := h.srv.Tokens().Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if code := h.must(http.StatusUnauthorized, "GET", "/v1/corps/acme/overview", secret, nil).errCode(t); code != CodeUnauthenticated {
		t.Fatalf("revoked token: code %q", code)
	}
	if err := h.srv.Tokens().Revoke(ctx, tok.ID); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if err := h.srv.Tokens().Revoke(ctx, "tok_unknown"); err == nil {
		t.Fatal("revoking an unknown token succeeded")
	}
	if _, _, err := h.srv.Tokens().Create(ctx, "bad-corp", ""); err == nil {
		t.Fatal("token for an invalid corp id created")
	}
	list, err := h.srv.Tokens().List(ctx, "acme")
	if err != nil || len(list) != 1 || list[0].RevokedAt == nil {
		t.Fatalf("list: %+v, %v", list, err)
	}
}
