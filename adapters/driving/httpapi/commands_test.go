package httpapi

import (
	"strings"
	"testing"
	"time"
)

// TestEveryCommandRoute carries out every command of the route table once
// with success, then checks the request metrics: every write route answered
// a 2xx, so none is documented but broken.
func TestEveryCommandRoute(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	t0 := h.clock.Now()
	post := func(want int, method, path string, body any) answer {
		t.Helper()
		return h.must(want, method, b+path, tok, body)
	}
	for _, s := range []string{"alice", "bob", "carol"} {
		post(201, "POST", "/staff", map[string]any{"staff_id": s, "occurred_at": t0.Add(-72 * time.Hour)})
	}
	post(200, "PUT", "/staff/carol/capacity", map[string]any{"capacity": 50})
	for _, c := range []string{"c1", "c2", "c3"} {
		post(201, "POST", "/customers/"+c+"/relations", map[string]any{"staff_id": "alice", "initiator": "staff", "occurred_at": t0.Add(-48 * time.Hour)})
	}
	post(200, "PATCH", "/customers/c1/relations/alice", map[string]any{"remark": "call on Fridays", "tags": []string{"vip"}})
	post(200, "POST", "/customers/c1/moments/alice/opt-out", nil)
	post(200, "POST", "/customers/c1/moments/alice/opt-in", map[string]any{"source": "staff"})
	post(200, "POST", "/customers/c1/consents", map[string]any{"purpose": "chat_archive", "state": "agree"})
	var batch HandoverBatchResult
	post(201, "POST", "/handovers", map[string]any{"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob", "customer_ids": []string{"c1", "c2"}}).json(t, &batch)
	post(200, "POST", "/customers/c2/handovers/"+batch.Outcomes[1].HandoverID+"/cancellation", nil)
	post(200, "POST", "/customers/c3/relations/alice/end", map[string]any{"by": "staff"})
	post(201, "POST", "/groups", map[string]any{"chat_id": "g1", "owner_id": "alice", "name": "VIP"})
	post(200, "POST", "/groups/g1/members", map[string]any{"member_id": "c1", "member_type": "customer", "join_scene": "qrcode", "nickname": "Wei"})
	post(200, "POST", "/groups/g1/members", map[string]any{"member_id": "c2", "member_type": "customer", "join_scene": "link"})
	post(200, "POST", "/groups/g1/members/c2/leave", map[string]any{"quit_scene": "removed"})
	post(200, "PUT", "/groups/g1/name", map[string]any{"name": "VIP 2026"})
	post(200, "PUT", "/groups/g1/notice", map[string]any{"notice": "Fridays"})
	post(200, "POST", "/groups/g1/owner", map[string]any{"to_staff_id": "carol", "reason": "in_service"})
	post(200, "POST", "/groups/g1/dismissal", nil)
	// The departure finds pending handovers to bob in the projections.
	h.projected()
	var dep DepartResult
	post(200, "POST", "/staff/bob/departure", map[string]any{}).json(t, &dep)
	if len(dep.FailedHandovers) != 1 || dep.FailedHandovers[0].FailReason != "target_departed" {
		t.Fatalf("departure of a pending handover's target: %+v", dep.FailedHandovers)
	}
	post(201, "POST", "/outreach/messages/m1/plan", map[string]any{"channel": "mass_message", "staff_id": "alice", "customer_ids": []string{"c2"}, "text": "hello"})
	post(200, "POST", "/outreach/messages/m1/check", map[string]any{"channel": "mass_message", "staff_id": "alice", "customer_ids": []string{"c2"}})
	post(200, "POST", "/outreach/messages/m1/sends", map[string]any{"channel": "mass_message", "staff_id": "alice", "customer_ids": []string{"c2"}})
	post(200, "POST", "/customers/c3/erasure", nil)
	post(200, "POST", "/staff/bob/erasure", nil)
	h.projected()
	h.clock.set(t0.Add(48 * time.Hour)) // as_of may not run ahead of the clock
	post(200, "POST", "/handovers/settle", map[string]any{"as_of": t0.Add(48 * time.Hour)})
	// c1's handover failed when bob departed: a fresh one to refuse.
	var again HandoverBatchResult
	post(201, "POST", "/handovers", map[string]any{"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "carol", "customer_ids": []string{"c2"}}).json(t, &again)
	post(200, "POST", "/customers/c2/handovers/"+again.Outcomes[0].HandoverID+"/refusal", nil)

	post(200, "PUT", "/wecom/connection", map[string]any{"wecom_corp_id": "ww1234", "token": "Tok1", "encoding_aes_key": strings.Repeat("a", 43)})
	post(204, "DELETE", "/wecom/connection", nil)
	h.must(200, "PUT", b+"/settings", testAdminToken, map[string]any{"staff_capacity": 30000}) // admin only

	var detail CustomerDetail
	h.projected()
	h.must(200, "GET", b+"/customers/c3", tok, nil).json(t, &detail)
	if !detail.Erased {
		t.Fatal("c3 not shown as erased")
	}
	var bob struct {
		Erased bool `json:"erased"`
	}
	h.must(200, "GET", b+"/staff/bob", tok, nil).json(t, &bob)
	if !bob.Erased {
		t.Fatal("bob not shown as erased")
	}
	var g struct {
		Status  string `json:"status"`
		OwnerID string `json:"owner_id"`
		Name    string `json:"name"`
	}
	h.must(200, "GET", b+"/groups/g1", tok, nil).json(t, &g)
	if g.Status != "dismissed" || g.OwnerID != "carol" || g.Name != "VIP 2026" {
		t.Fatalf("group g1: %+v", g)
	}

	metrics := h.must(200, "GET", "/metrics", "", nil)
	for _, rt := range h.srv.routes {
		if !rt.write {
			continue
		}
		ok := false
		for _, line := range strings.Split(string(metrics.body), "\n") {
			if strings.HasPrefix(line, "custody_http_request_duration_seconds_count{code=\"2") && strings.Contains(line, `route="`+rt.pattern()+`"`) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no successful request on %s", rt.pattern())
		}
	}
}
