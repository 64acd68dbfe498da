package httpapi

import "github.com/custody/custody/commands"

// meta is the commands' envelope of c: corp, command id, actor, time, and
// the caller's X-Correlation-ID (or X-Request-ID) when it is a sane token.
func (c *call) meta(f commandFields) commands.Meta {
	m := commands.Meta{CorpID: c.corp, CommandID: c.commandID, Actor: c.who.actor()}
	for _, h := range []string{"X-Correlation-ID", "X-Request-ID"} {
		if v := c.r.Header.Get(h); v != "" && len(v) <= 128 && validIdempotencyKey(v) {
			m.CorrelationID = v
			break
		}
	}
	if f.OccurredAt != nil {
		m.OccurredAt = f.OccurredAt.UTC()
	}
	return m
}

func joinStaff(c *call) (any, error) {
	var req joinStaffRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := checkID("staff_id", req.StaffID); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.JoinStaff(c.ctx, commands.JoinStaff{
		Meta: c.meta(req.commandFields), StaffID: req.StaffID, Capacity: req.Capacity, Name: req.Name,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func departStaff(c *call) (any, error) {
	staffID, err := c.id("staff")
	if err != nil {
		return nil, err
	}
	var req departStaffRequest
	if err := c.decodeOptional(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.DepartStaff(c.ctx, commands.DepartStaff{Meta: c.meta(req.commandFields), StaffID: staffID})
	if err != nil {
		return nil, err
	}
	return DepartResult{CommandResult: commandResult(c, res.Result), FailedHandovers: outcomes(res.FailedHandovers)}, nil
}

func changeCapacity(c *call) (any, error) {
	staffID, err := c.id("staff")
	if err != nil {
		return nil, err
	}
	var req capacityRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.ChangeStaffCapacity(c.ctx, commands.ChangeStaffCapacity{
		Meta: c.meta(req.commandFields), StaffID: staffID, Capacity: req.Capacity,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func eraseStaff(c *call) (any, error) {
	staffID, err := c.id("staff")
	if err != nil {
		return nil, err
	}
	var req eraseStaffRequest
	if err := c.decodeOptional(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.EraseStaff(c.ctx, commands.EraseStaff{Meta: c.meta(req.commandFields), StaffID: staffID})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func getStaff(c *call) (any, error) {
	staffID, err := c.id("staff")
	if err != nil {
		return nil, err
	}
	return c.srv.reader().StaffMember(c.ctx, c.corp, staffID)
}
