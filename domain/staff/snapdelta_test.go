package staff_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// TestSnapshotDeltaRandomSets: members restored from a snapshot go on
// through random events over ids of every shape; their delta, on top of
// the same snapshot, restores a member with the same state and decisions,
// which goes on like the replayed one and writes deltas that restore
// again. A replayed member and a fork have no delta to write.
func TestSnapshotDeltaRandomSets(t *testing.T) {
	for kind, gen := range idKinds {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/%d", kind, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 11))
				n := []int{0, 1, 40, 2000}[seed]
				want, err := staff.Rehydrate("b", []events.Recorded{record(t, joined(r.IntN(50)), 0, t0)})
				if err != nil {
					t.Fatal(err)
				}
				replayAt := func(s *staff.Staff, ps []events.Payload, seed uint64) {
					r := rand.New(rand.NewPCG(seed, 1))
					for _, p := range ps {
						if err := s.Replay(record(t, p, s.Version()+1, randomTime(r))); err != nil {
							t.Fatal(err)
						}
					}
				}
				replayAt(want, randomEvents(r, n, gen), r.Uint64())
				if _, ok := want.MarshalDelta(); ok {
					t.Fatal("a replayed member wrote a delta")
				}
				baseVersion, base := want.Version(), want.MarshalSnapshot()
				got, err := staff.FromSnapshot("b", baseVersion, slices.Clone(base))
				if err != nil {
					t.Fatal(err)
				}
				for round := range 4 {
					more := randomEvents(r, 1+r.IntN(30+n/10), gen)
					if round == 3 {
						more = append(more, &events.StaffDeparted{StaffID: "b"}, &events.StaffErased{StaffID: "b"})
					}
					at := r.Uint64()
					replayAt(want, more, at)
					replayAt(got, more, at)
					if _, ok := got.Fork().MarshalDelta(); ok {
						t.Fatalf("round %d: a fork wrote a delta", round)
					}
					delta, ok := got.MarshalDelta()
					if !ok {
						t.Fatalf("round %d: no delta from a restored member", round)
					}
					restored, err := staff.FromSnapshotDelta("b", baseVersion, slices.Clone(base), got.Version(), delta)
					if err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
					if !reflect.DeepEqual(state(restored), state(want)) {
						t.Fatalf("round %d: restored %v,\nwant %v", round, state(restored), state(want))
					}
					checkSlots(t, restored, want)
					again, ok := restored.MarshalDelta()
					if !ok || !slices.Equal(again, delta) {
						t.Fatalf("round %d: the restored member encodes its delta differently", round)
					}
					if round%2 == 1 {
						got = restored // and goes on like it
					}
				}
				// A compacted member writes deltas on its new snapshot.
				data, compact := got.Compact()
				more := randomEvents(r, 20, gen)
				at := r.Uint64()
				replayAt(want, more, at)
				replayAt(compact, more, at)
				delta, ok := compact.MarshalDelta()
				if !ok {
					t.Fatal("no delta from a compacted member")
				}
				restored, err := staff.FromSnapshotDelta("b", got.Version(), data, compact.Version(), delta)
				if err != nil {
					t.Fatal(err)
				}
				checkSlots(t, restored, want)
				if !reflect.DeepEqual(state(restored), state(want)) {
					t.Fatalf("after Compact: restored %v,\nwant %v", state(restored), state(want))
				}
				if _, err := staff.FromSnapshotDelta("b", baseVersion, base, compact.Version(), delta); !errors.Is(err, staff.ErrBadSnapshot) {
					t.Fatalf("a delta on the older snapshot: %v, want ErrBadSnapshot", err)
				}
			})
		}
	}
}

// deltaFixture is a restored member with changes of every kind since its
// snapshot (slots taken, replaced, released), its snapshot and its delta.
func deltaFixture(t *testing.T) (s *staff.Staff, baseVersion int64, base, delta []byte) {
	t.Helper()
	m := load(t, joined(3), slot("c1", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h2"), slot("c3", events.SlotForAdd, ""))
	base = m.MarshalSnapshot()
	s, err := staff.FromSnapshot("b", m.Version(), slices.Clone(base))
	if err != nil {
		t.Fatal(err)
	}
	replay(t, s, slot("c4", events.SlotForHandover, "h4"), &events.StaffSlotReleased{StaffID: "b", CustomerID: "c1", Reason: events.SlotReleasedRelationEnded},
		slot("c2", events.SlotForAdd, ""), &events.StaffDeparted{StaffID: "b"})
	delta, ok := s.MarshalDelta()
	if !ok {
		t.Fatal("no delta")
	}
	return s, m.Version(), base, delta
}

// TestSnapshotDeltaRefusesEveryChangedByte: a delta with any one byte
// changed is refused, as a snapshot is.
func TestSnapshotDeltaRefusesEveryChangedByte(t *testing.T) {
	s, v, base, delta := deltaFixture(t)
	if _, err := staff.FromSnapshotDelta("b", v, base, s.Version(), delta); err != nil {
		t.Fatal(err)
	}
	for i := range delta {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := slices.Clone(delta)
			bad[i] ^= x
			if got, err := staff.FromSnapshotDelta("b", v, base, s.Version(), bad); !errors.Is(err, staff.ErrBadSnapshot) {
				t.Fatalf("byte %d ^ %#x: got %v, %v; want ErrBadSnapshot", i, x, got, err)
			}
		}
	}
}

// TestSnapshotDeltaRefusesOtherData: truncated deltas, deltas of another
// member, on another snapshot or at another version, and deltas that
// pass the checksum but do not fit their snapshot are refused.
func TestSnapshotDeltaRefusesOtherData(t *testing.T) {
	s, v, base, delta := deltaFixture(t)
	other := load(t, joined(3), slot("c1", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h2"), slot("c9", events.SlotForAdd, ""))
	// The changes begin after tag, id, base version and checksum, and the
	// header; build writes them anew behind the fixture's header.
	head := len("custody.staff.d1\x00") + 2 + 1 + 4
	hdr := binary.AppendVarint(nil, s.Version())
	hdr = append(hdr, 3, 1) // joined and departed, at
	hdr = binary.AppendVarint(hdr, t0.Add(time.Duration(s.Version())*time.Hour).UnixMicro())
	if !slices.Equal(delta[head:head+len(hdr)], hdr) {
		t.Fatalf("layout moved: %v", delta[head:head+len(hdr)+4])
	}
	at := binary.AppendVarint(nil, t0.UnixMicro())
	str := func(c string) []byte { return append([]byte{byte(len(c))}, c...) }
	add := func(c string) []byte { return slices.Concat(str(c), []byte{1}, at, []byte{0}) }
	build := func(count byte, over [][]byte, removed []string) []byte {
		b := slices.Clone(delta[:head+len(hdr)])
		b = append(b, 3*2, count, byte(len(over))) // capacity (zigzag), count
		b = slices.Concat(append([][]byte{b}, over...)...)
		b = append(b, byte(len(removed)))
		for _, c := range removed {
			b = append(b, str(c)...)
		}
		return withChecksum(append(b, 0, 0, 0, 0))
	}
	if _, err := staff.FromSnapshotDelta("b", v, base, s.Version(), build(3, [][]byte{add("c4")}, []string{"c1"})); err != nil {
		t.Fatalf("the layout this test builds on is off: %v", err)
	}
	bad := map[string]struct {
		id          string
		version, at int64
		base, delta []byte
	}{
		"nil":               {"b", v, s.Version(), base, nil},
		"snapshot as delta": {"b", v, s.Version(), base, base},
		"other member":      {"c", v, s.Version(), base, delta},
		"other version":     {"b", v, s.Version() + 1, base, delta},
		"other snapshot":    {"b", other.Version(), s.Version(), other.MarshalSnapshot(), delta},
		"not after it":      {"b", v, v, base, delta},
		"trailing bytes":    {"b", v, s.Version(), base, withChecksum(slices.Concat(delta[:len(delta)-4], []byte{0, 0, 0, 0, 0}))},
		"out of order":      {"b", v, s.Version(), base, build(5, [][]byte{add("c5"), add("c4")}, nil)},
		"duplicate":         {"b", v, s.Version(), base, build(5, [][]byte{add("c4"), add("c4")}, nil)},
		"release not held":  {"b", v, s.Version(), base, build(3, [][]byte{add("c4")}, []string{"c7"})},
		"release and take":  {"b", v, s.Version(), base, build(3, [][]byte{add("c1")}, []string{"c1"})},
		"releases in twice": {"b", v, s.Version(), base, build(1, nil, []string{"c1", "c1"})},
		"count off":         {"b", v, s.Version(), base, build(4, [][]byte{add("c4")}, []string{"c1"})},
		"bad slot kind":     {"b", v, s.Version(), base, build(4, [][]byte{slices.Concat(str("c4"), []byte{1}, at, []byte{2})}, nil)},
		"plain add as other": {"b", v, s.Version(), base,
			build(4, [][]byte{slices.Concat(str("c4"), []byte{1}, at, []byte{1}, str(events.SlotForAdd), str(""))}, nil)},
	}
	for i := range len(delta) {
		bad[fmt.Sprintf("truncated %d", i)] = struct {
			id          string
			version, at int64
			base, delta []byte
		}{"b", v, s.Version(), base, delta[:i]}
	}
	for name, tc := range bad {
		if got, err := staff.FromSnapshotDelta(tc.id, tc.version, tc.base, tc.at, tc.delta); !errors.Is(err, staff.ErrBadSnapshot) {
			t.Errorf("%s: got %v, %v; want ErrBadSnapshot", name, got, err)
		}
	}
}

// FuzzFromSnapshotDelta: whatever delta is stored on a snapshot,
// FromSnapshotDelta returns an error or a member that is consistent (its
// slots ordered, counted, each found and nothing else) and whose delta
// restores the same state; it never panics. fix puts a valid checksum on
// the delta, so that the checks behind it are fuzzed.
func FuzzFromSnapshotDelta(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	m, err := staff.Rehydrate("b", []events.Recorded{record(f, joined(0), 0, t0)})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range randomEvents(r, 40, idKinds["numbered"]) {
		if err := m.Replay(record(f, p, m.Version()+1, randomTime(r))); err != nil {
			f.Fatal(err)
		}
	}
	base, v := m.MarshalSnapshot(), m.Version()
	for _, n := range []int{0, 3, 40} {
		s, err := staff.FromSnapshot("b", v, slices.Clone(base))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range randomEvents(r, n, idKinds["numbered"]) {
			if err := s.Replay(record(f, p, s.Version()+1, randomTime(r))); err != nil {
				f.Fatal(err)
			}
		}
		delta, _ := s.MarshalDelta()
		f.Add(delta, s.Version(), false)
	}
	f.Fuzz(func(t *testing.T, delta []byte, version int64, fix bool) {
		if fix {
			delta = withChecksum(delta)
		}
		s, err := staff.FromSnapshotDelta("b", v, slices.Clone(base), version, delta)
		if err != nil {
			if !errors.Is(err, staff.ErrBadSnapshot) {
				t.Fatalf("error %v does not wrap ErrBadSnapshot", err)
			}
			return
		}
		slots := s.Slots()
		if len(slots) != s.Used() {
			t.Fatalf("%d slots listed, %d used", len(slots), s.Used())
		}
		for i, sl := range slots {
			if i > 0 && slots[i-1].CustomerID >= sl.CustomerID {
				t.Fatalf("slots out of order: %q then %q", slots[i-1].CustomerID, sl.CustomerID)
			}
			if got, ok := s.Slot(sl.CustomerID); !ok || !reflect.DeepEqual(got, sl) {
				t.Fatalf("slot of %q: %v %v, listed %v", sl.CustomerID, got, ok, sl)
			}
		}
		again, ok := s.MarshalDelta()
		if !ok {
			t.Fatal("no delta from a restored member")
		}
		restored, err := staff.FromSnapshotDelta("b", v, slices.Clone(base), s.Version(), again)
		if err != nil || !reflect.DeepEqual(state(restored), state(s)) {
			t.Fatalf("encoded again: %v, %v; want %v", restored, err, state(s))
		}
	})
}
