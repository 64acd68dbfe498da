package staff_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func load(t *testing.T, ps ...events.Payload) *staff.Staff {
	t.Helper()
	recs := make([]events.Recorded, len(ps))
	for i, p := range ps {
		enc, err := events.Encode("corp", p)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = events.Recorded{
			Event:         events.Event{Type: enc.Type, SchemaVersion: enc.SchemaVersion, OccurredAt: t0.Add(time.Duration(i) * time.Hour), Data: enc.Data, PII: enc.PII},
			StreamVersion: int64(i),
		}
	}
	s, err := staff.Rehydrate("b", recs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func joined(capacity int) events.Payload {
	return &events.StaffJoined{StaffID: "b", Capacity: capacity}
}
func slot(customer, reason, handover string) events.Payload {
	return &events.StaffSlotReserved{StaffID: "b", CustomerID: customer, Reason: reason, HandoverID: handover}
}

func TestStaffRules(t *testing.T) {
	set := corp.Defaults()
	set.StaffCapacity = 2
	full := []events.Payload{joined(0), slot("c1", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h2")}
	erased := &events.StaffErased{StaffID: "b"}
	for _, tc := range []struct {
		name  string
		given []events.Payload
		when  func(s *staff.Staff) ([]events.Payload, error)
		then  []events.Payload
		err   error
	}{
		{name: "join", when: func(s *staff.Staff) ([]events.Payload, error) { return s.Join(5, events.StaffPII{Name: "李四"}) },
			then: []events.Payload{&events.StaffJoined{StaffID: "b", Capacity: 5, PII: events.StaffPII{Name: "李四"}}}},
		{name: "join twice", given: []events.Payload{joined(0)}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.Join(0, events.StaffPII{}) }, err: staff.ErrAlreadyJoined},
		{name: "depart", given: []events.Payload{joined(0)}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.Depart() },
			then: []events.Payload{&events.StaffDeparted{StaffID: "b"}}},
		{name: "depart twice", given: []events.Payload{joined(0), &events.StaffDeparted{StaffID: "b"}}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.Depart() }, err: staff.ErrDeparted},
		{name: "depart unknown", when: func(s *staff.Staff) ([]events.Payload, error) { return s.Depart() }, err: staff.ErrNotJoined},
		{name: "capacity", given: []events.Payload{joined(0)}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ChangeCapacity(7) },
			then: []events.Payload{&events.StaffCapacityChanged{StaffID: "b", Capacity: 7}}},
		{name: "same capacity records nothing", given: []events.Payload{joined(7)}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ChangeCapacity(7) }},
		{name: "negative capacity", given: []events.Payload{joined(0)}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ChangeCapacity(-1) }, err: staff.ErrInvalidCapacity},
		{name: "reserve with room", given: full[:2], when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForHandover("c3", "h3", set) },
			then: []events.Payload{slot("c3", events.SlotForHandover, "h3")}},
		{name: "reserve when full", given: full, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForHandover("c3", "h3", set) }, err: staff.ErrAtCapacity},
		{name: "reserve when already holding the customer's slot, even full", given: full, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForHandover("c1", "h3", set) }},
		{name: "individual capacity beats the corp's", given: append([]events.Payload{joined(3)}, full[1:]...), when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForHandover("c3", "h3", set) },
			then: []events.Payload{slot("c3", events.SlotForHandover, "h3")}},
		{name: "departed receives nothing", given: []events.Payload{joined(0), &events.StaffDeparted{StaffID: "b"}}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForHandover("c3", "h3", set) }, err: staff.ErrDeparted},
		{name: "unknown receives nothing", when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForHandover("c3", "h3", set) }, err: staff.ErrNotJoined},
		{name: "an add takes a slot even over capacity", given: full, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForAdd("c3"), nil },
			then: []events.Payload{slot("c3", events.SlotForAdd, "")}},
		{name: "an add takes over a slot reserved for a handover", given: full, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForAdd("c2"), nil },
			then: []events.Payload{slot("c2", events.SlotForAdd, "")}},
		{name: "an add of a customer already counted records nothing", given: full, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForAdd("c1"), nil }},
		{name: "the failed handover then leaves the added relation's slot alone", given: append(full, slot("c2", events.SlotForAdd, "")), when: func(s *staff.Staff) ([]events.Payload, error) {
			return s.Release("c2", events.SlotReleasedHandoverSettled, "h2"), nil
		}},
		{name: "release", given: full, when: func(s *staff.Staff) ([]events.Payload, error) {
			return s.Release("c1", events.SlotReleasedRelationEnded, ""), nil
		}, then: []events.Payload{&events.StaffSlotReleased{StaffID: "b", CustomerID: "c1", Reason: events.SlotReleasedRelationEnded}}},
		{name: "settling a handover never frees another's slot", given: full, when: func(s *staff.Staff) ([]events.Payload, error) {
			return s.Release("c1", events.SlotReleasedHandoverSettled, "h9"), nil
		}},
		{name: "release of a slot not held", given: full, when: func(s *staff.Staff) ([]events.Payload, error) {
			return s.Release("c9", events.SlotReleasedRelationEnded, ""), nil
		}},
		{name: "erase", given: full, when: func(s *staff.Staff) ([]events.Payload, error) { return s.Erase(), nil },
			then: []events.Payload{erased}},
		{name: "erase a member never seen joining (group nicknames are theirs too)", when: func(s *staff.Staff) ([]events.Payload, error) { return s.Erase(), nil },
			then: []events.Payload{erased}},
		{name: "erase twice records nothing", given: append(full, erased), when: func(s *staff.Staff) ([]events.Payload, error) { return s.Erase(), nil }},
		{name: "erased member joins with a name", given: []events.Payload{erased}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.Join(0, events.StaffPII{Name: "李四"}) },
			err: staff.ErrErased},
		{name: "erased member joins without a name", given: []events.Payload{erased}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.Join(3, events.StaffPII{}) },
			then: []events.Payload{&events.StaffJoined{StaffID: "b", Capacity: 3}}},
		{name: "erased member keeps serving: an add", given: append(full, erased), when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForAdd("c3"), nil },
			then: []events.Payload{slot("c3", events.SlotForAdd, "")}},
		{name: "erased member keeps serving: a handover to them", given: []events.Payload{full[0], full[1], erased}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ReserveForHandover("c3", "h3", set) },
			then: []events.Payload{slot("c3", events.SlotForHandover, "h3")}},
		{name: "erased member's capacity changes", given: []events.Payload{joined(0), erased}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.ChangeCapacity(9) },
			then: []events.Payload{&events.StaffCapacityChanged{StaffID: "b", Capacity: 9}}},
		{name: "erased member departs", given: []events.Payload{joined(0), erased}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.Depart() },
			then: []events.Payload{&events.StaffDeparted{StaffID: "b"}}},
		{name: "departed member is erased", given: []events.Payload{joined(0), &events.StaffDeparted{StaffID: "b"}}, when: func(s *staff.Staff) ([]events.Payload, error) { return s.Erase(), nil },
			then: []events.Payload{erased}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.when(load(t, tc.given...))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("got %#v, want %#v", got, tc.then)
			}
		})
	}

	var ce *staff.CapacityError
	_, err := load(t, full...).ReserveForHandover("c3", "h3", set)
	if !errors.As(err, &ce) || ce.Capacity != 2 || ce.Used != 2 {
		t.Fatalf("capacity error = %#v", err)
	}
	s := load(t, joined(0), &events.StaffDeparted{StaffID: "b"})
	if st := s.Status(); !st.Departed || !st.DepartedAt.Equal(t0.Add(time.Hour)) || st.Active() {
		t.Fatalf("status = %+v", st)
	}
	s = load(t, append(full, &events.StaffSlotReleased{StaffID: "b", CustomerID: "c1"})...)
	if s.Used() != 1 || s.Holds("c1") || !s.Holds("c2") {
		t.Fatalf("slots after release: used %d", s.Used())
	}
	if load(t, full...).Erased() {
		t.Fatal("erased before staff.erased")
	}
	s = load(t, append(full, erased)...)
	if !s.Erased() || s.Used() != 2 || !s.Status().Active() {
		t.Fatalf("after erasure: erased %v, used %d, status %+v", s.Erased(), s.Used(), s.Status())
	}
}

func TestRehydrateRejectsForeignEvents(t *testing.T) {
	for _, p := range []events.Payload{&events.StaffDeparted{StaffID: "someone-else"}, &events.StaffErased{StaffID: "someone-else"}} {
		enc, _ := events.Encode("corp", p)
		_, err := staff.Rehydrate("b", []events.Recorded{{Event: events.Event{Type: enc.Type, SchemaVersion: 1, Data: enc.Data}}})
		if !errors.Is(err, staff.ErrForeignEvent) {
			t.Fatalf("%s: err = %v", enc.Type, err)
		}
	}
}
