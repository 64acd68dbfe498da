package commands_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

const (
	tStarted   = "customer.relation_started"
	tEdited    = "customer.relation_edited"
	tEnded     = "customer.relation_ended"
	tRequested = "handover.requested"
	tRefused   = "handover.refused"
	tCompleted = "handover.completed"
	tFailed    = "handover.failed"
	tCancelled = "handover.cancelled"
	tReserved  = "staff.slot_reserved"
	tReleased  = "staff.slot_released"
	tJoined    = "staff.joined"
)

func (f *fixture) request(kind, from, to string, customers ...string) commands.HandoverBatch {
	f.t.Helper()
	b, err := f.h.RequestHandover(f.ctx, commands.RequestHandover{
		Meta: meta(), Kind: kind, FromStaffID: from, ToStaffID: to, CustomerIDs: customers, Message: "李四今后为您服务",
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func TestRelationLifecycle(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		f.add("c1", "a")
		f.must(f.h.EditRelation(f.ctx, commands.EditRelation{Meta: meta(), CustomerID: "c1", StaffID: "a", Tags: []string{"gold"}, Remark: "new"}))
		f.must(f.h.EndRelation(f.ctx, commands.EndRelation{Meta: meta(), CustomerID: "c1", StaffID: "a", Reason: events.EndDeletedByCustomer}))
		if _, err := f.h.EditRelation(f.ctx, commands.EditRelation{Meta: meta(), CustomerID: "c1", StaffID: "a"}); !errors.Is(err, customer.ErrRelationNotActive) {
			t.Fatalf("edit after delete: %v", err)
		}
		f.add("c1", "a") // the customer adds the member again: a new interval
		if got, want := f.customerTypes("c1"), []string{tStarted, tEdited, tEnded, tStarted}; !equal(got, want) {
			t.Fatalf("customer stream %v, want %v", got, want)
		}
		if got, want := types(f.stream(events.StaffStream(corpID, "a"))), []string{tJoined, tReserved, tReleased, tReserved}; !equal(got, want) {
			t.Fatalf("staff stream %v, want %v", got, want)
		}
		started := f.stream(events.CustomerStream(corpID, "c1"))[0]
		if !strings.Contains(string(started.PII), "老客户") || strings.Contains(string(started.Data), "老客户") {
			t.Fatalf("remark must be in PII only: data %s pii %s", started.Data, started.PII)
		}
		if started.Actor != "admin:ops" || started.CorpID != corpID || !started.OccurredAt.Equal(t0) {
			t.Fatalf("envelope = %+v", started.Event)
		}
	})
}

func TestHandoverCompletesExactlyAtTheDeadline(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		b := f.request(events.HandoverInService, "a", "b", "c1")
		o := b.Outcomes[0]
		deadline := t0.Add(24 * time.Hour)
		if o.Status != customer.StatusPending || !o.Deadline.Equal(deadline) || o.HandoverID == "" || b.BatchID == "" {
			t.Fatalf("outcome %+v", o)
		}
		if !f.staff("b").Holds("c1") {
			t.Fatal("no slot reserved on the target")
		}
		// Business times may not run ahead of the clock (MaxClockSkew).
		f.clock.set(deadline)
		_, err := f.h.RefuseHandover(f.ctx, commands.RefuseHandover{Meta: metaAt(deadline), CustomerID: "c1", HandoverID: o.HandoverID})
		if !errors.Is(err, customer.ErrHandoverWindowClosed) {
			t.Fatalf("refusal exactly at 24 h: %v", err)
		}
		rep, err := f.h.SettleDue(f.ctx, corpID, deadline.Add(-time.Microsecond))
		if err != nil || len(rep.Outcomes) != 0 {
			t.Fatalf("settle before the deadline: %+v %v", rep, err)
		}
		rep, err = f.h.SettleDue(f.ctx, corpID, deadline)
		if err != nil || rep.Count(customer.StatusCompleted) != 1 || len(rep.Outcomes) != 1 {
			t.Fatalf("settle at the deadline: %+v %v", rep, err)
		}
		recs := f.stream(events.CustomerStream(corpID, "c1"))
		if got, want := types(recs), []string{tStarted, tRequested, tCompleted, tEnded, tStarted}; !equal(got, want) {
			t.Fatalf("customer stream %v, want %v", got, want)
		}
		inherited := recs[4]
		if !inherited.OccurredAt.Equal(deadline) || !strings.Contains(string(inherited.PII), "老客户") {
			t.Fatalf("new relation: occurred %s pii %s", inherited.OccurredAt, inherited.PII)
		}
		if st := decode(t, inherited).(*events.CustomerRelationStarted); st.StaffID != "b" || st.StartedBy != events.StartedByHandover || st.Tags[0] != "vip" {
			t.Fatalf("new relation %+v", st)
		}
		if f.staff("a").Holds("c1") || !f.staff("b").Holds("c1") {
			t.Fatal("slots not moved from a to b")
		}
		// Settling again finds nothing: the job is idempotent.
		f.clock.set(deadline.Add(time.Hour))
		rep, err = f.h.SettleDue(f.ctx, corpID, deadline.Add(time.Hour))
		if err != nil || len(rep.Outcomes) != 0 {
			t.Fatalf("second settle: %+v %v", rep, err)
		}
	})
}

func TestRefusalAndCancellationFreeTheSlot(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		f.add("c2", "a")
		b := f.request(events.HandoverInService, "a", "b", "c1", "c2")
		before := t0.Add(24*time.Hour - time.Microsecond)
		f.clock.set(before)
		f.must(f.h.RefuseHandover(f.ctx, commands.RefuseHandover{Meta: metaAt(before), CustomerID: "c1", HandoverID: b.Outcomes[0].HandoverID}))
		f.must(f.h.CancelHandover(f.ctx, commands.CancelHandover{Meta: meta(), CustomerID: "c2", HandoverID: b.Outcomes[1].HandoverID}))
		if got := f.customerTypes("c1"); !equal(got, []string{tStarted, tRequested, tRefused}) {
			t.Fatalf("c1 %v", got)
		}
		if got := f.customerTypes("c2"); !equal(got, []string{tStarted, tRequested, tCancelled}) {
			t.Fatalf("c2 %v", got)
		}
		if s := f.staff("b"); s.Used() != 0 {
			t.Fatalf("target still holds %d slots", s.Used())
		}
		// A refused handover does not count against the 90-day limit.
		if o := f.request(events.HandoverInService, "a", "b", "c1").Outcomes[0]; o.Status != customer.StatusPending {
			t.Fatalf("request after refusal: %+v", o)
		}
	})
}

func TestCustomerDeletesOldOwnerWhileHandoverPending(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		f.request(events.HandoverInService, "a", "b", "c1")
		res, err := f.h.EndRelation(f.ctx, commands.EndRelation{Meta: meta(), CustomerID: "c1", StaffID: "a", Reason: events.EndDeletedByCustomer})
		if err != nil {
			t.Fatal(err)
		}
		if got := types(res.Events); !equal(got, []string{tEnded, tFailed}) {
			t.Fatalf("recorded %v", got)
		}
		if fl := decode(t, res.Events[1]).(*events.HandoverFailed); fl.Reason != events.FailRelationEnded {
			t.Fatalf("fail reason %q", fl.Reason)
		}
		if f.staff("b").Holds("c1") || f.staff("a").Holds("c1") {
			t.Fatal("slots not freed")
		}
		f.clock.set(t0.Add(48 * time.Hour))
		rep, err := f.h.SettleDue(f.ctx, corpID, t0.Add(48*time.Hour))
		if err != nil || len(rep.Outcomes) != 0 {
			t.Fatalf("settle: %+v %v", rep, err)
		}
	})
}

func TestHandoverToSomeoneAlreadyFollowing(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		f.add("c1", "b")
		bStream := len(f.stream(events.StaffStream(corpID, "b")))
		if o := f.request(events.HandoverInService, "a", "b", "c1").Outcomes[0]; o.Status != customer.StatusPending {
			t.Fatalf("outcome %+v", o)
		}
		if n := len(f.stream(events.StaffStream(corpID, "b"))); n != bStream {
			t.Fatal("a member already serving the customer needs no second slot")
		}
		f.clock.set(t0.Add(24 * time.Hour))
		if _, err := f.h.SettleDue(f.ctx, corpID, t0.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, want := f.customerTypes("c1"), []string{tStarted, tStarted, tRequested, tCompleted, tEnded}; !equal(got, want) {
			t.Fatalf("customer stream %v, want %v (no second relation_started)", got, want)
		}
		if !f.staff("b").Holds("c1") || f.staff("a").Holds("c1") {
			t.Fatal("slots wrong after completion")
		}
	})
}

func TestDepartedTargetReceivesNothing(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		f.add("c2", "a")
		f.request(events.HandoverInService, "a", "b", "c1")
		res, err := f.h.DepartStaff(f.ctx, commands.DepartStaff{Meta: meta(), StaffID: "b"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.FailedHandovers) != 1 || res.FailedHandovers[0].FailReason != events.FailTargetDeparted {
			t.Fatalf("failed handovers %+v", res.FailedHandovers)
		}
		if got := f.customerTypes("c1"); !equal(got, []string{tStarted, tRequested, tFailed}) {
			t.Fatalf("c1 %v", got)
		}
		o := f.request(events.HandoverInService, "a", "b", "c2").Outcomes[0]
		if o.Status != commands.OutcomeRejected || !errors.Is(o.Err, customer.ErrTargetDeparted) {
			t.Fatalf("handover to a departed member: %+v", o)
		}
		if got := f.customerTypes("c2"); !equal(got, []string{tStarted}) {
			t.Fatalf("a rejected request recorded %v", got)
		}
	})
}

func TestResignedHandoverWithinOneYear(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		f.add("c2", "a")
		f.must(f.h.DepartStaff(f.ctx, commands.DepartStaff{Meta: meta(), StaffID: "a"}))
		if o := f.request(events.HandoverInService, "a", "b", "c1").Outcomes[0]; !errors.Is(o.Err, customer.ErrOwnerDeparted) {
			t.Fatalf("in-service from departed: %+v", o)
		}
		f.clock.set(t0.Add(365*corp.Day - time.Microsecond))
		if o := f.request(events.HandoverResigned, "a", "b", "c1").Outcomes[0]; o.Status != customer.StatusPending {
			t.Fatalf("resigned within a year: %+v", o)
		}
		f.clock.set(t0.Add(365 * corp.Day))
		if o := f.request(events.HandoverResigned, "a", "b", "c2").Outcomes[0]; !errors.Is(o.Err, customer.ErrAssignmentWindowClosed) {
			t.Fatalf("resigned exactly a year after: %+v", o)
		}
	})
}

func TestInServiceLimitThroughCommands(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		f.add("c1", "a")
		settle := func() {
			f.clock.add(24 * time.Hour)
			if rep, err := f.h.SettleDue(f.ctx, corpID, time.Time{}); err != nil || rep.Count(customer.StatusCompleted) != 1 {
				t.Fatalf("settle: %+v %v", rep, err)
			}
		}
		f.request(events.HandoverInService, "a", "b", "c1")
		settle()
		f.request(events.HandoverInService, "b", "a", "c1")
		settle()
		o := f.request(events.HandoverInService, "a", "b", "c1").Outcomes[0]
		var le *customer.HandoverLimitError
		if !errors.As(o.Err, &le) || !le.NextAllowedAt.Equal(t0.Add(90*corp.Day)) {
			t.Fatalf("third handover: %+v", o)
		}
		f.clock.set(t0.Add(90 * corp.Day))
		if o := f.request(events.HandoverInService, "a", "b", "c1").Outcomes[0]; o.Status != customer.StatusPending {
			t.Fatalf("exactly 90 days after the first: %+v", o)
		}
	})
}

func TestBatchOf100AndThe101st(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a", "b")
		ids := make([]string, 101)
		for i := range ids {
			ids[i] = "c" + strings.Repeat("0", 3-len(itoa(i))) + itoa(i)
			f.add(ids[i], "a")
		}
		head := f.head()
		_, err := f.h.RequestHandover(f.ctx, commands.RequestHandover{
			Meta: meta(), Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", CustomerIDs: ids,
		})
		var fe *commands.FieldError
		if !errors.As(err, &fe) || fe.Field != "customer_ids" {
			t.Fatalf("101 customers: %v", err)
		}
		if f.head() != head {
			t.Fatal("a rejected batch appended events")
		}
		b := f.request(events.HandoverInService, "a", "b", ids[:100]...)
		if len(b.Outcomes) != 100 {
			t.Fatalf("%d outcomes", len(b.Outcomes))
		}
		for _, o := range b.Outcomes {
			if o.Status != customer.StatusPending {
				t.Fatalf("outcome %+v", o)
			}
		}
		if n := f.staff("b").Used(); n != 100 {
			t.Fatalf("target holds %d slots, want 100", n)
		}
	})
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

// TestSettleRecordsCapacityFailure: the slot reserved for a pending
// handover went missing (simulated by releasing it behind the handler's
// back, as a crash between two appends could) and the target filled up: at
// completion no slot can be had and the handover fails with
// target_at_capacity.
func TestSettleRecordsCapacityFailure(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		f.must(f.h.JoinStaff(f.ctx, commands.JoinStaff{Meta: meta(), StaffID: "b", Capacity: 1}))
		f.add("c1", "a")
		f.request(events.HandoverInService, "a", "b", "c1")
		lost, err := events.New(uuid.New(), events.Meta{CorpID: corpID, OccurredAt: t0, Actor: "system"},
			&events.StaffSlotReleased{StaffID: "b", CustomerID: "c1", Reason: events.SlotReleasedRelationEnded})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(f.ctx, events.StaffStream(corpID, "b"), eventlog.ExpectAny, lost); err != nil {
			t.Fatal(err)
		}
		f.add("c2", "b")
		f.clock.set(t0.Add(25 * time.Hour))
		rep, err := f.h.SettleDue(f.ctx, corpID, t0.Add(25*time.Hour))
		if err != nil || len(rep.Outcomes) != 1 {
			t.Fatalf("settle: %+v %v", rep, err)
		}
		if o := rep.Outcomes[0]; o.Status != customer.StatusFailed || o.FailReason != events.FailTargetAtCapacity {
			t.Fatalf("outcome %s/%s", o.Status, o.FailReason)
		}
		if got := f.customerTypes("c1"); !equal(got, []string{tStarted, tRequested, tFailed}) {
			t.Fatalf("stream %v", got)
		}
		if failed := f.stream(events.CustomerStream(corpID, "c1"))[2]; !failed.OccurredAt.Equal(t0.Add(25 * time.Hour)) {
			t.Fatalf("a failure found by the settle job occurs when found, got %s", failed.OccurredAt)
		}
		if s := f.staff("b"); s.Used() != 1 || !s.Holds("c2") {
			t.Fatalf("target slots used %d", s.Used())
		}
		if !f.staff("a").Holds("c1") {
			t.Fatal("the old owner keeps the customer")
		}
	})
}

// TestTargetKeepsSlotWhileHandoverPending: the target followed the
// customer, a handover to it is pending, and the customer deletes the
// target: the slot stays reserved for the handover, which then completes.
func TestTargetKeepsSlotWhileHandoverPending(t *testing.T) {
	eachLog(t, func(t *testing.T, log eventlog.EventLog, eraser eventlog.Eraser) {
		f := newFixture(t, log, eraser, corp.Settings{})
		f.join("a")
		f.must(f.h.JoinStaff(f.ctx, commands.JoinStaff{Meta: meta(), StaffID: "b", Capacity: 1}))
		f.add("c1", "a")
		f.add("c1", "b")
		f.request(events.HandoverInService, "a", "b", "c1")
		f.must(f.h.EndRelation(f.ctx, commands.EndRelation{Meta: meta(), CustomerID: "c1", StaffID: "b", Reason: events.EndDeletedByCustomer}))
		if !f.staff("b").Holds("c1") {
			t.Fatal("slot of a pending handover released")
		}
		f.clock.set(t0.Add(24 * time.Hour))
		rep, err := f.h.SettleDue(f.ctx, corpID, t0.Add(24*time.Hour))
		if err != nil || rep.Count(customer.StatusCompleted) != 1 {
			t.Fatalf("settle: %+v %v", rep, err)
		}
		if got := f.customerTypes("c1"); !equal(got, []string{tStarted, tStarted, tRequested, tEnded, tCompleted, tEnded, tStarted}) {
			t.Fatalf("stream %v", got)
		}
		if s := f.staff("b"); s.Used() != 1 || !s.Holds("c1") {
			t.Fatalf("target slots %d", s.Used())
		}
	})
}
