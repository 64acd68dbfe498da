package staff_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// record encodes p as the event at version of member b's stream.
func record(t testing.TB, p events.Payload, version int64, at time.Time) events.Recorded {
	t.Helper()
	enc, err := events.Encode("corp", p)
	if err != nil {
		t.Fatal(err)
	}
	return events.Recorded{Event: events.Event{Type: enc.Type, SchemaVersion: enc.SchemaVersion, OccurredAt: at, Data: enc.Data}, StreamVersion: version}
}

// idKinds make customer ids of the shapes the slot list must hold: short
// ids with long shared prefixes, WeCom-like random ids, ids longer than
// the search's stack buffer, ids that are prefixes of others, bytes above
// 0x7f and the empty id.
var idKinds = map[string]func(r *rand.Rand) string{
	"numbered": func(r *rand.Rand) string { return fmt.Sprintf("old%d", r.IntN(5000)) },
	"wecom": func(r *rand.Rand) string {
		b := make([]byte, 24)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return "wm" + base64.RawURLEncoding.EncodeToString(b)
	},
	"long": func(r *rand.Rand) string {
		return strings.Repeat("customer-", 8+r.IntN(3)) + fmt.Sprint(r.IntN(300))
	},
	"prefixes": func(r *rand.Rand) string { return strings.Repeat("a", 1+r.IntN(40)) + strings.Repeat("b", r.IntN(3)) },
	"bytes": func(r *rand.Rand) string {
		b := make([]byte, r.IntN(4)) // the empty id too
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return string(b)
	},
}

// randomEvents are n slot events of member b (after joined) on ids from
// gen: reservations for adds and handovers, releases of held and unheld
// customers, at times from before 1970 to far ahead.
func randomEvents(r *rand.Rand, n int, gen func(*rand.Rand) string) []events.Payload {
	var out []events.Payload
	for range n {
		c := gen(r)
		switch r.IntN(6) {
		case 0, 1, 2:
			out = append(out, slot(c, events.SlotForAdd, ""))
		case 3:
			out = append(out, slot(c, events.SlotForHandover, fmt.Sprintf("h%d", r.IntN(100))))
		case 4:
			out = append(out, slot(c, "some-reason", ""))
		default:
			out = append(out, &events.StaffSlotReleased{StaffID: "b", CustomerID: c, Reason: events.SlotReleasedRelationEnded})
		}
	}
	return out
}

func randomTime(r *rand.Rand) time.Time {
	switch r.IntN(4) {
	case 0:
		return time.Time{}
	case 1:
		return time.Date(1900+r.IntN(60), 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(time.Hour))) / 1000 * 1000)
	case 2:
		return time.Date(2900, 1, 1, 0, 0, 0, r.IntN(1e9)/1000*1000, time.UTC)
	}
	return t0.Add(time.Duration(r.Int64N(int64(1000*time.Hour))) / 1000 * 1000)
}

// checkSlots compares what a decision can see of got's slots with want's,
// customer by customer, for every customer either holds and for ids next
// to them (a byte more or less, the empty id).
func checkSlots(t *testing.T, got, want *staff.Staff) {
	t.Helper()
	set := corp.Defaults()
	probes := []string{"", "\x00", "\xff\xff"}
	for _, sl := range append(got.Slots(), want.Slots()...) {
		c := sl.CustomerID
		probes = append(probes, c, c+"\x00", c+"a")
		if c != "" {
			probes = append(probes, c[:len(c)-1], c[:len(c)-1]+string(c[len(c)-1]+1))
		}
	}
	for _, c := range probes {
		gs, gok := got.Slot(c)
		ws, wok := want.Slot(c)
		if gok != wok || !reflect.DeepEqual(gs, ws) || got.Holds(c) != want.Holds(c) {
			t.Fatalf("slot of %q: %v %v, want %v %v", c, gs, gok, ws, wok)
		}
		gp, gerr := got.ReserveForHandover(c, "hx", set)
		wp, werr := want.ReserveForHandover(c, "hx", set)
		if !reflect.DeepEqual(gp, wp) || fmt.Sprint(gerr) != fmt.Sprint(werr) ||
			!reflect.DeepEqual(got.ReserveForAdd(c), want.ReserveForAdd(c)) || !reflect.DeepEqual(got.Release(c, "x", ""), want.Release(c, "x", "")) {
			t.Fatalf("decisions on %q differ", c)
		}
	}
}

// TestSnapshotRandomSets: members built from random histories over ids of
// every shape are restored from their snapshots with the same state and
// decisions; they go on like the replayed member through more random
// events, and snapshots of restored members restore the same again.
// Compact encodes as MarshalSnapshot and returns the member FromSnapshot
// restores (what the Handler keeps once it wrote a snapshot).
func TestSnapshotRandomSets(t *testing.T) {
	for kind, gen := range idKinds {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/%d", kind, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 7))
				n := []int{0, 1, 40, 2000}[seed]
				want, err := staff.Rehydrate("b", []events.Recorded{record(t, joined(r.IntN(50)), 0, t0)})
				if err != nil {
					t.Fatal(err)
				}
				replayAt := func(s *staff.Staff, ps []events.Payload, r *rand.Rand) {
					for _, p := range ps {
						if err := s.Replay(record(t, p, s.Version()+1, randomTime(r))); err != nil {
							t.Fatal(err)
						}
					}
				}
				replayAt(want, randomEvents(r, n, gen), r)
				got, err := staff.FromSnapshot("b", want.Version(), want.MarshalSnapshot())
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(state(got), state(want)) {
					t.Fatalf("restored %v,\nwant %v", state(got), state(want))
				}
				checkSlots(t, got, want)
				for round := range 3 {
					more := randomEvents(r, 50+n/10, gen)
					seedA := r.Uint64()
					replayAt(want, more, rand.New(rand.NewPCG(seedA, 1)))
					replayAt(got, more, rand.New(rand.NewPCG(seedA, 1)))
					if !reflect.DeepEqual(state(got), state(want)) {
						t.Fatalf("round %d: %v,\nwant %v", round, state(got), state(want))
					}
					checkSlots(t, got, want)
					data, compact := got.Compact()
					if !slices.Equal(data, got.MarshalSnapshot()) {
						t.Fatalf("round %d: Compact and MarshalSnapshot encode differently", round)
					}
					if got, err = staff.FromSnapshot("b", got.Version(), data); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
					checkSlots(t, got, want)
					// The compact member is the restored one.
					if !reflect.DeepEqual(state(compact), state(got)) {
						t.Fatalf("round %d: compact %v,\nrestored %v", round, state(compact), state(got))
					}
					checkSlots(t, compact, got)
					if round == 1 {
						got = compact // and goes on like it
					}
				}
			})
		}
	}
}

// TestSnapshotRefusesEveryChangedByte: a snapshot with any one byte
// changed is refused (the checksum), so a customer id or a time changed
// in storage never becomes another member's state.
func TestSnapshotRefusesEveryChangedByte(t *testing.T) {
	s := load(t, joined(3), slot("c1", events.SlotForAdd, ""), slot("c2", events.SlotForHandover, "h2"), slot("c20", events.SlotForAdd, ""), &events.StaffDeparted{StaffID: "b"})
	data := s.MarshalSnapshot()
	for i := range data {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := slices.Clone(data)
			bad[i] ^= x
			if got, err := staff.FromSnapshot("b", s.Version(), bad); !errors.Is(err, staff.ErrBadSnapshot) {
				t.Fatalf("byte %d ^ %#x: got %v, %v; want ErrBadSnapshot", i, x, got, err)
			}
		}
	}
}

// withChecksum replaces the last four bytes of data by the checksum of
// the rest, as MarshalSnapshot ends a snapshot, so that data altered on
// purpose reaches the checks behind the checksum.
func withChecksum(data []byte) []byte {
	if len(data) < 4 {
		return data
	}
	body := len(data) - 4
	return binary.LittleEndian.AppendUint32(slices.Clone(data[:body]), crc32.Checksum(data[:body], crc32.MakeTable(crc32.Castagnoli)))
}

// TestSnapshotRefusesMalformedSlots: slot lists that pass the checksum
// but are not what MarshalSnapshot writes (out of order, a duplicate, a
// restart sharing a prefix, a count that does not match) are refused.
func TestSnapshotRefusesMalformedSlots(t *testing.T) {
	s := load(t, joined(0), slot("a1", events.SlotForAdd, ""), slot("a2", events.SlotForAdd, ""))
	good := s.MarshalSnapshot()
	// The slot list begins after tag, id, version, flags, departure,
	// capacity, count and floor; with these values the count is the
	// byte before the floor's varint.
	head := len("custody.staff.v2\x00") + 2 + 1 + 1 + 1 + 1
	if good[head] != 2 {
		t.Fatalf("layout moved: count byte %d", good[head])
	}
	floorLen := len(binary.AppendVarint(nil, t0.Add(time.Hour).UnixMicro()))
	list := head + 1 + floorLen
	at := good[list+4] // entry: head, suffix length, suffix, at
	entry := func(shared, other byte, suffix string) []byte {
		return append(append([]byte{shared<<1 | other, byte(len(suffix))}, suffix...), at)
	}
	build := func(count byte, entries ...[]byte) []byte {
		b := append(slices.Clone(good[:head]), count)
		b = append(b, good[head+1:list]...)
		for _, e := range entries {
			b = append(b, e...)
		}
		return withChecksum(append(b, 0, 0, 0, 0))
	}
	if _, err := staff.FromSnapshot("b", s.Version(), build(2, entry(0, 0, "a1"), entry(1, 0, "2"))); err != nil {
		t.Fatalf("the layout this test builds on is off: %v", err)
	}
	for name, data := range map[string][]byte{
		"out of order":        build(2, entry(0, 0, "a2"), entry(1, 0, "1")),
		"duplicate":           build(2, entry(0, 0, "a1"), entry(2, 0, "")),
		"shorter prefix kept": build(2, entry(0, 0, "a1"), entry(1, 0, "")),
		"shared beyond":       build(2, entry(0, 0, "a1"), entry(3, 0, "x")),
		"restart shares":      build(1, entry(1, 0, "a1")),
		"fewer than counted":  build(3, entry(0, 0, "a1"), entry(1, 0, "2")),
		"more than counted":   build(1, entry(0, 0, "a1"), entry(1, 0, "2")),
		"other slot cut":      build(1, append(entry(0, 1, "a1"), 3, 'a')),
	} {
		if got, err := staff.FromSnapshot("b", s.Version(), data); !errors.Is(err, staff.ErrBadSnapshot) {
			t.Errorf("%s: got %v, %v; want ErrBadSnapshot", name, got, err)
		}
	}
}

// FuzzFromSnapshot: whatever bytes are stored, FromSnapshot returns an
// error or a member that is consistent — its slots strictly ordered,
// counted, each found by a search and nothing else found — and that
// encodes and restores to the same state; it never panics. fix puts a
// valid checksum on the data, so that the checks behind it are fuzzed.
func FuzzFromSnapshot(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 3, 40} {
		for _, gen := range []func(*rand.Rand) string{idKinds["numbered"], idKinds["prefixes"], idKinds["bytes"]} {
			s, err := staff.Rehydrate("b", []events.Recorded{record(f, joined(0), 0, t0)})
			if err != nil {
				f.Fatal(err)
			}
			for _, p := range randomEvents(r, n, gen) {
				if err := s.Replay(record(f, p, s.Version()+1, randomTime(r))); err != nil {
					f.Fatal(err)
				}
			}
			f.Add(s.MarshalSnapshot(), s.Version(), false)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, version int64, fix bool) {
		if fix {
			data = withChecksum(data)
		}
		s, err := staff.FromSnapshot("b", version, data)
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
			next := "\xff\xff\xff\xff"
			if i+1 < len(slots) {
				next = slots[i+1].CustomerID
			}
			if probe := sl.CustomerID + "\x00"; probe < next && s.Holds(probe) {
				t.Fatalf("%q found, not listed", probe)
			}
		}
		again, err := staff.FromSnapshot("b", s.Version(), s.MarshalSnapshot())
		if err != nil || !reflect.DeepEqual(state(again), state(s)) {
			t.Fatalf("encoded again: %v, %v; want %v", again, err, state(s))
		}
	})
}

// TestForkOfRestoredMemberListsInOrder: a fork of a restored member lists
// its slots in customer order and encodes to a snapshot that restores,
// whatever changed on the member and on the fork — also with the empty
// customer id, the smallest there is, among the changes.
func TestForkOfRestoredMemberListsInOrder(t *testing.T) {
	s := load(t, joined(0), slot("b", events.SlotForAdd, ""), slot("d", events.SlotForAdd, ""))
	restored, err := staff.FromSnapshot("b", s.Version(), s.MarshalSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	replay(t, restored, slot("", events.SlotForAdd, ""), slot("c", events.SlotForAdd, ""))
	f := restored.Fork()
	replay(t, f, slot("a", events.SlotForAdd, ""), slot("e", events.SlotForAdd, ""))
	var got []string
	for _, sl := range f.Slots() {
		got = append(got, sl.CustomerID)
	}
	if want := []string{"", "a", "b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Fatalf("fork lists %q, want %q", got, want)
	}
	again, err := staff.FromSnapshot("b", f.Version(), f.MarshalSnapshot())
	if err != nil || !reflect.DeepEqual(state(again), state(f)) {
		t.Fatalf("fork encoded and restored: %v, %v; want %v", again, err, state(f))
	}
}
