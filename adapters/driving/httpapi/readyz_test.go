package httpapi

import (
	"context"
	"net/http"
	"testing"
)

// TestReadyzListsParkedCorps: /readyz stays 200 while a projection has a
// parked corp, and its body names the projection, corp and event.
func TestReadyzListsParkedCorps(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	var body struct {
		Status string           `json:"status"`
		Parked []map[string]any `json:"parked"`
	}
	h.must(http.StatusOK, "GET", "/readyz", "", nil).json(t, &body)
	if body.Status != "ready" || len(body.Parked) != 0 {
		t.Fatalf("readyz without parked corps: %+v", body)
	}
	// What the projector records when it parks a corp.
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO projections.parked
		(projection, corp_id, commit_pos, prepare_pos, event_id, event_type, stream, reason)
		VALUES ('staff', 'c9', 7, 8, '0190c6a8-0000-7000-8000-000000000001', 'staff.joined', 'staff-c9-s1', 'SQLSTATE 22021: x')`); err != nil {
		t.Fatal(err)
	}
	body.Parked = nil
	h.must(http.StatusOK, "GET", "/readyz", "", nil).json(t, &body)
	if len(body.Parked) != 1 {
		t.Fatalf("readyz parked: %+v", body.Parked)
	}
	p := body.Parked[0]
	for k, want := range map[string]string{"projection": "staff", "corp_id": "c9", "position": "7/8",
		"event_id": "0190c6a8-0000-7000-8000-000000000001", "event_type": "staff.joined"} {
		if p[k] != want {
			t.Errorf("parked %s = %v, want %s", k, p[k], want)
		}
	}
	if _, ok := p["stream"]; ok {
		t.Error("readyz shows the stream (it names a customer)")
	}
}
