package commands

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/custody/custody/events"
)

// SlotRepair is what RepairSlots changed for one (customer, member) pair.
type SlotRepair struct {
	CorpID     string
	CustomerID string
	StaffID    string
	// Events are what it recorded: slot reservations and releases on the
	// member's stream, handover failures on the customer's.
	Events []events.Recorded
}

// SlotRepairReport is what RepairSlots did.
type SlotRepairReport struct {
	// Corps are the corps scanned, sorted.
	Corps []string
	// Pairs is how many (customer, member) pairs were converged.
	Pairs int
	// Repairs are the pairs that needed a change, in corp, customer, member
	// order. Empty when every pair already agreed.
	Repairs []SlotRepair
	// Skipped are corps found in the log whose settings are unknown.
	Skipped []string
}

// RepairSlots converges every (customer, member) pair of corpID (every
// corp when empty) that the log mentions — in a relation, a handover or a
// slot — with the customer's stream, as the SlotKeeper does for the pairs
// of each new event (see decideSlot). It repairs logs that drifted before
// the keeper existed: reservations of handovers never recorded, relations
// without a slot, slots kept after their relation ended. It reads the whole
// log and is safe to run while commands and keepers work; run again, it
// changes nothing.
func (h *Handler) RepairSlots(ctx context.Context, corpID string) (SlotRepairReport, error) {
	pairs, err := h.slotPairs(ctx, corpID)
	if err != nil {
		return SlotRepairReport{}, err
	}
	var rep SlotRepairReport
	corps := make([]string, 0, len(pairs))
	for c := range pairs {
		corps = append(corps, c)
	}
	sort.Strings(corps)
	if corpID != "" && len(corps) == 0 {
		corps = []string{corpID}
	}
	for _, corp := range corps {
		r, err := h.begin(ctx, Meta{CorpID: corp, Actor: "system"})
		if errors.Is(err, ErrUnknownCorp) && corpID == "" {
			rep.Skipped = append(rep.Skipped, corp)
			continue
		}
		if err != nil {
			return rep, err
		}
		rep.Corps = append(rep.Corps, corp)
		list := pairs[corp]
		sort.Slice(list, func(i, j int) bool {
			if list[i].customer != list[j].customer {
				return list[i].customer < list[j].customer
			}
			return list[i].staff < list[j].staff
		})
		for _, p := range list {
			recs, err := r.converge(ctx, p.customer, p.staff, nil)
			rep.Pairs++
			if len(recs) > 0 {
				rep.Repairs = append(rep.Repairs, SlotRepair{CorpID: corp, CustomerID: p.customer, StaffID: p.staff, Events: recs})
			}
			if err != nil {
				return rep, fmt.Errorf("commands: repair slot of %s for %s in corp %s: %w", p.staff, p.customer, corp, err)
			}
		}
	}
	return rep, nil
}

type slotPair struct{ customer, staff string }

// slotPairs reads the log and returns, per corp, every (customer, member)
// pair a relation, handover or slot event names.
func (h *Handler) slotPairs(ctx context.Context, corpID string) (map[string][]slotPair, error) {
	seen := map[string]map[slotPair]bool{}
	add := func(corp, c, s string) {
		if c == "" || s == "" {
			return
		}
		if seen[corp] == nil {
			seen[corp] = map[slotPair]bool{}
		}
		seen[corp][slotPair{c, s}] = true
	}
	from := events.Start
	for {
		recs, err := h.log.ReadAll(ctx, from, 1000)
		if err != nil {
			return nil, fmt.Errorf("commands: scan for slots: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			from = rec.Position
			if (corpID != "" && rec.CorpID != corpID) || !slotRelevant(rec.Type) {
				continue
			}
			p, err := events.DecodeRecorded(rec)
			if err != nil {
				return nil, &StreamError{Stream: rec.Stream, Err: err}
			}
			switch e := p.(type) {
			case *events.CustomerRelationStarted:
				add(rec.CorpID, e.CustomerID, e.StaffID)
			case *events.CustomerRelationEnded:
				add(rec.CorpID, e.CustomerID, e.StaffID)
			case *events.HandoverRequested:
				add(rec.CorpID, e.CustomerID, e.FromStaffID)
				add(rec.CorpID, e.CustomerID, e.ToStaffID)
			case *events.StaffSlotReserved:
				add(rec.CorpID, e.CustomerID, e.StaffID)
			case *events.StaffSlotReleased:
				add(rec.CorpID, e.CustomerID, e.StaffID)
			}
		}
	}
	out := make(map[string][]slotPair, len(seen))
	for corp, set := range seen {
		for p := range set {
			out[corp] = append(out[corp], p)
		}
	}
	return out, nil
}
