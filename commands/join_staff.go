package commands

import (
	"context"

	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// JoinStaff records a staff member joining the corp.
type JoinStaff struct {
	Meta
	StaffID string
	// Capacity is the member's own customer limit, 1 to MaxCapacity; 0
	// uses the corp's.
	Capacity int
	// Name is personal data, sealed under the member's key; at most
	// MaxNameLen characters of text (see TextProblem).
	Name string
}

// JoinStaff records staff.joined, or returns staff.ErrAlreadyJoined.
func (h *Handler) JoinStaff(ctx context.Context, cmd JoinStaff) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	if err := firstError(
		checkRange("capacity", cmd.Capacity, 0, MaxCapacity),
		checkText("name", cmd.Name, MaxNameLen),
	); err != nil {
		return Result{}, err
	}
	return r.onStaffCommand(ctx, cmd.StaffID, func(s *staff.Staff) ([]events.Payload, error) {
		return s.Join(cmd.Capacity, events.StaffPII{Name: cmd.Name})
	}, nil)
}
