package staff

import "slices"

// slotSet holds a member's slots by customer id. A member loaded from a
// snapshot keeps the snapshot's slots as they are encoded (base, searched
// in place, see snapSlots), and the changes since in small maps: loading
// a member with tens of thousands of customers then costs one pass over
// the snapshot's bytes, not a map insertion, nor even a string, per slot.
//
// A fork's slots layer on its parent's (see Staff.Fork): parent stands for
// base, which is then nil, and must not change while the fork is used.
type slotSet struct {
	base    *snapSlots          // nil: none
	parent  *slotSet            // instead of base, for a fork
	removed map[string]struct{} // base (or parent) customers released since
	over    map[string]slot     // reserved since (also replacing base ones)
	n       int                 // slots held
}

type baseSlot struct {
	customer string
	slot
}

func (ss *slotSet) inBase(c string) (slot, bool) {
	switch {
	case ss.parent != nil:
		return ss.parent.get(c)
	case ss.base != nil:
		return ss.base.get(c)
	}
	return slot{}, false
}

// get returns the customer's slot, if held.
func (ss *slotSet) get(c string) (slot, bool) {
	if sl, ok := ss.over[c]; ok {
		return sl, true
	}
	if _, gone := ss.removed[c]; gone {
		return slot{}, false
	}
	return ss.inBase(c)
}

// set takes or replaces the customer's slot.
func (ss *slotSet) set(c string, sl slot) {
	if _, held := ss.get(c); !held {
		ss.n++
	}
	if ss.over == nil {
		ss.over = map[string]slot{}
	}
	ss.over[c] = sl
	delete(ss.removed, c)
}

// del frees the customer's slot, if held.
func (ss *slotSet) del(c string) {
	if _, held := ss.get(c); !held {
		return
	}
	ss.n--
	delete(ss.over, c)
	if _, ok := ss.inBase(c); ok {
		if ss.removed == nil {
			ss.removed = map[string]struct{}{}
		}
		ss.removed[c] = struct{}{}
	}
}

// len is the number of slots held.
func (ss *slotSet) len() int { return ss.n }

// walk calls fn for every slot held, in customer order; c is valid until
// fn returns. The base (or parent) is read in its order and the changes
// since, sorted, are merged in (no lookup per slot of the base).
func (ss *slotSet) walk(fn func(c []byte, sl slot)) {
	over := sortedKeys(ss.over)
	removed := sortedKeys(ss.removed)
	var buf []byte
	emitOver := func(below []byte, all bool) { // the changes below a base customer, or all
		for len(over) > 0 && (all || over[0] < string(below)) {
			buf = append(buf[:0], over[0]...)
			fn(buf, ss.over[over[0]])
			over = over[1:]
		}
	}
	base := func(c []byte, sl slot) {
		emitOver(c, false)
		for len(removed) > 0 && removed[0] < string(c) {
			removed = removed[1:]
		}
		if len(removed) > 0 && removed[0] == string(c) || len(over) > 0 && over[0] == string(c) {
			return // released or replaced since
		}
		fn(c, sl)
	}
	switch {
	case ss.parent != nil:
		ss.parent.walk(base)
	case ss.base != nil:
		ss.base.walk(base)
	}
	emitOver(nil, true)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// floor is a Unix µs time no later than any slot's reservation time.
func (ss *slotSet) floor() int64 {
	var f int64
	switch {
	case ss.parent != nil:
		f = ss.parent.floor()
	case ss.base != nil:
		f = ss.base.floor
	default:
		first := true
		for _, sl := range ss.over {
			if !sl.reservedAt.IsZero() && (first || sl.reservedAt.UnixMicro() < f) {
				f, first = sl.reservedAt.UnixMicro(), false
			}
		}
		return f
	}
	for _, sl := range ss.over {
		if !sl.reservedAt.IsZero() {
			f = min(f, sl.reservedAt.UnixMicro())
		}
	}
	return f
}

// sorted lists the slots held, sorted by customer.
func (ss *slotSet) sorted() []baseSlot {
	out := make([]baseSlot, 0, ss.n)
	ss.walk(func(c []byte, sl slot) {
		out = append(out, baseSlot{customer: string(c), slot: sl})
	})
	return out
}

// fork returns a slot set that starts as ss and changes on its own.
func (ss *slotSet) fork() slotSet { return slotSet{parent: ss, n: ss.n} }
