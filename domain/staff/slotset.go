package staff

import (
	"slices"
	"strings"
)

// slotSet holds a member's slots by customer id. A member loaded from a
// snapshot keeps the snapshot's slots as a sorted, read-only list (base)
// searched in place, and the changes since in small maps: loading a member
// with tens of thousands of customers then costs one pass over the
// snapshot, not a map insertion per slot.
//
// A fork's slots layer on its parent's (see Staff.Fork): parent stands for
// base, which is then empty, and must not change while the fork is used.
type slotSet struct {
	base    []baseSlot          // sorted by customer, unique
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
	if ss.parent != nil {
		return ss.parent.get(c)
	}
	i, ok := slices.BinarySearchFunc(ss.base, c, func(b baseSlot, c string) int { return strings.Compare(b.customer, c) })
	if !ok {
		return slot{}, false
	}
	return ss.base[i].slot, true
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

// sorted lists the slots held, sorted by customer.
func (ss *slotSet) sorted() []baseSlot {
	out := make([]baseSlot, 0, ss.n)
	base := ss.base
	if ss.parent != nil {
		base = ss.parent.sorted()
	}
	for _, b := range base {
		if _, gone := ss.removed[b.customer]; gone {
			continue
		}
		if _, replaced := ss.over[b.customer]; replaced {
			continue
		}
		out = append(out, b)
	}
	for c, sl := range ss.over {
		out = append(out, baseSlot{customer: c, slot: sl})
	}
	slices.SortFunc(out, func(a, b baseSlot) int { return strings.Compare(a.customer, b.customer) })
	return out
}

// fork returns a slot set that starts as ss and changes on its own.
func (ss *slotSet) fork() slotSet { return slotSet{parent: ss, n: ss.n} }
