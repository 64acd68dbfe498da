package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"
)

// hardCase is a request that must be refused with status and code, naming
// field in the message, and record nothing.
type hardCase struct {
	name, method, path string
	body               any
	hdr                []string
	status             int
	code               string
	field              string
}

// runRefused sends each case and checks the refusal: the JSON error shape,
// the code, the field named, no input echoed, and the log's head unmoved.
func runRefused(t *testing.T, h *harness, tok string, cases []hardCase) {
	t.Helper()
	before := h.head()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.do(c.method, c.path, tok, c.body, c.hdr...)
			if a.status != c.status {
				t.Fatalf("HTTP %d, want %d: %s", a.status, c.status, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if code := a.errCode(t); code != c.code {
				t.Fatalf("code %q, want %q (%s)", code, c.code, a.body)
			}
			if c.field != "" && !strings.Contains(string(a.body), c.field) {
				t.Fatalf("the message does not name %s: %s", c.field, a.body)
			}
			if strings.Contains(string(a.body), "SECRET") || strings.Contains(string(a.body), `\u0000`) {
				t.Fatalf("the answer echoes the input: %s", a.body)
			}
			if h.head() != before {
				t.Fatalf("the log's head moved from %v to %v", before, h.head())
			}
		})
	}
}

// TestTextFieldsRefuseControlCharacters: a NUL (or another control
// character, a lone surrogate, invalid UTF-8, a noncharacter) in any text
// field is a 400 invalid_argument naming the field, and nothing is
// recorded (it used to be accepted and then broke the projections).
func TestTextFieldsRefuseControlCharacters(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice"})
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "bob"})
	h.must(http.StatusCreated, "POST", b+"/customers/c1/relations", tok, map[string]any{"staff_id": "alice", "initiator": "staff"})
	h.must(http.StatusCreated, "POST", b+"/groups", tok, map[string]any{"chat_id": "g1", "owner_id": "alice"})
	const nul = "SECRET\u0000"
	rel := func(field string, v any) map[string]any {
		return map[string]any{"staff_id": "alice", "initiator": "staff", field: v}
	}
	bad := http.StatusBadRequest
	cases := []hardCase{
		{"NUL in remark", "POST", b + "/customers/c2/relations", rel("remark", nul), nil, bad, CodeInvalidArgument, "remark"},
		{"NUL in description", "PATCH", b + "/customers/c1/relations/alice", map[string]any{"description": nul}, nil, bad, CodeInvalidArgument, "description"},
		{"NUL in customer_name", "PATCH", b + "/customers/c1/relations/alice", map[string]any{"customer_name": nul}, nil, bad, CodeInvalidArgument, "customer_name"},
		{"NUL in a phone", "PATCH", b + "/customers/c1/relations/alice", map[string]any{"phones": []string{"123", nul}}, nil, bad, CodeInvalidArgument, "phones[1]"},
		{"NUL in a tag", "POST", b + "/customers/c2/relations", rel("tags", []string{nul}), nil, bad, CodeInvalidArgument, "tags[0]"},
		{"NUL in state", "POST", b + "/customers/c2/relations", rel("state", nul), nil, bad, CodeInvalidArgument, "state"},
		{"NUL in a nickname", "POST", b + "/groups/g1/members", map[string]any{"member_id": "c1", "member_type": "customer", "join_scene": "link", "nickname": nul}, nil, bad, CodeInvalidArgument, "nickname"},
		{"NUL in a staff name", "POST", b + "/staff", map[string]any{"staff_id": "carol", "name": nul}, nil, bad, CodeInvalidArgument, "name"},
		{"NUL in a group name", "PUT", b + "/groups/g1/name", map[string]any{"name": nul}, nil, bad, CodeInvalidArgument, "name"},
		{"NUL in a new group's name", "POST", b + "/groups", map[string]any{"chat_id": "g2", "owner_id": "alice", "name": nul}, nil, bad, CodeInvalidArgument, "name"},
		{"NUL in a notice", "PUT", b + "/groups/g1/notice", map[string]any{"notice": nul}, nil, bad, CodeInvalidArgument, "notice"},
		{"NUL in a handover message", "POST", b + "/handovers", map[string]any{"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob", "customer_ids": []string{"c1"}, "message": nul}, nil, bad, CodeInvalidArgument, "message"},
		{"NUL in a consent state", "POST", b + "/customers/c1/consents", map[string]any{"purpose": "marketing", "state": "agree\u0000"}, nil, bad, CodeInvalidArgument, "state"},
		{"NUL in a moments source", "POST", b + "/customers/c1/moments/alice/opt-out", map[string]any{"source": nul}, nil, bad, CodeInvalidArgument, "source"},
		{"carriage return in remark", "PATCH", b + "/customers/c1/relations/alice", map[string]any{"remark": "a\r\nb"}, nil, bad, CodeInvalidArgument, "remark"},
		{"DEL in remark", "PATCH", b + "/customers/c1/relations/alice", map[string]any{"remark": "a\u007f"}, nil, bad, CodeInvalidArgument, "remark"},
		{"noncharacter in remark", "PATCH", b + "/customers/c1/relations/alice", map[string]any{"remark": "a\uffff"}, nil, bad, CodeInvalidArgument, "remark"},
		{"lone surrogate in remark", "PATCH", b + "/customers/c1/relations/alice", `{"remark":"SECRET\ud800"}`, nil, bad, CodeInvalidArgument, "remark"},
		{"lone low surrogate in a phone", "PATCH", b + "/customers/c1/relations/alice", `{"phones":["\udc00"]}`, nil, bad, CodeInvalidArgument, "phones[0]"},
		{"invalid UTF-8 in remark", "PATCH", b + "/customers/c1/relations/alice", "{\"remark\":\"SECRET\xff\"}", nil, bad, CodeInvalidArgument, "remark"},
		{"raw control byte in remark", "PATCH", b + "/customers/c1/relations/alice", "{\"remark\":\"SECRET\x01\"}", nil, bad, CodeInvalidArgument, "remark"},
		{"over-long remark", "PATCH", b + "/customers/c1/relations/alice", map[string]any{"remark": strings.Repeat("长", 257)}, nil, bad, CodeInvalidArgument, "remark"},
		{"too many phones", "PATCH", b + "/customers/c1/relations/alice", map[string]any{"phones": make([]string, 21)}, nil, bad, CodeInvalidArgument, "phones"},
	}
	runRefused(t, h, tok, cases)
	// Tabs, newlines and every other character are fine.
	h.must(http.StatusOK, "PATCH", b+"/customers/c1/relations/alice", tok, map[string]any{"remark": "第一行\n\t第二行 😀", "phones": []string{"+86 138 0000 0000"}})
}

// TestIntegerRanges: integers outside their documented range are refused
// (capacity 2147483648 used to be accepted and broke the int4 column).
func TestIntegerRanges(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice"})
	bad := http.StatusBadRequest
	runRefused(t, h, tok, []hardCase{
		{"capacity over int4", "PUT", b + "/staff/alice/capacity", `{"capacity":2147483648}`, nil, bad, CodeInvalidArgument, "capacity"},
		{"capacity over the maximum", "PUT", b + "/staff/alice/capacity", `{"capacity":1000001}`, nil, bad, CodeInvalidArgument, "capacity"},
		{"negative capacity", "PUT", b + "/staff/alice/capacity", `{"capacity":-1}`, nil, bad, CodeInvalidArgument, "capacity"},
		{"capacity over int64", "PUT", b + "/staff/alice/capacity", `{"capacity":1e400}`, nil, bad, CodeBadRequest, "capacity"},
		{"fractional capacity", "PUT", b + "/staff/alice/capacity", `{"capacity":2.5}`, nil, bad, CodeBadRequest, "capacity"},
		{"joining over the maximum", "POST", b + "/staff", `{"staff_id":"bob","capacity":2147483648}`, nil, bad, CodeInvalidArgument, "capacity"},
		{"add_way over int4", "POST", b + "/customers/c1/relations", `{"staff_id":"alice","initiator":"staff","add_way":2147483648}`, nil, bad, CodeInvalidArgument, "add_way"},
		{"negative add_way", "POST", b + "/customers/c1/relations", `{"staff_id":"alice","initiator":"staff","add_way":-1}`, nil, bad, CodeInvalidArgument, "add_way"},
	})
	h.must(http.StatusOK, "PUT", b+"/staff/alice/capacity", tok, `{"capacity":1000000}`)
	h.must(http.StatusCreated, "POST", b+"/customers/c1/relations", tok, `{"staff_id":"alice","initiator":"staff","add_way":2147483647}`)
}

// TestTimeBounds: occurred_at before 2000 or more than 5 minutes after the
// server's clock is refused; a settle as of the future is refused and
// completes nothing, so the customer can still refuse a minute later.
func TestTimeBounds(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	now := h.clock.Now()
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice", "occurred_at": now.Add(-72 * time.Hour)})
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "bob", "occurred_at": now.Add(-72 * time.Hour)})
	h.must(http.StatusCreated, "POST", b+"/customers/c1/relations", tok, map[string]any{"staff_id": "alice", "initiator": "staff", "occurred_at": now.Add(-48 * time.Hour)})
	bad := http.StatusBadRequest
	staff := func(at string) string { return `{"staff_id":"carol","occurred_at":"` + at + `"}` }
	runRefused(t, h, tok, []hardCase{
		{"year 1", "POST", b + "/staff", staff("0001-01-01T00:00:00Z"), nil, bad, CodeInvalidArgument, "occurred_at"},
		{"1970", "POST", b + "/staff", staff("1970-01-01T00:00:00Z"), nil, bad, CodeInvalidArgument, "occurred_at"},
		{"1999", "POST", b + "/staff", staff("1999-12-31T23:59:59Z"), nil, bad, CodeInvalidArgument, "occurred_at"},
		{"2099", "POST", b + "/staff", staff("2099-01-01T00:00:00Z"), nil, bad, CodeInvalidArgument, "occurred_at"},
		{"9999", "POST", b + "/staff", staff("9999-12-31T23:59:59Z"), nil, bad, CodeInvalidArgument, "occurred_at"},
		{"6 minutes ahead", "POST", b + "/staff", staff(now.Add(6 * time.Minute).Format(time.RFC3339)), nil, bad, CodeInvalidArgument, "occurred_at"},
		{"settle in 2030", "POST", b + "/handovers/settle", `{"as_of":"2030-01-01T00:00:00Z"}`, nil, bad, CodeInvalidArgument, "as_of"},
		{"settle a second ahead", "POST", b + "/handovers/settle", map[string]any{"as_of": now.Add(time.Second)}, nil, bad, CodeInvalidArgument, "as_of"},
	})
	h.must(http.StatusCreated, "POST", b+"/staff", tok, staff(now.Add(4*time.Minute).Format(time.RFC3339)))
	h.must(http.StatusCreated, "POST", b+"/staff", tok, `{"staff_id":"dave","occurred_at":"2000-01-01T00:00:00Z"}`)

	// A pending handover survives a bogus settle; the customer refuses a
	// minute later.
	var batch HandoverBatchResult
	h.must(http.StatusCreated, "POST", b+"/handovers", tok, map[string]any{"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob", "customer_ids": []string{"c1"}}).json(t, &batch)
	h.projected()
	h.do("POST", b+"/handovers/settle", tok, `{"as_of":"2030-01-01T00:00:00Z"}`)
	var settled SettleResult
	h.must(http.StatusOK, "POST", b+"/handovers/settle", tok, nil).json(t, &settled)
	for _, o := range settled.Outcomes {
		if o.Status == "completed" {
			t.Fatalf("a settle completed a handover before its deadline: %+v", o)
		}
	}
	h.clock.set(now.Add(time.Minute))
	h.must(http.StatusOK, "POST", b+"/customers/c1/handovers/"+batch.Outcomes[0].HandoverID+"/refusal", tok, nil)
}

// TestRequiredFields: a required field that is missing or null, and a body
// that is JSON null, are 400 naming the field; nothing is recorded (a null
// capacity used to set 0, a null name to rename to "").
func TestRequiredFields(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice", "capacity": 7})
	h.must(http.StatusCreated, "POST", b+"/groups", tok, map[string]any{"chat_id": "g1", "owner_id": "alice", "name": "VIP"})
	bad := http.StatusBadRequest
	runRefused(t, h, tok, []hardCase{
		{"capacity: null body", "PUT", b + "/staff/alice/capacity", `null`, nil, bad, CodeBadRequest, "object"},
		{"capacity: empty object", "PUT", b + "/staff/alice/capacity", `{}`, nil, bad, CodeInvalidArgument, "capacity"},
		{"capacity: null", "PUT", b + "/staff/alice/capacity", `{"capacity":null}`, nil, bad, CodeInvalidArgument, "capacity"},
		{"rename: null name", "PUT", b + "/groups/g1/name", `{"name":null}`, nil, bad, CodeInvalidArgument, "name"},
		{"rename: null body", "PUT", b + "/groups/g1/name", `null`, nil, bad, CodeBadRequest, "object"},
		{"notice: missing", "PUT", b + "/groups/g1/notice", `{}`, nil, bad, CodeInvalidArgument, "notice"},
		{"departure: null body", "POST", b + "/staff/alice/departure", `null`, nil, bad, CodeBadRequest, "object"},
		{"dismissal: array body", "POST", b + "/groups/g1/dismissal", `[]`, nil, bad, CodeBadRequest, "object"},
		{"end: null by", "POST", b + "/customers/c1/relations/alice/end", `{"by":null}`, nil, bad, CodeInvalidArgument, "by"},
		{"staff: null id", "POST", b + "/staff", `{"staff_id":null}`, nil, bad, CodeInvalidArgument, "staff_id"},
		{"handover: null in the list", "POST", b + "/handovers", `{"kind":"in_service","from_staff_id":"alice","to_staff_id":"bob","customer_ids":["c1",null]}`, nil, bad, CodeInvalidArgument, "customer_ids"},
		{"phones: null in the list", "PATCH", b + "/customers/c1/relations/alice", `{"phones":["1",null]}`, nil, bad, CodeInvalidArgument, "phones"},
	})
	// Optional fields may be null or absent; an empty body is {} where
	// every field is optional; renaming to "" explicitly is allowed.
	h.must(http.StatusOK, "PUT", b+"/groups/g1/name", tok, `{"name":"","occurred_at":null}`)
	h.must(http.StatusOK, "POST", b+"/staff/alice/departure", tok, nil)
}

// TestStrictDecoding: field names match exactly, a name given twice, invalid
// UTF-8 and a body without a JSON Content-Type are refused.
func TestStrictDecoding(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice"})
	ct := func(v string) []string { return []string{"Content-Type", v} }
	body := `{"staff_id":"bob"}`
	runRefused(t, h, tok, []hardCase{
		{"name in another case", "POST", b + "/staff", `{"Staff_ID":"bob"}`, nil, 400, CodeUnknownField, "Staff_ID"},
		{"capitalised name", "PUT", b + "/staff/alice/capacity", `{"Capacity":5}`, nil, 400, CodeUnknownField, "Capacity"},
		{"duplicate name", "PUT", b + "/staff/alice/capacity", `{"capacity":5,"capacity":6}`, nil, 400, CodeBadRequest, "duplicate"},
		{"duplicate name, one null", "PUT", b + "/groups/g1/name", `{"name":"a","name":null}`, nil, 400, CodeBadRequest, "duplicate"},
		{"invalid UTF-8 in an id", "POST", b + "/staff", "{\"staff_id\":\"b\xc3\"}", nil, 400, CodeInvalidArgument, "staff_id"},
		{"unknown field", "POST", b + "/staff", `{"staff_id":"bob","nick":"SECRET"}`, nil, 400, CodeUnknownField, "nick"},
		{"odd unknown field is not echoed", "POST", b + "/staff", `{"staff_id":"bob","SECRET \u0000":1}`, nil, 400, CodeUnknownField, ""},
		{"no Content-Type", "POST", b + "/staff", body, ct(""), 415, CodeUnsupportedMedia, "application/json"},
		{"form Content-Type (curl -d)", "POST", b + "/staff", body, ct("application/x-www-form-urlencoded"), 415, CodeUnsupportedMedia, "application/json"},
		{"text/plain", "POST", b + "/staff", body, ct("text/plain"), 415, CodeUnsupportedMedia, "application/json"},
		{"another charset", "POST", b + "/staff", body, ct("application/json; charset=latin1"), 415, CodeUnsupportedMedia, "application/json"},
		{"optional body without Content-Type", "POST", b + "/staff/alice/departure", `{}`, ct(""), 415, CodeUnsupportedMedia, "application/json"},
	})
	h.must(http.StatusCreated, "POST", b+"/staff", tok, body, "Content-Type", "application/json; charset=UTF-8")
	h.must(http.StatusCreated, "POST", b+"/staff", tok, `{"staff_id":"carol"}`, "Content-Type", "application/merge-patch+json")
	// No body needs no Content-Type.
	h.must(http.StatusOK, "POST", b+"/staff/carol/departure", tok, nil)
}

// rawGet sends a request line as it is (no client cleaning or escaping)
// and returns the answer.
func (h *harness) rawGet(target, token string) answer {
	h.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.ts.URL, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: custody\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", target, token)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

// TestUncleanPaths: paths ServeMux would redirect (sometimes into another
// corp) and malformed escapes net/http refuses by itself are JSON 400s,
// never redirects or text/plain.
func TestUncleanPaths(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	for _, p := range []string{
		"/v1/corps/a/../b/overview",
		"/v1/corps/acme/../other/overview",
		"/v1/corps/acme/./overview",
		"/v1/corps/acme//overview",
		"//v1/corps/acme/overview",
		"/v1/corps/acme/customers/%2e%2e/owners",
		"/v1/corps/acme/customers/%2E/owners",
		"/v1/corps/acme/customers/a%2F..%2Fb/owners",
		"/v1/corps/acme/customers/a%2Fb/owners",
		"/v1/corps/acme/customers/%2F%2F/owners",
		"/v1/corps/acme/%",
		"/v1/corps/acme/%zz",
		"/v1/corps/acme/customers/c%4/owners",
		"/healthz/..",
		"/../healthz",
	} {
		t.Run(p, func(t *testing.T) {
			a := h.rawGet(p, tok)
			if a.status != http.StatusBadRequest {
				t.Fatalf("HTTP %d, want 400 (Location %q): %s", a.status, a.header.Get("Location"), a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q: %s", ct, a.body)
			}
			if code := a.errCode(t); code != CodeBadRequest && code != CodeInvalidID {
				t.Fatalf("code %q", code)
			}
		})
	}
	// Clean paths, escaped or not, still route.
	h.must(http.StatusOK, "GET", "/v1/corps/acme/overview", tok, nil)
	if a := h.rawGet("/v1/corps/acme/customers/c%31/owners", tok); a.status != http.StatusOK {
		t.Fatalf("escaped id: %d %s", a.status, a.body)
	}
	if a := h.rawGet("/healthz", ""); a.status != http.StatusOK {
		t.Fatalf("healthz: %d %s", a.status, a.body)
	}
}

// FuzzCleanPath: a path cleanPath accepts is its own path.Clean (a
// trailing slash aside), so ServeMux never redirects it.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a", "/a/", "//", "/a/../b", "/./a", "/a/.", "a", "", "/a//b", "/..", "/a/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !cleanPath(p) {
			return
		}
		want := path.Clean(p)
		if strings.HasSuffix(p, "/") && want != "/" {
			want += "/"
		}
		if want != p {
			t.Fatalf("cleanPath(%q) accepted; path.Clean gives %q", p, want)
		}
	})
}

// TestRejectedHandoversCreateNothing: a request whose every customer a
// rule rejects is a 200, not a 201, and a rejected outcome names no
// handover id (none exists); with one handover recorded it is a 201.
func TestRejectedHandoversCreateNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice"})
	h.must(http.StatusCreated, "POST", b+"/staff", tok, map[string]any{"staff_id": "bob"})
	h.must(http.StatusCreated, "POST", b+"/customers/c1/relations", tok, map[string]any{"staff_id": "alice", "initiator": "staff"})
	req := func(ids ...string) map[string]any {
		return map[string]any{"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob", "customer_ids": ids}
	}
	before := h.head()
	a := h.must(http.StatusOK, "POST", b+"/handovers", tok, req("c8", "c9"))
	var none HandoverBatchResult
	a.json(t, &none)
	if len(none.Outcomes) != 2 || strings.Contains(string(a.body), "handover_id") {
		t.Fatalf("all rejected: %s", a.body)
	}
	for _, o := range none.Outcomes {
		if o.Status != "rejected" || o.Error == nil || len(o.Events) != 0 {
			t.Fatalf("outcome %+v", o)
		}
	}
	if h.head() != before {
		t.Fatal("a rejected request recorded something")
	}
	var some HandoverBatchResult
	h.must(http.StatusCreated, "POST", b+"/handovers", tok, req("c9", "c1")).json(t, &some)
	if some.Outcomes[0].Status != "rejected" || some.Outcomes[0].HandoverID != "" ||
		some.Outcomes[1].Status != "pending" || some.Outcomes[1].HandoverID == "" {
		t.Fatalf("mixed: %+v", some.Outcomes)
	}
}
