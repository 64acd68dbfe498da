package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/custody/custody/events/eventlog"
)

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBadInput sends malformed, oversized, mistyped and unauthorised
// requests: each gets its 4xx JSON error and the log's head does not move.
func TestBadInput(t *testing.T) {
	logs := &syncBuffer{}
	h := newHarness(t, harnessOptions{maxBody: 2048, noRunner: true, logWriter: logs})
	tok := h.token("acme")
	other := h.token("other")
	h.must(http.StatusCreated, "POST", "/v1/corps/acme/staff", tok, map[string]any{"staff_id": "alice"})
	before := h.head()

	const pii = "SECRET-PII-7731"
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("c%d", i)
	}
	big := `{"staff_id":"bob","name":"` + strings.Repeat("x", 4096) + `"}`
	cases := []struct {
		name, method, path, token string
		body                      any
		hdr                       []string
		status                    int
		code                      string
	}{
		{"malformed JSON", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":`, nil, 400, CodeBadRequest},
		{"not JSON at all", "POST", "/v1/corps/acme/staff", tok, `staff_id=bob`, nil, 400, CodeBadRequest},
		{"array body", "POST", "/v1/corps/acme/staff", tok, `[]`, nil, 400, CodeBadRequest},
		{"empty body", "POST", "/v1/corps/acme/staff", tok, ``, nil, 400, CodeBadRequest},
		{"trailing data", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"bob"} {}`, nil, 400, CodeBadRequest},
		{"unknown field", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"bob","nickname":"` + pii + `"}`, nil, 400, CodeUnknownField},
		{"wrong type", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":42}`, nil, 400, CodeBadRequest},
		{"bad time", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"bob","occurred_at":"yesterday"}`, nil, 400, CodeBadRequest},
		{"over the limit", "POST", "/v1/corps/acme/staff", tok, big, nil, 413, CodeBodyTooLarge},
		{"wrong content type", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"bob"}`, []string{"Content-Type", "text/plain"}, 415, CodeUnsupportedMedia},
		{"empty id in body", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":""}`, nil, 400, CodeInvalidID},
		{"bad id in body", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"bob smith"}`, nil, 400, CodeInvalidID},
		{"bad id in path", "POST", "/v1/corps/acme/customers/c%201/relations", tok, `{"staff_id":"alice","initiator":"staff"}`, nil, 400, CodeInvalidID},
		{"long id in path", "GET", "/v1/corps/acme/customers/" + strings.Repeat("c", 200), tok, nil, nil, 400, CodeInvalidID},
		{"bad corp id", "GET", "/v1/corps/ac-me/overview", testAdminToken, nil, nil, 400, CodeInvalidID},
		{"bad id in list", "POST", "/v1/corps/acme/handovers", tok, map[string]any{"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob", "customer_ids": []string{"ok", "no/t"}}, nil, 400, CodeInvalidID},
		{"101 customers", "POST", "/v1/corps/acme/handovers", tok, map[string]any{"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob", "customer_ids": many}, nil, 400, CodeInvalidArgument},
		{"unknown initiator", "POST", "/v1/corps/acme/customers/c1/relations", tok, `{"staff_id":"alice","initiator":"martian","remark":"` + pii + `"}`, nil, 400, CodeInvalidArgument},
		{"unknown end", "POST", "/v1/corps/acme/customers/c1/relations/alice/end", tok, `{"by":"nobody"}`, nil, 400, CodeInvalidArgument},
		{"bad limit", "GET", "/v1/corps/acme/handovers?limit=0", tok, nil, nil, 400, CodeBadRequest},
		{"bad status", "GET", "/v1/corps/acme/handovers?status=lost", tok, nil, nil, 400, CodeBadRequest},
		{"bad as-of", "GET", "/v1/corps/acme/customers/c1/owners?at=tuesday", tok, nil, nil, 400, CodeBadRequest},
		{"bad idempotency key", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"bob"}`, []string{"Idempotency-Key", strings.Repeat("k", 300)}, 400, CodeBadRequest},
		{"wrong corp", "POST", "/v1/corps/acme/staff", other, `{"staff_id":"bob"}`, nil, 403, CodeForbidden},
		{"wrong token", "POST", "/v1/corps/acme/staff", "cust_not-a-real-token", `{"staff_id":"bob"}`, nil, 401, CodeUnauthenticated},
		{"admin-like token", "POST", "/v1/corps/acme/staff", testAdminToken + "x", `{"staff_id":"bob"}`, nil, 401, CodeUnauthenticated},
		{"no token", "POST", "/v1/corps/acme/staff", "", `{"staff_id":"bob"}`, nil, 401, CodeUnauthenticated},
		{"basic auth", "POST", "/v1/corps/acme/staff", "", `{"staff_id":"bob"}`, []string{"Authorization", "Basic YWxpY2U6c2VjcmV0"}, 401, CodeUnauthenticated},
		{"unknown route", "GET", "/v1/corps/acme/nothing-here", tok, nil, nil, 404, CodeRouteNotFound},
		{"wrong method", "DELETE", "/v1/corps/acme/staff", tok, nil, nil, 405, CodeMethodNotAllowed},
		{"duplicate staff", "POST", "/v1/corps/acme/staff", tok, `{"staff_id":"alice"}`, nil, 409, "staff_already_joined"},
		{"unknown staff departs", "POST", "/v1/corps/acme/staff/nobody/departure", tok, `{}`, nil, 404, "staff_not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.do(c.method, c.path, c.token, c.body, c.hdr...)
			if a.status != c.status {
				t.Fatalf("HTTP %d, want %d: %s", a.status, c.status, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if code := a.errCode(t); code != c.code {
				t.Fatalf("code %q, want %q (%s)", code, c.code, a.body)
			}
			if strings.Contains(string(a.body), pii) {
				t.Fatalf("the answer echoes personal data: %s", a.body)
			}
			if h.head() != before {
				t.Fatalf("the log's head moved from %v to %v", before, h.head())
			}
		})
	}
	if strings.Contains(logs.String(), pii) {
		t.Fatalf("personal data in the server's log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "route=\"POST /v1/corps/{corp}/staff\"") {
		t.Fatalf("request lines do not name the route pattern:\n%s", logs.String())
	}
}

// FuzzDecodeRequests feeds arbitrary bytes to the strict decoder of every
// command's request type: it never panics, and every failure is a 4xx API
// error with a stable code.
func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"staff_id":"alice"}`, `{"staff_id":"a","name":"\u00e9"}`, `{"occurred_at":"2026-01-02T15:04:05Z"}`,
		`{"occurred_at":"2026-13-02"}`, `{"customer_ids":["a","b"]}`, `{"tags":[1,2]}`, `{"capacity":1e400}`,
		`[]`, `null`, `"x"`, `{"a":1}`, `{"staff_id":"a"}{}`, `{"staff_id":"a"`, ``, "\xff\xfe", `{"phones":["1",null]}`,
		`{"by":"customer","occurred_at":null}`, `{"as_of":"2026-01-02T15:04:05.999999999+08:00"}`,
		`{"remark":"\u0000"}`, `{"remark":"\ud800"}`, `{"remark":"\ud83d\ude00"}`, "{\"remark\":\"\xff\"}",
		`{"capacity":1,"capacity":2}`, `{"Capacity":1}`, `{"capacity":null}`, `null`, `{"phones":[null]}`,
		`{"occurred_at":"0001-01-01T00:00:00Z"}`, `{"name":"a\r\n"}`, `{"tags":["\uffff"]}`,
	} {
		f.Add([]byte(seed))
	}
	routes := apiRoutes()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, rt := range routes {
			if rt.request == nil {
				continue
			}
			v := newOf(rt.request)
			err := decodeStrict(b, v)
			if err == nil {
				// Whatever was accepted is one valid JSON object whose
				// every string follows the text rule.
				if !utf8.Valid(b) || !json.Valid(b) {
					t.Fatalf("%s: accepted %q", rt.op, b)
				}
				if p := textProblemIn(reflect.ValueOf(v).Elem()); p != "" {
					t.Fatalf("%s: accepted %q with a string that %s", rt.op, b, p)
				}
				continue
			}
			e := errorOf(err)
			if e.status < 400 || e.status > 499 || e.code == "" || e.code == CodeInternal {
				t.Fatalf("%s: decode %q: %d %s", rt.op, b, e.status, e.code)
			}
		}
	})
}

// FuzzQueryDecoders feeds arbitrary strings to the decoders of path and
// query input (ids, page sizes, times, Idempotency-Keys): they never panic
// and refuse with a 4xx API error.
func FuzzQueryDecoders(f *testing.F) {
	for _, s := range []string{"", "1", "500", "501", "0", "-1", "01", "1e3", "2026-01-02T15:04:05Z", "2026-01-02", "c1", "a b", "ä", strings.Repeat("x", 300), "\x00", "k\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, err := range []error{checkID("id", s), func() error { _, err := parseLimit(s, 100, 500); return err }(),
			func() error { _, err := parseTime("at", s); return err }()} {
			if err == nil {
				continue
			}
			if e := errorOf(err); e.status != 400 {
				t.Fatalf("%q: %d %s", s, e.status, e.code)
			}
		}
		if validIdempotencyKey(s) && (len(s) == 0 || len(s) > 255 || strings.ContainsAny(s, " \t\n\x00")) {
			t.Fatalf("accepted idempotency key %q", s)
		}
		if validID(s) && (len(s) > 128 || strings.ContainsAny(s, " /?#%")) {
			t.Fatalf("accepted id %q", s)
		}
	})
}

// textProblemIn returns the first text-rule problem of a decoded request's
// strings, "" when there is none.
func textProblemIn(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return eventlog.TextProblem(v.String())
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if p := textProblemIn(v.Index(i)); p != "" {
				return p
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if p := textProblemIn(v.Field(i)); p != "" {
				return p
			}
		}
	}
	return ""
}
