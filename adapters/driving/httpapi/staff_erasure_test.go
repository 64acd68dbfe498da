package httpapi

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/tools/export"
	"github.com/custody/custody/events"
	"github.com/custody/custody/projections"
)

// TestStaffErasure erases a staff member through the API: staff.erased is
// recorded, the member's key is destroyed, their name and group nicknames
// are blank in the projections — live and rebuilt — and unreadable in the
// log and in an export, while their relations and slots stay; a second
// erasure records nothing, and a name sent after the erasure is refused.
func TestStaffErasure(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	tok := h.token("acme")
	b := "/v1/corps/acme"
	const secret, nick = "Alice Secretname", "Ali-the-nick"
	h.must(201, "POST", b+"/staff", tok, map[string]any{"staff_id": "alice", "name": secret})
	h.must(201, "POST", b+"/staff", tok, map[string]any{"staff_id": "bob", "name": "Bob Kept"})
	h.must(201, "POST", b+"/customers/c1/relations", tok, map[string]any{"staff_id": "alice", "initiator": "staff", "customer_name": "Cee"})
	h.must(201, "POST", b+"/groups", tok, map[string]any{"chat_id": "g1", "owner_id": "alice", "name": "VIP"})
	h.must(201, "POST", b+"/groups", tok, map[string]any{"chat_id": "g2", "owner_id": "bob"})
	for _, m := range []map[string]any{
		{"chat": "g1", "member_id": "alice", "member_type": "staff", "join_scene": "invited", "nickname": nick},
		{"chat": "g1", "member_id": "bob", "member_type": "staff", "join_scene": "invited", "nickname": "Bobby"},
		// A customer with the erased member's id keeps their nickname.
		{"chat": "g2", "member_id": "alice", "member_type": "customer", "join_scene": "qrcode", "nickname": "customer alice"},
	} {
		chat := m["chat"].(string)
		delete(m, "chat")
		h.must(200, "POST", b+"/groups/"+chat+"/members", tok, m)
	}
	h.projected()
	var before projections.StaffMember
	h.must(200, "GET", b+"/staff/alice", tok, nil).json(t, &before)
	if before.Name != secret || before.Erased {
		t.Fatalf("before the erasure: %+v", before)
	}

	from := h.head().appended
	var res CommandResult
	h.must(200, "POST", b+"/staff/alice/erasure", tok, nil).json(t, &res)
	if len(res.Events) != 1 || res.Events[0].Type != "staff.erased" || res.Events[0].Stream != events.StaffStream("acme", "alice") {
		t.Fatalf("erasure answered %+v", res)
	}
	if recs := h.readSince(from); len(recs) != 1 || recs[0].Type != "staff.erased" {
		t.Fatalf("erasure recorded %d events", len(recs))
	}
	if _, err := pii.NewPostgresKeyStore(h.pool).Load(ctx, events.StaffSubject("acme", "alice")); !errors.Is(err, pii.ErrErased) {
		t.Fatalf("alice's key after the erasure: %v, want pii.ErrErased", err)
	}
	// Again: 200, nothing recorded.
	again := h.head()
	h.must(200, "POST", b+"/staff/alice/erasure", tok, map[string]any{}).json(t, &res)
	if len(res.Events) != 0 || h.head() != again {
		t.Fatalf("second erasure recorded %+v", res.Events)
	}
	// The log no longer reads alice's personal data; bob's and the
	// customer's are untouched.
	for _, r := range h.readSince(events.Start) {
		if strings.Contains(string(r.PII), "Secretname") || strings.Contains(string(r.PII), nick) {
			t.Fatalf("%s at %s still reads alice's personal data", r.Type, r.Position)
		}
		if r.Subject == events.StaffSubject("acme", "alice") && len(r.PII) > 0 && !r.PIIErased {
			t.Fatalf("%s sealed under alice's key is not marked erased", r.Type)
		}
	}

	check := func(when string) {
		t.Helper()
		var m projections.StaffMember
		h.must(200, "GET", b+"/staff/alice", tok, nil).json(t, &m)
		if m.Name != "" || !m.Erased || m.ErasedAt == nil || m.ActiveCustomers != 1 || m.SlotsUsed != 1 || m.Status != "active" {
			t.Fatalf("%s: alice %+v", when, m)
		}
		h.must(200, "GET", b+"/staff/bob", tok, nil).json(t, &m)
		if m.Name != "Bob Kept" || m.Erased {
			t.Fatalf("%s: bob %+v", when, m)
		}
		nicks := map[string]string{}
		for _, chat := range []string{"g1", "g2"} {
			var g projections.GroupChatView
			h.must(200, "GET", b+"/groups/"+chat, tok, nil).json(t, &g)
			for _, m := range g.Members {
				nicks[m.MemberType+"/"+m.MemberID] = m.Nickname
			}
		}
		if len(nicks) != 3 || nicks["staff/alice"] != "" || nicks["staff/bob"] != "Bobby" || nicks["customer/alice"] != "customer alice" {
			t.Fatalf("%s: nicknames %q", when, nicks)
		}
		var n int
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM projections.group_membership_history
			WHERE corp_id = 'acme' AND member_type = 'staff' AND member_id = 'alice' AND nickname = ''`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: alice's blank nicknames in the history: %d %v", when, n, err)
		}
	}
	h.projected()
	check("live")
	if _, err := projections.Rebuild(ctx, h.pool, h.log, projections.All(), projections.RebuildOptions{Fresh: true, Logger: quietLogger()}); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")

	// An export with personal data leaves alice's out, keeps bob's.
	var buf bytes.Buffer
	st, err := export.Export(ctx, h.log, &buf, export.Options{Format: export.JSONL, IncludePII: true, Filter: export.Filter{CorpID: "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Contains(out, "Secretname") || strings.Contains(out, nick) ||
		!strings.Contains(out, "Bob Kept") || !strings.Contains(out, "Bobby") || st.PIIErased != 2 {
		t.Fatalf("export (%d with personal data erased): %s", st.PIIErased, out)
	}

	// A name for the erased member is refused; a member erased before
	// joining may join without one.
	h.must(200, "POST", b+"/staff/carol/erasure", tok, nil)
	if a := h.must(409, "POST", b+"/staff", tok, map[string]any{"staff_id": "carol", "name": "Carol"}); a.errCode(t) != "staff_erased" {
		t.Fatalf("join with a name after the erasure: %s", a.body)
	}
	h.must(201, "POST", b+"/staff", tok, map[string]any{"staff_id": "carol"})
}
