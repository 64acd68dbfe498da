package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custody/custody/adapters/tools/timeline"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/asof"
)

// Queries are answered from the projections' read models, which follow the
// log asynchronously: a query right after a command may not see it yet.

// reader is the projections' query API over Options.Projections.
func (s *Server) reader() *projections.Reader { return projections.NewReader(s.opts.Projections) }

const (
	defaultPageSize = 100
	maxPageSize     = 500
)

func (c *call) page() (projections.Page, error) {
	limit, err := parseLimit(c.query("limit"), defaultPageSize, maxPageSize)
	if err != nil {
		return projections.Page{}, err
	}
	cur := c.query("cursor")
	if len(cur) > 1024 {
		return projections.Page{}, newError(http.StatusBadRequest, CodeBadRequest, "cursor too long")
	}
	return projections.Page{After: cur, Limit: limit}, nil
}

// oneOf checks an optional enumerated query parameter.
func oneOf(field, v string, allowed ...string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return newError(http.StatusBadRequest, CodeBadRequest, "%s must be one of %s", field, strings.Join(allowed, ", "))
}

var relationStatuses = []string{"active", "ended", "unassigned"}

func listStaff(c *call) (any, error) {
	p, err := c.page()
	if err != nil {
		return nil, err
	}
	st := c.query("status")
	if err := oneOf("status", st, "active", "departed"); err != nil {
		return nil, err
	}
	return c.srv.reader().Staff(c.ctx, c.corp, st, p)
}

func listStaffCustomers(c *call) (any, error) {
	staffID, err := c.id("staff")
	if err != nil {
		return nil, err
	}
	p, err := c.page()
	if err != nil {
		return nil, err
	}
	var statuses []string
	switch st := c.query("status"); st {
	case "":
		statuses = []string{"active"}
	case "all":
		statuses = relationStatuses
	default:
		if err := oneOf("status", st, append(relationStatuses, "all")...); err != nil {
			return nil, err
		}
		statuses = []string{st}
	}
	return c.srv.reader().StaffCustomers(c.ctx, c.corp, staffID, statuses, p)
}

func listUnassigned(c *call) (any, error) {
	p, err := c.page()
	if err != nil {
		return nil, err
	}
	staffID := c.query("staff_id")
	if staffID != "" {
		if err := checkID("staff_id", staffID); err != nil {
			return nil, err
		}
	}
	return c.srv.reader().Unassigned(c.ctx, c.corp, staffID, p)
}

func listHandovers(c *call) (any, error) {
	p, err := c.page()
	if err != nil {
		return nil, err
	}
	st := c.query("status")
	if err := oneOf("status", st, "pending", "completed", "refused", "failed", "cancelled"); err != nil {
		return nil, err
	}
	return c.srv.reader().Handovers(c.ctx, c.corp, st, p)
}

func listGroups(c *call) (any, error) {
	p, err := c.page()
	if err != nil {
		return nil, err
	}
	st := c.query("status")
	if err := oneOf("status", st, "active", "dismissed"); err != nil {
		return nil, err
	}
	return c.srv.reader().GroupChats(c.ctx, c.corp, st, p)
}

// OwnersAt answers "who owned this customer at that time" exactly as
// `custody asof owners` does (projections/asof): only what was true at At —
// no end that came later — and whether each owner had departed by then
// (unassigned, 离职待分配).
type OwnersAt struct {
	CustomerID string           `json:"customer_id"`
	At         time.Time        `json:"at"`
	Owners     []asof.Ownership `json:"owners"`
}

func customerOwners(c *call) (any, error) {
	cust, err := c.id("customer")
	if err != nil {
		return nil, err
	}
	at, err := parseTime("at", c.query("at"))
	if err != nil {
		return nil, err
	}
	if at.IsZero() {
		at = c.now()
	}
	owners, err := asof.Queries{DB: c.srv.opts.Projections}.Owners(c.ctx, c.corp, cust, at)
	if err != nil {
		return nil, err
	}
	return OwnersAt{CustomerID: cust, At: at.UTC(), Owners: owners}, nil
}

// CustomerDetail is a customer as the read models know them, with a
// readable timeline.
type CustomerDetail struct {
	projections.CustomerView
	// Timeline is the customer's history told by the one timeline builder
	// (adapters/tools/timeline, as custody timeline tells it), from the
	// event log: relations started, edited and ended, handovers from
	// request to outcome, moments, consents, group chats joined, left and
	// dismissed, erasure. Ids and codes only, no personal data.
	Timeline []TimelineEntry `json:"timeline"`
}

// TimelineEntry is one line of a customer's history, oldest first (ties
// in log order: a handover's request always before its outcome).
type TimelineEntry struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	StaffID string    `json:"staff_id,omitempty"`
	Text    string    `json:"text"`
	// ToStaffID is a handover's target; HandoverID its id; Reason a
	// relation's end reason, a handover's failure reason or a group quit
	// scene; ChatID the group chat of a group entry.
	ToStaffID  string `json:"to_staff_id,omitempty"`
	HandoverID string `json:"handover_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ChatID     string `json:"chat_id,omitempty"`
}

func getCustomer(c *call) (any, error) {
	cust, err := c.id("customer")
	if err != nil {
		return nil, err
	}
	v, err := c.srv.reader().Customer(c.ctx, c.corp, cust)
	if err != nil {
		return nil, err
	}
	entries, err := c.srv.timeline(c.ctx, c.corp, cust)
	if err != nil {
		return nil, err
	}
	return CustomerDetail{CustomerView: v, Timeline: entries}, nil
}

// timeline tells the customer's history with timeline.Build, group chats
// found in the projections' membership history.
func (s *Server) timeline(ctx context.Context, corp, customerID string) ([]TimelineEntry, error) {
	tl, err := timeline.Build(ctx, s.opts.Log, corp, customerID, timeline.Options{Groups: timeline.Membership{DB: s.opts.Projections}})
	if err != nil && !errors.Is(err, timeline.ErrNotFound) {
		return nil, err
	}
	out := make([]TimelineEntry, 0, len(tl.Entries))
	for _, e := range tl.Entries {
		out = append(out, TimelineEntry{At: e.At, Kind: e.Kind, StaffID: e.StaffID, Text: e.Summary,
			ToStaffID: e.ToStaffID, HandoverID: e.HandoverID, Reason: e.Reason, ChatID: e.ChatID})
	}
	return out, nil
}

// GroupDetail is a group chat with its current members and its membership
// history.
type GroupDetail struct {
	projections.GroupChatView
	// History is every stint of a member in the group, oldest first: who
	// joined when and how, and when and how they left (open while still a
	// member). Ids and codes only.
	History []MembershipStint `json:"history"`
}

// MembershipStint is one member's time in a group.
type MembershipStint struct {
	MemberID   string     `json:"member_id"`
	MemberType string     `json:"member_type"`
	JoinedAt   time.Time  `json:"joined_at"`
	JoinScene  string     `json:"join_scene,omitempty"`
	InviterID  string     `json:"inviter_id,omitempty"`
	LeftAt     *time.Time `json:"left_at,omitempty"`
	QuitScene  string     `json:"quit_scene,omitempty"`
}

func getGroup(c *call) (any, error) {
	chat, err := c.id("chat")
	if err != nil {
		return nil, err
	}
	v, err := c.srv.reader().GroupChat(c.ctx, c.corp, chat)
	if err != nil {
		return nil, err
	}
	rows, err := c.srv.opts.Projections.Query(c.ctx, `SELECT member_id, member_type, joined_at, coalesce(join_scene, ''),
			coalesce(inviter_id, ''), left_at, coalesce(quit_scene, '')
		FROM projections.group_membership_history WHERE corp_id = $1 AND chat_id = $2
		ORDER BY join_commit, join_prepare, member_type DESC, member_id`, c.corp, chat)
	if err != nil {
		return nil, fmt.Errorf("httpapi: group membership history: %w", err)
	}
	defer rows.Close()
	d := GroupDetail{GroupChatView: v, History: []MembershipStint{}}
	for rows.Next() {
		var m MembershipStint
		if err := rows.Scan(&m.MemberID, &m.MemberType, &m.JoinedAt, &m.JoinScene, &m.InviterID, &m.LeftAt, &m.QuitScene); err != nil {
			return nil, err
		}
		m.JoinedAt = m.JoinedAt.UTC()
		if m.LeftAt != nil {
			t := m.LeftAt.UTC()
			m.LeftAt = &t
		}
		d.History = append(d.History, m)
	}
	return d, rows.Err()
}

// churnDays is the overview's churn window, fixed by the projections' query.
const churnDays = 7

// overview assembles the dashboard of corp from the read models.
func (s *Server) overview(ctx context.Context, corp string) (Overview, error) {
	now := s.opts.Now().UTC()
	po, err := s.reader().Overview(ctx, corp, now)
	if err != nil {
		return Overview{}, err
	}
	// The corp's settings: its time zone, and how long a departed
	// member's customers can still be assigned (the resigned window, as
	// the rule applies it).
	set, err := s.opts.Commands.EffectiveSettings(ctx, corp)
	if err != nil {
		return Overview{}, err
	}
	ov := Overview{
		Corp: corp, GeneratedAt: now, ChurnDays: churnDays, TimeZone: set.TimeZone,
		Headline: Headline{
			ActiveStaff: po.ActiveStaff, DepartedStaff: po.DepartedStaff, Customers: po.Customers,
			ActiveRelations: po.ActiveRelations, PendingHandovers: po.HandoversByStatus["pending"],
			Unassigned: po.UnassignedRelations, Groups: po.ActiveGroupChats,
		},
		Pipeline:   []StatusCount{},
		Churn:      []StaffChurn{},
		Adds:       []StaffCount{},
		Unassigned: []DepartedLoad{},
	}
	for _, st := range pipelineOrder {
		ov.Pipeline = append(ov.Pipeline, StatusCount{Status: st, Count: po.HandoversByStatus[st]})
	}
	for _, sc := range po.ChurnLast7Days {
		ov.Headline.Adds += sc.Added
		ov.Headline.Churn += sc.DeletedByCustomer
		ov.Headline.DeletedByStaff += sc.DeletedByStaff
		if sc.DeletedByCustomer+sc.DeletedByStaff > 0 {
			ov.Churn = append(ov.Churn, StaffChurn{StaffID: sc.StaffID, DeletedByCustomer: sc.DeletedByCustomer, DeletedByStaff: sc.DeletedByStaff})
		}
		if sc.Added > 0 {
			ov.Adds = append(ov.Adds, StaffCount{StaffID: sc.StaffID, Count: sc.Added})
		}
	}
	slices.SortStableFunc(ov.Adds, func(a, b StaffCount) int { return b.Count - a.Count })
	window := set.ResignedAssignmentWindow
	for _, u := range po.UnassignedByDepartedStaff {
		ov.Unassigned = append(ov.Unassigned, DepartedLoad{
			StaffID: u.StaffID, DepartedAt: u.DepartedAt.UTC(), Customers: u.Count, AssignBy: u.DepartedAt.Add(window).UTC(),
		})
	}
	return ov, nil
}

// knownCorps lists the corps the read models hold, for the admin's corp
// switcher on the overview page.
func (s *Server) knownCorps(r *http.Request) ([]string, error) {
	rows, err := s.opts.Projections.Query(r.Context(),
		`SELECT DISTINCT corp_id FROM projections.staff ORDER BY corp_id LIMIT 50`)
	if err != nil {
		return nil, fmt.Errorf("httpapi: list corps: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func itoa(n int) string { return strconv.Itoa(n) }
