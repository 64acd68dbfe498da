package httpapi

import (
	"net/http"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// customerAndStaff validates the {customer} and {staff} path ids.
func (c *call) customerAndStaff() (string, string, error) {
	cust, err := c.id("customer")
	if err != nil {
		return "", "", err
	}
	st, err := c.id("staff")
	return cust, st, err
}

func startRelation(c *call) (any, error) {
	cust, err := c.id("customer")
	if err != nil {
		return nil, err
	}
	var req startRelationRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := checkID("staff_id", req.StaffID); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.StartRelation(c.ctx, commands.StartRelation{
		Meta: c.meta(req.commandFields), CustomerID: cust, StaffID: req.StaffID,
		Initiator: req.Initiator, AddWay: req.AddWay, State: req.State, Tags: req.Tags,
		CustomerName: req.CustomerName, Remark: req.Remark, Description: req.Description, Phones: req.Phones,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func editRelation(c *call) (any, error) {
	cust, st, err := c.customerAndStaff()
	if err != nil {
		return nil, err
	}
	var req editRelationRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.EditRelation(c.ctx, commands.EditRelation{
		Meta: c.meta(req.commandFields), CustomerID: cust, StaffID: st, Tags: req.Tags,
		CustomerName: req.CustomerName, Remark: req.Remark, Description: req.Description, Phones: req.Phones,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

// endReasons maps the API's "by" to the event's end reason.
var endReasons = map[string]string{
	"customer":   events.EndDeletedByCustomer,
	"staff":      events.EndDeletedByStaff,
	"reconciled": events.EndReconciled,
}

func endRelation(c *call) (any, error) {
	cust, st, err := c.customerAndStaff()
	if err != nil {
		return nil, err
	}
	var req endRelationRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	reason, ok := endReasons[req.By]
	if !ok {
		return nil, newError(http.StatusBadRequest, CodeInvalidArgument, "by must be customer, staff or reconciled")
	}
	res, err := c.srv.opts.Commands.EndRelation(c.ctx, commands.EndRelation{
		Meta: c.meta(req.commandFields), CustomerID: cust, StaffID: st, Reason: reason,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func optOutMoments(c *call) (any, error) { return changeMoments(c, true) }

func optInMoments(c *call) (any, error) { return changeMoments(c, false) }

// changeMoments records a customer opting out of (or back into) a staff
// member's moments.
func changeMoments(c *call, optOut bool) (any, error) {
	cust, st, err := c.customerAndStaff()
	if err != nil {
		return nil, err
	}
	var req momentsRequest
	if err := c.decodeOptional(&req); err != nil {
		return nil, err
	}
	meta := c.meta(req.commandFields)
	var res commands.Result
	if optOut {
		res, err = c.srv.opts.Commands.OptOutMoments(c.ctx, commands.OptOutMoments{Meta: meta, CustomerID: cust, StaffID: st, Source: req.Source})
	} else {
		res, err = c.srv.opts.Commands.OptInMoments(c.ctx, commands.OptInMoments{Meta: meta, CustomerID: cust, StaffID: st, Source: req.Source})
	}
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func recordConsent(c *call) (any, error) {
	cust, err := c.id("customer")
	if err != nil {
		return nil, err
	}
	var req consentRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.RecordConsent(c.ctx, commands.RecordConsent{
		Meta: c.meta(req.commandFields), CustomerID: cust, Purpose: req.Purpose, State: req.State,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func eraseCustomer(c *call) (any, error) {
	cust, err := c.id("customer")
	if err != nil {
		return nil, err
	}
	var req eraseRequest
	if err := c.decodeOptional(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.EraseCustomer(c.ctx, commands.EraseCustomer{Meta: c.meta(req.commandFields), CustomerID: cust})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}
