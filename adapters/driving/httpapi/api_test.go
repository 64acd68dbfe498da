package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/projections"
)

// TestCommandsAndQueries drives a corp through the API and reads it back
// from the projections.
func TestCommandsAndQueries(t *testing.T) {
	logs := &syncBuffer{}
	h := newHarness(t, harnessOptions{logWriter: logs})
	tok := h.token("acme")
	base := "/v1/corps/acme"
	t0 := h.clock.Now()
	// Personal data goes in, answers come back, but the log never holds it.
	defer func() {
		for _, pii := range []string{"Wang Wei", "met at expo", "Name of alice"} {
			if strings.Contains(logs.String(), pii) {
				t.Errorf("personal data %q in the server's log", pii)
			}
		}
		if !strings.Contains(logs.String(), `route="GET /v1/corps/{corp}/customers/{customer}"`) {
			t.Error("request lines missing from the log")
		}
	}()

	for _, s := range []string{"alice", "bob"} {
		var res CommandResult
		h.must(http.StatusCreated, "POST", base+"/staff", tok, map[string]any{"staff_id": s, "name": "Name of " + s}).json(t, &res)
		if len(res.Events) != 1 || res.Events[0].Type != "staff.joined" {
			t.Fatalf("join %s: events %+v", s, res.Events)
		}
	}
	for i := 0; i < 5; i++ {
		h.must(http.StatusCreated, "POST", fmt.Sprintf("%s/customers/c%d/relations", base, i), tok, map[string]any{
			"staff_id": "alice", "initiator": "customer", "add_way": 1, "state": "qr_expo",
			"customer_name": "Wang Wei", "remark": "met at expo", "tags": []string{"vip"},
			"occurred_at": t0.Add(-48 * time.Hour),
		})
	}
	// churn: the customer deleted alice
	h.must(http.StatusOK, "POST", base+"/customers/c4/relations/alice/end", tok, map[string]any{"by": "customer"})
	// a second end is a rule violation with its own code
	a := h.must(http.StatusConflict, "POST", base+"/customers/c4/relations/alice/end", tok, map[string]any{"by": "customer"})
	if code := a.errCode(t); code != "relation_not_active" {
		t.Fatalf("second end: code %q", code)
	}
	// in-service handover of two customers
	var batch HandoverBatchResult
	h.must(http.StatusCreated, "POST", base+"/handovers", tok, map[string]any{
		"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob", "customer_ids": []string{"c0", "c1"},
		"message": "Bob takes over",
	}).json(t, &batch)
	if len(batch.Outcomes) != 2 || batch.Outcomes[0].Status != "pending" || batch.Outcomes[0].Deadline == nil {
		t.Fatalf("handover outcomes: %+v", batch.Outcomes)
	}
	// c1 refuses
	h.must(http.StatusOK, "POST", base+"/customers/c1/handovers/"+batch.Outcomes[1].HandoverID+"/refusal", tok, nil)
	// 25 hours later the settle completes c0's
	h.projected()
	h.clock.set(t0.Add(25 * time.Hour))
	var settled SettleResult
	h.must(http.StatusOK, "POST", base+"/handovers/settle", tok, map[string]any{}).json(t, &settled)
	completed := 0
	for _, o := range settled.Outcomes {
		switch {
		case o.Status == "completed" && o.CustomerID == "c0":
			completed++
		case o.Status == "skipped" && o.CustomerID == "c1":
		default:
			t.Fatalf("settle outcome %+v", o)
		}
	}
	if completed != 1 {
		t.Fatalf("settle outcomes: %+v", settled.Outcomes)
	}
	h.must(http.StatusOK, "POST", base+"/customers/c2/moments/alice/opt-out", tok, map[string]any{"source": "marketing_tool"})
	h.must(http.StatusOK, "POST", base+"/customers/c2/consents", tok, map[string]any{"purpose": "marketing", "state": "disagree"})
	h.projected()

	var cust CustomerDetail
	h.must(http.StatusOK, "GET", base+"/customers/c0", tok, nil).json(t, &cust)
	if cust.CustomerID != "c0" || len(cust.Followers) != 1 || cust.Followers[0] != "bob" {
		t.Fatalf("customer c0: followers %v", cust.Followers)
	}
	var kinds []string
	for _, e := range cust.Timeline {
		k := e.Kind + ":" + e.StaffID
		if e.ToStaffID != "" {
			k += "->" + e.ToStaffID
		}
		kinds = append(kinds, k)
	}
	want := "[relation_started:alice handover_requested:alice->bob handover_completed:alice->bob relation_ended:alice relation_started:bob]"
	if fmt.Sprint(kinds) != want {
		t.Fatalf("timeline of c0:\n got %v\nwant %s", kinds, want)
	}
	var owners OwnersAt
	h.must(http.StatusOK, "GET", base+"/customers/c0/owners?at="+t0.Add(-time.Hour).Format(time.RFC3339), tok, nil).json(t, &owners)
	if len(owners.Owners) != 1 || owners.Owners[0].StaffID != "alice" {
		t.Fatalf("owners of c0 before the handover: %+v", owners.Owners)
	}
	// The answer is what was true then, as `custody asof owners` says it:
	// alice's relation ended later (the handover), which must not show,
	// and whether she had departed is stated.
	raw := string(h.must(http.StatusOK, "GET", base+"/customers/c0/owners?at="+t0.Add(-time.Hour).Format(time.RFC3339), tok, nil).body)
	if strings.Contains(raw, "ended_at") || strings.Contains(raw, "end_reason") || !strings.Contains(raw, `"unassigned":false`) {
		t.Fatalf("owners of c0 before the handover leak the later end or lack unassigned: %s", raw)
	}
	h.must(http.StatusOK, "GET", base+"/customers/c0/owners", tok, nil).json(t, &owners)
	if len(owners.Owners) != 1 || owners.Owners[0].StaffID != "bob" {
		t.Fatalf("owners of c0 now: %+v", owners.Owners)
	}

	// cursor pagination over alice's customers: c1, c2, c3 (c0 moved, c4 churned)
	var got []string
	next := ""
	for pages := 0; ; pages++ {
		var p projections.Paged[projections.Relation]
		h.must(http.StatusOK, "GET", base+"/staff/alice/customers?limit=2&cursor="+next, tok, nil).json(t, &p)
		for _, r := range p.Items {
			got = append(got, r.CustomerID)
		}
		if p.Next == "" {
			break
		}
		next = p.Next
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(got) != "[c1 c2 c3]" {
		t.Fatalf("alice's customers = %v", got)
	}
	var hs projections.Paged[projections.Handover]
	h.must(http.StatusOK, "GET", base+"/handovers?status=refused", tok, nil).json(t, &hs)
	if len(hs.Items) != 1 || hs.Items[0].CustomerID != "c1" {
		t.Fatalf("refused handovers: %+v", hs.Items)
	}
	// alice deletes c3: a lost relation, but not churn (the customer did
	// not leave); churn_last_days counts c4 only, as the README defines it.
	h.must(http.StatusOK, "POST", base+"/customers/c3/relations/alice/end", tok, map[string]any{"by": "staff"})
	h.projected()
	var ov Overview
	h.must(http.StatusOK, "GET", base+"/overview", tok, nil).json(t, &ov)
	if ov.Headline.ActiveStaff != 2 || ov.Headline.ActiveRelations != 3 {
		t.Fatalf("overview headline: %+v", ov.Headline)
	}
	if ov.Headline.Churn != 1 || ov.Headline.DeletedByStaff != 1 {
		t.Fatalf("overview headline: churn %d (want 1: deleted by the customer), deleted by staff %d (want 1)", ov.Headline.Churn, ov.Headline.DeletedByStaff)
	}
	// bad cursor
	if code := h.must(http.StatusBadRequest, "GET", base+"/handovers?cursor=bm90LWEtY3Vyc29y", tok, nil).errCode(t); code != "bad_cursor" {
		t.Fatalf("bad cursor code %q", code)
	}
}
