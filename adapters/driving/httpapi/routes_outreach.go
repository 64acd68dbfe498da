package httpapi

import (
	"net/http"
	"time"

	"github.com/custody/custody/projections"
)

// outreachRequest names a message's sending member, channel and
// recipients: the body of the check and send routes.
type outreachRequest struct {
	Channel     string   `json:"channel" doc:"mass_message (客户群发, capped), group_mass_message (客户群群发 to chat_ids, capped) or moments (客户朋友圈, not capped)"`
	StaffID     string   `json:"staff_id" doc:"the sending member"`
	CustomerIDs []string `json:"customer_ids,omitempty" doc:"recipients of mass_message and moments, at most 10000"`
	ChatIDs     []string `json:"chat_ids,omitempty" doc:"recipient groups of group_mass_message, at most 10000"`
	commandFields
}

// planOutreachRequest records outreach.planned.
type planOutreachRequest struct {
	outreachRequest
	Text     string `json:"text,omitempty" doc:"the message, at most 4000 characters; not personal data unless personal is true"`
	Personal bool   `json:"personal,omitempty" doc:"the text is personal data: sealed under the sending member's key"`
}

// sendOutreachRequest records a send.
type sendOutreachRequest struct {
	outreachRequest
	ReportedByWeCom bool `json:"reported_by_wecom,omitempty" doc:"WeCom reported that the send happened (add_msg_template results): every recipient is recorded, those a rule refuses flagged"`
}

// OutreachVerdict is the rules' answer for one recipient.
type OutreachVerdict struct {
	CustomerID string `json:"customer_id,omitempty"`
	ChatID     string `json:"chat_id,omitempty"`
	// Allowed: the send may go to the recipient.
	Allowed bool `json:"allowed"`
	// Reasons are the rules that refuse it: staff_departed, erased, consent_withdrawn,
	// no_relation, moments_opted_out, group_unknown, group_dismissed,
	// not_group_owner, cap_day, cap_week, cap_month.
	Reasons         []string `json:"reasons"`
	AlreadyReceived bool     `json:"already_received,omitempty"`
	// Allowances are the cap windows that are on, before this send.
	Allowances []Allowance `json:"allowances"`
}

// Allowance is one cap window of a recipient.
type Allowance struct {
	Window    string    `json:"window"`
	Cap       int       `json:"cap"`
	Used      int       `json:"used"`
	Remaining int       `json:"remaining"`
	Until     time.Time `json:"until"`
}

// OutreachVerdicts answers a check.
type OutreachVerdicts struct {
	Verdicts []OutreachVerdict `json:"verdicts"`
}

// OutreachPlanResult answers a plan: what was recorded and what the rules
// say of each recipient now (a plan reserves nothing).
type OutreachPlanResult struct {
	CommandResult
	Verdicts []OutreachVerdict `json:"verdicts"`
}

// OutreachRecipient is a recipient with the rules it met.
type OutreachRecipient struct {
	CustomerID string   `json:"customer_id,omitempty"`
	ChatID     string   `json:"chat_id,omitempty"`
	Reasons    []string `json:"reasons"`
}

// OutreachSendResult answers a recorded send.
type OutreachSendResult struct {
	CommandResult
	Reached      []string            `json:"reached"`
	ReachedChats []string            `json:"reached_chats"`
	Refused      []OutreachRecipient `json:"refused"`
	Flagged      []OutreachRecipient `json:"flagged"`
}

// OutreachDashboard is a corp's outreach figures on a date.
type OutreachDashboard struct {
	Date string `json:"date"`
	projections.AudienceCounts
}

func outreachRoutes() []route {
	const tag = "outreach"
	msg := "/v1/corps/{corp}/outreach/messages/{message}"
	audienceQuery := []queryParam{
		{name: "date", typ: "string", format: "date", desc: "YYYY-MM-DD in the corp's time zone; default today"},
		{name: "channel", typ: "string", desc: "mass_message (default; caps apply) or moments (opt-outs apply)"},
		{name: "staff_id", typ: "string", desc: "only this member's customers"},
		{name: "tag", typ: "string", desc: "only relations with this tag; repeat for several (all must match)"},
		{name: "state", typ: "string", desc: "only relations started through this channel code"},
		{name: "chat_id", typ: "string", desc: "only customers in this customer group"},
		{name: "not_contacted_since", typ: "string", format: "date-time", desc: "only customers whose last outreach is before this time, or who had none"},
		{name: "contacted_since", typ: "string", format: "date-time", desc: "only customers with an outreach at or after this time"},
		{name: "cursor", typ: "string", desc: "next of the previous page"},
		{name: "limit", typ: "integer", desc: "page size, 1-500, default 100"},
	}
	return []route{
		{method: "POST", path: msg + "/plan", op: "planOutreach", tag: tag, write: true, status: http.StatusCreated,
			summary: "Plan a message (outreach.planned) and answer what the rules say of each recipient now. A plan reserves nothing; a message is planned once, before it is sent (409 already_planned).",
			request: planOutreachRequest{}, response: OutreachPlanResult{}, handle: planOutreach},
		{method: "POST", path: msg + "/check", op: "checkOutreach", tag: tag, write: true,
			summary: "Ask before sending: what a send would decide for each recipient now (reasons, cap allowances). Records nothing.",
			request: outreachRequest{}, response: OutreachVerdicts{}, handle: checkOutreach},
		{method: "POST", path: msg + "/sends", op: "recordOutreachSend", tag: tag, write: true,
			summary: "Record a send. Each recipient is decided on its own ledger against the caps, marketing consent, erasure and the relation with the sending member (groups: state and owner) and recorded (outreach.delivered) or refused with its reasons; outreach.sent and outreach.refused summarise it. Concurrent sends never push a recipient over a cap. With reported_by_wecom nobody is refused: what a rule refuses is flagged.",
			request: sendOutreachRequest{}, response: OutreachSendResult{}, handle: recordOutreachSend},
		{method: "GET", path: "/v1/corps/{corp}/outreach/audience", op: "outreachAudience", tag: tag,
			summary:  "The customers eligible for a message on a date, one item per member they can be reached through, with each customer's mass messages used in the day, week and month and what remains; paged by cursor (keyset on customer, member).",
			response: projections.Paged[projections.AudienceMember]{}, query: audienceQuery, handle: outreachAudience},
		{method: "GET", path: "/v1/corps/{corp}/outreach/group-audience", op: "outreachGroupAudience", tag: tag,
			summary:  "The customer groups a group mass message (客户群群发) may reach on a date, each through its owner (WeCom sends a group mass message through the group's owner): not dismissed, owner not departed, an allowance left in every cap window; with the group's mass messages used in the day, week and month and what remains; paged by cursor (keyset on chat_id).",
			response: projections.Paged[projections.GroupAudienceMember]{}, handle: outreachGroupAudience,
			query: []queryParam{audienceQuery[0], {name: "staff_id", typ: "string", desc: "only the groups this member owns"},
				audienceQuery[len(audienceQuery)-2], audienceQuery[len(audienceQuery)-1]}},
		{method: "GET", path: "/v1/corps/{corp}/outreach/dashboard", op: "outreachDashboard", tag: tag,
			summary:  "Outreach figures for a date: customers, erased, consent withdrawn, at a cap, eligible, opted out of moments, mass messages delivered in the day, week and month.",
			response: OutreachDashboard{}, query: []queryParam{audienceQuery[0]}, handle: outreachDashboard},
	}
}

func outreachGroupAudience(c *call) (any, error) {
	p, err := c.page()
	if err != nil {
		return nil, err
	}
	set, at, err := c.outreachDate()
	if err != nil {
		return nil, err
	}
	q := projections.GroupAudienceQuery{Settings: set, At: at, StaffID: c.query("staff_id")}
	if q.StaffID != "" {
		if err := checkID("staff_id", q.StaffID); err != nil {
			return nil, err
		}
	}
	return c.srv.reader().GroupAudience(c.ctx, c.corp, q, p)
}
