package staff_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

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
		"older format":   {"b", s.Version(), append([]byte("custody.staff.v1\x00"), data[len("custody.staff.v2\x00"):]...)},
		"newer format":   {"b", s.Version(), append([]byte("custody.staff.v3\x00"), data[len("custody.staff.v2\x00"):]...)},
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
// against the baseline of replaying its 20,000 slot events; with the
// benchmark's numbered ids (customer-000123) and with WeCom-like ids (wm
// and 32 random characters, which share almost no prefix). encode is a
// member replayed from its stream (its slots in a map: a sort), encode-
// restored one restored from a snapshot with 100 events since (what the
// Handler encodes once it has written one snapshot).
func BenchmarkSnapshot(b *testing.B) {
	const n = 20000
	r := rand.New(rand.NewPCG(1, 1))
	for _, ids := range []struct {
		name string
		id   func(i int) string
	}{
		{"numbered", func(i int) string { return fmt.Sprintf("customer-%06d", i) }},
		{"wecom", func(int) string { return idKinds["wecom"](r) }},
	} {
		b.Run(ids.name, func(b *testing.B) {
			recs := make([]events.Recorded, 0, n+1)
			customers := make([]string, n+100)
			for i := range customers {
				customers[i] = ids.id(i)
			}
			for i := range n + 1 {
				var p events.Payload = &events.StaffSlotReserved{StaffID: "b", CustomerID: customers[i], Reason: events.SlotForAdd}
				if i == 0 {
					p = joined(0)
				}
				recs = append(recs, record(b, p, int64(i), t0.Add(time.Duration(i)*time.Second)))
			}
			s, err := staff.Rehydrate("b", recs)
			if err != nil {
				b.Fatal(err)
			}
			data := s.MarshalSnapshot()
			b.Logf("%d slots: %d bytes", s.Used(), len(data))
			if ids.name == "numbered" {
				b.Run("baseline-replay", func(b *testing.B) {
					for b.Loop() {
						if _, err := staff.Rehydrate("b", recs); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run("encode", func(b *testing.B) {
				for b.Loop() {
					s.MarshalSnapshot()
				}
			})
			restored, err := staff.FromSnapshot("b", s.Version(), data)
			if err != nil {
				b.Fatal(err)
			}
			for i := range 100 {
				var p events.Payload = &events.StaffSlotReserved{StaffID: "b", CustomerID: customers[n+i], Reason: events.SlotForAdd}
				if i%2 == 1 {
					p = &events.StaffSlotReleased{StaffID: "b", CustomerID: customers[i*100], Reason: events.SlotReleasedRelationEnded}
				}
				if err := restored.Replay(record(b, p, restored.Version()+1, t0)); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("encode-restored", func(b *testing.B) {
				for b.Loop() {
					restored.MarshalSnapshot()
				}
			})
			b.Run("decode", func(b *testing.B) {
				for b.Loop() {
					if _, err := staff.FromSnapshot("b", s.Version(), data); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("search", func(b *testing.B) {
				if !restored.Holds(customers[1]) || restored.Holds(customers[100]) {
					b.Fatal("searched wrong")
				}
				for i := 0; b.Loop(); i++ {
					restored.Holds(customers[i%len(customers)])
				}
			})
		})
	}
}

// TestSnapshotThenEvents: a member restored from a snapshot (its slots
// searched in the snapshot, the changes since kept beside) decides and
// counts like the member replayed from the whole stream, through releases
// and re-reservations of the snapshot's customers and of new ones.
func TestSnapshotThenEvents(t *testing.T) {
	given := []events.Payload{joined(4), slot("c1", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h2"), slot("c3", events.SlotForAdd, "")}
	s := load(t, given...)
	restored, err := staff.FromSnapshot("b", s.Version(), s.MarshalSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	set := corp.Defaults()
	released := func(c string) events.Payload {
		return &events.StaffSlotReleased{StaffID: "b", CustomerID: c, Reason: events.SlotReleasedRelationEnded}
	}
	for i, p := range []events.Payload{
		released("c2"), slot("c4", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h9"),
		slot("c1", events.SlotForAdd, ""), released("c4"), released("c1"), released("c1"), slot("c5", events.SlotForAdd, ""),
		slot("c1", events.SlotForHandover, "h10"), released("c3"), slot("c3", events.SlotForAdd, ""),
	} {
		enc, err := events.Encode("corp", p)
		if err != nil {
			t.Fatal(err)
		}
		rec := events.Recorded{Event: events.Event{Type: enc.Type, SchemaVersion: enc.SchemaVersion, OccurredAt: t0.Add(time.Duration(i) * time.Minute), Data: enc.Data}, StreamVersion: s.Version() + 1}
		if err := s.Replay(rec); err != nil {
			t.Fatal(err)
		}
		if err := restored.Replay(rec); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(state(restored), state(s)) {
			t.Fatalf("after %s: %v, want %v", p.EventType(), state(restored), state(s))
		}
		for _, c := range []string{"c1", "c2", "c3", "c4", "c5", "c6"} {
			gp, gerr := restored.ReserveForHandover(c, "hx", set)
			wp, werr := s.ReserveForHandover(c, "hx", set)
			if !reflect.DeepEqual(gp, wp) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
				t.Fatalf("after %s, reserving %s: %v %v, want %v %v", p.EventType(), c, gp, gerr, wp, werr)
			}
			if !reflect.DeepEqual(restored.ReserveForAdd(c), s.ReserveForAdd(c)) || !reflect.DeepEqual(restored.Release(c, "x", ""), s.Release(c, "x", "")) {
				t.Fatalf("after %s: decisions on %s differ", p.EventType(), c)
			}
		}
		// And a snapshot of the restored member restores it again.
		again, err := staff.FromSnapshot("b", restored.Version(), restored.MarshalSnapshot())
		if err != nil || !reflect.DeepEqual(state(again), state(s)) {
			t.Fatalf("snapshot of the restored member: %v, %v; want %v", again, err, state(s))
		}
	}
}
