package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/httpapi"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events/eventlog"
)

// Prefix is where the console is mounted (httpapi.Server.Mount).
const Prefix = "/console/"

// Authenticator resolves the token a user signs in with; *httpapi.Server
// is one (same cache and revocation rule as the API).
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (httpapi.Principal, error)
}

// Options configure a Console.
type Options struct {
	// Auth checks tokens at sign-in and on every request. Required.
	Auth Authenticator
	// Commands carries out the actions, as for the API. Required.
	Commands *commands.Handler
	// Log is the event log customer timelines are read from. Required.
	Log eventlog.EventLog
	// Projections holds the read models (schema projections). Required.
	Projections *pgxpool.Pool
	// SessionKey (at least 32 bytes) seals sessions and signs CSRF tokens;
	// every instance serving the same users needs the same key (custody
	// serve derives it from CUSTODY_MASTER_KEY). Required.
	SessionKey []byte
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives server faults (never personal data). Default
	// slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.Auth == nil {
		errs = append(errs, errors.New("console: Auth is required"))
	}
	if o.Commands == nil {
		errs = append(errs, errors.New("console: Commands is required"))
	}
	if o.Log == nil {
		errs = append(errs, errors.New("console: Log is required"))
	}
	if o.Projections == nil {
		errs = append(errs, errors.New("console: Projections is required"))
	}
	if len(o.SessionKey) < 32 {
		errs = append(errs, errors.New("console: SessionKey must be at least 32 bytes"))
	}
	return errors.Join(errs...)
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.css
var css []byte

// Console is the console's http.Handler, serving everything under Prefix.
// Safe for concurrent use.
type Console struct {
	opts  Options
	keys  *sealer
	db    store
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New builds the console.
func New(o Options) (*Console, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	keys, err := newSealer(o.SessionKey)
	if err != nil {
		return nil, err
	}
	c := &Console{opts: o, keys: keys, db: store{db: o.Projections}, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func (c *Console) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	base := template.New("").Funcs(funcs)
	if _, err := base.ParseFS(templateFS, "templates/layout.html"); err != nil {
		return err
	}
	for _, n := range names {
		name := strings.TrimPrefix(n, "templates/")
		if name == "layout.html" {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return err
		}
		if _, err := t.ParseFS(templateFS, n); err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[strings.TrimSuffix(name, ".html")] = t
	}
	return nil
}

var funcs = template.FuncMap{
	"lower": lower,
	"add":   func(a, b int) int { return a + b },
	// dict hands a handover table its words and rows.
	"dict": func(w *words, rows []handoverItem) map[string]any { return map[string]any{"W": w, "Rows": rows} },
}

// routes registers every page and action.
func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /console/static/console.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(css)
	})
	m.HandleFunc("GET /console/{$}", c.home)
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.logout)
	m.HandleFunc("GET /console/lang", c.switchLang)
	page := func(pattern string, h func(*req) error) { m.Handle(pattern, c.corpHandler(h, false)) }
	act := func(pattern string, h func(*req) error) { m.Handle(pattern, c.corpHandler(h, true)) }
	page("GET /console/{corp}/{$}", c.overviewPage)
	page("GET /console/{corp}/staff", c.staffList)
	page("GET /console/{corp}/staff/{staff}", c.staffPage)
	page("GET /console/{corp}/departed", c.departedList)
	page("GET /console/{corp}/departed/{staff}", c.departedPage)
	page("GET /console/{corp}/customers", c.customerLookup)
	page("GET /console/{corp}/customers/{customer}", c.customerPage)
	page("GET /console/{corp}/handovers", c.handoversPage)
	page("GET /console/{corp}/groups", c.groupsPage)
	page("GET /console/{corp}/channels", c.channelsPage)
	act("POST /console/{corp}/departed/{staff}/handover", c.resignedHandover)
	act("POST /console/{corp}/staff/{staff}/handover", c.inServiceHandover)
	act("POST /console/{corp}/customers/{customer}/handovers/{handover}/cancel", c.cancelHandover)
	act("POST /console/{corp}/groups/transfer", c.transferGroups)
}

// ServeHTTP serves the console's pages, actions and stylesheet.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	if !strings.HasPrefix(r.URL.Path, "/console/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// req is one request to a corp's page or action.
type req struct {
	w     http.ResponseWriter
	r     *http.Request
	ctx   context.Context
	who   httpapi.Principal
	sess  session
	corp  string
	set   corp.Settings
	words *words
	now   time.Time
	// staff is the corp's members by id, loaded for every page (names,
	// statuses, capacity); staffList in id order.
	staff     map[string]staffRow
	staffList []staffRow
}

// errForbidden, errCSRF and errReadOnly are answered with 403 pages.
var (
	errForbidden = errors.New("console: forbidden")
	errCSRF      = errors.New("console: missing or wrong CSRF token")
	errReadOnly  = errors.New("console: read-only token")
)

// formError is a form that could not be decoded: 400 with its reason.
type formError struct{ msg string }

func (e *formError) Error() string { return "console: bad form: " + e.msg }

// sessionOf returns the request's session and principal; ok is false when
// there is none or its token is no longer valid.
func (c *Console) sessionOf(r *http.Request) (session, httpapi.Principal, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, httpapi.Principal{}, false
	}
	s, ok := c.keys.open(ck.Value, c.opts.Now())
	if !ok {
		return session{}, httpapi.Principal{}, false
	}
	p, err := c.opts.Auth.Authenticate(r.Context(), s.Secret)
	if err != nil {
		return session{}, httpapi.Principal{}, false
	}
	return s, p, true
}

// corpHandler authenticates the session, authorises the corp, checks the
// CSRF token of actions, loads the corp's settings and members, and runs h.
func (c *Console) corpHandler(h func(*req) error, action bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := requestLang(r)
		sess, who, ok := c.sessionOf(r)
		if !ok {
			if action {
				c.fail(w, r, newWords(lang, nil), errCSRF)
				return
			}
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		corpID := r.PathValue("corp")
		if !validCorp(corpID) || !who.May(corpID) {
			c.fail(w, r, newWords(lang, nil), errForbidden)
			return
		}
		x := &req{w: w, r: r, ctx: r.Context(), who: who, sess: sess, corp: corpID, now: c.opts.Now()}
		if action {
			if err := c.checkForm(x); err != nil {
				c.fail(w, r, newWords(lang, nil), err)
				return
			}
		}
		set, err := c.opts.Commands.EffectiveSettings(x.ctx, corpID)
		if err != nil {
			c.fail(w, r, newWords(lang, nil), err)
			return
		}
		x.set = set
		x.words = newWords(lang, set.Location())
		if x.staffList, err = c.db.staff(x.ctx, corpID); err != nil {
			c.fail(w, r, x.words, err)
			return
		}
		x.staff = make(map[string]staffRow, len(x.staffList))
		for _, s := range x.staffList {
			x.staff[s.ID] = s
		}
		if err := h(x); err != nil {
			c.fail(w, r, x.words, err)
		}
	})
}

// checkForm reads an action's form and checks its CSRF token and that the
// token may act.
func (c *Console) checkForm(x *req) error {
	if err := readForm(x.w, x.r); err != nil {
		return err
	}
	if !c.keys.checkCSRF("form", x.sess.Nonce, x.r.PostForm.Get("csrf")) {
		return errCSRF
	}
	if x.who.ReadOnly {
		return errReadOnly
	}
	return nil
}

// maxFormBytes bounds a posted form (100 ids and a message fit easily).
const maxFormBytes = 64 << 10

// readForm parses a urlencoded form body of at most maxFormBytes.
func readForm(w http.ResponseWriter, r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return &formError{msg: "not a form"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return &formError{msg: "unreadable or too large"}
	}
	return nil
}

// view is what every page template gets.
type view struct {
	W        *words
	Title    string
	Nav      string
	Corp     string
	Corps    []string
	CSRF     string
	ReadOnly bool
	// PD: the viewer may see personal data.
	PD        bool
	Zone      string
	AsOf      string
	LangURL   string
	SignedIn  bool
	Flash     string
	FlashBad  bool
	Data      any
	Status    int
	Staff     []staffOption
	Assignees []staffOption
}

// staffOption is a member in a select list.
type staffOption struct{ ID, Label string }

// newView fills the common part of a page.
func (c *Console) newView(x *req, nav, title string, data any) *view {
	v := &view{
		W: x.words, Title: title, Nav: nav, Corp: x.corp, CSRF: c.keys.csrf("form", x.sess.Nonce),
		ReadOnly: x.who.ReadOnly, PD: x.who.PersonalData, Zone: x.words.Zone(x.now), AsOf: x.words.Time(x.now),
		LangURL: langURL(x.words.Other(), x.r.URL.RequestURI()), SignedIn: true, Data: data,
	}
	if x.who.Admin {
		v.Corps, _ = c.db.corps(x.ctx)
	}
	for _, s := range x.staffList {
		if s.Status == "active" {
			v.Assignees = append(v.Assignees, staffOption{ID: s.ID, Label: x.staffLabel(s.ID)})
		}
	}
	return v
}

// langURL is the switch's link.
func langURL(code, back string) string {
	return "/console/lang?to=" + url.QueryEscape(code) + "&back=" + url.QueryEscape(back)
}

// staffLabel is how a member is shown: "name (id)" to viewers allowed to
// see personal data, the id otherwise or when the name is erased/unknown.
func (x *req) staffLabel(id string) string {
	s, ok := x.staff[id]
	if !ok || !x.who.PersonalData || s.Name == "" {
		return id
	}
	return s.Name + " (" + id + ")"
}

// render writes a page.
func (c *Console) render(w http.ResponseWriter, status int, name string, v *view) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name+".html", v); err != nil {
		c.opts.Logger.Error("console: render", "page", name, "err", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail answers an error with a page in the user's language: 403 for
// authorisation and CSRF, 404 for what does not exist, 400 for a form that
// does not decode, 500 (logged, never shown) otherwise.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, wd *words, err error) {
	status, msg := http.StatusInternalServerError, wd.T("internal")
	var fe *formError
	switch {
	case errors.Is(err, errForbidden):
		status, msg = http.StatusForbidden, wd.T("forbidden")
	case errors.Is(err, errCSRF):
		status, msg = http.StatusForbidden, wd.T("csrf")
	case errors.Is(err, errReadOnly):
		status, msg = http.StatusForbidden, wd.T("no token for act")
	case errors.Is(err, errNotFound):
		status, msg = http.StatusNotFound, wd.T("not found")
	case errors.As(err, &fe):
		status, msg = http.StatusBadRequest, wd.T("bad form", fe.msg)
	default:
		// Rule refusals, and WeCom not answering clearly (nothing was
		// recorded: try again), are said in words; other faults are logged.
		if st, code := httpapi.ErrorCode(err); st < 500 || code == "wecom_unavailable" || code == "unavailable" {
			status, msg = st, wd.Reason(code)
		} else {
			c.opts.Logger.Error("console: request failed", "route", r.Pattern, "err", err)
		}
	}
	c.render(w, status, "error", &view{W: wd, Title: msg, Flash: msg, FlashBad: true, Status: status,
		LangURL: langURL(wd.Other(), r.URL.RequestURI())})
}

// validID is the API's id rule: 1-128 letters, digits, '_', '.', '@', '-'.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '@' || r == '-') {
			return false
		}
	}
	return true
}

// validCorp is the API's corp rule: 1-64 letters, digits or '_'.
func validCorp(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// pathID is a path wildcard validated as an id (404 otherwise).
func (x *req) pathID(name string) (string, error) {
	v := x.r.PathValue(name)
	if !validID(v) {
		return "", errNotFound
	}
	return v, nil
}
