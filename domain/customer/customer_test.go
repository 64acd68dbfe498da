package customer_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

const cust = "wmCust"

var (
	t0  = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	set = corp.Defaults()
	day = corp.Day
	h24 = 24 * time.Hour
)

// fact is a given event and when it occurred.
type fact struct {
	at time.Time
	p  events.Payload
}

func at(t time.Time, p events.Payload) fact { return fact{t, p} }

// history encodes facts the way a log returns them.
func history(t *testing.T, facts ...fact) []events.Recorded {
	t.Helper()
	out := make([]events.Recorded, len(facts))
	for i, f := range facts {
		enc, err := events.Encode("corp", f.p)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = events.Recorded{
			Event: events.Event{
				Type: enc.Type, SchemaVersion: enc.SchemaVersion, CorpID: "corp", OccurredAt: f.at,
				Data: enc.Data, PII: enc.PII, Subject: enc.Subject,
			},
			Stream:        events.CustomerStream("corp", cust),
			StreamVersion: int64(i),
		}
	}
	return out
}

func load(t *testing.T, facts ...fact) *customer.Customer {
	t.Helper()
	c, err := customer.Rehydrate(cust, history(t, facts...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var remark = events.RelationPII{CustomerName: "王五", Remark: "老客户", Phones: []string{"+8613800000000"}}

func added(staffID string) events.Payload {
	return &events.CustomerRelationStarted{
		CustomerID: cust, StaffID: staffID, Initiator: events.InitiatorStaff, AddWay: 1, State: "expo",
		Tags: []string{"vip"}, StartedBy: events.StartedByAdd, PII: remark,
	}
}

func ended(staffID, reason string) events.Payload {
	return &events.CustomerRelationEnded{CustomerID: cust, StaffID: staffID, Reason: reason}
}

func requested(id, kind, from, to string, deadline time.Time) events.Payload {
	return &events.HandoverRequested{HandoverID: id, CustomerID: cust, Kind: kind, FromStaffID: from, ToStaffID: to, Deadline: deadline}
}

func completed(id, from, to string) events.Payload {
	return &events.HandoverCompleted{HandoverID: id, CustomerID: cust, FromStaffID: from, ToStaffID: to}
}

func failed(id, reason string) events.Payload {
	return &events.HandoverFailed{HandoverID: id, CustomerID: cust, Reason: reason}
}

var (
	active   = func(id string) staff.Status { return staff.Status{ID: id, Joined: true} }
	departed = func(id string, at time.Time) staff.Status {
		return staff.Status{ID: id, Joined: true, Departed: true, DepartedAt: at}
	}
)

func inService(id, from, to string) customer.HandoverRequest {
	return customer.HandoverRequest{HandoverID: id, Kind: events.HandoverInService, From: active(from), To: active(to)}
}

type decision func(c *customer.Customer) ([]events.Payload, error)

type rule struct {
	name  string
	given []fact
	when  decision
	then  []events.Payload
	err   error
}

func run(t *testing.T, rules []rule) {
	t.Helper()
	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			c := load(t, tc.given...)
			before := c.Version()
			got, err := tc.when(c)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil && got != nil {
				t.Fatalf("events %v returned with error %v", got, err)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("events:\n got %s\nwant %s", show(got), show(tc.then))
			}
			if c.Version() != before {
				t.Fatal("a decision changed the aggregate")
			}
		})
	}
}

func show(ps []events.Payload) string {
	var b strings.Builder
	for _, p := range ps {
		enc, _ := events.Encode("corp", p)
		b.WriteString(enc.Type + string(enc.Data) + string(enc.PII) + " ")
	}
	return b.String()
}

func TestRelations(t *testing.T) {
	run(t, []rule{
		{
			name: "staff adds customer",
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.StartRelation(customer.NewRelation{StaffID: "a", Initiator: events.InitiatorStaff, AddWay: 1, State: "expo", Tags: []string{"vip"}, PII: remark})
			},
			then: []events.Payload{added("a")},
		},
		{
			name: "customer adds staff",
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.StartRelation(customer.NewRelation{StaffID: "a", Initiator: events.InitiatorCustomer})
			},
			then: []events.Payload{&events.CustomerRelationStarted{CustomerID: cust, StaffID: "a", Initiator: events.InitiatorCustomer, StartedBy: events.StartedByAdd}},
		},
		{
			name:  "second add of an active relation",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.StartRelation(customer.NewRelation{StaffID: "a", Initiator: events.InitiatorStaff})
			},
			err: customer.ErrRelationActive,
		},
		{
			name:  "re-add after the customer deleted the member",
			given: []fact{at(t0, added("a")), at(t0.Add(time.Hour), ended("a", events.EndDeletedByCustomer))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.StartRelation(customer.NewRelation{StaffID: "a", Initiator: events.InitiatorCustomer})
			},
			then: []events.Payload{&events.CustomerRelationStarted{CustomerID: cust, StaffID: "a", Initiator: events.InitiatorCustomer, StartedBy: events.StartedByAdd}},
		},
		{
			name:  "several members follow one customer",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.StartRelation(customer.NewRelation{StaffID: "b", Initiator: events.InitiatorStaff})
			},
			then: []events.Payload{&events.CustomerRelationStarted{CustomerID: cust, StaffID: "b", Initiator: events.InitiatorStaff, StartedBy: events.StartedByAdd}},
		},
		{
			name: "unknown initiator",
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.StartRelation(customer.NewRelation{StaffID: "a", Initiator: "robot"})
			},
			err: customer.ErrInvalidArgument,
		},
		{
			name:  "staff deletes customer",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EndRelation("a", events.EndDeletedByStaff)
			},
			then: []events.Payload{ended("a", events.EndDeletedByStaff)},
		},
		{
			name:  "customer deletes staff (churn)",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EndRelation("a", events.EndDeletedByCustomer)
			},
			then: []events.Payload{ended("a", events.EndDeletedByCustomer)},
		},
		{
			name:  "delete of an ended relation",
			given: []fact{at(t0, added("a")), at(t0, ended("a", events.EndDeletedByStaff))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EndRelation("a", events.EndDeletedByCustomer)
			},
			err: customer.ErrRelationNotActive,
		},
		{
			name:  "handed_over is not an end reason a caller may give",
			given: []fact{at(t0, added("a"))},
			when:  func(c *customer.Customer) ([]events.Payload, error) { return c.EndRelation("a", events.EndHandedOver) },
			err:   customer.ErrInvalidArgument,
		},
		{
			name:  "a handover done in WeCom ends the old owner's relation",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EndRelation("a", events.EndHandedOverInWeCom)
			},
			then: []events.Payload{&events.CustomerRelationEnded{CustomerID: cust, StaffID: "a", Reason: events.EndHandedOverInWeCom}},
		},
		{
			name:  "edit an active relation",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EditRelation("a", []string{"gold"}, events.RelationPII{Remark: "new"})
			},
			then: []events.Payload{&events.CustomerRelationEdited{CustomerID: cust, StaffID: "a", Tags: []string{"gold"}, PII: events.RelationPII{Remark: "new"}}},
		},
		{
			name:  "edit an ended relation",
			given: []fact{at(t0, added("a")), at(t0, ended("a", events.EndDeletedByStaff))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EditRelation("a", nil, events.RelationPII{})
			},
			err: customer.ErrRelationNotActive,
		},
		{
			name: "edit a relation that never was",
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EditRelation("a", nil, events.RelationPII{})
			},
			err: customer.ErrRelationNotActive,
		},
	})
}

func TestReAddStartsANewInterval(t *testing.T) {
	c := load(t,
		at(t0, added("a")),
		at(t0.Add(time.Hour), ended("a", events.EndDeletedByCustomer)),
		at(t0.Add(2*time.Hour), added("a")),
	)
	r, ok := c.Relation("a")
	if !ok || !r.Active || r.Intervals != 2 || !r.StartedAt.Equal(t0.Add(2*time.Hour)) || !r.EndedAt.IsZero() {
		t.Fatalf("relation after re-add = %+v", r)
	}
	if got := c.Followers(); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("followers = %v", got)
	}
}

func TestHandoverRequest(t *testing.T) {
	deadline := t0.Add(h24)
	msg200 := strings.Repeat("您", 200)
	run(t, []rule{
		{
			name:  "in-service request",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h1", "a", "b")
				r.BatchID, r.Message = "b1", msg200
				return c.RequestHandover(r, t0, set)
			},
			then: []events.Payload{&events.HandoverRequested{HandoverID: "h1", CustomerID: cust, Kind: events.HandoverInService, FromStaffID: "a", ToStaffID: "b", BatchID: "b1", Deadline: deadline, PII: events.HandoverRequestPII{Message: msg200}}},
		},
		{
			name:  "message of 201 characters",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h1", "a", "b")
				r.Message = msg200 + "!"
				return c.RequestHandover(r, t0, set)
			},
			err: customer.ErrMessageTooLong,
		},
		{
			name:  "target at capacity: requested and failed together",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h1", "a", "b")
				r.TargetFull = true
				return c.RequestHandover(r, t0, set)
			},
			then: []events.Payload{requested("h1", events.HandoverInService, "a", "b", deadline), failed("h1", events.FailTargetAtCapacity)},
		},
		{
			name:  "to someone who already follows the customer",
			given: []fact{at(t0, added("a")), at(t0, added("b"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RequestHandover(inService("h1", "a", "b"), t0, set)
			},
			then: []events.Payload{requested("h1", events.HandoverInService, "a", "b", deadline)},
		},
		{
			name: "owner has no relation",
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RequestHandover(inService("h1", "a", "b"), t0, set)
			},
			err: customer.ErrRelationNotActive,
		},
		{
			name:  "relation already has a pending handover",
			given: []fact{at(t0, added("a")), at(t0, requested("h1", events.HandoverInService, "a", "b", deadline))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RequestHandover(inService("h2", "a", "c"), t0, set)
			},
			err: customer.ErrHandoverPending,
		},
		{
			name:  "handover id reused",
			given: []fact{at(t0, added("a")), at(t0, requested("h1", events.HandoverInService, "a", "b", deadline)), at(t0, failed("h1", events.FailTargetAtCapacity))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RequestHandover(inService("h1", "a", "b"), t0, set)
			},
			err: customer.ErrHandoverExists,
		},
		{
			name:  "to oneself",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RequestHandover(inService("h1", "a", "a"), t0, set)
			},
			err: customer.ErrSameStaff,
		},
		{
			name:  "departed target receives nothing",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h1", "a", "b")
				r.To = departed("b", t0.Add(-day))
				return c.RequestHandover(r, t0, set)
			},
			err: customer.ErrTargetDeparted,
		},
		{
			name:  "unknown target",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h1", "a", "b")
				r.To = staff.Status{ID: "b"}
				return c.RequestHandover(r, t0, set)
			},
			err: customer.ErrUnknownTarget,
		},
		{
			name:  "in-service from a departed owner",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h1", "a", "b")
				r.From = departed("a", t0.Add(-day))
				return c.RequestHandover(r, t0, set)
			},
			err: customer.ErrOwnerDeparted,
		},
		{
			name:  "resigned from an active owner",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h1", "a", "b")
				r.Kind = events.HandoverResigned
				return c.RequestHandover(r, t0, set)
			},
			err: customer.ErrOwnerNotDeparted,
		},
		{
			name:  "unknown kind",
			given: []fact{at(t0, added("a"))},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h1", "a", "b")
				r.Kind = "teleport"
				return c.RequestHandover(r, t0, set)
			},
			err: customer.ErrInvalidArgument,
		},
	})
}

func TestResignedAssignmentWindow(t *testing.T) {
	left := t0.Add(-400 * day)
	year := 365 * day
	given := []fact{at(left.Add(-day), added("a"))}
	resigned := func(now time.Time) decision {
		return func(c *customer.Customer) ([]events.Payload, error) {
			r := inService("h1", "a", "b")
			r.Kind, r.From = events.HandoverResigned, departed("a", left)
			return c.RequestHandover(r, now, set)
		}
	}
	justBefore := left.Add(year - time.Microsecond)
	run(t, []rule{
		{
			name: "a day after departure", given: given, when: resigned(left.Add(day)),
			then: []events.Payload{requested("h1", events.HandoverResigned, "a", "b", left.Add(day+h24))},
		},
		{
			name: "1 µs before one year", given: given, when: resigned(justBefore),
			then: []events.Payload{requested("h1", events.HandoverResigned, "a", "b", justBefore.Add(h24))},
		},
		{name: "exactly one year", given: given, when: resigned(left.Add(year)), err: customer.ErrAssignmentWindowClosed},
		{name: "after one year", given: given, when: resigned(left.Add(year + day)), err: customer.ErrAssignmentWindowClosed},
	})
}

// handedOver is the history of one completed in-service handover a→b
// requested at req, followed by b→a's relation back... kept simple: the
// customer ping-pongs between a and b.
func pingPong(reqs ...time.Time) []fact {
	var out []fact
	out = append(out, at(reqs[0].Add(-day), added("a")))
	from, to := "a", "b"
	for i, r := range reqs {
		id := "h" + string(rune('1'+i))
		out = append(out,
			at(r, requested(id, events.HandoverInService, from, to, r.Add(h24))),
			at(r.Add(h24), completed(id, from, to)),
			at(r.Add(h24), ended(from, events.EndHandedOver)),
			at(r.Add(h24), &events.CustomerRelationStarted{CustomerID: cust, StaffID: to, Initiator: events.InitiatorStaff, StartedBy: events.StartedByHandover, HandoverID: id}),
		)
		from, to = to, from
	}
	return out
}

func TestInServiceLimit(t *testing.T) {
	first, second := t0, t0.Add(10*day)
	period := 90 * day
	third := func(now time.Time) decision {
		return func(c *customer.Customer) ([]events.Payload, error) {
			return c.RequestHandover(inService("h9", "a", "c"), now, set)
		}
	}
	run(t, []rule{
		{name: "third within 90 days", given: pingPong(first, second), when: third(t0.Add(30 * day)), err: customer.ErrHandoverLimitReached},
		{name: "1 µs before 90 days after the first", given: pingPong(first, second), when: third(first.Add(period - time.Microsecond)), err: customer.ErrHandoverLimitReached},
		{
			name: "exactly 90 days after the first", given: pingPong(first, second), when: third(first.Add(period)),
			then: []events.Payload{requested("h9", events.HandoverInService, "a", "c", first.Add(period+h24))},
		},
		{
			name: "refused handovers do not count",
			given: []fact{
				at(t0, added("a")),
				at(t0, requested("h1", events.HandoverInService, "a", "b", t0.Add(h24))),
				at(t0, &events.HandoverRefused{HandoverID: "h1", CustomerID: cust}),
				at(t0, requested("h2", events.HandoverInService, "a", "b", t0.Add(h24))),
				at(t0, &events.HandoverCancelled{HandoverID: "h2", CustomerID: cust}),
				at(t0, requested("h3", events.HandoverInService, "a", "b", t0.Add(h24))),
				at(t0, failed("h3", events.FailTargetAtCapacity)),
			},
			when: third(t0.Add(day)),
			then: []events.Payload{requested("h9", events.HandoverInService, "a", "c", t0.Add(day+h24))},
		},
		{
			name: "resigned handovers do not count",
			given: append(pingPong(first, second),
				at(second.Add(2*day), added("z")),
			),
			when: func(c *customer.Customer) ([]events.Payload, error) {
				r := inService("h9", "z", "c")
				r.Kind, r.From = events.HandoverResigned, departed("z", second.Add(3*day))
				return c.RequestHandover(r, second.Add(4*day), set)
			},
			then: []events.Payload{requested("h9", events.HandoverResigned, "z", "c", second.Add(4*day+h24))},
		},
	})
	c := load(t, pingPong(first, second)...)
	_, err := c.RequestHandover(inService("h9", "a", "c"), t0.Add(30*day), set)
	var le *customer.HandoverLimitError
	if !errors.As(err, &le) || !le.NextAllowedAt.Equal(first.Add(period)) || le.Limit != 2 {
		t.Fatalf("err = %#v, want a HandoverLimitError allowing the next at %s", err, first.Add(period))
	}
}

func TestHandoverSettlement(t *testing.T) {
	deadline := t0.Add(h24)
	pending := []fact{at(t0.Add(-day), added("a")), at(t0, requested("h1", events.HandoverInService, "a", "b", deadline))}
	justBefore := deadline.Add(-time.Microsecond)
	handedOver := []events.Payload{
		completed("h1", "a", "b"),
		&events.CustomerRelationEnded{CustomerID: cust, StaffID: "a", Reason: events.EndHandedOver, HandoverID: "h1"},
		&events.CustomerRelationStarted{
			CustomerID: cust, StaffID: "b", Initiator: events.InitiatorStaff, AddWay: 1, State: "expo", Tags: []string{"vip"},
			StartedBy: events.StartedByHandover, HandoverID: "h1", PII: remark,
		},
	}
	run(t, []rule{
		{
			name: "refuse 1 µs before the deadline", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.RefuseHandover("h1", justBefore) },
			then: []events.Payload{&events.HandoverRefused{HandoverID: "h1", CustomerID: cust}},
		},
		{
			name: "refuse exactly at 24 h", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.RefuseHandover("h1", deadline) },
			err:  customer.ErrHandoverWindowClosed,
		},
		{
			name: "cancel before the deadline", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.CancelHandover("h1", justBefore) },
			then: []events.Payload{&events.HandoverCancelled{HandoverID: "h1", CustomerID: cust}},
		},
		{
			name: "cancel exactly at 24 h", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.CancelHandover("h1", deadline) },
			err:  customer.ErrHandoverWindowClosed,
		},
		{
			name: "complete 1 µs before the deadline", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.CompleteHandover("h1", justBefore, active("b"), false)
			},
			err: customer.ErrHandoverNotDue,
		},
		{
			name: "complete exactly at 24 h: the new relation inherits remark and tags", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.CompleteHandover("h1", deadline, active("b"), false)
			},
			then: handedOver,
		},
		{
			name:  "complete to someone already following: no second relation",
			given: append([]fact{at(t0.Add(-day), added("b"))}, pending...),
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.CompleteHandover("h1", deadline, active("b"), false)
			},
			then: handedOver[:2],
		},
		{
			name: "target departed meanwhile", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.CompleteHandover("h1", deadline, departed("b", t0.Add(time.Hour)), false)
			},
			then: []events.Payload{failed("h1", events.FailTargetDeparted)},
		},
		{
			name: "target full at completion", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.CompleteHandover("h1", deadline, active("b"), true)
			},
			then: []events.Payload{failed("h1", events.FailTargetAtCapacity)},
		},
		{
			name: "customer deletes the old owner while pending", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EndRelation("a", events.EndDeletedByCustomer)
			},
			then: []events.Payload{ended("a", events.EndDeletedByCustomer), failed("h1", events.FailRelationEnded)},
		},
		{
			name:  "refuse a completed handover",
			given: append(append([]fact{}, pending...), at(deadline, completed("h1", "a", "b"))),
			when:  func(c *customer.Customer) ([]events.Payload, error) { return c.RefuseHandover("h1", justBefore) },
			err:   customer.ErrHandoverNotPending,
		},
		{
			name: "refuse an unknown handover", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.RefuseHandover("nope", t0) },
			err:  customer.ErrHandoverNotFound,
		},
		{
			name: "fail for a departed target", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.FailHandover("h1", events.FailTargetDeparted)
			},
			then: []events.Payload{failed("h1", events.FailTargetDeparted)},
		},
		{
			name: "complete with another target's status", given: pending,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.CompleteHandover("h1", deadline, active("c"), false)
			},
			err: customer.ErrInvalidArgument,
		},
	})
}

func TestErasure(t *testing.T) {
	erased := []fact{at(t0, added("a")), at(t0, &events.CustomerErased{CustomerID: cust})}
	run(t, []rule{
		{
			name: "erase", given: erased[:1],
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.Erase(), nil },
			then: []events.Payload{&events.CustomerErased{CustomerID: cust}},
		},
		{
			name: "erase twice records nothing", given: erased,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.Erase(), nil },
		},
		{
			name: "no new relation after erasure", given: erased,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.StartRelation(customer.NewRelation{StaffID: "b", Initiator: events.InitiatorCustomer})
			},
			err: customer.ErrErased,
		},
		{
			name: "no edit after erasure", given: erased,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EditRelation("a", nil, events.RelationPII{Remark: "x"})
			},
			err: customer.ErrErased,
		},
		{
			name: "no handover request after erasure", given: erased,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RequestHandover(inService("h1", "a", "b"), t0, set)
			},
			err: customer.ErrErased,
		},
		{
			name: "a relation can still end", given: erased,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.EndRelation("a", events.EndDeletedByCustomer)
			},
			then: []events.Payload{ended("a", events.EndDeletedByCustomer)},
		},
		{
			name: "consent can still be withdrawn", given: erased,
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RecordConsent(events.PurposeMarketing, events.ConsentDisagree, t0)
			},
			then: []events.Payload{&events.ConsentRecorded{CustomerID: cust, Purpose: events.PurposeMarketing, State: events.ConsentDisagree, ChangedAt: t0}},
		},
		{
			name: "a pending handover still completes, without personal data",
			given: []fact{
				at(t0, added("a")), at(t0, requested("h1", events.HandoverInService, "a", "b", t0.Add(h24))),
				at(t0, &events.CustomerErased{CustomerID: cust}),
			},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.CompleteHandover("h1", t0.Add(h24), active("b"), false)
			},
			then: []events.Payload{
				completed("h1", "a", "b"),
				&events.CustomerRelationEnded{CustomerID: cust, StaffID: "a", Reason: events.EndHandedOver, HandoverID: "h1"},
				&events.CustomerRelationStarted{
					CustomerID: cust, StaffID: "b", Initiator: events.InitiatorStaff, AddWay: 1, State: "expo", Tags: []string{"vip"},
					StartedBy: events.StartedByHandover, HandoverID: "h1",
				},
			},
		},
	})
}

func TestMomentsAndConsent(t *testing.T) {
	rel := []fact{at(t0, added("a"))}
	out := []fact{at(t0, added("a")), at(t0, &events.MomentsOptedOut{CustomerID: cust, StaffID: "a"})}
	run(t, []rule{
		{
			name: "opt out", given: rel,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.OptOutMoments("a", "tool") },
			then: []events.Payload{&events.MomentsOptedOut{CustomerID: cust, StaffID: "a", Source: "tool"}},
		},
		{
			name: "opt out twice records nothing", given: out,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.OptOutMoments("a", "tool") },
		},
		{
			name: "opt out of a stranger",
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.OptOutMoments("a", "") },
			err:  customer.ErrRelationNotFound,
		},
		{
			name: "opt back in", given: out,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.OptInMoments("a", "") },
			then: []events.Payload{&events.MomentsOptedIn{CustomerID: cust, StaffID: "a"}},
		},
		{
			name: "opt in without opt-out records nothing", given: rel,
			when: func(c *customer.Customer) ([]events.Payload, error) { return c.OptInMoments("a", "") },
		},
		{
			name: "consent",
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RecordConsent(events.PurposeChatArchive, events.ConsentDefaultAgree, t0)
			},
			then: []events.Payload{&events.ConsentRecorded{CustomerID: cust, Purpose: events.PurposeChatArchive, State: events.ConsentDefaultAgree, ChangedAt: t0}},
		},
		{
			name:  "same consent again records nothing",
			given: []fact{at(t0, &events.ConsentRecorded{CustomerID: cust, Purpose: events.PurposeChatArchive, State: events.ConsentAgree, ChangedAt: t0})},
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RecordConsent(events.PurposeChatArchive, events.ConsentAgree, t0.Add(day))
			},
		},
		{
			name: "unknown purpose",
			when: func(c *customer.Customer) ([]events.Payload, error) {
				return c.RecordConsent("telepathy", events.ConsentAgree, t0)
			},
			err: customer.ErrInvalidArgument,
		},
	})
	c := load(t, out...)
	if !c.OptedOut("a") || c.OptedOut("b") {
		t.Fatal("opt-out state wrong")
	}
}

func TestRehydrateRejectsBadHistory(t *testing.T) {
	good := history(t, at(t0, added("a")))
	unknown := good[0]
	unknown.Type = "customer.teleported"
	if _, err := customer.Rehydrate(cust, []events.Recorded{good[0], unknown}); !errors.Is(err, events.ErrUnknownType) {
		t.Fatalf("unknown type: err = %v", err)
	}
	foreign := history(t, at(t0, &events.StaffDeparted{StaffID: "a"}))
	if _, err := customer.Rehydrate(cust, foreign); !errors.Is(err, customer.ErrForeignEvent) {
		t.Fatalf("staff event: err = %v", err)
	}
	other := history(t, at(t0, &events.CustomerErased{CustomerID: "someone-else"}))
	if _, err := customer.Rehydrate(cust, other); !errors.Is(err, customer.ErrForeignEvent) {
		t.Fatalf("other customer's event: err = %v", err)
	}
	if _, err := customer.New(""); !errors.Is(err, customer.ErrInvalidArgument) {
		t.Fatalf("empty id: err = %v", err)
	}
}

func TestMembersAndPendingTo(t *testing.T) {
	deadline := t0.Add(h24)
	c := load(t,
		at(t0, added("a")),
		at(t0, added("x")),
		at(t0, ended("x", events.EndDeletedByStaff)),
		at(t0, requested("h1", events.HandoverInService, "a", "b", deadline)),
		at(t0, failed("h1", events.FailTargetAtCapacity)),
		at(t0, requested("h2", events.HandoverInService, "a", "b", deadline)),
		at(t0, requested("h3", events.HandoverInService, "a", "c", deadline)),
	)
	if got, want := c.Members(), []string{"a", "b", "c", "x"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("members = %v, want %v", got, want)
	}
	var ids []string
	for _, h := range c.PendingTo("b") {
		ids = append(ids, h.ID)
	}
	if !reflect.DeepEqual(ids, []string{"h2"}) {
		t.Fatalf("pending to b = %v, want [h2]", ids)
	}
	if got := c.PendingTo("a"); len(got) != 0 {
		t.Fatalf("pending to a = %v", got)
	}
}
