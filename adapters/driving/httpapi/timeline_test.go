package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCustomerTimelineIsTheLogTimeline: GET /customers/{customer} tells
// the history the one timeline builder tells — with relation edits, group
// leaves and dismissals — and a handover that fails in the command that
// requested it comes after its request. GET /groups/{chat} answers the
// membership history.
func TestCustomerTimelineIsTheLogTimeline(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.token("acme")
	const base = "/v1/corps/acme"
	t0 := h.clock.Now()
	at := func(m int) time.Time { return t0.Add(time.Duration(m-60) * time.Minute) }
	for _, s := range []string{"alice", "bob"} {
		h.must(http.StatusCreated, "POST", base+"/staff", tok, map[string]any{"staff_id": s})
	}
	h.must(http.StatusOK, "PUT", base+"/staff/bob/capacity", tok, map[string]any{"capacity": 1, "occurred_at": at(1)})
	h.must(http.StatusCreated, "POST", base+"/customers/c9/relations", tok, map[string]any{"staff_id": "bob", "initiator": "staff", "occurred_at": at(2)})
	h.must(http.StatusCreated, "POST", base+"/customers/c1/relations", tok, map[string]any{"staff_id": "alice", "initiator": "customer", "state": "expo", "occurred_at": at(3)})
	h.must(http.StatusOK, "PATCH", base+"/customers/c1/relations/alice", tok, map[string]any{"tags": []string{"vip"}, "occurred_at": at(4)})
	h.must(http.StatusCreated, "POST", base+"/groups", tok, map[string]any{"chat_id": "g1", "owner_id": "alice", "name": "club", "occurred_at": at(5)})
	h.must(http.StatusOK, "POST", base+"/groups/g1/members", tok, map[string]any{"member_id": "c1", "member_type": "customer", "join_scene": "qrcode", "occurred_at": at(6)})
	h.must(http.StatusOK, "POST", base+"/groups/g1/members/c1/leave", tok, map[string]any{"quit_scene": "left", "occurred_at": at(7)})
	h.must(http.StatusCreated, "POST", base+"/groups", tok, map[string]any{"chat_id": "g2", "owner_id": "alice", "occurred_at": at(8)})
	h.must(http.StatusOK, "POST", base+"/groups/g2/members", tok, map[string]any{"member_id": "c1", "member_type": "customer", "join_scene": "invited", "inviter_id": "alice", "occurred_at": at(9)})
	h.must(http.StatusOK, "POST", base+"/groups/g2/dismissal", tok, map[string]any{"occurred_at": at(10)})
	// bob is at his capacity of 1: the handover is requested and fails at
	// the same instant, in that order.
	var batch HandoverBatchResult
	h.do("POST", base+"/handovers", tok, map[string]any{"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob",
		"customer_ids": []string{"c1"}, "occurred_at": at(11)}).json(t, &batch)
	h.projected()

	var cust CustomerDetail
	h.must(http.StatusOK, "GET", base+"/customers/c1", tok, nil).json(t, &cust)
	var got []string
	for _, e := range cust.Timeline {
		k := e.Kind
		if e.ChatID != "" {
			k += ":" + e.ChatID
		}
		if e.Reason != "" {
			k += "(" + e.Reason + ")"
		}
		got = append(got, k)
	}
	want := []string{"relation_started", "relation_edited", "group_joined:g1", "group_left:g1(left)", "group_joined:g2", "group_dismissed:g2",
		"handover_requested", "handover_failed(target_at_capacity)"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("timeline of c1 (batch %+v):\n got %v\nwant %v", batch, got, want)
	}
	last := cust.Timeline[len(cust.Timeline)-1]
	if !last.At.Equal(cust.Timeline[len(cust.Timeline)-2].At) || last.HandoverID == "" {
		t.Fatalf("the failure is not at its request's instant: %+v", cust.Timeline)
	}
	for _, e := range cust.Timeline {
		if e.Text == "" {
			t.Fatalf("entry without text: %+v", e)
		}
	}

	var g GroupDetail
	h.must(http.StatusOK, "GET", base+"/groups/g1", tok, nil).json(t, &g)
	var hist []string
	for _, m := range g.History {
		left := "member"
		if m.LeftAt != nil {
			left = "left " + m.QuitScene
		}
		hist = append(hist, fmt.Sprintf("%s/%s/%s/%s", m.MemberType, m.MemberID, m.JoinScene, left))
	}
	if strings.Join(hist, " ") != "customer/c1/qrcode/left left" || len(g.Members) != 0 {
		t.Fatalf("group g1: members %+v, history %v", g.Members, hist)
	}
}
