package httpapi

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// wecomGroups answers group transfers as WeCom would, as told.
type wecomGroups struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (w *wecomGroups) TransferGroupOwner(context.Context, string, string, string, bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	return w.err
}

func (w *wecomGroups) set(err error) { w.mu.Lock(); w.err = err; w.mu.Unlock() }

// TestGroupOwnerInWeCom: for a corp whose group transfers WeCom carries
// out, POST /groups/{chat}/owner answers WeCom's refusal as 409
// refused_by_wecom (errcode in the message) and an unclear answer as 502
// wecom_unavailable, recording nothing; once WeCom agrees it is recorded.
func TestGroupOwnerInWeCom(t *testing.T) {
	wg := &wecomGroups{}
	h := newHarness(t, harnessOptions{groupTransfers: wg, noRunner: true})
	tok := h.token("acme")
	b := "/v1/corps/acme"
	t0 := h.clock.Now()
	for _, s := range []string{"alice", "bob"} {
		h.must(201, "POST", b+"/staff", tok, map[string]any{"staff_id": s, "occurred_at": t0.Add(-time.Hour)})
	}
	h.must(201, "POST", b+"/groups", tok, map[string]any{"chat_id": "g1", "owner_id": "alice"})
	owner := map[string]any{"to_staff_id": "bob", "reason": "in_service"}

	wg.set(&commands.WeComRefusal{API: "externalcontact/groupchat/onjob_transfer", Code: 40050, Msg: "invalid chatid"})
	a := h.do("POST", b+"/groups/g1/owner", tok, owner)
	if a.status != 409 || a.errCode(t) != "refused_by_wecom" || !strings.Contains(string(a.body), "40050") {
		t.Fatalf("refused: %d %s", a.status, a.body)
	}
	wg.set(fmt.Errorf("%w: timeout", commands.ErrWeComUnavailable))
	a = h.do("POST", b+"/groups/g1/owner", tok, owner)
	if a.status != 502 || a.errCode(t) != "wecom_unavailable" || strings.Contains(string(a.body), "timeout") {
		t.Fatalf("unclear: %d %s", a.status, a.body)
	}
	recs, err := h.log.ReadStream(context.Background(), events.GroupChatStream("acme", "g1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d events on the group after WeCom's refusals, want 1", len(recs))
	}
	wg.set(nil)
	h.must(200, "POST", b+"/groups/g1/owner", tok, owner)
	if wg.calls != 3 {
		t.Fatalf("WeCom asked %d times, want 3", wg.calls)
	}
}
