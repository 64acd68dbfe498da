package standin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AddStaff adds a member with customer contact enabled. Address-book
// changes send no customer-contact callback, so none is returned.
func (c *Corp) AddStaff(userID, name string) error {
	if userID == "" {
		return fmt.Errorf("add staff: empty userid: %w", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.staff[userID]; ok {
		return fmt.Errorf("add staff: %w", ErrExists)
	}
	c.staff[userID] = &Staff{UserID: userID, Name: name}
	return nil
}

// DepartStaff marks a member departed (离职). Their relations stay, to be
// handed over; the groups they own get status GroupOwnerDeparted. WeCom
// announces departures by an address-book callback the stand-in does not
// model, so none is returned.
func (c *Corp) DepartStaff(userID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.activeStaff(userID)
	if err != nil {
		return fmt.Errorf("depart staff: %w", err)
	}
	s.Departed, s.DepartedAt = true, c.now()
	for _, g := range c.groups {
		if g.Owner == userID && !g.Dismissed {
			g.Status = GroupOwnerDeparted
		}
	}
	return nil
}

// Add describes how a customer added a staff member.
type Add struct {
	// State is the channel code of the 「联系我」 QR code or link
	// (e.g. "expo2026"); empty when added another way.
	State string
	// AddWay is WeCom's add_way code (1 QR scan, 2 phone search, …).
	AddWay int
}

// AddExternalContact: userID added the customer or accepted them
// (add_external_contact with UserID, ExternalUserID, State when set, and a
// fresh WelcomeCode). An unknown customer becomes known; a non-empty name
// replaces the known one. A deleted relation starts again with the new
// createtime, remark and tags cleared; a half relation is confirmed,
// keeping its state. Errors: ErrNotFound (staff), ErrState (departed),
// ErrExists (already following).
func (c *Corp) AddExternalContact(userID string, cu Customer, a Add) (Callback, error) {
	return c.add(userID, cu, a, false)
}

// AddHalfExternalContact: the customer added userID through a code with
// auto-accept on and the member has not confirmed yet
// (add_half_external_contact). The relation exists, marked Half; a later
// AddExternalContact confirms it.
func (c *Corp) AddHalfExternalContact(userID string, cu Customer, a Add) (Callback, error) {
	return c.add(userID, cu, a, true)
}

func (c *Corp) add(userID string, cu Customer, a Add, half bool) (Callback, error) {
	if cu.ExternalUserID == "" {
		return Callback{}, fmt.Errorf("add contact: empty external_userid: %w", ErrInvalid)
	}
	if utf8.RuneCountInString(a.State) > 30 {
		return Callback{}, fmt.Errorf("add contact: state longer than 30 characters: %w", ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.activeStaff(userID); err != nil {
		return Callback{}, fmt.Errorf("add contact: %w", err)
	}
	c.knowCustomer(cu)
	k := pair{userID, cu.ExternalUserID}
	f := c.follows[k]
	switch {
	case f != nil && !f.Deleted && (half || !f.Half):
		return Callback{}, fmt.Errorf("add contact: %w", ErrExists)
	case f != nil && !f.Deleted: // confirming a half relation
		f.Half = false
	default:
		f = &Follow{UserID: userID, ExternalUserID: cu.ExternalUserID, AddWay: a.AddWay, State: a.State,
			CreateTime: c.now(), Half: half}
		c.follows[k] = f
	}
	changeType := "add_external_contact"
	if half {
		changeType = "add_half_external_contact"
	}
	cb := c.callback(EventExternalContact, changeType)
	cb.Fields = []Field{str("UserID", userID), str("ExternalUserID", cu.ExternalUserID)}
	if f.State != "" {
		cb.Fields = append(cb.Fields, str("State", f.State))
	}
	cb.Fields = append(cb.Fields, str("WelcomeCode", c.code("WELCOME", 32, userID, cu.ExternalUserID)))
	return cb, nil
}

// Edit changes a relation; nil fields are left alone.
type Edit struct {
	Remark      *string
	Description *string
	// AddTags and RemoveTags are corp tag ids; adding a tag the relation
	// has, or removing one it lacks, is not an error.
	AddTags    []string
	RemoveTags []string
}

// EditExternalContact: the staff member edited the remark, description or
// corp tags of a relation in the client (edit_external_contact with UserID
// and ExternalUserID only: it carries no diff). Errors: ErrNotFound (no
// active relation, unknown or deleted tag). API().EditExternalContact is
// the same change without a callback.
func (c *Corp) EditExternalContact(userID, externalUserID string, e Edit) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.edit(userID, externalUserID, e); err != nil {
		return Callback{}, err
	}
	cb := c.callback(EventExternalContact, "edit_external_contact")
	cb.Fields = []Field{str("UserID", userID), str("ExternalUserID", externalUserID)}
	return cb, nil
}

func (c *Corp) edit(userID, externalUserID string, e Edit) error {
	f, err := c.activeFollow(userID, externalUserID)
	if err != nil {
		return fmt.Errorf("edit contact: %w", err)
	}
	for _, id := range append(slices.Clone(e.AddTags), e.RemoveTags...) {
		if !c.liveTag(id) {
			return fmt.Errorf("edit contact: tag: %w", ErrNotFound)
		}
	}
	if e.Remark != nil {
		f.Remark = *e.Remark
	}
	if e.Description != nil {
		f.Description = *e.Description
	}
	for _, id := range e.AddTags {
		if !slices.Contains(f.TagIDs, id) {
			f.TagIDs = append(f.TagIDs, id)
		}
	}
	f.TagIDs = slices.DeleteFunc(f.TagIDs, func(id string) bool { return slices.Contains(e.RemoveTags, id) })
	slices.Sort(f.TagIDs)
	return nil
}

// DelExternalContact: the staff member deleted the customer
// (del_external_contact with UserID and ExternalUserID). The relation ends,
// DeletedByStaff. Errors: ErrNotFound (no active relation), ErrState
// (departed member).
func (c *Corp) DelExternalContact(userID, externalUserID string) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.activeStaff(userID); err != nil {
		return Callback{}, fmt.Errorf("delete contact: %w", err)
	}
	f, err := c.activeFollow(userID, externalUserID)
	if err != nil {
		return Callback{}, fmt.Errorf("delete contact: %w", err)
	}
	c.end(f, DeletedByStaff)
	cb := c.callback(EventExternalContact, "del_external_contact")
	cb.Fields = []Field{str("UserID", userID), str("ExternalUserID", externalUserID)}
	return cb, nil
}

// DelFollowUser: the customer deleted the staff member (del_follow_user,
// churn). The relation ends, DeletedByCustomer. The callback keeps the
// relation's State as an undocumented field, sent only in the dialect that
// has it. Errors: ErrNotFound (no active relation).
func (c *Corp) DelFollowUser(userID, externalUserID string) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.activeFollow(userID, externalUserID)
	if err != nil {
		return Callback{}, fmt.Errorf("delete follow user: %w", err)
	}
	c.end(f, DeletedByCustomer)
	cb := c.callback(EventExternalContact, "del_follow_user")
	cb.Fields = []Field{str("UserID", userID), str("ExternalUserID", externalUserID)}
	if f.State != "" {
		cb.Fields = append(cb.Fields, Field{Name: "State", Value: f.State, Undocumented: true})
	}
	return cb, nil
}

func (c *Corp) end(f *Follow, by DeletedBy) {
	f.Deleted, f.DeletedBy, f.DeletedAt, f.Half = true, by, c.now(), false
}

// Helpers below are called with c.mu held.

func (c *Corp) activeStaff(userID string) (*Staff, error) {
	s, ok := c.staff[userID]
	if !ok {
		return nil, fmt.Errorf("staff member: %w", ErrNotFound)
	}
	if s.Departed {
		return nil, fmt.Errorf("staff member departed: %w", ErrState)
	}
	return s, nil
}

func (c *Corp) activeFollow(userID, externalUserID string) (*Follow, error) {
	f, ok := c.follows[pair{userID, externalUserID}]
	if !ok || f.Deleted {
		return nil, fmt.Errorf("relation: %w", ErrNotFound)
	}
	return f, nil
}

func (c *Corp) knowCustomer(cu Customer) {
	if known, ok := c.customers[cu.ExternalUserID]; ok {
		if cu.Name != "" {
			known.Name = cu.Name
		}
		return
	}
	c.customers[cu.ExternalUserID] = &Customer{ExternalUserID: cu.ExternalUserID, Name: cu.Name}
}

// code derives a fresh opaque value (welcome code, member version, tag id)
// from the corp, a sequence number and the parts: unique within the corp
// and the same for the same sequence of actions, so a replayed script
// yields the same callbacks.
func (c *Corp) code(kind string, n int, parts ...string) string {
	c.seq++
	h := sha256.New()
	for _, p := range append([]string{c.corpID, kind, strconv.FormatUint(c.seq, 10)}, parts...) {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return hex.EncodeToString(h.Sum(nil))[:n]
}
