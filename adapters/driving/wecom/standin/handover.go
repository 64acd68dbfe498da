package standin

import "fmt"

// API performs changes the way an app does through WeCom's API. As in
// WeCom, such changes produce no callback: custody must record its own API
// actions, and a reconciliation (comparing Snapshot with custody's view)
// is the only way to see changes made by other apps.
type API struct{ c *Corp }

// API returns the corp's API view.
func (c *Corp) API() API { return API{c} }

// EditExternalContact is Corp.EditExternalContact through the API
// (externalcontact/remark, mark_tag): same change, no callback.
func (a API) EditExternalContact(userID, externalUserID string, e Edit) error {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return a.c.edit(userID, externalUserID, e)
}

// TransferCustomer starts a handover of one customer from one member to
// another: in-service (transfer_customer) or, when from has departed,
// resigned (resigned/transfer_customer). The handover waits for
// TakeOver (the customer did not refuse within 24 hours) or
// FailTransfer. No callback. Errors: ErrNotFound (no active relation of
// from, unknown to), ErrState (to departed, a handover of the pair
// already waiting), ErrInvalid (from = to). Not modelled: the limit of two
// handovers per customer in 90 days.
func (a API) TransferCustomer(from, to, externalUserID string) error {
	c := a.c
	if from == to {
		return fmt.Errorf("transfer customer: same member: %w", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.activeFollow(from, externalUserID); err != nil {
		return fmt.Errorf("transfer customer: %w", err)
	}
	if _, err := c.activeStaff(to); err != nil {
		return fmt.Errorf("transfer customer: new owner: %w", err)
	}
	k := pair{from, externalUserID}
	if h, ok := c.handovers[k]; ok && h.Status == HandoverWaiting {
		return fmt.Errorf("transfer customer: already waiting: %w", ErrState)
	}
	c.handovers[k] = &Handover{ExternalUserID: externalUserID, From: from, To: to, Status: HandoverWaiting,
		Resigned: c.staff[from] != nil && c.staff[from].Departed, StartedAt: c.now()}
	return nil
}

// TakeOver completes the waiting handover of the customer from `from`: the
// new owner follows the customer (an add_external_contact for them, unless
// they already did: then WeCom sends no add), and the old relation ends
// DeletedByTransfer (del_external_contact with Source
// DELETE_BY_TRANSFER). It returns those one or two callbacks, the add
// first. Errors: ErrNotFound (no handover), ErrState (not waiting).
func (c *Corp) TakeOver(from, externalUserID string) ([]Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, err := c.waitingHandover(from, externalUserID)
	if err != nil {
		return nil, fmt.Errorf("take over: %w", err)
	}
	old, err := c.activeFollow(from, externalUserID)
	if err != nil {
		return nil, fmt.Errorf("take over: %w", err)
	}
	var cbs []Callback
	k := pair{h.To, externalUserID}
	if f := c.follows[k]; f == nil || f.Deleted {
		c.follows[k] = &Follow{UserID: h.To, ExternalUserID: externalUserID, AddWay: 202, CreateTime: c.now()}
		cb := c.callback(EventExternalContact, "add_external_contact")
		cb.Fields = []Field{str("UserID", h.To), str("ExternalUserID", externalUserID)}
		cbs = append(cbs, cb)
	}
	c.end(old, DeletedByTransfer)
	h.Status, h.EndedAt = HandoverCompleted, c.now()
	cb := c.callback(EventExternalContact, "del_external_contact")
	cb.Fields = []Field{str("UserID", from), str("ExternalUserID", externalUserID), str("Source", SourceDeleteByTransfer)}
	return append(cbs, cb), nil
}

// FailTransfer ends the waiting handover as failed, for reason
// FailCustomerRefused (status HandoverRefused) or FailCustomerLimitExceed
// (HandoverLimitExceeded): transfer_fail with UserID = the NEW owner,
// ExternalUserID and FailReason. The old relation stays.
func (c *Corp) FailTransfer(from, externalUserID, reason string) (Callback, error) {
	status := map[string]HandoverStatus{FailCustomerRefused: HandoverRefused, FailCustomerLimitExceed: HandoverLimitExceeded}[reason]
	if status == 0 {
		return Callback{}, fmt.Errorf("transfer fail: reason %q: %w", reason, ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, err := c.waitingHandover(from, externalUserID)
	if err != nil {
		return Callback{}, fmt.Errorf("transfer fail: %w", err)
	}
	h.Status, h.EndedAt = status, c.now()
	cb := c.callback(EventExternalContact, "transfer_fail")
	cb.Fields = []Field{str("UserID", h.To), str("ExternalUserID", externalUserID), str("FailReason", reason)}
	return cb, nil
}

func (c *Corp) waitingHandover(from, externalUserID string) (*Handover, error) {
	h, ok := c.handovers[pair{from, externalUserID}]
	if !ok {
		return nil, fmt.Errorf("handover: %w", ErrNotFound)
	}
	if h.Status != HandoverWaiting {
		return nil, fmt.Errorf("handover not waiting: %w", ErrState)
	}
	return h, nil
}

// TransferGroup gives a group a new owner through the API
// (groupchat/transfer when resigned, its owner having departed;
// groupchat/onjob_transfer when its owner is in service). A new owner who
// is not yet a member joins it; a group whose owner departed gets status
// GroupHandoverDone. No callback. Errors: ErrNotFound (group, new owner),
// ErrState (dismissed, new owner departed, the owner's state not matching
// resigned: ErrOwnerInService / ErrOwnerDeparted), ErrInvalid (already
// the owner).
func (a API) TransferGroup(chatID, newOwner string, resigned bool) error {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.liveGroup(chatID)
	if err != nil {
		return fmt.Errorf("transfer group: %w", err)
	}
	if _, err := c.activeStaff(newOwner); err != nil {
		return fmt.Errorf("transfer group: new owner: %w", err)
	}
	if g.Owner == newOwner {
		return fmt.Errorf("transfer group: already the owner: %w", ErrInvalid)
	}
	departed := false
	if s, ok := c.staff[g.Owner]; ok {
		departed = s.Departed
	}
	switch {
	case resigned && !departed:
		return fmt.Errorf("transfer group: %w", ErrOwnerInService)
	case !resigned && departed:
		return fmt.Errorf("transfer group: %w", ErrOwnerDeparted)
	}
	if m, in := g.Member(newOwner); !in {
		g.Members = append(g.Members, Member{UserID: newOwner, Type: MemberStaff, JoinScene: JoinInvited, JoinTime: c.now()})
	} else if m.Type != MemberStaff {
		return fmt.Errorf("transfer group: new owner is not staff: %w", ErrInvalid)
	}
	g.Owner = newOwner
	if g.Status == GroupOwnerDeparted || g.Status == GroupHandoverUnderway {
		g.Status = GroupHandoverDone
	}
	return nil
}

// ErrOwnerInService and ErrOwnerDeparted: a group's owner is not in the
// state its transfer asks for (WeCom's 90500 / 90502).
var (
	ErrOwnerInService = fmt.Errorf("group owner has not departed: %w", ErrState)
	ErrOwnerDeparted  = fmt.Errorf("group owner departed: %w", ErrState)
)
