package httpapi

import (
	"net/http"
	"time"

	"github.com/custody/custody/commands"
)

// maxHandoverIDs bounds the decoded list before the commands apply the
// corp's own (smaller) batch limit.
const maxHandoverIDs = 1000

func requestHandovers(c *call) (any, error) {
	var req handoverRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := checkID("from_staff_id", req.FromStaffID); err != nil {
		return nil, err
	}
	if err := checkID("to_staff_id", req.ToStaffID); err != nil {
		return nil, err
	}
	if len(req.CustomerIDs) == 0 || len(req.CustomerIDs) > maxHandoverIDs {
		return nil, newError(http.StatusBadRequest, CodeInvalidArgument, "customer_ids must list 1 to 100 customers")
	}
	for _, id := range req.CustomerIDs {
		if err := checkID("customer_ids[]", id); err != nil {
			return nil, err
		}
	}
	b, err := c.srv.opts.Commands.RequestHandover(c.ctx, commands.RequestHandover{
		Meta: c.meta(req.commandFields), Kind: req.Kind, FromStaffID: req.FromStaffID, ToStaffID: req.ToStaffID,
		CustomerIDs: req.CustomerIDs, Message: req.Message,
	})
	if err != nil {
		return nil, err
	}
	return HandoverBatchResult{CommandID: c.commandID, BatchID: b.BatchID, Outcomes: outcomes(b.Outcomes)}, nil
}

// customerAndHandover validates the {customer} and {handover} path ids.
func (c *call) customerAndHandover() (string, string, error) {
	cust, err := c.id("customer")
	if err != nil {
		return "", "", err
	}
	h, err := c.id("handover")
	return cust, h, err
}

func refuseHandover(c *call) (any, error) { return endPendingHandover(c, true) }

func cancelHandover(c *call) (any, error) { return endPendingHandover(c, false) }

// endPendingHandover records the customer refusing a pending handover, or an
// admin cancelling it.
func endPendingHandover(c *call, refused bool) (any, error) {
	cust, h, err := c.customerAndHandover()
	if err != nil {
		return nil, err
	}
	var req settleHandoverRequest
	if err := c.decodeOptional(&req); err != nil {
		return nil, err
	}
	meta := c.meta(req.commandFields)
	var res commands.Result
	if refused {
		res, err = c.srv.opts.Commands.RefuseHandover(c.ctx, commands.RefuseHandover{Meta: meta, CustomerID: cust, HandoverID: h})
	} else {
		res, err = c.srv.opts.Commands.CancelHandover(c.ctx, commands.CancelHandover{Meta: meta, CustomerID: cust, HandoverID: h})
	}
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func settleHandovers(c *call) (any, error) {
	var req settleRequest
	if err := c.decodeOptional(&req); err != nil {
		return nil, err
	}
	// Zero: the commands' clock. A time after it is refused there (400
	// invalid_argument naming as_of): settling early would complete
	// handovers the customer may still refuse.
	var asOf time.Time
	if req.AsOf != nil {
		asOf = req.AsOf.UTC()
	} else if req.OccurredAt != nil {
		asOf = req.OccurredAt.UTC()
	}
	rep, err := c.srv.opts.Commands.SettleDue(c.ctx, c.corp, asOf)
	if err != nil {
		return nil, err
	}
	return SettleResult{AsOf: rep.AsOf.UTC(), Outcomes: outcomes(rep.Outcomes)}, nil
}
