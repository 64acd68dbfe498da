package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// deleteByTransfer is del_external_contact's Source when an in-service
// handover removed the customer from the old owner.
const deleteByTransfer = "DELETE_BY_TRANSFER"

// ensureStaff records the member as joined when custody does not know
// them: WeCom saying they serve a customer is proof enough.
func (c *call) ensureStaff(ctx context.Context, staffID string) error {
	_, err := c.t.cmds.JoinStaff(ctx, commands.JoinStaff{Meta: c.m("join-" + staffID), StaffID: staffID})
	if errors.Is(err, staff.ErrAlreadyJoined) {
		return nil
	}
	return err
}

// addContact: add_external_contact (a member added a customer or accepted
// one) and add_half_external_contact (a customer added a member with
// auto-accept on). WeCom does not say who initiated an
// add_external_contact; one with a channel code (State) came from a
// 「联系我」 QR code or link the customer used, so the customer initiated
// it; without one the member did.
func (c *call) addContact(ctx context.Context) error {
	e := c.ev
	if err := c.require("UserID", e.UserID, "ExternalUserID", e.ExternalUserID); err != nil {
		return err
	}
	if err := c.ensureStaff(ctx, e.UserID); err != nil {
		return err
	}
	initiator := events.InitiatorStaff
	if e.ChangeType == "add_half_external_contact" || e.State != "" {
		initiator = events.InitiatorCustomer
	}
	_, err := c.t.cmds.StartRelation(ctx, commands.StartRelation{
		Meta: c.m("start"), CustomerID: e.ExternalUserID, StaffID: e.UserID, Initiator: initiator, State: e.State,
	})
	switch {
	case errors.Is(err, customer.ErrRelationActive):
		c.note = "relation already active"
	case errors.Is(err, customer.ErrErased):
		return c.unmatched(ctx, events.UnmatchedCustomerErased, events.WeComFactUnmatched{CustomerID: e.ExternalUserID, StaffID: e.UserID})
	case err != nil:
		return err
	}
	return c.markRefresh(ctx, inbox.RefreshContact, e.ExternalUserID, e.UserID, "added")
}

// editContact: edit_external_contact carries no diff; the new remark,
// description and tags come from the API.
func (c *call) editContact(ctx context.Context) error {
	e := c.ev
	if err := c.require("UserID", e.UserID, "ExternalUserID", e.ExternalUserID); err != nil {
		return err
	}
	c.note = "details to fetch"
	return c.markRefresh(ctx, inbox.RefreshContact, e.ExternalUserID, e.UserID, "edited")
}

// deleteContact: del_external_contact, the member deleted the customer —
// unless Source is DELETE_BY_TRANSFER, which is the old owner's side of an
// in-service handover: custody settles that handover from WeCom's
// transfer result, so a pending handover from this member needs nothing
// here, and an active relation without one was handed over in WeCom
// directly: it ends with events.EndHandedOverInWeCom (the new owner's
// relation starts with WeCom's add for them).
func (c *call) deleteContact(ctx context.Context) error {
	e := c.ev
	if e.Source != deleteByTransfer {
		return c.endRelation(ctx, events.EndDeletedByStaff)
	}
	if err := c.require("UserID", e.UserID, "ExternalUserID", e.ExternalUserID); err != nil {
		return err
	}
	cust, err := c.customer(ctx, e.ExternalUserID)
	if err != nil {
		return err
	}
	for _, h := range cust.Handovers() {
		if h.Status == customer.StatusPending && h.From == e.UserID {
			c.note = "handover " + h.ID + " under way; settled by WeCom's transfer result"
			return nil
		}
	}
	if rel, _ := cust.Relation(e.UserID); rel.Active {
		return c.endRelation(ctx, events.EndHandedOverInWeCom)
	}
	c.note = "relation already handed over"
	return nil
}

// endRelation ends the relation in the direction WeCom names.
func (c *call) endRelation(ctx context.Context, reason string) error {
	e := c.ev
	if err := c.require("UserID", e.UserID, "ExternalUserID", e.ExternalUserID); err != nil {
		return err
	}
	_, err := c.t.cmds.EndRelation(ctx, commands.EndRelation{Meta: c.m("end"), CustomerID: e.ExternalUserID, StaffID: e.UserID, Reason: reason})
	fact := events.WeComFactUnmatched{CustomerID: e.ExternalUserID, StaffID: e.UserID}
	switch {
	case errors.Is(err, customer.ErrRelationNotActive), errors.Is(err, customer.ErrRelationNotFound):
		return c.unmatched(ctx, events.UnmatchedRelationNotActive, fact)
	case errors.Is(err, customer.ErrErased):
		return c.unmatched(ctx, events.UnmatchedCustomerErased, fact)
	}
	return err
}

// transferFail: a handover to UserID (the NEW owner) failed: the customer
// refused (customer_refused) or the new owner is at WeCom's customer limit
// (customer_limit_exceed).
func (c *call) transferFail(ctx context.Context) error {
	e := c.ev
	if err := c.require("UserID", e.UserID, "ExternalUserID", e.ExternalUserID, "FailReason", e.FailReason); err != nil {
		return err
	}
	fact := events.WeComFactUnmatched{CustomerID: e.ExternalUserID, StaffID: e.UserID}
	cust, err := c.customer(ctx, e.ExternalUserID)
	if err != nil {
		return err
	}
	var pending *customer.Handover
	for _, h := range cust.Handovers() {
		if h.Status == customer.StatusPending && h.To == e.UserID {
			pending = &h
			break
		}
	}
	if pending == nil {
		// WeCom's transfer result, polled, may have settled it already
		// (package outbound): the callback then says nothing new.
		for _, h := range cust.Handovers() {
			if h.To == e.UserID && (h.Status == customer.StatusRefused || h.Status == customer.StatusFailed) {
				c.note = "handover " + h.ID + " already " + h.Status
				return nil
			}
		}
		return c.unmatched(ctx, events.UnmatchedHandoverNotFound, fact)
	}
	switch e.FailReason {
	case "customer_refused":
		_, err = c.t.cmds.RefuseHandover(ctx, commands.RefuseHandover{Meta: c.m("refuse"), CustomerID: e.ExternalUserID, HandoverID: pending.ID})
	case "customer_limit_exceed":
		_, err = c.t.cmds.FailHandover(ctx, commands.FailHandover{Meta: c.m("fail"), CustomerID: e.ExternalUserID, HandoverID: pending.ID, Reason: events.FailTargetAtCapacity})
	default:
		return c.unmatched(ctx, events.UnmatchedOther, fact)
	}
	if errors.Is(err, customer.ErrHandoverNotPending) || errors.Is(err, customer.ErrHandoverWindowClosed) {
		return c.unmatched(ctx, events.UnmatchedHandoverNotFound, fact)
	}
	return err
}

// customer loads a customer's current state from the log.
func (c *call) customer(ctx context.Context, id string) (*customer.Customer, error) {
	stream := events.CustomerStream(c.item.CorpID, id)
	recs, err := c.t.log.ReadStream(ctx, stream, 0)
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	cust, err := customer.Rehydrate(id, recs)
	if err != nil {
		return nil, &commands.StreamError{Stream: stream, Err: err}
	}
	return cust, nil
}
