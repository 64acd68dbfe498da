package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custody/custody/projections"
)

// registerPublic adds the routes outside /v1/corps/{corp}/: health,
// metrics and the OpenAPI document need no token; the overview page and its
// sign-in authenticate by themselves (cookie or bearer).
func (s *Server) registerPublic() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		writeRaw(w, http.StatusOK, s.openapi)
	})
	s.mux.HandleFunc("GET /{$}", s.overviewPage)
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.logout)
}

// readyz answers 200 when Options.Ready passes within two seconds, 503
// otherwise (e.g. the database is gone, or the server is shutting down).
// The 200 body lists the parked corps of the projections, if any: the
// service takes traffic, but those corps' facts are not visible in the
// named projections (custody projections status tells why). Only ids and
// positions are listed, no stream names or error texts.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.opts.Ready != nil {
		if err := s.opts.Ready(ctx); err != nil {
			s.opts.Logger.Warn("not ready", "err", err)
			writeRaw(w, http.StatusServiceUnavailable, errorJSON(newError(http.StatusServiceUnavailable, CodeUnavailable, "not ready")))
			return
		}
	}
	body := readiness{Status: "ready"}
	if s.opts.Projections != nil {
		parked, err := projections.ParkedCorps(ctx, s.opts.Projections)
		if err != nil {
			s.opts.Logger.Warn("readyz: parked corps not read", "err", err)
		}
		for _, p := range parked {
			body.Parked = append(body.Parked, parkedCorp{Projection: p.Projection, CorpID: p.CorpID, Position: p.Position.String(),
				EventID: p.EventID.String(), EventType: p.EventType, ParkedAt: p.ParkedAt})
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// readiness is the body of a 200 /readyz.
type readiness struct {
	Status string       `json:"status"`
	Parked []parkedCorp `json:"parked,omitempty"`
}

// parkedCorp is a corp whose events a projection skips.
type parkedCorp struct {
	Projection string    `json:"projection"`
	CorpID     string    `json:"corp_id"`
	Position   string    `json:"position"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	ParkedAt   time.Time `json:"parked_at"`
}
