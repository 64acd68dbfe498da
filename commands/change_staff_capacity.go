package commands

import (
	"context"

	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// ChangeStaffCapacity sets a member's own customer limit.
type ChangeStaffCapacity struct {
	Meta
	StaffID string
	// Capacity is the new limit, 1 to MaxCapacity; 0 returns to the
	// corp's.
	Capacity int
}

// ChangeStaffCapacity records staff.capacity_changed; an unchanged capacity
// records nothing. Slots already taken are kept when the limit drops below
// them; new handovers wait for free slots.
func (h *Handler) ChangeStaffCapacity(ctx context.Context, cmd ChangeStaffCapacity) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if err := checkRange("capacity", cmd.Capacity, 0, MaxCapacity); err != nil {
		return Result{}, err
	}
	return r.onStaffCommand(ctx, cmd.StaffID, func(s *staff.Staff) ([]events.Payload, error) {
		return s.ChangeCapacity(cmd.Capacity)
	}, nil)
}
