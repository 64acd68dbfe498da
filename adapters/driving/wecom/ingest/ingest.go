// Package ingest translates stored WeCom callbacks (package inbox) into
// custody's commands, as WeCom's facts (actor "wecom", business time =
// the callback's CreateTime) with command ids derived from each callback's
// dedup key, so translating a callback again records nothing new.
//
// What each callback becomes is listed in docs/wecom.md. In short:
// contact adds start a relation (joining the staff member first if custody
// does not know them), deletions end it in the direction WeCom names,
// transfer_fail settles the pending handover to that new owner, group
// callbacks change membership and the group's life, tag callbacks change
// the corp's tag catalog. A callback only says *that* something changed:
// what it does not carry (a contact's remark, a group's owner or new name,
// a tag's name) is marked for a fetch from WeCom's API (inbox.MarkRefresh).
// A fact that custody's state contradicts is recorded as
// wecom.fact_unmatched, never dropped.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/payload"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/domain/tags"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Refresher records details to fetch from WeCom's API (inbox.Inbox).
type Refresher interface {
	MarkRefresh(ctx context.Context, r inbox.Refresh) error
}

// Translator turns callbacks into commands. It is safe for concurrent use,
// but callbacks must be given to it in the order received (inbox.Drain
// does).
type Translator struct {
	cmds    *commands.Handler
	log     eventlog.EventLog
	refresh Refresher
	details Details
}

// New returns a Translator recording through cmds, reading state from log.
func New(cmds *commands.Handler, log eventlog.EventLog, refresh Refresher) *Translator {
	return &Translator{cmds: cmds, log: log, refresh: refresh}
}

// Translate is an inbox.Handler.
func (t *Translator) Translate(ctx context.Context, it inbox.Item) (inbox.Outcome, error) {
	ev, err := payload.Parse(it.Payload)
	if err != nil {
		return rejected("payload does not parse: %v", err), nil
	}
	if err := ev.Validate(); err != nil {
		return rejected("%v", err), nil
	}
	c := &call{t: t, item: it, ev: ev}
	c.meta = commands.Meta{
		CorpID: it.CorpID, Actor: "wecom", OccurredAt: it.ReceivedAt,
		CorrelationID: "wecom-" + short(it.DedupKey),
	}
	if at, ok := ev.Time(); ok {
		c.meta.OccurredAt = at
	}
	switch ev.Kind() {
	case "change_external_contact/add_external_contact", "change_external_contact/add_half_external_contact":
		err = c.addContact(ctx)
	case "change_external_contact/edit_external_contact":
		err = c.editContact(ctx)
	case "change_external_contact/del_external_contact":
		err = c.deleteContact(ctx)
	case "change_external_contact/del_follow_user":
		err = c.endRelation(ctx, events.EndDeletedByCustomer)
	case "change_external_contact/transfer_fail":
		err = c.transferFail(ctx)
	case "change_external_chat/create":
		err = c.chatCreated(ctx)
	case "change_external_chat/update/add_member":
		err = c.membersJoined(ctx)
	case "change_external_chat/update/del_member":
		err = c.membersLeft(ctx)
	case "change_external_chat/update/change_owner", "change_external_chat/update/change_name", "change_external_chat/update/change_notice":
		err = c.chatChanged(ctx)
	case "change_external_chat/dismiss":
		err = c.chatDismissed(ctx)
	case "change_external_tag/create", "change_external_tag/update", "change_external_tag/delete", "change_external_tag/shuffle":
		err = c.tagChanged(ctx)
	default:
		return inbox.Outcome{Status: inbox.StatusUnknown, Reason: "custody does not translate " + it.Kind}, nil
	}
	if err == nil {
		return inbox.Outcome{Status: inbox.StatusDone, Reason: c.note}, nil
	}
	var rej *rejection
	if errors.As(err, &rej) {
		return inbox.Outcome{Status: inbox.StatusRejected, Reason: rej.reason}, nil
	}
	if refused(err) {
		// A rule refused the command for the data it carries (a time
		// outside the accepted range, an id or value custody cannot
		// store): keep the callback with the reason.
		return inbox.Outcome{Status: inbox.StatusRejected, Reason: err.Error()}, nil
	}
	return inbox.Outcome{}, err
}

// refused reports whether err is the command refusing its input rather
// than the log failing: those are never retried.
func refused(err error) bool {
	return errors.Is(err, commands.ErrInvalidCommand) || errors.Is(err, eventlog.ErrInvalidEvent) ||
		errors.Is(err, commands.ErrUnknownCorp) || errors.Is(err, commands.ErrUnreadableStream) ||
		errors.Is(err, customer.ErrInvalidArgument) || errors.Is(err, groupchat.ErrInvalidArgument) ||
		errors.Is(err, tags.ErrInvalidArgument) || errors.Is(err, staff.ErrInvalidID)
}

type rejection struct{ reason string }

func (r *rejection) Error() string { return r.reason }

func rejected(format string, args ...any) inbox.Outcome {
	return inbox.Outcome{Status: inbox.StatusRejected, Reason: fmt.Sprintf(format, args...)}
}

// call is the translation of one callback.
type call struct {
	t    *Translator
	item inbox.Item
	ev   payload.Event
	meta commands.Meta
	// note is a remark stored with the outcome (e.g. "already active").
	note string
}

// m returns the meta of the callback's step-th command.
func (c *call) m(step string) commands.Meta {
	m := c.meta
	m.CommandID = "wecom-" + c.item.DedupKey + "-" + step
	return m
}

func (c *call) require(fields ...string) error {
	var missing []string
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			missing = append(missing, fields[i])
		}
	}
	if len(missing) > 0 {
		return &rejection{reason: "missing " + strings.Join(missing, ", ")}
	}
	return nil
}

// unmatched records the callback as a fact custody's state contradicts.
func (c *call) unmatched(ctx context.Context, reason string, fact events.WeComFactUnmatched) error {
	fact.Kind, fact.Reason, fact.CallbackKey = c.ev.Kind(), reason, c.item.DedupKey
	_, err := c.t.cmds.RecordUnmatchedFact(ctx, commands.RecordUnmatchedFact{Meta: c.m("unmatched"), Fact: fact})
	c.note = "recorded as wecom.fact_unmatched: " + reason
	return err
}

// markRefresh asks for a detail the callback does not carry.
func (c *call) markRefresh(ctx context.Context, kind, subject, staffID, reason string) error {
	if c.t.refresh == nil {
		return nil
	}
	return c.t.refresh.MarkRefresh(ctx, inbox.Refresh{CorpID: c.item.CorpID, Kind: kind, Subject: subject, StaffID: staffID, Reason: reason})
}

func short(key string) string {
	if len(key) > 16 {
		return key[:16]
	}
	return key
}
