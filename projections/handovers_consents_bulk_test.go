package projections

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// TestBulkEqualsApplyHandoversConsents compares the folds with Apply on a
// small generated history (so every bulk projection's tables have rows)
// followed by what the generator never produces for handovers and
// consents: a second request with the same id, settlements of handovers
// never requested or requested only later, a settlement after a
// settlement (failed with a reason, then completed; completed, then
// failed), a failure without a reason, the same handover id in two corps;
// consent changes with equal changed_at, with changed_at equal only once
// stored (they differ below a microsecond), older changes ingested late,
// changes without changed_at, and a v1 consent.recorded.
func TestBulkEqualsApplyHandoversConsents(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if _, err := generate(ctx, w.log, genOptions{Corp: "c1", Events: 6000, Writers: 2, Staff: 6, Customers: 30, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	req := func(id, cust, from, to, batch, msg string, deadline int) *events.HandoverRequested {
		return &events.HandoverRequested{HandoverID: id, CustomerID: cust, Kind: events.HandoverInService, FromStaffID: from, ToStaffID: to,
			BatchID: batch, Deadline: minute(deadline), PII: events.HandoverRequestPII{Message: msg}}
	}
	consent := func(cust, purpose, state string, changed time.Time) *events.ConsentRecorded {
		return &events.ConsentRecorded{CustomerID: cust, Purpose: purpose, State: state, ChangedAt: changed}
	}
	m := 10000
	add := func(corp string, ps ...events.Payload) {
		for _, p := range ps {
			m++
			w.addAt(minute(m), corp, p)
		}
	}
	for _, corp := range []string{"c1", "c2"} {
		add(corp,
			// A second request with the same id changes nothing, pending or
			// settled.
			req("hx1", "cux1", "s1", "s2", "", "", 20000), req("hx1", "cux2", "s3", "s4", "b1", "again", 30000),
			&events.HandoverRefused{HandoverID: "hx1", CustomerID: "cux1"},
			req("hx1", "cux1", "s5", "s6", "b2", "third", 40000),
			// Settlements of a handover never requested, and of one requested
			// only afterwards.
			&events.HandoverCompleted{HandoverID: "hx-none", CustomerID: "cux1", FromStaffID: "s1", ToStaffID: "s2"},
			&events.HandoverFailed{HandoverID: "hx2", CustomerID: "cux1", Reason: events.FailTargetDeparted},
			&events.HandoverCancelled{HandoverID: "hx2", CustomerID: "cux1"},
			req("hx2", "cux1", "s1", "s3", "b3", "late", 20001),
			// Settlement after settlement: the last one wins, a failure
			// reason is cleared by a later settlement without one.
			req("hx3", "cux3", "s1", "s2", "", "m", 20002),
			&events.HandoverFailed{HandoverID: "hx3", CustomerID: "cux3", Reason: events.FailTargetAtCapacity},
			&events.HandoverCompleted{HandoverID: "hx3", CustomerID: "cux3", FromStaffID: "s1", ToStaffID: "s2"},
			req("hx4", "cux3", "s2", "s1", "b4", "", 20003),
			&events.HandoverCompleted{HandoverID: "hx4", CustomerID: "cux3", FromStaffID: "s2", ToStaffID: "s1"},
			&events.HandoverFailed{HandoverID: "hx4", CustomerID: "cux3", Reason: events.FailRelationEnded},
			// A failure without a reason; a settlement on another customer's
			// stream (the id alone names the handover).
			req("hx5", "cux4", "s1", "s2", "", "", 20004),
			&events.HandoverFailed{HandoverID: "hx5", CustomerID: "cux4"},
			req("hx6", "cux4", "s1", "s2", "", "", 20005),
			&events.HandoverCancelled{HandoverID: "hx6", CustomerID: "cux5"},
			req("hx7", "cux5", "s3", "s4", "", "pending", 20006),

			// Consents: equal changed_at (the later change wins), an older
			// change ingested late (history only), the same instant below a
			// microsecond (equal once stored: the later change wins), no
			// changed_at (occurred_at stands in).
			consent("cux1", events.PurposeMarketing, events.ConsentAgree, minute(5)),
			consent("cux1", events.PurposeMarketing, events.ConsentDisagree, minute(5)),
			consent("cux1", events.PurposeMarketing, events.ConsentDefaultAgree, minute(4)),
			consent("cux1", events.PurposeChatArchive, events.ConsentAgree, minute(6).Add(700*time.Nanosecond)),
			consent("cux1", events.PurposeChatArchive, events.ConsentDisagree, minute(6).Add(300*time.Nanosecond)),
			consent("cux2", events.PurposeMarketing, events.ConsentAgree, time.Time{}),
			consent("cux2", events.PurposeMarketing, events.ConsentDisagree, minute(m+1)),
			consent("cux2", events.PurposeMarketing, events.ConsentAgree, time.Time{}),
			consent("cux3", events.PurposeChatArchive, events.ConsentDisagree, minute(m+100)),
			consent("cux3", events.PurposeChatArchive, events.ConsentAgree, time.Time{}),
		)
		// consent.recorded v1, without changed_at and with it.
		for i, v1 := range []struct{ cust, data string }{
			{"cux4", `{"customer_id":"cux4","purpose":"marketing","agreed":true}`},
			{"cux4", `{"customer_id":"cux4","purpose":"marketing","agreed":false,"changed_at":"2026-03-01T00:00:00Z"}`},
			{"cux5", `{"customer_id":"cux5","purpose":"chat_archive","agreed":false}`},
		} {
			m++
			e := events.Event{ID: uuid.New(), Type: "consent.recorded", SchemaVersion: 1, CorpID: corp, OccurredAt: minute(m).Add(time.Duration(i)),
				Actor: "system", Data: []byte(v1.data)}
			if _, err := w.log.Append(ctx, events.CustomerStream(corp, v1.cust), eventlog.ExpectAny, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	assertBulkEqualsApply(t, newDB(t), w.log)
}
