package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
