package staff_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// state is everything a decision can see of a member.
func state(s *staff.Staff) any {
	return []any{s.ID(), s.Version(), s.Status(), s.Capacity(corp.Defaults()), s.Used(), s.Slots(), s.Erased()}
}

func TestSnapshotRoundTrip(t *testing.T) {
	for name, given := range map[string][]events.Payload{
		"joined": {joined(0)},
		"slots, capacity, released": {joined(7), slot("c1", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h2"),
			slot("c3", events.SlotForAdd, ""), &events.StaffSlotReleased{StaffID: "b", CustomerID: "c3", Reason: events.SlotReleasedRelationEnded}},
		"departed and erased": {joined(0), slot("c1", events.SlotForAdd, ""), &events.StaffDeparted{StaffID: "b"}, &events.StaffErased{StaffID: "b"}},
	} {
		t.Run(name, func(t *testing.T) {
			s := load(t, given...)
			got, err := staff.FromSnapshot("b", s.Version(), s.MarshalSnapshot())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(state(got), state(s)) {
				t.Fatalf("restored %v, want %v", state(got), state(s))
			}
			// It goes on like the original.
			more := slot("c9", events.SlotForAdd, "")
			enc, err := events.Encode("corp", more)
			if err != nil {
				t.Fatal(err)
			}
			rec := events.Recorded{Event: events.Event{Type: enc.Type, SchemaVersion: enc.SchemaVersion, OccurredAt: t0, Data: enc.Data}, StreamVersion: s.Version() + 1}
			if err := s.Replay(rec); err != nil {
				t.Fatal(err)
			}
			if err := got.Replay(rec); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(state(got), state(s)) {
				t.Fatalf("after one more event %v, want %v", state(got), state(s))
			}
		})
	}
}

// TestSnapshotRefusesOtherData: truncated, corrupt, foreign or misplaced
// snapshots are refused with ErrBadSnapshot (the caller rebuilds from the
// stream); none panics.
func TestSnapshotRefusesOtherData(t *testing.T) {
	s := load(t, joined(3), slot("c1", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h2"), &events.StaffDeparted{StaffID: "b"})
	data := s.MarshalSnapshot()
	bad := map[string]struct {
		id      string
		version int64
		data    []byte
	}{
		"nil":            {"b", s.Version(), nil},
		"other format":   {"b", s.Version(), append([]byte("custody.staff.v2\x00"), data[len("custody.staff.v1\x00"):]...)},
		"trailing bytes": {"b", s.Version(), append(append([]byte{}, data...), 0)},
		"other member":   {"c", s.Version(), data},
		"other version":  {"b", s.Version() + 1, data},
		"corrupt tail":   {"b", s.Version(), append(append([]byte{}, data[:len(data)-1]...), 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for i := range len(data) {
		bad["truncated"+string(rune('A'+i%26))+string(rune('0'+i/26))] = struct {
			id      string
			version int64
			data    []byte
		}{"b", s.Version(), data[:i]}
	}
	for name, tc := range bad {
		if got, err := staff.FromSnapshot(tc.id, tc.version, tc.data); !errors.Is(err, staff.ErrBadSnapshot) {
			t.Errorf("%s: got %v, %v; want ErrBadSnapshot", name, got, err)
		}
	}
}

// BenchmarkSnapshot encodes and decodes a member serving 20,000 customers,
// against the baseline of replaying its 20,000 slot events.
func BenchmarkSnapshot(b *testing.B) {
	const n = 20000
	recs := make([]events.Recorded, 0, n+1)
	for i := range n + 1 {
		var p events.Payload = &events.StaffSlotReserved{StaffID: "b", CustomerID: fmt.Sprintf("customer-%06d", i), Reason: events.SlotForAdd}
		if i == 0 {
			p = joined(0)
		}
		enc, err := events.Encode("corp", p)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, events.Recorded{Event: events.Event{Type: enc.Type, SchemaVersion: enc.SchemaVersion, OccurredAt: t0, Data: enc.Data}, StreamVersion: int64(i)})
	}
	s, err := staff.Rehydrate("b", recs)
	if err != nil {
		b.Fatal(err)
	}
	data := s.MarshalSnapshot()
	b.Logf("%d slots: %d bytes", s.Used(), len(data))
	b.Run("baseline-replay", func(b *testing.B) {
		for b.Loop() {
			if _, err := staff.Rehydrate("b", recs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			s.MarshalSnapshot()
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := staff.FromSnapshot("b", s.Version(), data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
