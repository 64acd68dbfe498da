package storetest

import (
	"encoding/json"
	"testing"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// testPersonalData: personal data round-trips sealed; after erasure its
// events read back with PIIErased, no error and their data intact, other
// subjects are untouched, and new personal data for the subject is dropped.
func testPersonalData(t *testing.T, h Harness) {
	log, ctx := h.Log, ctxFor(t)
	if h.Eraser == nil {
		t.Fatal("harness has no Eraser")
	}
	withPII := func(n int, subject, pii string) events.Event {
		e := Event(n)
		e.Subject = subject
		e.PII = []byte(pii)
		return e
	}
	alice, bob := "customer/corp1/alice", "customer/corp1/bob"
	mustAppend(t, log, "customer-corp1-alice", eventlog.ExpectNoStream,
		withPII(1, alice, `{"name":"Alice","phone":"+86 138 0000 0000"}`),
		Event(2),
		withPII(3, alice, `{"remark":"VIP"}`))
	mustAppend(t, log, "customer-corp1-bob", eventlog.ExpectNoStream, withPII(4, bob, `{"name":"Bob"}`))

	recs, err := log.ReadStream(ctx, "customer-corp1-alice", 0)
	if err != nil || len(recs) != 3 {
		t.Fatalf("read: %d events, err %v", len(recs), err)
	}
	if recs[0].PIIErased || !jsonEqual(t, recs[0].PII, []byte(`{"name":"Alice","phone":"+86 138 0000 0000"}`)) {
		t.Fatalf("personal data before erasure: %s (erased %v)", recs[0].PII, recs[0].PIIErased)
	}
	if len(recs[1].PII) != 0 || recs[1].PIIErased {
		t.Fatalf("event without personal data reads back %q (erased %v)", recs[1].PII, recs[1].PIIErased)
	}

	if err := h.Eraser.Erase(ctx, alice); err != nil {
		t.Fatalf("erase: %v", err)
	}
	if err := h.Eraser.Erase(ctx, alice); err != nil {
		t.Fatalf("second erase of the same subject: %v", err)
	}
	// Personal data written for an erased subject is dropped, not sealed
	// under a fresh key.
	res := mustAppend(t, log, "customer-corp1-alice", eventlog.ExpectVersion(2), withPII(5, alice, `{"remark":"after erasure"}`))
	if !res.Events[0].PIIErased || len(res.Events[0].PII) != 0 {
		t.Fatalf("append for an erased subject reports %q (erased %v), want its personal data dropped", res.Events[0].PII, res.Events[0].PIIErased)
	}
	waitHead(t, log, res.Events[0].Position)

	checkErased := func(where string, recs []events.Recorded) {
		t.Helper()
		var alices int
		for _, r := range recs {
			switch {
			case r.Stream == "customer-corp1-bob":
				if r.PIIErased || !jsonEqual(t, r.PII, []byte(`{"name":"Bob"}`)) {
					t.Fatalf("%s: another subject's data changed: %s (erased %v)", where, r.PII, r.PIIErased)
				}
			case r.Subject == alice:
				alices++
				if !r.PIIErased || len(r.PII) != 0 {
					t.Fatalf("%s: erased subject reads back %q (erased %v)", where, r.PII, r.PIIErased)
				}
			default:
				if r.PIIErased {
					t.Fatalf("%s: event without personal data marked erased", where)
				}
			}
			var n struct{ N int }
			if err := json.Unmarshal(r.Data, &n); err != nil || n.N == 0 {
				t.Fatalf("%s: non-personal data lost: %s", where, r.Data)
			}
		}
		if alices != 3 {
			t.Fatalf("%s: %d events of the erased subject, want 3", where, alices)
		}
	}
	recs, err = log.ReadStream(ctx, "customer-corp1-alice", 0)
	if err != nil {
		t.Fatalf("read after erasure: %v", err)
	}
	checkErased("ReadStream", recs)
	checkErased("ReadAll", readAll(t, log, 2))
	checkErased("Subscribe", subscribeN(t, log, events.Start, 5))
}
