package httpapi

import (
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
)

// TestSettingsRequestNamesEveryField: the PUT body's fields are exactly
// the settings a corp may change, and the answer's values too.
func TestSettingsRequestNamesEveryField(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeOf(settingsRequest{}), reflect.TypeOf(SettingsValues{})} {
		var names []string
		for i := 0; i < typ.NumField(); i++ {
			if tag := typ.Field(i).Tag.Get("json"); tag != "" {
				names = append(names, strings.Split(tag, ",")[0])
			}
		}
		sort.Strings(names)
		if strings.Join(names, " ") != strings.Join(corp.FieldNames(), " ") {
			t.Fatalf("%v fields %v, corp.Fields %v", typ, names, corp.FieldNames())
		}
	}
	rt := reflect.TypeOf(settingsRequest{})
	for i := 0; i < rt.NumField(); i++ {
		name := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
		if f, ok := corp.FieldByName(name); ok && rt.Field(i).Tag.Get("doc") != f.Doc {
			t.Errorf("%s: doc tag %q, corp's %q", name, rt.Field(i).Tag.Get("doc"), f.Doc)
		}
	}
	all := map[string]string{}
	req := settingsRequest{}
	v := reflect.ValueOf(&req).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Type().String() {
		case "*int":
			n := 7
			f.Set(reflect.ValueOf(&n))
		case "*string":
			s := "x"
			f.Set(reflect.ValueOf(&s))
		}
	}
	for k := range req.changes() {
		all[k] = ""
	}
	if len(all) != len(corp.Fields) {
		t.Fatalf("changes() passes on %d of %d fields", len(all), len(corp.Fields))
	}
}

func TestCorpSettingsRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const base = "/v1/corps/acme"
	var got CorpSettings
	h.must(http.StatusOK, "GET", base+"/settings", testAdminToken, nil).json(t, &got)
	if got.Version != -1 || len(got.History) != 0 || got.Settings != settingsValues(corp.Defaults()) || got.Corp != "acme" {
		t.Fatalf("settings of a new corp: %+v", got)
	}
	if got.Settings.ResignedAssignmentWindow != "365d" || got.Settings.HandoverWindow != "24h" || got.Settings.TimeZone != "Asia/Shanghai" {
		t.Fatalf("defaults on the wire: %+v", got.Settings)
	}

	// A corp token may neither read nor change them.
	tok := h.token("acme")
	if a := h.do("GET", base+"/settings", tok, nil); a.status != http.StatusForbidden {
		t.Fatalf("corp token GET: HTTP %d", a.status)
	}
	if a := h.do("PUT", base+"/settings", tok, `{"staff_capacity":10}`); a.status != http.StatusForbidden {
		t.Fatalf("corp token PUT: HTTP %d", a.status)
	}

	// Bad input: 400 naming the problem, nothing recorded.
	before := h.head()
	for _, tc := range []struct{ body, want string }{
		{`{"staff_capacty":10}`, "staff_capacty"},
		{`{"staff_capacity":"10"}`, "staff_capacity"},
		{`{"staff_capacity":0}`, "staff_capacity must be positive"},
		{`{"handover_window":"24"}`, "want a duration"},
		{`{"handover_window":"-1h"}`, "handover_window must be positive"},
		{`{"time_zone":"Mars/Olympus"}`, "IANA time zone"},
		{`{"handovers_in_wecom":true}`, "handovers_in_wecom"},
		{`{"group_max_members":5}{}`, ""},
	} {
		a := h.do("PUT", base+"/settings", testAdminToken, tc.body)
		if a.status != http.StatusBadRequest || !strings.Contains(string(a.body), tc.want) {
			t.Errorf("PUT %s: HTTP %d %s, want 400 saying %q", tc.body, a.status, a.body, tc.want)
		}
	}
	if after := h.head(); after != before {
		t.Fatalf("refused changes recorded events: %v -> %v", before, after)
	}

	// A change answers the new settings and its audit entry.
	h.clock.set(h.clock.Now().Add(time.Minute))
	at := h.clock.Now()
	h.must(http.StatusOK, "PUT", base+"/settings", testAdminToken,
		`{"resigned_assignment_window":"30d","time_zone":"Europe/Berlin"}`, "Idempotency-Key", "set-1").json(t, &got)
	if got.Settings.ResignedAssignmentWindow != "30d" || got.Settings.TimeZone != "Europe/Berlin" || got.Settings.StaffCapacity != 20000 || got.Version != 0 {
		t.Fatalf("after the change: %+v", got)
	}
	if len(got.History) != 1 || got.History[0].By != "admin:admin" || !got.History[0].At.Equal(at) ||
		strings.Join(got.History[0].Changed, ",") != "resigned_assignment_window,time_zone" {
		t.Fatalf("audit trail: %+v", got.History)
	}
	// The same values again record nothing.
	before = h.head()
	h.must(http.StatusOK, "PUT", base+"/settings", testAdminToken, `{"resigned_assignment_window":"720h"}`).json(t, &got)
	if after := h.head(); after != before || len(got.History) != 1 {
		t.Fatalf("a no-op change recorded something: %v -> %v, history %d", before, after, len(got.History))
	}
	// Another corp is not affected.
	var other CorpSettings
	h.must(http.StatusOK, "GET", "/v1/corps/other/settings", testAdminToken, nil).json(t, &other)
	if other.Version != -1 || other.Settings.ResignedAssignmentWindow != "365d" {
		t.Fatalf("other corp: %+v", other)
	}

	// The overview's assign-by date follows the corp's window (it used
	// to be a fixed 365 days).
	h.must(http.StatusCreated, "POST", base+"/staff", testAdminToken, map[string]any{"staff_id": "alice"})
	h.must(http.StatusCreated, "POST", base+"/customers/c1/relations", testAdminToken, map[string]any{"staff_id": "alice", "initiator": "staff"})
	h.must(http.StatusOK, "POST", base+"/staff/alice/departure", testAdminToken, map[string]any{})
	h.projected()
	var ov Overview
	h.must(http.StatusOK, "GET", base+"/overview", testAdminToken, nil).json(t, &ov)
	if len(ov.Unassigned) != 1 || !ov.Unassigned[0].AssignBy.Equal(ov.Unassigned[0].DepartedAt.Add(30*corp.Day)) {
		t.Fatalf("unassigned %+v, want assign_by 30 days after the departure", ov.Unassigned)
	}
	if ov.TimeZone != "Europe/Berlin" {
		t.Fatalf("overview time zone %q", ov.TimeZone)
	}
}

// TestOverviewPageShowsTheCorpsDates: the page's dates are the corp's
// calendar days, in its time zone.
func TestOverviewPageShowsTheCorpsDates(t *testing.T) {
	departed := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC) // 1 March, 19:00 in Los Angeles
	ov := Overview{Corp: "acme", GeneratedAt: departed, TimeZone: "America/Los_Angeles",
		Unassigned: []DepartedLoad{{StaffID: "alice", DepartedAt: departed, Customers: 1, AssignBy: departed.Add(30 * corp.Day)}}}
	v := newOverviewView(ov, nil)
	if v.Unassigned[0].DepartedAt != "2026-03-01" || v.Unassigned[0].Deadline != "2026-03-31" || v.GeneratedAt != "2026-03-01 19:00 PST" {
		t.Fatalf("Los Angeles: %+v, generated %s", v.Unassigned, v.GeneratedAt)
	}
	ov.TimeZone = "Asia/Shanghai"
	if v := newOverviewView(ov, nil); v.Unassigned[0].DepartedAt != "2026-03-02" || v.GeneratedAt != "2026-03-02 11:00 CST" {
		t.Fatalf("Shanghai: %+v, generated %s", v.Unassigned, v.GeneratedAt)
	}
}
