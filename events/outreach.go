package events

import "time"

// Outreach events: a corp's marketing messages to customers and customer
// groups (WeCom 客户群发, 客户群群发, 客户朋友圈) as an auditable ledger.
//
//   - outreach.planned, outreach.sent and outreach.refused live on the
//     message's stream OutreachMessageStream(corp, message_id): what a
//     marketing tool meant to send, and the outcome of each send it
//     recorded (the recipients reached, and those refused with their
//     reasons).
//   - outreach.delivered and outreach.cap_reached live on each recipient's
//     ledger stream, OutreachCustomerStream(corp, customer_id) or
//     OutreachGroupStream(corp, chat_id): one event per message the
//     recipient received. The ledger is what the sending caps count, and
//     its expected version is what keeps the count exact when many tools
//     record sends at once.
//
// None of them carries personal data, except a message text a tool flags
// as personal (outreach.planned's sealed part).

// Outreach channels.
const (
	// ChannelMassMessage is a corp mass message to customers (客户群发,
	// add_msg_template with chat_type single). Capped per customer.
	ChannelMassMessage = "mass_message"
	// ChannelGroupMassMessage is a corp mass message to customer groups
	// (add_msg_template with chat_type group). Capped per group.
	ChannelGroupMassMessage = "group_mass_message"
	// ChannelMoments is a post to the staff member's customers' moments
	// (客户朋友圈). Not capped; customers who opted out of the member's
	// moments are refused.
	ChannelMoments = "moments"
)

// Reasons a recipient is refused (outreach.refused) or the rules a
// reported send broke (outreach.delivered's violations).
const (
	OutreachErased           = "erased"            // the customer was erased (PIPL Art. 47)
	OutreachConsentWithdrawn = "consent_withdrawn" // marketing consent is "disagree" (PIPL Art. 24)
	OutreachNoRelation       = "no_relation"       // no active relation with the sending member
	OutreachStaffDeparted    = "staff_departed"    // the sending member departed (staff.departed)
	OutreachMomentsOptedOut  = "moments_opted_out" // opted out of the member's moments (moments channel)
	OutreachCapDay           = "cap_day"           // the day's cap is used up
	OutreachCapWeek          = "cap_week"          // the week's cap is used up
	OutreachCapMonth         = "cap_month"         // the month's cap is used up
	OutreachGroupUnknown     = "group_unknown"     // no such customer group
	OutreachGroupDismissed   = "group_dismissed"   // the group was dismissed
	OutreachNotGroupOwner    = "not_group_owner"   // the sending member does not own the group
)

// Who reported a delivery.
const (
	// ReportedByCustody: a marketing tool recorded the send through
	// custody before sending; custody refused what its rules refuse.
	ReportedByCustody = "custody"
	// ReportedByWeCom: WeCom reported a send that happened (e.g. the
	// results of add_msg_template). It is recorded even when it broke a
	// rule, with the rules it broke in Violations.
	ReportedByWeCom = "wecom"
)

// Cap windows (outreach.cap_reached).
const (
	WindowDay   = "day"
	WindowWeek  = "week"
	WindowMonth = "month"
)

// OutreachPlanned: a marketing tool plans a message through a staff
// member to customers or customer groups. It reserves nothing: the send
// (outreach.sent) decides against the rules as they are then.
type OutreachPlanned struct {
	MessageID string `json:"message_id"`
	// Channel is one of the Channel* constants.
	Channel string `json:"channel"`
	// StaffID is the sending member.
	StaffID     string   `json:"staff_id"`
	CustomerIDs []string `json:"customer_ids,omitempty"`
	ChatIDs     []string `json:"chat_ids,omitempty"`
	// Text is the message when it is not personal data (the usual case:
	// the same text to every recipient).
	Text string `json:"text,omitempty"`
	// Personal: the tool flagged the text as personal data; it is then in
	// PII, sealed under the sending member's key, and Text is empty.
	Personal bool        `json:"personal,omitempty"`
	PII      OutreachPII `json:"-"`
}

// OutreachPII is the personal part of an outreach message.
type OutreachPII struct {
	Text string `json:"text,omitempty"`
}

// OutreachDelivered: one recipient (a customer or a customer group)
// received a message. It is the fact the caps count.
type OutreachDelivered struct {
	MessageID string `json:"message_id"`
	Channel   string `json:"channel"`
	StaffID   string `json:"staff_id"`
	// CustomerID or ChatID names the recipient.
	CustomerID string `json:"customer_id,omitempty"`
	ChatID     string `json:"chat_id,omitempty"`
	// ReportedBy is ReportedByCustody or ReportedByWeCom.
	ReportedBy string `json:"reported_by"`
	// Counted: the delivery counts toward the recipient's caps (mass
	// messages and group mass messages do; moments posts do not).
	Counted bool `json:"counted"`
	// Violations are the rules (Outreach* reasons) a reported send broke;
	// empty for a send custody allowed.
	Violations []string `json:"violations,omitempty"`
}

// OutreachCapReached: a delivery used up a recipient's allowance of a cap
// window; the recipient is refused mass messages until Until (the window's
// end in the corp's time zone). Recorded in the same append as the
// delivery, so subscribers learn it without polling.
type OutreachCapReached struct {
	CustomerID string `json:"customer_id,omitempty"`
	ChatID     string `json:"chat_id,omitempty"`
	// Window is WindowDay, WindowWeek or WindowMonth; Cap its limit then.
	Window string    `json:"window"`
	Cap    int       `json:"cap"`
	Until  time.Time `json:"until"`
}

// OutreachSent: the outcome of one recorded send of a message: the
// recipients it reached. A message may be sent in several batches (one
// outreach.sent each).
type OutreachSent struct {
	MessageID   string   `json:"message_id"`
	Channel     string   `json:"channel"`
	StaffID     string   `json:"staff_id"`
	CustomerIDs []string `json:"customer_ids,omitempty"`
	ChatIDs     []string `json:"chat_ids,omitempty"`
	// ReportedBy is ReportedByCustody or ReportedByWeCom.
	ReportedBy string `json:"reported_by"`
	// Flagged are the recipients reached although a rule refused them
	// (only for sends WeCom reported).
	Flagged []OutreachRecipient `json:"flagged,omitempty"`
}

// OutreachRefused: recipients of one recorded send that custody refused,
// each with every reason that applied.
type OutreachRefused struct {
	MessageID string              `json:"message_id"`
	Channel   string              `json:"channel"`
	StaffID   string              `json:"staff_id"`
	Refused   []OutreachRecipient `json:"refused"`
}

// OutreachRecipient is a recipient with the rules (Outreach* reasons) it
// met.
type OutreachRecipient struct {
	CustomerID string   `json:"customer_id,omitempty"`
	ChatID     string   `json:"chat_id,omitempty"`
	Reasons    []string `json:"reasons"`
}

func (OutreachPlanned) EventType() string    { return "outreach.planned" }
func (OutreachDelivered) EventType() string  { return "outreach.delivered" }
func (OutreachCapReached) EventType() string { return "outreach.cap_reached" }
func (OutreachSent) EventType() string       { return "outreach.sent" }
func (OutreachRefused) EventType() string    { return "outreach.refused" }

func (e *OutreachPlanned) PersonalData() any { return &e.PII }
func (e *OutreachPlanned) DataSubject(corp string) string {
	return StaffSubject(corp, e.StaffID)
}

func init() {
	register(1, func() Payload { return &OutreachPlanned{} })
	register(1, func() Payload { return &OutreachDelivered{} })
	register(1, func() Payload { return &OutreachCapReached{} })
	register(1, func() Payload { return &OutreachSent{} })
	register(1, func() Payload { return &OutreachRefused{} })
}

// OutreachMessageStream is the stream of one outreach message.
func OutreachMessageStream(corp, messageID string) string {
	return CorpStreamPrefix + corp + "-outreach-message-" + messageID
}

// OutreachCustomerStream is a customer's outreach ledger.
func OutreachCustomerStream(corp, customerID string) string {
	return CorpStreamPrefix + corp + "-outreach-customer-" + customerID
}

// OutreachGroupStream is a customer group's outreach ledger.
func OutreachGroupStream(corp, chatID string) string {
	return CorpStreamPrefix + corp + "-outreach-group-" + chatID
}
