package commands_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// slotViolations checks the capacity bookkeeping of one corp from its
// events alone (in log order, other corps' events ignored) and describes
// every violation:
//
//   - for every member, the customers it holds a slot for are exactly the
//     customers with an active relation to it and those with a pending
//     handover to it;
//   - a slot for a handover is reserved only while the member has a free
//     slot under the capacity it had then (adds may go over it);
//   - a handover settles (completed, refused, failed, cancelled) at most
//     once.
func slotViolations(recs []events.Recorded, corpID string, set corp.Settings) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	custPrefix, staffPrefix := events.CustomerStream(corpID, ""), events.StaffStream(corpID, "")
	custHistory := map[string][]events.Recorded{}
	members := map[string]*staff.Staff{}
	member := func(id string) *staff.Staff {
		if members[id] == nil {
			members[id], _ = staff.New(id)
		}
		return members[id]
	}
	settled := map[string]int{}
	for _, r := range recs {
		if r.CorpID != corpID {
			continue
		}
		switch {
		case strings.HasPrefix(r.Stream, custPrefix):
			id := strings.TrimPrefix(r.Stream, custPrefix)
			custHistory[id] = append(custHistory[id], r)
			if r.Type != "handover.requested" && strings.HasPrefix(r.Type, "handover.") {
				p, err := events.DecodeRecorded(r)
				if err != nil {
					bad("%s v%d: %v", r.Stream, r.StreamVersion, err)
					continue
				}
				settled[handoverOf(p)]++
			}
		case strings.HasPrefix(r.Stream, staffPrefix):
			s := member(strings.TrimPrefix(r.Stream, staffPrefix))
			p, err := events.DecodeRecorded(r)
			if err != nil {
				bad("%s v%d: %v", r.Stream, r.StreamVersion, err)
				continue
			}
			if e, ok := p.(*events.StaffSlotReserved); ok && e.Reason == events.SlotForHandover && s.Used() >= s.Capacity(set) {
				bad("%s reserved a slot for handover %s of %s with %d of %d slots taken", s.ID(), e.HandoverID, e.CustomerID, s.Used(), s.Capacity(set))
			}
			if err := s.Replay(r); err != nil {
				bad("%s: %v", r.Stream, err)
			}
		}
	}
	for h, n := range settled {
		if n > 1 {
			bad("handover %s settled %d times", h, n)
		}
	}
	customers := map[string]*customer.Customer{}
	for id, h := range custHistory {
		c, err := customer.Rehydrate(id, h)
		if err != nil {
			bad("customer %s: %v", id, err)
			continue
		}
		customers[id] = c
		for _, m := range c.Members() {
			member(m)
		}
	}
	for _, s := range members {
		for _, sl := range s.Slots() {
			if customers[sl.CustomerID] == nil {
				customers[sl.CustomerID], _ = customer.New(sl.CustomerID)
			}
		}
	}
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, sid := range ids {
		s := members[sid]
		for cid, c := range customers {
			rel, _ := c.Relation(sid)
			pending := len(c.PendingTo(sid)) > 0
			switch held := s.Holds(cid); {
			case held && !rel.Active && !pending:
				sl, _ := s.Slot(cid)
				bad("%s holds a slot for %s (%s %s) without an active relation or a pending handover", sid, cid, sl.Reason, sl.HandoverID)
			case !held && rel.Active:
				bad("%s follows %s without a slot", sid, cid)
			case !held && pending:
				bad("%s has a pending handover of %s without a slot", sid, cid)
			}
		}
	}
	slices.Sort(out)
	return out
}

func handoverOf(p events.Payload) string {
	switch e := p.(type) {
	case *events.HandoverRefused:
		return e.HandoverID
	case *events.HandoverCompleted:
		return e.HandoverID
	case *events.HandoverFailed:
		return e.HandoverID
	case *events.HandoverCancelled:
		return e.HandoverID
	}
	return ""
}

// checkInvariant fails the test when the corp's events after from break
// the slot invariant.
func (f *fixture) checkInvariant(t *testing.T, from events.Position, corpID string) {
	t.Helper()
	for _, v := range slotViolations(f.since(from), corpID, f.set) {
		t.Error(v)
	}
}
