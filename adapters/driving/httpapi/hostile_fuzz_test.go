package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/projections"
)

// FuzzHostileCommands drives the whole path with hostile input (issue "No
// accepted input may stall a projection"): every input is a short sequence
// of commands, each a route of the route table (so a new command route is
// fuzzed without a change here) with a body built from the route's request
// type — valid values, and strings with NUL, C0/C1 controls, lone
// surrogates, invalid UTF-8, 10k characters, emoji and RTL marks, integers
// at and over every boundary, nulls, extreme times, duplicated and wrongly
// cased keys, bodies that are no object. Through the real HTTP handler:
//
//   - no answer is a 5xx;
//   - a 4xx appended nothing (the log's head did not move) and is the error
//     shape;
//   - a 2xx names exactly the events it appended (but for the slot
//     bookkeeping on members' streams, which answers do not name);
//
// and after the sequence the live projector catches up with the log's head
// with no corp parked, and a rebuild of every projection succeeds, parks
// nothing and leaves exactly the rows the live projector had.
//
// One database serves every input: state (and the log) grows from input to
// input, so later inputs meet members, relations, groups and handovers
// earlier ones made. The seed corpus in testdata/fuzz runs in make test;
// make fuzz fuzzes it.
func FuzzHostileCommands(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	h := newHarness(f, harnessOptions{})
	// Fuzzing workers are processes of their own, started with this
	// environment: they create their databases on this server rather than
	// each starting a private one, which would outlive a worker the
	// coordinator kills and keep its pipes open (the coordinator then
	// waits for their end forever).
	f.Setenv("TEST_DATABASE_URL", pgtest.ServerURL(f))
	fz := newHostile(f, h)
	f.Fuzz(func(t *testing.T, data []byte) {
		h.t = t
		responseCheck = func(rt route, resp any) {
			if got, want := reflect.TypeOf(resp), reflect.TypeOf(rt.response); got != want {
				t.Errorf("%s answered a %v, documented as %v", rt.pattern(), got, want)
			}
		}
		g := &byteSource{data: data}
		for n := 1 + g.intn(6); n > 0; n-- {
			fz.command(t, g)
		}
		fz.checkProjections(t)
	})
}

// hostile is the fuzz target's state across inputs.
type hostile struct {
	h      *harness
	tok    string
	routes []route
	// handovers are ids answered by handover requests, for the routes
	// that take one.
	handovers []string
	// mode is the current command's; hostileLeft counts the hostile
	// values a oneHostile command may still take.
	mode        int
	hostileLeft int
	// answers counts the answers by route and status class, for the log
	// line at the end: a run that never gets past validation proves little.
	answers map[string]map[int]int
}

const hostileCorp = "fz"

// Modes of a generated command.
const (
	clean = iota
	oneHostile
	chaos
)

// hostile reports whether the next value is to be hostile.
func (fz *hostile) hostile(g *byteSource) bool {
	switch fz.mode {
	case clean:
		return false
	case oneHostile:
		if fz.hostileLeft > 0 && g.intn(3) == 0 {
			fz.hostileLeft--
			return true
		}
		return false
	}
	return g.intn(3) == 0
}

func newHostile(tb testing.TB, h *harness) *hostile {
	fz := &hostile{h: h, tok: h.token(hostileCorp), answers: map[string]map[int]int{}}
	tb.Cleanup(func() {
		var lines []string
		for op, n := range fz.answers {
			lines = append(lines, fmt.Sprintf("%s: %d×2xx %d×4xx", op, n[2], n[4]))
		}
		slices.Sort(lines)
		tb.Logf("answers by route:\n%s", strings.Join(lines, "\n"))
	})
	for _, rt := range h.srv.routes {
		if rt.write {
			fz.routes = append(fz.routes, rt)
		}
	}
	if len(fz.routes) < 20 {
		tb.Fatalf("only %d command routes", len(fz.routes))
	}
	// A corp with members, relations and a group, so that valid values
	// meet state that lets commands succeed.
	b := "/v1/corps/" + hostileCorp
	for _, s := range []string{"s1", "s2", "s3"} {
		h.must(201, "POST", b+"/staff", fz.tok, map[string]any{"staff_id": s, "name": "Staff " + s})
	}
	for _, c := range []string{"c1", "c2", "c3"} {
		h.must(201, "POST", b+"/customers/"+c+"/relations", fz.tok, map[string]any{"staff_id": "s1", "initiator": "staff", "customer_name": "Customer " + c})
	}
	for _, chat := range []string{"g1", "g2", "g3"} {
		h.must(201, "POST", b+"/groups", fz.tok, map[string]any{"chat_id": chat, "owner_id": "s1", "name": "Group " + chat})
	}
	h.must(200, "POST", b+"/groups/g1/members", fz.tok, map[string]any{"member_id": "c1", "member_type": "customer", "join_scene": "qrcode", "nickname": "C1"})
	return fz
}

// byteSource turns the fuzz input into choices; past its end every choice
// is 0.
type byteSource struct {
	data []byte
	i    int
}

func (g *byteSource) byte() byte {
	if g.i >= len(g.data) {
		return 0
	}
	b := g.data[g.i]
	g.i++
	return b
}

// intn returns a choice in [0, n).
func (g *byteSource) intn(n int) int {
	if n <= 256 {
		return int(g.byte()) % n
	}
	return (int(g.byte())<<8 | int(g.byte())) % n
}

func pick[T any](g *byteSource, xs ...T) T { return xs[g.intn(len(xs))] }

// id is an id with prefix: mostly one of the few the corp knows from the
// start, now and then one of many more, so that joins, relations and
// groups keep meeting new ids.
func id(g *byteSource, prefix string) string {
	if g.intn(4) == 0 {
		return prefix + strconv.Itoa(1+g.intn(40))
	}
	return prefix + strconv.Itoa(1+g.intn(4))
}

func staffID(g *byteSource) string    { return id(g, "s") }
func customerID(g *byteSource) string { return id(g, "c") }
func memberID(g *byteSource) string   { return id(g, pick(g, "s", "c")) }

// enums are the values the API accepts for closed fields.
var hostileEnums = map[string][]string{
	"initiator":   {"staff", "customer"},
	"by":          {"customer", "staff", "reconciled"},
	"kind":        {"in_service", "resigned"},
	"member_type": {"staff", "customer"},
	"join_scene":  {"invited", "link", "qrcode"},
	"quit_scene":  {"left", "removed"},
	"reason":      {"in_service", "resigned", "wecom"},
	"purpose":     {"chat_archive", "marketing"},
	"state":       {"agree", "disagree", "default_agree", "poster-2026"},
}

// hostileStrings are JSON string literals (quotes included) that are not
// valid text, or are at its edges; some are not even valid JSON.
var hostileStrings = []string{
	`""`, `" "`, `"\u0000"`, `"a\u0000b"`, "\"raw\x00nul\"", `"\u0001\u001f"`, `"\r\n"`, `"tab\there"`,
	`"\u007f"`, `"\u0085"`, `"\u009f"`, `"\ud800"`, `"\udc00x"`, `"\ud83d\ude00"`, `"\ud83d"`, `"😀👍🏽"`,
	`"\u202eevil\u202c"`, `"\u200f\u061c"`, `"\ufeff"`, `"\ufffe"`, `"\uffff"`, `"\ufdd0"`, "\"\xff\xfe\"", "\"\xc3\x28\"",
	"\"\xed\xa0\x80\"", `"a\\b\"c"`, `"%00"`, `"../../etc"`, `"' OR 1=1 --"`, `"\u0000\ud800\uffff\u202e"`,
	`"` + strings.Repeat("長", 257) + `"`, `"` + strings.Repeat("x", 10_000) + `"`, `"` + strings.Repeat("😀", 300) + `"`,
}

// hostileInts are JSON numbers (and things that are not) for integer
// fields.
var hostileInts = []string{
	"0", "-1", "1", "-0", "2147483647", "2147483648", "-2147483648", "-2147483649", "1000000", "1000001",
	"9007199254740993", "9223372036854775807", "9223372036854775808", "18446744073709551616", "1e400", "-1e400",
	"1.5", "1e2", "0x10", "01", `"5"`, "true", "[]", "{}", "NaN",
}

// hostileTimes are values for time fields, relative to the server's clock.
func hostileTimes(now time.Time) []string {
	q := func(t time.Time, layout string) string { return strconv.Quote(t.Format(layout)) }
	return []string{
		`"0001-01-01T00:00:00Z"`, `"1970-01-01T00:00:00Z"`, `"9999-12-31T23:59:59Z"`, `"9999-12-31T23:59:59.999999999-23:59"`,
		q(now.Add(time.Hour), time.RFC3339), q(now.Add(-time.Hour), time.RFC3339), q(now.Add(-24*time.Hour), time.RFC3339Nano),
		q(now.Add(-time.Minute).In(time.FixedZone("", 8*3600)), time.RFC3339), q(now.Add(-time.Minute).In(time.FixedZone("", -14*3600)), time.RFC3339),
		q(now.Add(-400*24*time.Hour), time.RFC3339), q(now, time.RFC3339Nano),
		`"2026-02-30T00:00:00Z"`, `"2026-03-02T10:00:00+24:00"`, `"2026-03-02 10:00:00"`, `"yesterday"`, `0`, `1700000000`, `"\u0000"`,
	}
}

// command sends one generated request (or moves the clock) and checks the
// answer against the log.
func (fz *hostile) command(t *testing.T, g *byteSource) {
	t.Helper()
	h := fz.h
	if g.intn(16) == 0 {
		// Time passes: handovers come due, windows close.
		h.clock.set(h.clock.Now().Add(time.Duration(1+g.intn(48)) * time.Hour))
		return
	}
	rt := fz.routes[g.intn(len(fz.routes))]
	// Half the commands are clean — every value one the API accepts,
	// text and integers at the edges of what it accepts included — so
	// that accepted commands carry them to the projections; the others
	// carry one hostile value, or are hostile throughout.
	fz.mode = pick(g, clean, clean, oneHostile, chaos)
	fz.hostileLeft = 1
	path := rt.path
	for _, name := range rt.pathParams() {
		path = strings.Replace(path, "{"+name+"}", url.PathEscape(fz.pathValue(g, name)), 1)
	}
	body := fz.body(g, rt)
	before := h.head()
	a := h.do(rt.method, path, fz.tok, body)
	what := fmt.Sprintf("%s %s with %.300q", rt.method, path, body)
	if fz.answers[rt.op] == nil {
		fz.answers[rt.op] = map[int]int{}
	}
	fz.answers[rt.op][a.status/100]++
	switch {
	case a.status >= 500:
		t.Fatalf("%s: HTTP %d %s", what, a.status, a.body)
	case a.status >= 400:
		a.errCode(t)
		// The head may catch up with an earlier append; nothing may be
		// appended beyond it.
		if after := h.head(); after.appended != before.appended || after.appended.Less(after.head) {
			t.Fatalf("%s: HTTP %d, yet the log moved from %v to %v", what, a.status, before, after)
		}
	case a.status >= 200 && a.status < 300:
		appended, slots := map[string]bool{}, map[string]bool{}
		for _, r := range h.readSince(before.appended) {
			appended[r.ID.String()] = true
			if r.Type == "staff.slot_reserved" || r.Type == "staff.slot_released" {
				slots[r.ID.String()] = true
			}
		}
		var answer any
		if err := json.Unmarshal(a.body, &answer); err != nil {
			t.Fatalf("%s: HTTP %d with a body that is not JSON: %v", what, a.status, err)
		}
		named := map[string]bool{}
		walkAnswer(answer, func(key string, v any) {
			switch key {
			case "events":
				for _, e := range v.([]any) {
					named[e.(map[string]any)["id"].(string)] = true
				}
			case "handover_id":
				if id, ok := v.(string); ok && !slices.Contains(fz.handovers, id) {
					fz.handovers = append(fz.handovers, id)
					if len(fz.handovers) > 8 {
						fz.handovers = fz.handovers[1:]
					}
				}
			}
		})
		// The answer names what the command recorded on its own streams;
		// the capacity bookkeeping on the members' streams (slots) is
		// recorded along with it, unnamed.
		for id := range named {
			if !appended[id] {
				t.Fatalf("%s: HTTP %d names event %s, which the log did not append (appended %v)", what, a.status, id, keys(appended))
			}
		}
		for id := range appended {
			if !named[id] && !slots[id] {
				t.Fatalf("%s: HTTP %d does not name event %s it appended (named %v)", what, a.status, id, keys(named))
			}
		}
	default:
		t.Fatalf("%s: HTTP %d %s", what, a.status, a.body)
	}
}

// walkAnswer calls fn for every key of every object in v.
func walkAnswer(v any, fn func(key string, v any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fn(k, e)
			walkAnswer(e, fn)
		}
	case []any:
		for _, e := range x {
			walkAnswer(e, fn)
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// pathValue is a value for a path wildcard: mostly one the corp knows.
func (fz *hostile) pathValue(g *byteSource, name string) string {
	if fz.hostile(g) && g.intn(3) == 0 {
		return pick(g, "", "x\x00y", "\xff", "..", "a/b", "%2e", strings.Repeat("i", 129), "😀", "\u202e")
	}
	switch name {
	case "corp":
		return hostileCorp
	case "staff":
		return staffID(g)
	case "customer":
		return customerID(g)
	case "chat":
		return id(g, "g")
	case "member":
		return memberID(g)
	case "handover":
		if len(fz.handovers) > 0 && g.intn(4) != 0 {
			return pick(g, fz.handovers...)
		}
		return "h-unknown"
	}
	return "x1"
}

// body builds a request body for rt: a JSON object with each field of the
// route's request type omitted, valid, hostile or null, and now and then a
// duplicated, unknown or wrongly cased key — or something that is no
// object at all.
func (fz *hostile) body(g *byteSource, rt route) []byte {
	switch {
	case fz.mode != chaos:
	case g.intn(8) == 0:
		return nil
	case g.intn(8) == 0:
		return []byte(pick(g, "null", "[]", `"{}"`, "1e400", "{", "{}{}", "{} x", "\xff", `{"a":1}`, "\ufeff{}", "{\"occurred_at\":null}"))
	}
	var fields []string
	for _, f := range bodyFields(reflect.TypeOf(rt.request)) {
		if g.intn(8) == 0 && (fz.mode == chaos || fz.hostile(g)) {
			continue // omitted, maybe required
		}
		v := fz.value(g, f)
		key := strconv.Quote(f.name)
		if fz.hostile(g) {
			switch g.intn(3) {
			case 0:
				fields = append(fields, key+":"+fz.value(g, f)) // the key twice
			case 1:
				key = strconv.Quote(strings.ToUpper(f.name[:1]) + f.name[1:])
			}
		}
		fields = append(fields, key+":"+v)
	}
	if fz.hostile(g) && g.intn(4) == 0 {
		fields = append(fields, `"unknown_field":1`)
	}
	return []byte("{" + strings.Join(fields, ",") + "}")
}

// bodyField is one field of a request body.
type bodyField struct {
	name string
	typ  reflect.Type
}

// bodyFields lists the JSON fields of a request type, embedded structs
// flattened.
func bodyFields(t reflect.Type) []bodyField {
	if t == nil {
		return nil
	}
	var out []bodyField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, bodyFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, bodyField{name: name, typ: f.Type})
	}
	return out
}

// value is a JSON value for field f: valid (more often than not), hostile
// or null.
func (fz *hostile) value(g *byteSource, f bodyField) string {
	valid := !fz.hostile(g)
	if !valid && g.intn(6) == 0 {
		return "null"
	}
	t := f.typ
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		now := fz.h.clock.Now()
		if valid {
			return strconv.Quote(now.Add(-time.Duration(g.intn(72)) * time.Hour).Format(time.RFC3339Nano))
		}
		return pick(g, hostileTimes(now)...)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		if valid && f.name == "add_way" {
			return strconv.Itoa(pick(g, 0, 1, 3, 2147483647))
		}
		if valid {
			return strconv.Itoa(pick(g, 0, 1, 2, 3, 50, 20000, 1000000))
		}
		return pick(g, hostileInts...)
	case t.Kind() == reflect.Slice:
		n := g.intn(4)
		if valid && f.name == "customer_ids" {
			n++
		}
		if !valid && g.intn(4) == 0 {
			n = 101
		}
		items := make([]string, n)
		for i := range items {
			items[i] = fz.value(g, bodyField{name: strings.TrimSuffix(f.name, "s"), typ: t.Elem()})
		}
		return "[" + strings.Join(items, ",") + "]"
	case t.Kind() == reflect.String:
		if valid {
			return strconv.Quote(fz.validString(g, f.name))
		}
		return pick(g, hostileStrings...)
	}
	return "null"
}

// validString is a value the API accepts for a string field named name.
func (fz *hostile) validString(g *byteSource, name string) string {
	if vs, ok := hostileEnums[name]; ok {
		return pick(g, vs...)
	}
	switch name {
	case "staff_id", "owner_id", "to_staff_id", "from_staff_id", "inviter_id":
		return staffID(g)
	case "customer_id": // the items of customer_ids
		return customerID(g)
	case "member_id":
		return memberID(g)
	case "chat_id":
		return id(g, "g")
	case "tag", "phone": // the items of tags and phones: short
		return pick(g, "vip", "+86 138 0000 0000", "😀", "\u202e1", "名字", "a\tb", "e\u0301")
	}
	return pick(g, "plain", "名字", "tag-1", "line one\nline two", "tab\tthen", "😀👍🏽 emoji", "\u202eRTL\u202c \u200f",
		"e\u0301\u0308", "\ufffd", " ", "", strings.Repeat("長", 128), strings.Repeat("😀", 32), `'; DROP TABLE staff; --`, `\"\\`)
}

// checkProjections waits for the live projector, then rebuilds every
// projection and compares its tables with the live ones.
func (fz *hostile) checkProjections(t *testing.T) {
	t.Helper()
	h := fz.h
	ctx := context.Background()
	h.projected()
	if parked, err := projections.ParkedCorps(ctx, h.pool); err != nil || len(parked) > 0 {
		t.Fatalf("live projections parked %+v (%v)", parked, err)
	}
	live := projectionDigests(t, h)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := projections.Rebuild(ctx, h.pool, h.log, projections.All(), projections.RebuildOptions{Fresh: true, Logger: quietLogger()}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if parked, err := projections.ParkedCorps(ctx, h.pool); err != nil || len(parked) > 0 {
		t.Fatalf("the rebuild parked %+v (%v)", parked, err)
	}
	rebuilt := projectionDigests(t, h)
	for tbl, d := range live {
		if rebuilt[tbl] != d {
			t.Errorf("projections.%s: live %s, rebuilt %s", tbl, d, rebuilt[tbl])
		}
	}
	if head, err := h.log.Head(ctx); err != nil || head.Less(h.log.last()) {
		t.Fatalf("log head %v behind the last append %v (%v)", head, h.log.last(), err)
	}
}

// projectionDigests returns, for every table of every projection, its row
// count and a hash of its rows in a stable order.
func projectionDigests(t *testing.T, h *harness) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range projections.All() {
		for _, tbl := range p.Tables() {
			var n int64
			var sum string
			err := h.pool.QueryRow(context.Background(), fmt.Sprintf(
				`SELECT count(*), coalesce(md5(string_agg(r::text, E'\n' ORDER BY r::text)), '') FROM projections.%q r`, tbl)).Scan(&n, &sum)
			if err != nil {
				t.Fatalf("digest of %s: %v", tbl, err)
			}
			out[tbl] = fmt.Sprintf("%d rows %s", n, sum)
		}
	}
	return out
}
