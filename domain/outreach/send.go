package outreach

import (
	"fmt"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/events"
)

// Send is one message to one recipient, as a marketing tool (or WeCom)
// reports it.
type Send struct {
	MessageID string
	Channel   string
	StaffID   string
	// At is the business time of the send: the windows it counts in.
	At time.Time
	// ReportedBy is events.ReportedByCustody (the tool asks before it
	// sends: refused recipients are not recorded) or
	// events.ReportedByWeCom (the send happened: it is recorded, with the
	// rules it broke).
	ReportedBy string
	// StaffDeparted: the sending member departed (staff.departed). Every
	// recipient is refused with events.OutreachStaffDeparted.
	StaffDeparted bool
}

func (s Send) check() error {
	switch {
	case s.MessageID == "":
		return fmt.Errorf("%w: empty message id", ErrInvalidArgument)
	case !ValidChannel(s.Channel):
		return fmt.Errorf("%w: channel %q", ErrInvalidArgument, s.Channel)
	case s.StaffID == "":
		return fmt.Errorf("%w: empty staff id", ErrInvalidArgument)
	case s.ReportedBy != events.ReportedByCustody && s.ReportedBy != events.ReportedByWeCom:
		return fmt.Errorf("%w: reported_by %q", ErrInvalidArgument, s.ReportedBy)
	}
	return nil
}

// Decision is the outcome of a send for one recipient.
type Decision struct {
	// Reasons are the rules the send meets (events.Outreach* reasons), in
	// a fixed order: the member departed, erasure, consent, relation,
	// moments opt-out, group state, then the cap windows day, week, month.
	Reasons []string
	// Delivered: the recipient receives the message (Events record it),
	// or received it already (Already).
	Delivered bool
	// Already: the ledger holds this message already (a retried or
	// repeated report); nothing new is recorded.
	Already bool
	// Events go on the recipient's ledger, appended at the ledger's
	// version: outreach.delivered and any outreach.cap_reached.
	Events []events.Payload
}

// Refused reports whether the recipient was refused.
func (d Decision) Refused() bool { return !d.Delivered }

// Eligibility are the reasons a customer may not receive a message from
// staffID on channel now, apart from the caps: erased, marketing consent
// withdrawn, no active relation with the member, opted out of the
// member's moments (moments channel). A customer never seen (no stream)
// has no relation. Without a recorded marketing consent, or with agree or
// default_agree, consent does not refuse: PIPL Art. 24 asks for an easy
// refusal, which consent.recorded disagree is.
func Eligibility(c *customer.Customer, staffID, channel string) []string {
	var out []string
	if c.Erased() {
		out = append(out, events.OutreachErased)
	}
	if v, ok := c.Consent(events.PurposeMarketing); ok && v.State == events.ConsentDisagree {
		out = append(out, events.OutreachConsentWithdrawn)
	}
	if r, ok := c.Relation(staffID); !ok || !r.Active {
		out = append(out, events.OutreachNoRelation)
	}
	if channel == events.ChannelMoments && c.OptedOut(staffID) {
		out = append(out, events.OutreachMomentsOptedOut)
	}
	return out
}

// GroupEligibility are the reasons a customer group may not receive a
// group mass message from staffID, apart from the caps: unknown,
// dismissed, or owned by someone else (WeCom sends a group mass message
// through the group's owner).
func GroupEligibility(g *groupchat.GroupChat, staffID string) []string {
	switch {
	case g.Version() < 0:
		return []string{events.OutreachGroupUnknown}
	case g.Dismissed():
		return []string{events.OutreachGroupDismissed}
	case g.Owner() != staffID:
		return []string{events.OutreachNotGroupOwner}
	}
	return nil
}

// DecideCustomer decides a send to customer c whose ledger is l, under the
// corp's settings.
func DecideCustomer(c *customer.Customer, l *Ledger, s Send, set corp.Settings) (Decision, error) {
	if err := s.check(); err != nil {
		return Decision{}, err
	}
	if ToGroups(s.Channel) {
		return Decision{}, fmt.Errorf("%w: channel %s goes to groups, not customers", ErrInvalidArgument, s.Channel)
	}
	return decide(l, s, set, Eligibility(c, s.StaffID, s.Channel), &events.OutreachDelivered{CustomerID: c.ID()},
		func(a *events.OutreachCapReached) { a.CustomerID = c.ID() })
}

// DecideGroup decides a group mass message to group g whose ledger is l.
func DecideGroup(g *groupchat.GroupChat, l *Ledger, s Send, set corp.Settings) (Decision, error) {
	if err := s.check(); err != nil {
		return Decision{}, err
	}
	if !ToGroups(s.Channel) {
		return Decision{}, fmt.Errorf("%w: channel %s goes to customers, not groups", ErrInvalidArgument, s.Channel)
	}
	return decide(l, s, set, GroupEligibility(g, s.StaffID), &events.OutreachDelivered{ChatID: g.ID()},
		func(a *events.OutreachCapReached) { a.ChatID = g.ID() })
}

func decide(l *Ledger, s Send, set corp.Settings, reasons []string, d *events.OutreachDelivered,
	recipient func(*events.OutreachCapReached)) (Decision, error) {
	if l.Received(s.MessageID) {
		return Decision{Delivered: true, Already: true}, nil
	}
	if s.StaffDeparted {
		reasons = append([]string{events.OutreachStaffDeparted}, reasons...)
	}
	counted := Counted(s.Channel)
	var as []Allowance
	if counted {
		as = l.Allowances(set, s.At)
		reasons = append(reasons, capReasons(as)...)
	}
	if len(reasons) > 0 && s.ReportedBy != events.ReportedByWeCom {
		return Decision{Reasons: reasons}, nil
	}
	d.MessageID, d.Channel, d.StaffID, d.ReportedBy, d.Counted = s.MessageID, s.Channel, s.StaffID, s.ReportedBy, counted
	d.Violations = reasons
	out := Decision{Reasons: reasons, Delivered: true, Events: []events.Payload{d}}
	for _, a := range as {
		// This delivery uses the window's last message: the recipient is
		// refused until the window ends.
		if a.Used+1 == a.Cap {
			e := &events.OutreachCapReached{Window: a.Window, Cap: a.Cap, Until: a.End.UTC()}
			recipient(e)
			out.Events = append(out.Events, e)
		}
	}
	return out, nil
}
