package commands

import (
	"context"
	"fmt"

	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
)

// EraseStaff erases a staff member's personal data on request (PIPL
// Art. 47): staff are data subjects too.
type EraseStaff struct {
	Meta
	StaffID string
}

// EraseStaff appends staff.erased, then destroys the member's data key
// (events.StaffSubject) through the Eraser: the name of staff.joined and
// every group nickname the member had as a staff member are sealed under
// it and become unreadable. The order and the retry are those of
// EraseCustomer: once the event is stored every projection applies it, and
// a failed key destruction is fixed by running the command again (an
// erased member records nothing new; destroying the key again is no
// error). A member custody never saw join may be erased too. See package
// staff for what an erased member still accepts.
func (h *Handler) EraseStaff(ctx context.Context, cmd EraseStaff) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	res, err := r.onStaffCommand(ctx, cmd.StaffID, func(s *staff.Staff) ([]events.Payload, error) {
		return s.Erase(), nil
	}, nil)
	if err != nil {
		return res, err
	}
	if err := h.eraser.Erase(ctx, events.StaffSubject(cmd.CorpID, cmd.StaffID)); err != nil {
		return res, fmt.Errorf("commands: erase key of staff member: %w", err)
	}
	return res, nil
}
