package console

import (
	"net/http"
	"net/url"
	"strings"
)

// home sends a signed-in user to their corp's overview (the admin to the
// first corp with data), anyone else to the sign-in form.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	_, who, ok := c.sessionOf(r)
	if !ok {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	corp := who.Corp
	if who.Admin {
		corps, err := c.db.corps(r.Context())
		if err != nil {
			c.fail(w, r, newWords(requestLang(r), nil), err)
			return
		}
		if len(corps) == 0 {
			c.render(w, http.StatusOK, "error", &view{W: newWords(requestLang(r), nil), Flash: "No corp has data yet: run `custody demo`, then reload."})
			return
		}
		corp = corps[0]
	}
	http.Redirect(w, r, "/console/"+corp+"/", http.StatusSeeOther)
}

// loginView is the sign-in form's data.
type loginView struct {
	Corp, Next, Error string
}

// loginPage shows the sign-in form with a CSRF token bound to a fresh
// pre-session cookie.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, r.URL.Query().Get("corp"), safeNext(r.URL.Query().Get("next")), "")
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, corp, next, msg string) {
	nonce := randomString(18)
	setCookie(w, r, preCookie, nonce, 3600)
	wd := newWords(requestLang(r), nil)
	if !validCorp(corp) {
		corp = ""
	}
	c.render(w, status, "login", &view{W: wd, Title: wd.T("sign in"), CSRF: c.keys.csrf("login", nonce),
		LangURL: langURL(wd.Other(), r.URL.RequestURI()), Data: loginView{Corp: corp, Next: next, Error: msg}})
}

// login checks the CSRF token and the token posted, then seals the session
// into its cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	wd := newWords(requestLang(r), nil)
	if err := readForm(w, r); err != nil {
		c.fail(w, r, wd, err)
		return
	}
	pre, err := r.Cookie(preCookie)
	if err != nil || !c.keys.checkCSRF("login", pre.Value, r.PostForm.Get("csrf")) {
		c.fail(w, r, wd, errCSRF)
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	corp := strings.TrimSpace(r.PostForm.Get("corp"))
	next := safeNext(r.PostForm.Get("next"))
	if corp != "" && !validCorp(corp) {
		c.renderLogin(w, r, http.StatusBadRequest, "", next, wd.T("bad token"))
		return
	}
	if len(token) > 512 {
		token = ""
	}
	who, err := c.opts.Auth.Authenticate(r.Context(), token)
	if err != nil || (corp != "" && !who.May(corp)) {
		c.renderLogin(w, r, http.StatusUnauthorized, corp, next, wd.T("bad token"))
		return
	}
	sealed, err := c.keys.seal(session{Secret: token, Nonce: randomString(18), Expires: c.opts.Now().Add(sessionTTL).Unix()})
	if err != nil {
		c.fail(w, r, wd, err)
		return
	}
	setCookie(w, r, sessionCookie, sealed, int(sessionTTL.Seconds()))
	setCookie(w, r, preCookie, "", -1)
	target := "/console/"
	switch {
	case next != "":
		target = next
	case corp != "":
		target = "/console/" + corp + "/"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// logout ends the session (its form carries the session's CSRF token).
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	wd := newWords(requestLang(r), nil)
	if err := readForm(w, r); err != nil {
		c.fail(w, r, wd, err)
		return
	}
	s, _, ok := c.sessionOf(r)
	if !ok || !c.keys.checkCSRF("form", s.Nonce, r.PostForm.Get("csrf")) {
		c.fail(w, r, wd, errCSRF)
		return
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// switchLang keeps the chosen language in a cookie and goes back. It
// changes nothing on the server: a link, not a form.
func (c *Console) switchLang(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if t, ok := parseLang(q.Get("to")); ok {
		setCookie(w, r, langCookie, langCode(t), 365*24*3600)
	}
	back := safeNext(q.Get("back"))
	if back == "" {
		back = "/console/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// safeNext keeps a redirect target only when it is a path of the console
// (never another site: no scheme, no host, no "//").
func safeNext(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return next
}
