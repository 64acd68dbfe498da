package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// principal is who a request acts as: the admin (every corp) or a token
// bound to one corp.
type principal struct {
	admin   bool
	tokenID string
	corp    string
	// viewer: a read-only console token (KindViewer); personalData: it may
	// see personal data (always for the admin and operators).
	viewer       bool
	personalData bool
}

// Principal is who a console session acts as (Server.Authenticate).
type Principal struct {
	// Admin: the admin token, valid for every corp.
	Admin bool
	// TokenID and Corp name a corp token; empty for the admin.
	TokenID, Corp string
	// ReadOnly: a viewer token, which may look but not act.
	ReadOnly bool
	// PersonalData: may see names, remarks and phones.
	PersonalData bool
}

// May reports whether p may open corp's pages.
func (p Principal) May(corp string) bool { return p.Admin || p.Corp == corp }

// Actor is the envelope actor of the events p causes, as the API records
// them.
func (p Principal) Actor() string {
	return principal{admin: p.Admin, tokenID: p.TokenID}.actor()
}

// Authenticate resolves a bearer secret as the API does (same cache, same
// revocation rule): the console signs in with it. Unknown and revoked
// secrets are an error with status 401.
func (s *Server) Authenticate(ctx context.Context, secret string) (Principal, error) {
	p, err := s.auth.authenticate(ctx, secret)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Admin: p.admin, TokenID: p.tokenID, Corp: p.corp, ReadOnly: p.viewer, PersonalData: p.personalData}, nil
}

// actor is the envelope actor of events the principal causes.
func (p principal) actor() string {
	if p.admin {
		return "admin:admin"
	}
	return "admin:" + p.tokenID
}

// may reports whether p may read and change corp.
func (p principal) may(corp string) bool { return p.admin || p.corp == corp }

// authenticator resolves bearer secrets to principals. Corp tokens found in
// the table are remembered for ttl, so a busy client costs one lookup per
// ttl instead of one per request; a revocation through this process's
// Tokens clears the cache at once, one made elsewhere (custody tokens
// revoke) takes effect within ttl.
type authenticator struct {
	adminHash []byte // sha256 of the admin token; nil disables it
	tokens    *Tokens
	ttl       time.Duration

	mu    sync.Mutex
	cache map[[32]byte]cachedPrincipal
}

type cachedPrincipal struct {
	p       principal
	expires time.Time
}

// maxCachedTokens bounds the cache; when full it starts over.
const maxCachedTokens = 10_000

func newAuthenticator(adminToken string, tokens *Tokens, ttl time.Duration) *authenticator {
	a := &authenticator{tokens: tokens, ttl: ttl, cache: map[[32]byte]cachedPrincipal{}}
	tokens.onRevoke = a.forget
	if adminToken != "" {
		h := sha256.Sum256([]byte(adminToken))
		a.adminHash = h[:]
	}
	return a
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// authenticate resolves secret. Unknown and revoked secrets look the same to
// the caller (401 unauthenticated).
func (a *authenticator) authenticate(ctx context.Context, secret string) (principal, error) {
	if a.adminHash != nil {
		h := sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(h[:], a.adminHash) == 1 {
			return principal{admin: true, personalData: true}, nil
		}
	}
	key := sha256.Sum256([]byte(secret))
	if a.ttl > 0 {
		a.mu.Lock()
		c, ok := a.cache[key]
		a.mu.Unlock()
		if ok && time.Now().Before(c.expires) {
			return c.p, nil
		}
	}
	t, err := a.tokens.Lookup(ctx, secret)
	if errors.Is(err, ErrTokenNotFound) {
		return principal{}, newError(http.StatusUnauthorized, CodeUnauthenticated, "unknown or revoked token")
	}
	if err != nil {
		return principal{}, err
	}
	p := principal{tokenID: t.ID, corp: t.CorpID, viewer: t.Kind == KindViewer, personalData: t.PersonalData}
	if a.ttl > 0 {
		a.mu.Lock()
		if len(a.cache) >= maxCachedTokens {
			clear(a.cache)
		}
		a.cache[key] = cachedPrincipal{p: p, expires: time.Now().Add(a.ttl)}
		a.mu.Unlock()
	}
	return p, nil
}

// forget drops every remembered token (after a revocation).
func (a *authenticator) forget() {
	a.mu.Lock()
	clear(a.cache)
	a.mu.Unlock()
}

// fromRequest authenticates r by its Authorization header or, for the
// overview page, by its session cookie.
func (a *authenticator) fromRequest(r *http.Request, allowCookie bool) (principal, error) {
	secret, ok := bearer(r)
	if !ok && allowCookie {
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			secret, ok = c.Value, true
		}
	}
	if !ok {
		return principal{}, newError(http.StatusUnauthorized, CodeUnauthenticated, "missing bearer token: send Authorization: Bearer <token>")
	}
	return a.authenticate(r.Context(), secret)
}
