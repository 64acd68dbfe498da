package httpapi

import (
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
)

// settingsRoutes are the corp's settings: the limits its rules apply.
func settingsRoutes() []route {
	const tag = "settings"
	return []route{
		{method: "GET", path: "/v1/corps/{corp}/settings", op: "getCorpSettings", tag: tag, admin: true,
			summary:  "Admin token only. The corp's settings (the limits its rules apply; WeCom's defaults until changed) and the audit trail of every change: when, by whom, which fields.",
			response: CorpSettings{}, handle: getCorpSettings},
		{method: "PUT", path: "/v1/corps/{corp}/settings", op: "changeCorpSettings", tag: tag, admin: true, write: true,
			summary: "Admin token only. Change some of the corp's settings: the fields given take the new value, the others keep theirs. Durations are text with a unit (\"48h\", \"180d\", \"1h30m\", whole seconds); time_zone is an IANA name. Records corp.settings_changed with the complete settings; the same values again record nothing. Answers the settings as GET does.",
			request: settingsRequest{}, response: CorpSettings{}, handle: changeCorpSettings},
	}
}

// settingsRequest names every field a corp may change (corp.Fields; a
// test keeps them equal); strict decoding refuses any other.
type settingsRequest struct {
	commandFields
	StaffCapacity            *int    `json:"staff_capacity,omitempty" doc:"customers one staff member serves at most, unless the member has a capacity of their own; 1 to 1000000"`
	HandoverWindow           *string `json:"handover_window,omitempty" doc:"how long a customer may refuse a handover; it completes when the window is over; a duration in whole seconds up to 30d: 24h, 90d, 1h30m"`
	InServiceHandoverLimit   *int    `json:"in_service_handover_limit,omitempty" doc:"in-service handovers of one customer allowed within in_service_handover_period; 1 to 1000"`
	InServiceHandoverPeriod  *string `json:"in_service_handover_period,omitempty" doc:"the period in_service_handover_limit counts over; a duration in whole seconds up to 3650d: 24h, 90d, 1h30m"`
	MaxHandoverBatch         *int    `json:"max_handover_batch,omitempty" doc:"customers one handover request covers at most; 1 to 1000"`
	MaxHandoverMessage       *int    `json:"max_handover_message,omitempty" doc:"characters of the message to customers at most; 1 to 10000"`
	ResignedAssignmentWindow *string `json:"resigned_assignment_window,omitempty" doc:"how long after a departure the departed member's customers can be handed over (resigned handover window); a duration in whole seconds up to 3650d: 24h, 90d, 1h30m"`
	GroupMaxMembers          *int    `json:"group_max_members,omitempty" doc:"members of a customer group at most; 1 to 100000"`
	GroupTransferLimit       *int    `json:"group_transfer_limit,omitempty" doc:"in-service owner transfers of one group allowed within group_transfer_period; 1 to 1000"`
	GroupTransferPeriod      *string `json:"group_transfer_period,omitempty" doc:"the period group_transfer_limit counts over; a duration in whole seconds up to 3650d: 24h, 90d, 1h30m"`
	TimeZone                 *string `json:"time_zone,omitempty" doc:"the corp's IANA time zone (where its days begin), e.g. Asia/Shanghai"`
	MassMessageCapDay        *string `json:"mass_message_cap_day,omitempty" doc:"mass messages one customer or customer group receives per calendar day in time_zone at most; off or 1 to 1000"`
	MassMessageCapWeek       *string `json:"mass_message_cap_week,omitempty" doc:"mass messages one customer or customer group receives per week (Monday to Sunday, time_zone) at most; off or 1 to 1000"`
	MassMessageCapMonth      *string `json:"mass_message_cap_month,omitempty" doc:"mass messages one customer or customer group receives per calendar month in time_zone at most; days_in_month (WeCom's rule), off or 1 to 1000"`
}

// changes is the request as ChangeCorpSettings takes it.
func (r settingsRequest) changes() map[string]string {
	out := map[string]string{}
	num := func(name string, v *int) {
		if v != nil {
			out[name] = itoa(*v)
		}
	}
	text := func(name string, v *string) {
		if v != nil {
			out[name] = *v
		}
	}
	num("staff_capacity", r.StaffCapacity)
	text("handover_window", r.HandoverWindow)
	num("in_service_handover_limit", r.InServiceHandoverLimit)
	text("in_service_handover_period", r.InServiceHandoverPeriod)
	num("max_handover_batch", r.MaxHandoverBatch)
	num("max_handover_message", r.MaxHandoverMessage)
	text("resigned_assignment_window", r.ResignedAssignmentWindow)
	num("group_max_members", r.GroupMaxMembers)
	num("group_transfer_limit", r.GroupTransferLimit)
	text("group_transfer_period", r.GroupTransferPeriod)
	text("time_zone", r.TimeZone)
	text("mass_message_cap_day", r.MassMessageCapDay)
	text("mass_message_cap_week", r.MassMessageCapWeek)
	text("mass_message_cap_month", r.MassMessageCapMonth)
	return out
}

// SettingsValues are a corp's settings on the wire. Durations are text:
// "24h", "90d".
type SettingsValues struct {
	StaffCapacity            int    `json:"staff_capacity"`
	HandoverWindow           string `json:"handover_window"`
	InServiceHandoverLimit   int    `json:"in_service_handover_limit"`
	InServiceHandoverPeriod  string `json:"in_service_handover_period"`
	MaxHandoverBatch         int    `json:"max_handover_batch"`
	MaxHandoverMessage       int    `json:"max_handover_message"`
	ResignedAssignmentWindow string `json:"resigned_assignment_window"`
	GroupMaxMembers          int    `json:"group_max_members"`
	GroupTransferLimit       int    `json:"group_transfer_limit"`
	GroupTransferPeriod      string `json:"group_transfer_period"`
	TimeZone                 string `json:"time_zone"`
	// Mass-message caps: "off", a number, or (month) "days_in_month".
	MassMessageCapDay   string `json:"mass_message_cap_day"`
	MassMessageCapWeek  string `json:"mass_message_cap_week"`
	MassMessageCapMonth string `json:"mass_message_cap_month"`
}

func settingsValues(s corp.Settings) SettingsValues {
	d := corp.FormatDuration
	return SettingsValues{
		StaffCapacity: s.StaffCapacity, HandoverWindow: d(s.HandoverWindow),
		InServiceHandoverLimit: s.InServiceHandoverLimit, InServiceHandoverPeriod: d(s.InServiceHandoverPeriod),
		MaxHandoverBatch: s.MaxHandoverBatch, MaxHandoverMessage: s.MaxHandoverMessage,
		ResignedAssignmentWindow: d(s.ResignedAssignmentWindow), GroupMaxMembers: s.GroupMaxMembers,
		GroupTransferLimit: s.GroupTransferLimit, GroupTransferPeriod: d(s.GroupTransferPeriod), TimeZone: s.TimeZone,
		MassMessageCapDay:   s.MassMessageCapDay.Format(corp.WindowDay),
		MassMessageCapWeek:  s.MassMessageCapWeek.Format(corp.WindowWeek),
		MassMessageCapMonth: s.MassMessageCapMonth.Format(corp.WindowMonth),
	}
}

// CorpSettings is the answer of the settings routes.
type CorpSettings struct {
	Corp     string         `json:"corp"`
	Settings SettingsValues `json:"settings"`
	// HandoversInWeCom: the corp is connected to WeCom with an app
	// secret, so its handovers are carried out there (not a setting: it
	// follows from custody wecom connect).
	HandoversInWeCom bool `json:"handovers_in_wecom"`
	// Version of the corp's settings stream; -1 while it has none (WeCom's
	// defaults).
	Version int64 `json:"version"`
	// History is every change, oldest first.
	History []SettingsChange `json:"history"`
}

// SettingsChange is one entry of the audit trail.
type SettingsChange struct {
	Version int64     `json:"version"`
	At      time.Time `json:"at"`
	// By is who changed them: "admin:admin" (the admin token),
	// "cli:<OS user>" (custody settings set).
	By       string         `json:"by"`
	Changed  []string       `json:"changed"`
	Settings SettingsValues `json:"settings"`
}

func getCorpSettings(c *call) (any, error) {
	return corpSettings(c)
}

func changeCorpSettings(c *call) (any, error) {
	var req settingsRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if _, err := c.srv.opts.Commands.ChangeCorpSettings(c.ctx, commands.ChangeCorpSettings{
		Meta: c.meta(req.commandFields), Changes: req.changes(),
	}); err != nil {
		return nil, err
	}
	return corpSettings(c)
}

func corpSettings(c *call) (CorpSettings, error) {
	set, cfg, err := c.srv.opts.Commands.CorpSettings(c.ctx, c.corp)
	if err != nil {
		return CorpSettings{}, err
	}
	out := CorpSettings{Corp: c.corp, Settings: settingsValues(set), HandoversInWeCom: set.HandoversInWeCom,
		Version: cfg.Version(), History: []SettingsChange{}}
	for _, h := range cfg.History() {
		out.History = append(out.History, SettingsChange{Version: h.Version, At: h.At.UTC(), By: h.By,
			Changed: h.Changed, Settings: settingsValues(h.Settings)})
	}
	return out, nil
}
