package httpapi

import (
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/custody/custody/domain/corp"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// sessionCookie holds the token of a browser session on the overview page.
// HttpOnly and SameSite=Strict: scripts cannot read it and other sites
// cannot make the browser send it.
const sessionCookie = "custody_session"

// Overview is the sales-ops dashboard of one corp, served as JSON at
// GET /v1/corps/{corp}/overview and rendered as HTML at /.
type Overview struct {
	Corp        string    `json:"corp"`
	GeneratedAt time.Time `json:"generated_at"`
	// TimeZone is the corp's (its settings): the page shows dates in it.
	TimeZone   string         `json:"time_zone"`
	Headline   Headline       `json:"headline"`
	Pipeline   []StatusCount  `json:"handover_pipeline"`
	ChurnDays  int            `json:"churn_days"`
	Churn      []StaffChurn   `json:"churn_by_staff"`
	Adds       []StaffCount   `json:"adds_by_staff"`
	Unassigned []DepartedLoad `json:"unassigned_by_departed_staff"`
}

// Headline are the dashboard's big numbers.
type Headline struct {
	ActiveStaff      int `json:"active_staff"`
	DepartedStaff    int `json:"departed_staff"`
	Customers        int `json:"customers"`
	ActiveRelations  int `json:"active_relations"`
	PendingHandovers int `json:"pending_handovers"`
	Unassigned       int `json:"unassigned_relations"`
	Groups           int `json:"group_chats"`
	Adds             int `json:"adds_last_days"`
	// Churn counts relations the customer ended (deleted_by_customer, 流失)
	// in the last ChurnDays days: the README's churn. Relations the staff
	// member ended are DeletedByStaff.
	Churn          int `json:"churn_last_days"`
	DeletedByStaff int `json:"deleted_by_staff_last_days"`
}

// StatusCount is the number of handovers in one status.
type StatusCount struct {
	Status string `json:"status"`
	Count  int    `json:"count"`
}

// StaffChurn is one staff member's lost relations in the period.
type StaffChurn struct {
	StaffID           string `json:"staff_id"`
	DeletedByCustomer int    `json:"deleted_by_customer"`
	DeletedByStaff    int    `json:"deleted_by_staff"`
}

// StaffCount is a count per staff member.
type StaffCount struct {
	StaffID string `json:"staff_id"`
	Count   int    `json:"count"`
}

// DepartedLoad is the unassigned relations of one departed staff member.
type DepartedLoad struct {
	StaffID    string    `json:"staff_id"`
	DepartedAt time.Time `json:"departed_at"`
	Customers  int       `json:"customers"`
	AssignBy   time.Time `json:"assign_by"`
}

// pipelineOrder and pipelineColors fix the chart's rows.
var pipelineOrder = []string{"pending", "completed", "refused", "failed", "cancelled"}

var pipelineColors = map[string]string{
	"pending": "#2f6fde", "completed": "#2e9d5b", "refused": "#d99a1e", "failed": "#cf4242", "cancelled": "#8a96a3",
}

// overviewPage renders the dashboard: for a corp token its corp; for the
// admin the corp in ?corp= (or the first known corp). Without a session it
// redirects to the sign-in form.
func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) {
	if s.home != "" {
		http.Redirect(w, r, s.home, http.StatusSeeOther)
		return
	}
	who, err := s.auth.fromRequest(r, true)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	corp := r.URL.Query().Get("corp")
	var corps []string
	if who.admin {
		if corps, err = s.knownCorps(r); err != nil {
			s.htmlError(w, r, err)
			return
		}
		if corp == "" && len(corps) > 0 {
			corp = corps[0]
		}
	} else {
		if corp == "" {
			corp = who.corp
		}
	}
	if corp == "" {
		s.renderLogin(w, http.StatusOK, "", "No corp has data yet: run `custody demo`, or send commands, then reload.")
		return
	}
	if !validCorpID(corp) {
		s.htmlError(w, r, newError(http.StatusBadRequest, CodeInvalidID, "invalid corp"))
		return
	}
	if !who.may(corp) {
		s.htmlError(w, r, newError(http.StatusForbidden, CodeForbidden, "this token is not valid for corp %s", corp))
		return
	}
	ov, err := s.overview(r.Context(), corp)
	if err != nil {
		s.htmlError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'")
	if err := pages.ExecuteTemplate(w, "overview.html", newOverviewView(ov, corps)); err != nil {
		s.opts.Logger.Error("render overview", "err", err)
	}
}

func (s *Server) htmlError(w http.ResponseWriter, r *http.Request, err error) {
	e := errorOf(err)
	s.logError(r, e)
	http.Error(w, e.message, e.status)
}

type loginView struct {
	Title, Corp, Error string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, http.StatusOK, r.URL.Query().Get("corp"), "")
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, corp, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	pages.ExecuteTemplate(w, "login.html", loginView{Title: "Sign in", Corp: corp, Error: msg})
}

// login checks the posted token and keeps it in a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, http.StatusBadRequest, "", "Could not read the form.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	corp := strings.TrimSpace(r.PostForm.Get("corp"))
	if corp != "" && !validCorpID(corp) {
		s.renderLogin(w, http.StatusBadRequest, "", "That is not a corp id.")
		return
	}
	who, err := s.auth.authenticate(r.Context(), token)
	if err != nil || (corp != "" && !who.may(corp)) {
		s.renderLogin(w, http.StatusUnauthorized, corp, "Unknown token, or not valid for that corp.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 12 * 3600,
	})
	target := "/"
	if corp != "" {
		target = "/?corp=" + url.QueryEscape(corp)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// overviewView is what overview.html renders.
type overviewView struct {
	Title          string
	Corp           string
	Corps          []string
	GeneratedAt    string
	Headline       []headlineItem
	Pipeline       []pipelineRow
	PipelineTotal  int
	PipelineHeight int
	ChurnDays      int
	Churn          []churnRow
	Adds           []addRow
	Unassigned     []unassignedRow
}

type headlineItem struct {
	Label string
	Value int
}

type pipelineRow struct {
	Label, Color string
	Count, Y     int
	Width        int
}

type churnRow struct {
	StaffID               string
	CustomerPct, StaffPct float64
	Total                 int
}

type addRow struct {
	StaffID string
	Pct     float64
	Count   int
}

type unassignedRow struct {
	StaffID, DepartedAt, Deadline string
	Customers                     int
}

func newOverviewView(ov Overview, corps []string) overviewView {
	// Dates as the corp lives them: in its time zone (UTC for an
	// Overview without one).
	loc := time.UTC
	if ov.TimeZone != "" {
		loc = corp.Settings{TimeZone: ov.TimeZone}.Location()
	}
	v := overviewView{
		Title: "Overview", Corp: ov.Corp, Corps: corps,
		GeneratedAt: ov.GeneratedAt.In(loc).Format("2006-01-02 15:04 MST"),
		ChurnDays:   ov.ChurnDays,
	}
	h := ov.Headline
	v.Headline = []headlineItem{
		{"active staff", h.ActiveStaff}, {"customers", h.Customers},
		{"active relations", h.ActiveRelations}, {"pending handovers", h.PendingHandovers},
		{"unassigned relations", h.Unassigned}, {"group chats", h.Groups},
		{"new relations, " + itoa(ov.ChurnDays) + " days", h.Adds}, {"churn, " + itoa(ov.ChurnDays) + " days", h.Churn},
		{"deleted by staff, " + itoa(ov.ChurnDays) + " days", h.DeletedByStaff},
	}
	counts := map[string]int{}
	max := 0
	for _, p := range ov.Pipeline {
		counts[p.Status] += p.Count
		v.PipelineTotal += p.Count
		if counts[p.Status] > max {
			max = counts[p.Status]
		}
	}
	for i, st := range pipelineOrder {
		row := pipelineRow{Label: st, Color: pipelineColors[st], Count: counts[st], Y: i * 30}
		if max > 0 {
			row.Width = counts[st] * 380 / max
		}
		v.Pipeline = append(v.Pipeline, row)
	}
	v.PipelineHeight = len(pipelineOrder) * 30
	cmax := 0
	for _, c := range ov.Churn {
		if t := c.DeletedByCustomer + c.DeletedByStaff; t > cmax {
			cmax = t
		}
	}
	for _, c := range ov.Churn {
		row := churnRow{StaffID: c.StaffID, Total: c.DeletedByCustomer + c.DeletedByStaff}
		if cmax > 0 {
			row.CustomerPct = float64(c.DeletedByCustomer) * 100 / float64(cmax)
			row.StaffPct = float64(c.DeletedByStaff) * 100 / float64(cmax)
		}
		v.Churn = append(v.Churn, row)
	}
	amax := 0
	for _, a := range ov.Adds {
		if a.Count > amax {
			amax = a.Count
		}
	}
	for _, a := range ov.Adds {
		row := addRow{StaffID: a.StaffID, Count: a.Count}
		if amax > 0 {
			row.Pct = float64(a.Count) * 100 / float64(amax)
		}
		v.Adds = append(v.Adds, row)
	}
	for _, u := range ov.Unassigned {
		v.Unassigned = append(v.Unassigned, unassignedRow{
			StaffID: u.StaffID, Customers: u.Customers,
			DepartedAt: u.DepartedAt.In(loc).Format("2006-01-02"),
			Deadline:   u.AssignBy.In(loc).Format("2006-01-02"),
		})
	}
	return v
}
