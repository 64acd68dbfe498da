package staff

import (
	"encoding/binary"
	"errors"
	"math"
	"sort"
	"time"

	"github.com/custody/custody/events"
)

// A snapshot's slots are one list sorted by customer id, each entry
// front-coded against the entry before it (LevelDB's restart-point
// layout), so that a member with tens of thousands of customers encodes in
// a few bytes per slot when the ids share prefixes, and a restored member
// searches the list where it lies instead of building it again:
//
//	entry     = uvarint(shared<<1 | other) uvarint(len(suffix)) suffix uvarint(at) [other: string(reason) string(handoverID)]
//	customer  = previous customer[:shared] + suffix
//	at        = 0 for the zero time, else reservedAt in Unix µs − floor + 1
//	other     = 1 when the slot is not (events.SlotForAdd, no handover)
//
// Every restartEvery-th entry shares nothing (shared = 0): a search
// bisects those, then reads at most restartEvery entries. An entry that
// is not a restart shares the longest prefix it can, so its suffix begins
// with a byte above the previous customer's byte at that place; that is
// what makes the list's order checkable in one pass without comparing ids.
const restartEvery = 16

// snapSlots is a restored member's slots: the encoded list, checked once
// when loaded, read in place afterwards. It never changes.
type snapSlots struct {
	b        []byte   // the entries, nothing before or after (never changed)
	n        int      // entries
	floor    int64    // Unix µs that at counts from
	restarts []int32  // offset in b of entries 0, restartEvery, 2·restartEvery, …
	heads    [][]byte // their customers (slices of b)
}

// snapEntry is one parsed entry; its bytes are slices of snapSlots.b.
type snapEntry struct {
	shared   int
	suffix   []byte
	at       uint64
	other    bool
	reason   []byte
	handover []byte
	end      int // offset of the next entry
}

var errSlotEntry = errors.New("malformed slot")

// parseSlots checks the n entries of b (every entry well formed, customers
// strictly increasing, restarts where they belong, times within range, no
// byte after the last entry) and returns them searchable in place.
func parseSlots(b []byte, n uint64, floor int64) (*snapSlots, error) {
	if n > uint64(len(b))/3 { // an entry takes three bytes at least
		return nil, errors.New("slot count beyond the data")
	}
	nr := (n + restartEvery - 1) / restartEvery
	v := &snapSlots{b: b, n: int(n), floor: floor, restarts: make([]int32, 0, nr), heads: make([][]byte, 0, nr)}
	if len(b) > math.MaxInt32 {
		return nil, errors.New("slots too long")
	}
	var buf [64]byte
	cur := buf[:0]
	off := 0
	for i := range v.n {
		// The entry, as entry reads it, with each number read in place
		// when it takes one byte (nearly always): this loop runs once per
		// slot of every member loaded.
		start := off
		var head, l, at uint64
		if off+1 < len(b) && b[off]|b[off+1] < 0x80 {
			head, l, off = uint64(b[off]), uint64(b[off+1]), off+2
		} else {
			if head, off = uv(b, off); off < 0 {
				return nil, errSlotEntry
			}
			if l, off = uv(b, off); off < 0 {
				return nil, errSlotEntry
			}
		}
		if l > uint64(len(b)-off) || head>>1 > math.MaxInt32 {
			return nil, errSlotEntry
		}
		shared, suffix := int(head>>1), b[off:off+int(l)]
		off += int(l)
		if off < len(b) && b[off] < 0x80 {
			at, off = uint64(b[off]), off+1
		} else if at, off = uv(b, off); off < 0 {
			return nil, errSlotEntry
		}
		if head&1 != 0 {
			if _, off = str(b, off); off < 0 {
				return nil, errSlotEntry
			}
			if _, off = str(b, off); off < 0 {
				return nil, errSlotEntry
			}
		}
		switch {
		case i%restartEvery == 0:
			if shared != 0 {
				return nil, errors.New("restart entry shares a prefix")
			}
			v.restarts = append(v.restarts, int32(start))
			v.heads = append(v.heads, suffix)
			if i > 0 && string(suffix) <= string(cur) {
				return nil, errors.New("slots out of order")
			}
		case shared > len(cur):
			return nil, errors.New("shared prefix beyond the previous customer")
		case shared == len(cur):
			if len(suffix) == 0 {
				return nil, errors.New("slots out of order")
			}
		case len(suffix) == 0 || suffix[0] <= cur[shared]:
			return nil, errors.New("slots out of order")
		}
		if at > 0 && (at-1 > math.MaxInt64 || (floor > 0 && int64(at-1) > math.MaxInt64-floor)) {
			return nil, errors.New("reservation time out of range")
		}
		cur = append(cur[:shared], suffix...)
	}
	if off != len(b) {
		return nil, errors.New("bytes after the last slot")
	}
	return v, nil
}

// entry parses the entry at off into e, never reading outside b; false
// when it is not well formed. (It fills e rather than returning one: the
// check of a whole list calls it once per slot.)
func (v *snapSlots) entry(off int, e *snapEntry) bool {
	b := v.b
	head, off := uv(b, off)
	if off < 0 || head>>1 > math.MaxInt32 {
		return false
	}
	e.shared, e.other = int(head>>1), head&1 != 0
	if e.suffix, off = str(b, off); off < 0 {
		return false
	}
	if e.at, off = uv(b, off); off < 0 {
		return false
	}
	e.reason, e.handover = nil, nil
	if e.other {
		if e.reason, off = str(b, off); off < 0 {
			return false
		}
		if e.handover, off = str(b, off); off < 0 {
			return false
		}
	}
	e.end = off
	return true
}

// uv reads a uvarint at off: the value and the offset after it, or -1.
func uv(b []byte, off int) (uint64, int) {
	if off < 0 || off >= len(b) {
		return 0, -1
	}
	if c := b[off]; c < 0x80 {
		return uint64(c), off + 1
	}
	x, k := binary.Uvarint(b[off:])
	if k <= 0 {
		return 0, -1
	}
	return x, off + k
}

// str reads length-prefixed bytes at off; the offset after them, or -1.
func str(b []byte, off int) ([]byte, int) {
	l, off := uv(b, off)
	if off < 0 || l > uint64(len(b)-off) {
		return nil, -1
	}
	return b[off : off+int(l)], off + int(l)
}

// slot is the entry's slot.
func (v *snapSlots) slot(e snapEntry) slot {
	sl := slot{reason: events.SlotForAdd}
	if e.other {
		sl.reason, sl.handoverID = string(e.reason), string(e.handover)
	}
	if e.at > 0 {
		sl.reservedAt = time.UnixMicro(v.floor + int64(e.at-1)).UTC()
	}
	return sl
}

// get returns the customer's slot, if the list holds one: a bisection of
// the restarts, then at most restartEvery entries read.
func (v *snapSlots) get(c string) (slot, bool) {
	r := sort.Search(len(v.heads), func(i int) bool { return string(v.heads[i]) > c }) - 1
	if r < 0 {
		return slot{}, false
	}
	var buf [64]byte
	cur := buf[:0]
	off := int(v.restarts[r])
	var e snapEntry
	for i := r * restartEvery; i < min(v.n, (r+1)*restartEvery); i++ {
		if !v.entry(off, &e) || e.shared > len(cur) { // not after parseSlots
			return slot{}, false
		}
		cur = append(cur[:e.shared], e.suffix...)
		switch {
		case string(cur) == c:
			return v.slot(e), true
		case string(cur) > c:
			return slot{}, false
		}
		off = e.end
	}
	return slot{}, false
}

// walk calls fn for every slot in customer order; c is valid until fn
// returns.
func (v *snapSlots) walk(fn func(c []byte, sl slot)) {
	v.entries(func(c []byte, e *snapEntry) { fn(c, v.slot(*e)) })
}

// entries calls fn for every entry in customer order, with its customer;
// c and e are valid until fn returns.
func (v *snapSlots) entries(fn func(c []byte, e *snapEntry)) {
	var buf [64]byte
	cur := buf[:0]
	off := 0
	var e snapEntry
	for range v.n {
		if !v.entry(off, &e) || e.shared > len(cur) { // not after parseSlots
			return
		}
		cur = append(cur[:e.shared], e.suffix...)
		fn(cur, &e)
		off = e.end
	}
}

// slotEncoder appends front-coded entries for slots given in strictly
// increasing customer order.
type slotEncoder struct {
	b     []byte
	start int // where the entries begin in b
	prev  []byte
	i     int
	floor int64
	// where the restart entries and their customers are, from start
	restarts []int32
	heads    [][2]int32
}

// slots returns the entries written, read in place in b (the bytes of
// w.b from start on, up to the last entry) as parseSlots would return
// them, without checking them again.
func (w *slotEncoder) slots(b []byte) *snapSlots {
	v := &snapSlots{b: b, n: w.i, floor: w.floor, restarts: w.restarts, heads: make([][]byte, len(w.heads))}
	for i, h := range w.heads {
		v.heads[i] = b[h[0]:h[1]]
	}
	return v
}

// add appends the customer's slot.
func (w *slotEncoder) add(c []byte, sl slot) {
	var at uint64
	if !sl.reservedAt.IsZero() {
		at = uint64(sl.reservedAt.UnixMicro()-w.floor) + 1
	}
	if sl.reason == events.SlotForAdd && sl.handoverID == "" {
		w.addEncoded(c, at, false, nil, nil)
		return
	}
	w.addEncoded(c, at, true, []byte(sl.reason), []byte(sl.handoverID))
}

// addMerged appends the slots of ss, a restored member's (base, no
// parent) with the changes since: the entries of the base that did not
// change are encoded again from their own fields, without a slot built
// for each — the Handler encodes a member with tens of thousands of
// customers every DefaultSnapshotEvery events, under its lock.
func (w *slotEncoder) addMerged(ss *slotSet) {
	over, removed := sortedKeys(ss.over), sortedKeys(ss.removed)
	var obuf []byte
	emitOver := func(below []byte, all bool) { // the changes below a base customer, or all
		for len(over) > 0 && (all || over[0] < string(below)) {
			obuf = append(obuf[:0], over[0]...)
			w.add(obuf, ss.over[over[0]])
			over = over[1:]
		}
	}
	v := ss.base
	v.entries(func(cur []byte, e *snapEntry) {
		emitOver(cur, false)
		for len(removed) > 0 && removed[0] < string(cur) {
			removed = removed[1:]
		}
		if len(removed) > 0 && removed[0] == string(cur) || len(over) > 0 && over[0] == string(cur) {
			return // released or replaced since
		}
		at := e.at
		if at > 0 { // the same time, from w's floor (never above v's)
			at += uint64(v.floor - w.floor)
		}
		w.addEncoded(cur, at, e.other, e.reason, e.handover)
	})
	emitOver(nil, true)
}

// addEncoded appends an entry: the customer, its reservation time as at
// (see snapSlots), and reason and handover when other.
func (w *slotEncoder) addEncoded(c []byte, at uint64, other bool, reason, handover []byte) {
	shared := 0
	if w.i%restartEvery != 0 {
		for shared < len(c) && shared < len(w.prev) && c[shared] == w.prev[shared] {
			shared++
		}
	}
	head := uint64(shared) << 1
	if other {
		head |= 1
	}
	if w.i%restartEvery == 0 {
		w.restarts = append(w.restarts, int32(len(w.b)-w.start))
	}
	w.b = binary.AppendUvarint(w.b, head)
	w.b = binary.AppendUvarint(w.b, uint64(len(c)-shared))
	if w.i%restartEvery == 0 {
		w.heads = append(w.heads, [2]int32{int32(len(w.b) - w.start), int32(len(w.b) - w.start + len(c))})
	}
	w.b = append(w.b, c[shared:]...)
	w.b = binary.AppendUvarint(w.b, at)
	if other {
		w.b = appendString(w.b, reason)
		w.b = appendString(w.b, handover)
	}
	w.prev = append(w.prev[:0], c...)
	w.i++
}
