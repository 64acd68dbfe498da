package console

import (
	"cmp"
	"errors"
	"html/template"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/custody/custody/adapters/tools/timeline"
)

// card is one headline number.
type card struct {
	Label, Value, Help, Link string
}

// today is the last day of the activity charts: the activity projection
// counts UTC days.
func (x *req) today() time.Time { return x.now.UTC().Truncate(24 * time.Hour) }

// capacityOf is a member's customer limit: their own or the corp's.
func (x *req) capacityOf(s staffRow) int {
	if s.Capacity > 0 {
		return s.Capacity
	}
	return x.set.StaffCapacity
}

// customerLabel is how a customer is shown: "erased" when erased, the name
// and id to viewers allowed to see personal data, else the id.
func (x *req) customerLabel(id, name string, erased bool) string {
	switch {
	case erased:
		return x.words.T("erased") + " · " + id
	case x.who.PersonalData && name != "":
		return name + " (" + id + ")"
	}
	return id
}

func (x *req) link(parts ...string) string {
	p := "/console/" + x.corp
	for _, s := range parts {
		p += "/" + s
	}
	return p
}

type overviewData struct {
	Cards                    []card
	Days, Outcomes, Capacity template.HTML
	Departed                 []departedRow
}

func (c *Console) overviewPage(x *req) error {
	w := x.words
	customers, err := c.db.count(x.ctx, qCustomerCount, x.corp)
	if err != nil {
		return err
	}
	groups, err := c.db.count(x.ctx, qGroupCount, x.corp)
	if err != nil {
		return err
	}
	status, err := c.db.handoverStatus(x.ctx, x.corp)
	if err != nil {
		return err
	}
	days, err := c.db.daily(x.ctx, qDaily, x.corp, x.today())
	if err != nil {
		return err
	}
	var active, departed, relations, unassigned int
	for _, s := range x.staffList {
		switch s.Status {
		case "active":
			active++
		case "departed":
			departed++
		}
		relations += s.Active
		unassigned += s.Unassigned
	}
	d := overviewData{
		Cards: []card{
			{Label: w.T("active staff"), Value: w.N(active), Link: x.link("staff")},
			{Label: w.T("customers n"), Value: w.N(customers), Help: w.T("customers help")},
			{Label: w.T("relations"), Value: w.N(relations), Help: w.T("relations help")},
			{Label: w.T("unassigned"), Value: w.N(unassigned), Link: x.link("departed")},
			{Label: w.T("pending handovers"), Value: w.N(status["pending"]), Link: x.link("handovers") + "?status=pending"},
			{Label: w.T("group chats"), Value: w.N(groups), Link: x.link("groups")},
			{Label: w.T("departed staff"), Value: w.N(departed), Link: x.link("departed")},
		},
		Days:     dayChart(w, days, x.today(), w.T("adds vs churn")),
		Outcomes: c.outcomeChart(x, status),
		Capacity: c.capacityChart(x, 12),
	}
	d.Departed = c.departedRows(x)
	if len(d.Departed) > 10 {
		d.Departed = d.Departed[:10]
	}
	c.render(x.w, http.StatusOK, "overview", c.newView(x, "overview", w.T("overview"), d))
	return nil
}

func (c *Console) outcomeChart(x *req, status map[string]int) template.HTML {
	w := x.words
	max := 1
	for _, n := range status {
		max = int(math.Max(float64(max), float64(n)))
	}
	var items []barItem
	for _, st := range []string{"pending", "completed", "refused", "failed", "cancelled"} {
		items = append(items, barItem{Label: w.T(st), Value: w.N(status[st]), Color: statusColors[st], Part: float64(status[st]) / float64(max)})
	}
	return barChart(w.T("handover outcomes"), items)
}

// capacityChart shows the n active members using most of their capacity.
func (c *Console) capacityChart(x *req, n int) template.HTML {
	w := x.words
	type use struct {
		s    staffRow
		part float64
	}
	var uses []use
	for _, s := range x.staffList {
		if s.Status != "active" {
			continue
		}
		uses = append(uses, use{s, float64(s.SlotsUsed) / float64(max(1, x.capacityOf(s)))})
	}
	slices.SortStableFunc(uses, func(a, b use) int { return cmp.Compare(b.part, a.part) })
	if len(uses) > n {
		uses = uses[:n]
	}
	var items []barItem
	for _, u := range uses {
		color := "#2e9d5b"
		if u.part >= 0.9 {
			color = colChurn
		} else if u.part >= 0.7 {
			color = colStaff
		}
		items = append(items, barItem{Label: x.staffLabel(u.s.ID), Value: w.T("used", u.s.SlotsUsed, x.capacityOf(u.s)) + " · " + w.Pct(u.part), Color: color, Part: u.part})
	}
	return barChart(w.T("capacity use"), items)
}

type staffListRow struct {
	ID, Label, Status, Link   string
	Active, Unassigned        string
	Capacity, Use             string
	Adds, Churn, DeletedStaff string
}

func (c *Console) staffList(x *req) error {
	w := x.words
	period, err := c.db.staffPeriod(x.ctx, x.corp, x.today())
	if err != nil {
		return err
	}
	var rows []staffListRow
	for _, s := range x.staffList {
		p := period[s.ID]
		st := w.T("active")
		link := x.link("staff", s.ID)
		switch s.Status {
		case "departed":
			st, link = w.T("departed s"), x.link("departed", s.ID)
		case "active":
		default:
			st = w.T("unknown")
		}
		rows = append(rows, staffListRow{
			ID: s.ID, Label: x.staffLabel(s.ID), Status: st, Link: link,
			Active: w.N(s.Active), Unassigned: w.N(s.Unassigned), Capacity: w.N(x.capacityOf(s)),
			Use:  w.Pct(float64(s.SlotsUsed) / float64(max(1, x.capacityOf(s)))),
			Adds: w.N(p.Added), Churn: w.N(p.DeletedByCustomer), DeletedStaff: w.N(p.DeletedByStaff),
		})
	}
	v := c.newView(x, "staff", w.T("staff"), struct {
		Rows     []staffListRow
		Capacity template.HTML
	}{rows, c.capacityChart(x, 30)})
	c.render(x.w, http.StatusOK, "staff", v)
	return nil
}

type customerItem struct {
	ID, Label, Link, Since, Channel string
	Pending                         string
	Selectable                      bool
}

type handoverItem struct {
	ID, CustomerID, CustomerLink, Kind, From, To, Status, Requested, Deadline, Reason string
	Pending                                                                           bool
	Link                                                                              string
}

func (x *req) handoverItems(rows []handoverRow) []handoverItem {
	w := x.words
	out := make([]handoverItem, 0, len(rows))
	for _, h := range rows {
		it := handoverItem{
			ID: h.ID, CustomerID: h.CustomerID, CustomerLink: x.link("customers", h.CustomerID), Kind: w.T(h.Kind),
			From: x.staffLabel(h.From), To: x.staffLabel(h.To), Status: w.T(h.Status),
			Requested: w.Time(h.RequestedAt), Deadline: w.Time(h.Deadline), Reason: w.Reason(h.FailureReason), Pending: h.Status == "pending",
		}
		out = append(out, it)
	}
	return out
}

type staffPageData struct {
	ID, Label, Status, Capacity, Use string
	Active                           bool
	Customers                        []customerItem
	Next                             string
	Chart                            template.HTML
	In, Out                          []handoverItem
	FormID                           string
	Help                             string
	MaxMessage                       int
}

func (c *Console) staffPage(x *req) error {
	id, err := x.pathID("staff")
	if err != nil {
		return err
	}
	s, ok := x.staff[id]
	if !ok {
		return errNotFound
	}
	if s.Status == "departed" {
		http.Redirect(x.w, x.r, x.link("departed", id), http.StatusSeeOther)
		return nil
	}
	w := x.words
	after := x.r.URL.Query().Get("after")
	if after != "" && !validID(after) {
		after = ""
	}
	rels, err := c.db.staffRelations(x.ctx, x.corp, id, "active", after)
	if err != nil {
		return err
	}
	days, err := c.db.daily(x.ctx, qStaffDaily, x.corp, id, x.today())
	if err != nil {
		return err
	}
	in, err := c.db.handovers(x.ctx, qPendingTo, x.corp, id)
	if err != nil {
		return err
	}
	out, err := c.db.handovers(x.ctx, qPendingFrom, x.corp, id)
	if err != nil {
		return err
	}
	pendingOut := map[string]handoverRow{}
	for _, h := range out {
		pendingOut[h.CustomerID] = h
	}
	d := staffPageData{
		ID: id, Label: x.staffLabel(id), Status: w.T("active"), Active: s.Status == "active",
		Capacity: w.T("used", s.SlotsUsed, x.capacityOf(s)), Use: w.Pct(float64(s.SlotsUsed) / float64(max(1, x.capacityOf(s)))),
		Chart: dayChart(w, days, x.today(), w.T("activity 30")), In: x.handoverItems(in), Out: x.handoverItems(out),
		FormID: randomString(12), Help: w.T("in-service help", x.set.InServiceHandoverLimit, w.Duration(x.set.InServiceHandoverPeriod)),
		MaxMessage: x.set.MaxHandoverMessage,
	}
	if s.Status != "active" {
		d.Status = w.T("unknown")
	}
	d.Customers, d.Next = x.customerItems(rels, pendingOut)
	v := c.newView(x, "staff", d.Label, d)
	c.render(x.w, http.StatusOK, "staffpage", v)
	return nil
}

// customerItems turns a page of relations into list rows; next is the
// cursor of the following page ("" on the last).
func (x *req) customerItems(rels []relationRow, pending map[string]handoverRow) ([]customerItem, string) {
	next := ""
	if len(rels) > pageSize {
		rels = rels[:pageSize]
		next = rels[pageSize-1].CustomerID
	}
	out := make([]customerItem, 0, len(rels))
	for _, r := range rels {
		it := customerItem{
			ID: r.CustomerID, Label: x.customerLabel(r.CustomerID, r.CustomerName, r.Erased), Link: x.link("customers", r.CustomerID),
			Since: x.words.Date(r.StartedAt), Channel: r.Channel, Selectable: true,
		}
		if h, ok := pending[r.CustomerID]; ok {
			it.Pending = x.words.T("pending for", x.staffLabel(h.To), x.words.Time(h.Deadline))
			it.Selectable = false
		}
		out = append(out, it)
	}
	return out, next
}

type departedRow struct {
	ID, Label, Link, DepartedAt, AssignBy, DaysLeft, Unassigned string
	Closed                                                      bool
	Left                                                        int
}

func (c *Console) departedRows(x *req) []departedRow {
	w := x.words
	var out []departedRow
	for _, s := range x.staffList {
		if s.Status != "departed" {
			continue
		}
		r := departedRow{ID: s.ID, Label: x.staffLabel(s.ID), Link: x.link("departed", s.ID), Unassigned: w.N(s.Unassigned)}
		if s.DepartedAt != nil {
			by := s.DepartedAt.Add(x.set.ResignedAssignmentWindow)
			r.DepartedAt, r.AssignBy = w.Date(*s.DepartedAt), w.Date(by)
			r.Left = int(math.Ceil(by.Sub(x.now).Hours() / 24))
			if r.Left <= 0 {
				r.Closed, r.DaysLeft = true, w.T("window closed")
			} else {
				r.DaysLeft = w.T("n days", r.Left)
			}
		}
		out = append(out, r)
	}
	// Most urgent first: customers waiting, fewest days left.
	slices.SortStableFunc(out, func(a, b departedRow) int {
		if (a.Unassigned == w.N(0)) != (b.Unassigned == w.N(0)) {
			if a.Unassigned == w.N(0) {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Left, b.Left)
	})
	return out
}

func (c *Console) departedList(x *req) error {
	c.render(x.w, http.StatusOK, "departed", c.newView(x, "departed", x.words.T("departed"), c.departedRows(x)))
	return nil
}

type departedPageData struct {
	departedRow
	Customers  []customerItem
	Next       string
	FormID     string
	Help       string
	MaxMessage int
	Batch      int
}

func (c *Console) departedPage(x *req) error {
	id, err := x.pathID("staff")
	if err != nil {
		return err
	}
	s, ok := x.staff[id]
	if !ok {
		return errNotFound
	}
	if s.Status != "departed" {
		http.Redirect(x.w, x.r, x.link("staff", id), http.StatusSeeOther)
		return nil
	}
	after := x.r.URL.Query().Get("after")
	if after != "" && !validID(after) {
		after = ""
	}
	rels, err := c.db.staffRelations(x.ctx, x.corp, id, "unassigned", after)
	if err != nil {
		return err
	}
	out, err := c.db.handovers(x.ctx, qPendingFrom, x.corp, id)
	if err != nil {
		return err
	}
	pending := map[string]handoverRow{}
	for _, h := range out {
		pending[h.CustomerID] = h
	}
	var row departedRow
	for _, r := range c.departedRows(x) {
		if r.ID == id {
			row = r
		}
	}
	d := departedPageData{departedRow: row, FormID: randomString(12),
		Help: x.words.T("resigned help", x.words.Duration(x.set.HandoverWindow)), MaxMessage: x.set.MaxHandoverMessage, Batch: x.set.MaxHandoverBatch}
	d.Customers, d.Next = x.customerItems(rels, pending)
	c.render(x.w, http.StatusOK, "departedpage", c.newView(x, "departed", row.Label, d))
	return nil
}

// customerLookup opens the customer named by ?id=.
func (c *Console) customerLookup(x *req) error {
	id := x.r.URL.Query().Get("id")
	if !validID(id) {
		return errNotFound
	}
	http.Redirect(x.w, x.r, x.link("customers", id), http.StatusSeeOther)
	return nil
}

type relationItem struct {
	Staff, StaffLink, Status, Since, Until, HowStarted, HowEnded, Channel string
	Remark, Description, Phones, Tags                                     string
	OptedOut                                                              bool
}

type lineItem struct {
	When, Text string
}

type customerPageData struct {
	ID, Label, Name   string
	Erased            bool
	ErasedAt          string
	Followers         []relationItem
	Relations         []relationItem
	Ownership         []relationItem
	Handovers         []handoverItem
	Pending           []handoverItem
	Consents, OptOuts []lineItem
	Groups            []lineItem
	Timeline          []lineItem
}

func (c *Console) customerPage(x *req) error {
	id, err := x.pathID("customer")
	if err != nil {
		return err
	}
	cd, err := c.db.customer(x.ctx, x.corp, id)
	if err != nil {
		return err
	}
	tl, err := timeline.Build(x.ctx, c.opts.Log, x.corp, id, timeline.Options{Groups: timeline.Membership{DB: c.opts.Projections}})
	if err != nil && !errors.Is(err, timeline.ErrNotFound) {
		return err
	}
	w := x.words
	d := customerPageData{ID: id, Erased: cd.Erased}
	name := cd.Name
	for _, r := range cd.Relations {
		if name == "" {
			name = r.CustomerName
		}
	}
	d.Label = x.customerLabel(id, name, cd.Erased)
	if cd.ErasedAt != nil {
		d.ErasedAt = w.Time(*cd.ErasedAt)
	}
	for _, r := range cd.Relations {
		it := relationItem{
			Staff: x.staffLabel(r.StaffID), StaffLink: x.link("staff", r.StaffID), Since: w.Time(r.StartedAt), Channel: r.Channel,
			HowStarted: w.T("added by"), HowEnded: w.Reason(r.EndReason), OptedOut: r.OptedOut,
		}
		if r.StartedBy == "handover" {
			it.HowStarted = w.T("by handover")
		}
		switch r.Status {
		case "active":
			it.Status = w.T("active r")
		case "unassigned":
			it.Status = w.T("unassigned s")
		default:
			it.Status = w.T("ended")
		}
		if r.EndedAt != nil {
			it.Until = w.Time(*r.EndedAt)
		}
		if x.who.PersonalData && !cd.Erased {
			it.Remark, it.Description = r.Remark, r.Description
			it.Phones = joinNonEmpty(r.Phones)
		}
		it.Tags = joinNonEmpty(r.Tags)
		if r.Status != "ended" {
			d.Followers = append(d.Followers, it)
		}
		d.Relations = append(d.Relations, it)
	}
	for _, o := range cd.Ownership {
		it := relationItem{Staff: x.staffLabel(o.StaffID), StaffLink: x.link("staff", o.StaffID), Since: w.Time(o.StartedAt),
			HowStarted: w.T("added by"), HowEnded: w.Reason(o.EndReason), Until: w.T("now")}
		if o.StartedBy == "handover" {
			it.HowStarted = w.T("by handover")
		}
		if o.EndedAt != nil {
			it.Until = w.Time(*o.EndedAt)
		}
		d.Ownership = append(d.Ownership, it)
	}
	d.Handovers = x.handoverItems(cd.Handovers)
	for i, h := range cd.Handovers {
		if h.Status == "pending" {
			it := d.Handovers[i]
			it.Link = x.link("customers", id, "handovers", h.ID, "cancel")
			d.Pending = append(d.Pending, it)
		}
	}
	for _, cs := range cd.Consents {
		d.Consents = append(d.Consents, lineItem{When: w.Time(cs.ChangedAt), Text: cs.Purpose + ": " + cs.State})
	}
	for _, o := range cd.OptOuts {
		t := w.T("opted in")
		if o.OptedOut {
			t = w.T("opted out")
		}
		d.OptOuts = append(d.OptOuts, lineItem{When: w.Time(o.ChangedAt), Text: x.staffLabel(o.StaffID) + ": " + t})
	}
	for _, g := range cd.Groups {
		owner := x.staffLabel(g.OwnerID)
		if s, ok := x.staff[g.OwnerID]; ok && s.Status == "departed" {
			owner += " · " + w.T("needs transfer")
		}
		label := g.ChatID
		if g.Name != "" {
			label = g.Name + " (" + g.ChatID + ")"
		}
		d.Groups = append(d.Groups, lineItem{When: w.Time(g.JoinedAt), Text: label + " — " + w.T("owner") + " " + owner})
	}
	for _, e := range tl.Entries {
		d.Timeline = append(d.Timeline, lineItem{When: w.Time(e.At), Text: x.timelineText(e)})
	}
	c.render(x.w, http.StatusOK, "customer", c.newView(x, "customers", d.Label, d))
	return nil
}

func joinNonEmpty(xs []string) string {
	out := ""
	for _, s := range xs {
		if s == "" {
			continue
		}
		if out != "" {
			out += ", "
		}
		out += s
	}
	return out
}

// timelineText tells one entry of the one timeline builder: its own
// English sentence, or the same facts in Chinese.
func (x *req) timelineText(e timeline.Entry) string {
	st, to := x.staffLabel(e.StaffID), x.staffLabel(e.ToStaffID)
	if x.words.lang == langEN {
		// The builder's sentence names times in UTC: a handover's is told
		// here with its deadline in the corp's zone.
		if e.Kind == timeline.KindHandoverRequested {
			s := x.words.T(e.HandoverKind) + " handover: " + st + " → " + to
			if e.Deadline != nil {
				s += ", the customer may refuse until " + x.words.Time(*e.Deadline)
			}
			if e.Outcome != "" {
				s += "; outcome: " + x.words.T(e.Outcome)
			}
			return s
		}
		return e.Summary
	}
	switch e.Kind {
	case timeline.KindRelationStarted:
		if e.StartedBy == "handover" {
			return st + " 通过继承开始跟进"
		}
		s := st + " 添加了客户"
		if e.Channel != "" {
			s += "（渠道 " + e.Channel + "）"
		}
		return s
	case timeline.KindRelationEdited:
		return st + " 修改了备注或标签"
	case timeline.KindRelationEnded:
		return "与 " + st + " 的关系结束：" + x.words.Reason(e.Reason)
	case timeline.KindHandoverRequested:
		s := x.words.T(e.HandoverKind) + "：" + st + " → " + to
		if e.Deadline != nil {
			s += "，客户可在 " + x.words.Time(*e.Deadline) + " 前拒绝"
		}
		if e.Outcome != "" {
			s += "，结果：" + x.words.T(e.Outcome)
		}
		return s
	case timeline.KindHandoverRefused:
		return "客户拒绝了转接给 " + to
	case timeline.KindHandoverCompleted:
		return "转接完成：" + st + " → " + to
	case timeline.KindHandoverFailed:
		return "转接失败：" + x.words.Reason(e.Reason)
	case timeline.KindHandoverCancelled:
		return "转接已取消"
	case timeline.KindMomentsOptedOut:
		return "不看 " + st + " 的朋友圈"
	case timeline.KindMomentsOptedIn:
		return "重新查看 " + st + " 的朋友圈"
	case timeline.KindConsent:
		return "授权 " + e.Purpose + "：" + e.State
	case timeline.KindErased:
		return "个人信息已删除"
	case timeline.KindGroupJoined:
		return "加入客户群 " + cmp.Or(e.ChatName, e.ChatID)
	case timeline.KindGroupLeft:
		return "离开客户群 " + cmp.Or(e.ChatName, e.ChatID)
	case timeline.KindGroupDismissed:
		return "客户群已解散 " + cmp.Or(e.ChatName, e.ChatID)
	}
	return e.Summary
}

var handoverStatuses = []string{"pending", "completed", "refused", "failed", "cancelled"}

type tab struct {
	Label, Link string
	On          bool
}

func (c *Console) handoversPage(x *req) error {
	q := x.r.URL.Query()
	st := q.Get("status")
	if !slices.Contains(handoverStatuses, st) {
		st = "pending"
	}
	before := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	beforeID := ""
	if b := q.Get("before"); b != "" {
		t, err := time.Parse(time.RFC3339Nano, b)
		if err == nil && validID(q.Get("id")) {
			before, beforeID = t, q.Get("id")
		}
	}
	rows, err := c.db.handovers(x.ctx, qHandovers, x.corp, st, before, beforeID, pageSize+1)
	if err != nil {
		return err
	}
	next := ""
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		last := rows[pageSize-1]
		next = x.link("handovers") + "?status=" + st + "&before=" + last.Deadline.UTC().Format(time.RFC3339Nano) + "&id=" + last.ID
	}
	status, err := c.db.handoverStatus(x.ctx, x.corp)
	if err != nil {
		return err
	}
	var tabs []tab
	for _, s := range handoverStatuses {
		tabs = append(tabs, tab{Label: x.words.T(s) + " " + x.words.N(status[s]), Link: x.link("handovers") + "?status=" + s, On: s == st})
	}
	items := x.handoverItems(rows)
	for i := range items {
		if items[i].Pending {
			items[i].Link = x.link("customers", items[i].CustomerID, "handovers", items[i].ID, "cancel")
		}
	}
	c.render(x.w, http.StatusOK, "handovers", c.newView(x, "handovers", x.words.T("handovers"), struct {
		Tabs  []tab
		Rows  []handoverItem
		Next  string
		Chart template.HTML
	}{tabs, items, next, c.outcomeChart(x, status)}))
	return nil
}

type groupItem struct {
	ChatID, Name, Owner, OwnerStatus, Members, Created string
	NeedsTransfer, Dismissed                           bool
}

func (c *Console) groupItems(x *req, rows []groupRow) []groupItem {
	w := x.words
	out := make([]groupItem, 0, len(rows))
	for _, g := range rows {
		it := groupItem{ChatID: g.ChatID, Name: g.Name, Owner: x.staffLabel(g.OwnerID), Members: w.N(g.StaffMembers + g.CustomerMembers),
			Created: w.Date(g.CreatedAt), Dismissed: g.Status == "dismissed", OwnerStatus: w.T("active")}
		if s, ok := x.staff[g.OwnerID]; !ok || s.Status != "active" {
			it.OwnerStatus = w.T("unknown")
			if ok && s.Status == "departed" {
				it.OwnerStatus, it.NeedsTransfer = w.T("needs transfer"), g.Status == "active"
			}
		}
		out = append(out, it)
	}
	return out
}

func (c *Console) groupsPage(x *req) error {
	after := x.r.URL.Query().Get("after")
	if after != "" && !validID(after) {
		after = ""
	}
	var departed []string
	for _, s := range x.staffList {
		if s.Status == "departed" {
			departed = append(departed, s.ID)
		}
	}
	orphans, err := c.db.groups(x.ctx, qOrphanGroups, x.corp, departed)
	if err != nil {
		return err
	}
	rows, err := c.db.groups(x.ctx, qGroups, x.corp, after, pageSize+1)
	if err != nil {
		return err
	}
	next := ""
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		next = x.link("groups") + "?after=" + rows[pageSize-1].ChatID
	}
	c.render(x.w, http.StatusOK, "groups", c.newView(x, "groups", x.words.T("groups"), struct {
		Orphans, Rows []groupItem
		Next, FormID  string
	}{c.groupItems(x, orphans), c.groupItems(x, rows), next, randomString(12)}))
	return nil
}

type channelItem struct {
	Channel, Adds, Adds30, Cohort, Retention string
}

func (c *Console) channelsPage(x *req) error {
	w := x.words
	rows, err := c.db.channels(x.ctx, x.corp, x.now)
	if err != nil {
		return err
	}
	var items []channelItem
	var bars []barItem
	for _, r := range rows {
		name := r.Channel
		if name == "" {
			name = w.T("no channel")
		}
		it := channelItem{Channel: name, Adds: w.N(r.Adds), Adds30: w.N(r.Adds30), Cohort: w.N(r.Cohort), Retention: "–"}
		if r.Cohort > 0 {
			ret := 1 - float64(r.Churned30)/float64(r.Cohort)
			it.Retention = w.Pct(ret)
			if len(bars) < 15 {
				bars = append(bars, barItem{Label: name, Value: it.Retention, Part: ret, Color: "#2e9d5b"})
			}
		}
		items = append(items, it)
	}
	c.render(x.w, http.StatusOK, "channels", c.newView(x, "channels", w.T("channels"), struct {
		Rows  []channelItem
		Chart template.HTML
	}{items, barChart(w.T("retention"), bars)}))
	return nil
}
