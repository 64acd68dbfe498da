package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events/eventlog"
)

// Options configure a Server.
type Options struct {
	// Pool holds the API's own tables (tokens, idempotent answers), migrated
	// with Migrate. Required.
	Pool *pgxpool.Pool
	// Commands carries out commands. Required.
	Commands *commands.Handler
	// Log is the event log customer timelines are read from (the same
	// builder as custody timeline: adapters/tools/timeline). Required.
	Log eventlog.EventLog
	// Projections is the database holding the projections' read models
	// (schema "projections"). Default: Pool.
	Projections *pgxpool.Pool
	// AdminToken is the secret of the admin token, valid for every corp.
	// Empty disables the admin token (corp tokens still work).
	AdminToken string
	// Logger receives one line per request (route pattern, corp, status,
	// duration — never bodies). Default slog.Default().
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics. Default:
	// a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// TokenCacheTTL is how long a looked-up corp token is remembered: a
	// revocation made by another process (custody tokens revoke) applies
	// within it. Default DefaultTokenCacheTTL; negative disables the cache.
	TokenCacheTTL time.Duration
	// MaxBodyBytes limits request bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Now is the clock for commands without occurred_at. Default time.Now.
	Now func() time.Time
	// Ready reports whether the service can take traffic (/readyz). Default:
	// a ping of Pool.
	Ready func(ctx context.Context) error
	// WeComConnections and WeComInbox serve the /wecom routes; nil answers
	// them with 404 (the connector is not configured).
	WeComConnections WeComConnections
	WeComInbox       WeComInbox
}

// DefaultTokenCacheTTL is Options.TokenCacheTTL when unset.
const DefaultTokenCacheTTL = 5 * time.Second

func (o *Options) setDefaults() {
	if o.TokenCacheTTL == 0 {
		o.TokenCacheTTL = DefaultTokenCacheTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = NewRegistry()
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Projections == nil {
		o.Projections = o.Pool
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Ready == nil && o.Pool != nil {
		pool := o.Pool
		o.Ready = func(ctx context.Context) error { return pool.Ping(ctx) }
	}
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.Pool == nil {
		errs = append(errs, errors.New("httpapi: Pool is required"))
	}
	if o.Commands == nil {
		errs = append(errs, errors.New("httpapi: Commands is required"))
	}
	if o.Log == nil {
		errs = append(errs, errors.New("httpapi: Log is required"))
	}
	if o.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("httpapi: MaxBodyBytes %d is negative", o.MaxBodyBytes))
	}
	if o.AdminToken != "" && len(o.AdminToken) < 16 {
		errs = append(errs, errors.New("httpapi: AdminToken must be at least 16 characters"))
	}
	return errors.Join(errs...)
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, for Options.Registry.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheusGoCollectors()...)
	return reg
}

// Server is the HTTP API. It is an http.Handler; safe for concurrent use.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	routes  []route
	auth    *authenticator
	tokens  *Tokens
	idem    *idempotencyStore
	metrics *httpMetrics
	openapi []byte
}

// New builds the server and registers every route.
func New(o Options) (*Server, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	m, err := newHTTPMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    o,
		mux:     http.NewServeMux(),
		routes:  apiRoutes(),
		tokens:  NewTokens(o.Pool),
		idem:    &idempotencyStore{pool: o.Pool},
		metrics: m,
	}
	s.auth = newAuthenticator(o.AdminToken, s.tokens, o.TokenCacheTTL)
	for _, rt := range s.routes {
		s.mux.Handle(rt.pattern(), s.apiHandler(rt))
	}
	s.registerPublic()
	if s.openapi, err = json.MarshalIndent(openAPIDocument(s.routes), "", "  "); err != nil {
		return nil, fmt.Errorf("httpapi: openapi: %w", err)
	}
	return s, nil
}

// ServeHTTP routes r, records its metrics and logs one line for it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, req: r}
	if cleanPath(r.URL.Path) {
		s.mux.ServeHTTP(sw, r)
	} else {
		s.writeError(sw, r, errUncleanPath)
	}
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	d := time.Since(start)
	pattern := r.Pattern
	if pattern == "" {
		pattern = "unmatched"
	}
	s.metrics.observe(pattern, sw.status, d)
	level := slog.LevelDebug
	if sw.status >= 500 {
		level = slog.LevelError
	} else if sw.status >= 400 {
		level = slog.LevelInfo
	}
	// The pattern, not the path: paths hold ids, patterns never do.
	s.opts.Logger.Log(r.Context(), level, "http request",
		"route", pattern, "corp", r.PathValue("corp"), "status", sw.status,
		"duration_ms", float64(d.Microseconds())/1000)
}

// statusWriter records the status and renders the mux's own 404/405 answers
// (no route matched) as JSON errors.
type statusWriter struct {
	http.ResponseWriter
	req     *http.Request
	status  int
	swallow bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if w.req.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		e := newError(code, CodeRouteNotFound, "no route for %s %s", w.req.Method, w.req.URL.Path)
		if code == http.StatusMethodNotAllowed {
			e = newError(code, CodeMethodNotAllowed, "method %s not allowed here; allowed: %s", w.req.Method, w.Header().Get("Allow"))
		}
		h := w.Header()
		h.Del("X-Content-Type-Options")
		h.Set("Content-Type", "application/json")
		w.ResponseWriter.WriteHeader(code)
		w.ResponseWriter.Write(errorJSON(e))
		w.swallow = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// apiHandler runs one route: authenticate, authorise the corp, read and
// check the body, replay or run the command, answer.
func (s *Server) apiHandler(rt route) http.Handler {
	status := rt.status
	if status == 0 {
		status = http.StatusOK
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := s.auth.fromRequest(r, false)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		corp := r.PathValue("corp")
		if !validCorpID(corp) {
			s.writeError(w, r, newError(http.StatusBadRequest, CodeInvalidID,
				"corp must be 1-64 characters of letters, digits or '_'"))
			return
		}
		if !who.may(corp) {
			s.writeError(w, r, newError(http.StatusForbidden, CodeForbidden, "this token is not valid for corp %s", corp))
			return
		}
		if rt.admin && !who.admin {
			s.writeError(w, r, newError(http.StatusForbidden, CodeForbidden, "only the admin token may use this route"))
			return
		}
		c := &call{ctx: r.Context(), r: r, corp: corp, who: who, srv: s}
		if !rt.write {
			s.answer(w, r, rt, c, status)
			return
		}
		if c.body, err = readBody(w, r, s.opts.MaxBodyBytes); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := checkContentType(r, c.body); err != nil {
			s.writeError(w, r, err)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			s.answer(w, r, rt, c, status)
			return
		}
		if !validIdempotencyKey(key) {
			s.writeError(w, r, newError(http.StatusBadRequest, CodeBadRequest, "Idempotency-Key must be 1-255 visible ASCII characters"))
			return
		}
		hash := requestHash(r.Method, r.URL.Path, c.body)
		prev, err := s.idem.lookup(r.Context(), corp, key, hash)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if prev != nil {
			w.Header().Set("Idempotent-Replayed", "true")
			writeRaw(w, prev.status, prev.body)
			return
		}
		c.commandID = commandIDFor(corp, key)
		st, body, final := s.run(rt, c, status)
		// Server faults and transient conflicts are not stored: a retry
		// with the same key must run again (and finds the events already
		// appended, if any).
		if final {
			a, err := s.idem.save(r.Context(), corp, key, hash, storedAnswer{status: st, body: body})
			if err != nil {
				s.opts.Logger.Error("idempotency save failed", "route", rt.pattern(), "err", err)
			} else {
				st, body = a.status, a.body
			}
		}
		writeRaw(w, st, body)
	})
}

// responseCheck, when set (by tests), sees every successful answer with its
// route, to hold the OpenAPI response types true.
var responseCheck func(rt route, resp any)

// answer runs the handler and writes its answer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, rt route, c *call, status int) {
	st, body, _ := s.run(rt, c, status)
	writeRaw(w, st, body)
}

// run calls the route's handler and encodes the answer or error. final
// reports whether the answer may be stored as an Idempotency-Key's: not a
// 5xx, and not a conflict (409 conflict: the retries on concurrent
// changes ran out), which the same request may not meet again.
func (s *Server) run(rt route, c *call, status int) (st int, body []byte, final bool) {
	resp, err := rt.handle(c)
	if err == nil && responseCheck != nil {
		responseCheck(rt, resp)
	}
	if err != nil {
		e := errorOf(err)
		s.logError(c.r, e)
		return e.status, errorJSON(e), e.status < 500 && e.code != CodeConflict
	}
	if cr, ok := resp.(created); ok && rt.noneCreated != 0 && !cr.createdAny() {
		status = rt.noneCreated
	}
	b, err := json.Marshal(resp)
	if err != nil {
		e := errorOf(err)
		s.logError(c.r, e)
		return e.status, errorJSON(e), false
	}
	return status, append(b, '\n'), true
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := errorOf(err)
	s.logError(r, e)
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="custody"`)
	}
	writeRaw(w, e.status, errorJSON(e))
}

// logError logs server faults with their cause; client errors are logged by
// ServeHTTP's request line only.
func (s *Server) logError(r *http.Request, e *apiError) {
	if e.status >= 500 && e.cause != nil {
		s.opts.Logger.Error("request failed", "route", r.Pattern, "corp", r.PathValue("corp"), "err", e.cause)
	}
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeRaw(w, http.StatusInternalServerError, errorJSON(errorOf(err)))
		return
	}
	writeRaw(w, status, append(b, '\n'))
}

// Tokens is the server's token store.
func (s *Server) Tokens() *Tokens { return s.tokens }
