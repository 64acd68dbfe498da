package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// DepartStaff records a staff member leaving the corp.
type DepartStaff struct {
	Meta
	StaffID string
}

// DepartResult is what DepartStaff recorded.
type DepartResult struct {
	Result
	// FailedHandovers are the pending handovers to the member that failed
	// with events.FailTargetDeparted: departed members receive nothing.
	FailedHandovers []HandoverOutcome
}

// DepartStaff records staff.departed. The member's active relations become
// unassigned (no per-customer event; see the projections), and every
// pending handover to the member fails with events.FailTargetDeparted on
// its customer's stream, freeing its slot. Run again with the same command
// id it repeats only what is missing, so a crash between the steps heals on
// retry; the SlotKeeper heals it without one.
// A departed member returns staff.ErrDeparted, an unknown one
// staff.ErrNotJoined.
func (h *Handler) DepartStaff(ctx context.Context, cmd DepartStaff) (DepartResult, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return DepartResult{}, err
	}
	var out DepartResult
	out.Result, err = r.onStaffCommand(ctx, cmd.StaffID, func(s *staff.Staff) ([]events.Payload, error) {
		return s.Depart()
	}, func(ctx context.Context, _ *staff.Staff, _ []events.Payload) error {
		if out.FailedHandovers, err = h.failHandoversTo(ctx, r, cmd.StaffID); err != nil {
			return err
		}
		// A run that died after failing a handover but before freeing its
		// slot left the slot behind; the failure is no longer pending, so
		// only the member's own slots lead to it.
		return r.syncHandoverSlots(ctx, cmd.StaffID)
	})
	return out, err
}

// failHandoversTo fails every pending handover to a departed member.
func (h *Handler) failHandoversTo(ctx context.Context, r *run, staffID string) ([]HandoverOutcome, error) {
	pending, err := h.pending.PendingHandovers(ctx, r.meta.CorpID, timeZero)
	if err != nil {
		return nil, fmt.Errorf("commands: find pending handovers: %w", err)
	}
	var out []HandoverOutcome
	for _, p := range pending {
		if p.ToStaffID != staffID {
			continue
		}
		// A key of its own: the same failure decided by a retried or
		// concurrent departure gets the same event ids.
		fr := r.derive("target-departed\x00"+p.HandoverID, r.now)
		res, err := fr.onCustomer(ctx, p.CustomerID, func(c *customer.Customer) ([]events.Payload, error) {
			return c.FailHandover(p.HandoverID, events.FailTargetDeparted)
		})
		switch {
		case errors.Is(err, customer.ErrHandoverNotPending), errors.Is(err, customer.ErrHandoverNotFound):
			continue // settled meanwhile
		case err != nil:
			return out, err
		}
		if len(res.Events) > 0 {
			out = append(out, HandoverOutcome{
				CustomerID: p.CustomerID, HandoverID: p.HandoverID, Status: customer.StatusFailed,
				FailReason: events.FailTargetDeparted, Deadline: p.Deadline, Events: res.Events,
			})
		}
	}
	return out, nil
}
