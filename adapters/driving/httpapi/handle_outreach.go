package httpapi

import (
	"net/http"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
)

// outreach is the request as the commands take it; message is the path's
// {message}.
func (c *call) outreach(message string, r outreachRequest) commands.Outreach {
	return commands.Outreach{Meta: c.meta(r.commandFields), MessageID: message, Channel: r.Channel, StaffID: r.StaffID,
		CustomerIDs: r.CustomerIDs, ChatIDs: r.ChatIDs}
}

func planOutreach(c *call) (any, error) {
	msg, err := c.id("message")
	if err != nil {
		return nil, err
	}
	var req planOutreachRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	res, vs, err := c.srv.opts.Commands.PlanOutreach(c.ctx, commands.PlanOutreach{
		Outreach: c.outreach(msg, req.outreachRequest), Text: req.Text, Personal: req.Personal,
	})
	if err != nil {
		return nil, err
	}
	return OutreachPlanResult{CommandResult: commandResult(c, res), Verdicts: verdicts(vs)}, nil
}

func checkOutreach(c *call) (any, error) {
	msg, err := c.id("message")
	if err != nil {
		return nil, err
	}
	var req outreachRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	vs, err := c.srv.opts.Commands.CheckOutreach(c.ctx, c.outreach(msg, req))
	if err != nil {
		return nil, err
	}
	return OutreachVerdicts{Verdicts: verdicts(vs)}, nil
}

func recordOutreachSend(c *call) (any, error) {
	msg, err := c.id("message")
	if err != nil {
		return nil, err
	}
	var req sendOutreachRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	cmd := c.outreach(msg, req.outreachRequest)
	cmd.ReportedByWeCom = req.ReportedByWeCom
	out, err := c.srv.opts.Commands.RecordOutreach(c.ctx, cmd)
	if err != nil {
		return nil, err
	}
	return OutreachSendResult{
		CommandResult: commandResult(c, out.Result), Reached: nonNilStrings(out.Reached), ReachedChats: nonNilStrings(out.ReachedChats),
		Refused: recipients(out.Refused), Flagged: recipients(out.Flagged),
	}, nil
}

func verdicts(vs []commands.OutreachVerdict) []OutreachVerdict {
	out := make([]OutreachVerdict, len(vs))
	for i, v := range vs {
		out[i] = OutreachVerdict{CustomerID: v.CustomerID, ChatID: v.ChatID, Allowed: len(v.Reasons) == 0,
			Reasons: nonNilStrings(v.Reasons), AlreadyReceived: v.AlreadyReceived, Allowances: []Allowance{}}
		for _, a := range v.Allowances {
			out[i].Allowances = append(out[i].Allowances, Allowance{Window: a.Window, Cap: a.Cap, Used: a.Used,
				Remaining: a.Remaining(), Until: a.End.UTC()})
		}
	}
	return out
}

func recipients(rs []events.OutreachRecipient) []OutreachRecipient {
	out := make([]OutreachRecipient, len(rs))
	for i, r := range rs {
		out[i] = OutreachRecipient{CustomerID: r.CustomerID, ChatID: r.ChatID, Reasons: nonNilStrings(r.Reasons)}
	}
	return out
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// outreachDate is the corp's settings and the instant the query asks
// about: noon of the date parameter in the corp's time zone, or now.
func (c *call) outreachDate() (corp.Settings, time.Time, error) {
	set, err := c.srv.opts.Commands.EffectiveSettings(c.ctx, c.corp)
	if err != nil {
		return corp.Settings{}, time.Time{}, err
	}
	at, err := parseDate("date", c.query("date"), set.Location())
	if err != nil {
		return corp.Settings{}, time.Time{}, err
	}
	if at.IsZero() {
		at = c.now()
	}
	return set, at, nil
}

// parseDate parses an optional YYYY-MM-DD parameter as noon of that day in
// loc (noon: the same day's windows whatever the offset).
func parseDate(field, s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil || d.Year() < 2000 || d.Year() > 9999 {
		return time.Time{}, newError(http.StatusBadRequest, CodeBadRequest, "%s must be a date YYYY-MM-DD from 2000 on", field)
	}
	return d.Add(12 * time.Hour), nil
}

// audienceQuery reads the audience filters from the query string.
func (c *call) audienceQuery(set corp.Settings, at time.Time) (projections.AudienceQuery, error) {
	q := projections.AudienceQuery{Settings: set, At: at, Channel: c.query("channel"),
		StaffID: c.query("staff_id"), Tags: c.r.URL.Query()["tag"], State: c.query("state"), ChatID: c.query("chat_id")}
	if err := oneOf("channel", q.Channel, events.ChannelMassMessage, events.ChannelMoments); err != nil {
		return q, err
	}
	for _, f := range []struct{ name, v string }{{"staff_id", q.StaffID}, {"chat_id", q.ChatID}} {
		if f.v != "" {
			if err := checkID(f.name, f.v); err != nil {
				return q, err
			}
		}
	}
	if len(q.Tags) > 20 {
		return q, newError(http.StatusBadRequest, CodeBadRequest, "at most 20 tag parameters")
	}
	for _, t := range append([]string{q.State}, q.Tags...) {
		if len(t) > 128 || eventlog.TextProblem(t) != "" {
			return q, newError(http.StatusBadRequest, CodeBadRequest, "tag and state must be text of at most 128 bytes")
		}
	}
	var err error
	if q.NotContactedSince, err = parseTime("not_contacted_since", c.query("not_contacted_since")); err != nil {
		return q, err
	}
	if q.ContactedSince, err = parseTime("contacted_since", c.query("contacted_since")); err != nil {
		return q, err
	}
	return q, nil
}

func outreachAudience(c *call) (any, error) {
	p, err := c.page()
	if err != nil {
		return nil, err
	}
	set, at, err := c.outreachDate()
	if err != nil {
		return nil, err
	}
	q, err := c.audienceQuery(set, at)
	if err != nil {
		return nil, err
	}
	return c.srv.reader().Audience(c.ctx, c.corp, q, p)
}

func outreachDashboard(c *call) (any, error) {
	set, at, err := c.outreachDate()
	if err != nil {
		return nil, err
	}
	counts, err := c.srv.reader().AudienceCounts(c.ctx, c.corp, projections.AudienceQuery{Settings: set, At: at})
	if err != nil {
		return nil, err
	}
	return OutreachDashboard{Date: at.In(set.Location()).Format(time.DateOnly), AudienceCounts: counts}, nil
}
