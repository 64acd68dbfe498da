package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

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

func getGroup(c *call) (any, error) {
	chat, err := c.id("chat")
	if err != nil {
		return nil, err
	}
	return c.srv.reader().GroupChat(c.ctx, c.corp, chat)
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
	Timeline []TimelineEntry `json:"timeline"`
}

// TimelineEntry is one line of a customer's history, oldest first.
type TimelineEntry struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	StaffID string    `json:"staff_id,omitempty"`
	Text    string    `json:"text"`
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
	return CustomerDetail{CustomerView: v, Timeline: timeline(v)}, nil
}

// timeline merges what the read models know about a customer into one
// chronological story. It is built from ids and codes only.
func timeline(v projections.CustomerView) []TimelineEntry {
	var out []TimelineEntry
	add := func(at time.Time, kind, staff, format string, args ...any) {
		out = append(out, TimelineEntry{At: at.UTC(), Kind: kind, StaffID: staff, Text: fmt.Sprintf(format, args...)})
	}
	channel := map[string]string{}
	for _, r := range v.Relations {
		if r.Channel != "" {
			channel[r.StaffID] = r.Channel
		}
	}
	for _, iv := range v.Ownership {
		switch iv.StartedBy {
		case "handover":
			add(iv.StartedAt, "relation_started", iv.StaffID, "%s took over the customer (handover %s)", iv.StaffID, iv.StartHandoverID)
		default:
			via := ""
			if ch := channel[iv.StaffID]; ch != "" {
				via = " via channel " + ch
			}
			add(iv.StartedAt, "relation_started", iv.StaffID, "%s and the customer connected%s", iv.StaffID, via)
		}
		if iv.EndedAt != nil {
			switch iv.EndReason {
			case "deleted_by_customer":
				add(*iv.EndedAt, "relation_ended", iv.StaffID, "the customer deleted %s (churn)", iv.StaffID)
			case "deleted_by_staff":
				add(*iv.EndedAt, "relation_ended", iv.StaffID, "%s deleted the customer", iv.StaffID)
			case "handed_over":
				add(*iv.EndedAt, "relation_ended", iv.StaffID, "%s handed the customer over (handover %s)", iv.StaffID, iv.EndHandoverID)
			default:
				add(*iv.EndedAt, "relation_ended", iv.StaffID, "relation with %s ended (%s)", iv.StaffID, iv.EndReason)
			}
		}
	}
	for _, h := range v.Handovers {
		kind := strings.ReplaceAll(h.Kind, "_", "-")
		add(h.RequestedAt, "handover_requested", h.FromStaffID, "%s handover %s requested from %s to %s, deadline %s",
			kind, h.HandoverID, h.FromStaffID, h.ToStaffID, h.Deadline.UTC().Format(time.RFC3339))
		if h.SettledAt != nil && h.Status != "pending" {
			text := "handover " + h.HandoverID + " " + h.Status
			if h.FailureReason != "" {
				text += " (" + h.FailureReason + ")"
			}
			add(*h.SettledAt, "handover_"+h.Status, h.ToStaffID, "%s", text)
		}
	}
	for _, o := range v.OptOuts {
		if o.OptedOut {
			add(o.ChangedAt, "moments_opted_out", o.StaffID, "opted out of %s's moments", o.StaffID)
		} else {
			add(o.ChangedAt, "moments_opted_in", o.StaffID, "sees %s's moments again", o.StaffID)
		}
	}
	for _, g := range v.Groups {
		add(g.JoinedAt, "group_joined", "", "joined group %s (%s)", g.ChatID, g.JoinScene)
	}
	for _, cs := range v.Consents {
		add(cs.ChangedAt, "consent", "", "%s consent: %s", cs.Purpose, cs.State)
	}
	if v.ErasedAt != nil {
		add(*v.ErasedAt, "erased", "", "personal data erased on request")
	}
	// At one instant, tell it in causal order: a handover settles, then the
	// old relation ends, then the new one starts.
	// Anything else at that instant comes after the relation changes.
	rank := map[string]int{"handover_completed": 1, "handover_failed": 1, "relation_ended": 2, "relation_started": 3}
	order := func(kind string) int {
		if r, ok := rank[kind]; ok {
			return r
		}
		return 4
	}
	slices.SortStableFunc(out, func(a, b TimelineEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return order(a.Kind) - order(b.Kind)
	})
	if out == nil {
		out = []TimelineEntry{}
	}
	return out
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
	ov := Overview{
		Corp: corp, GeneratedAt: now, ChurnDays: churnDays,
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
	// How long a departed member's customers can still be assigned: the
	// corp's resigned-assignment window, as the rule applies it.
	set, err := s.opts.Commands.EffectiveSettings(ctx, corp)
	if err != nil {
		return Overview{}, err
	}
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
