package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts calls and rate-limiter waits. One Metrics serves every
// Client of a process (pass it in Options); a nil *Metrics records
// nothing.
type Metrics struct {
	calls *prometheus.CounterVec
	wait  prometheus.Histogram
}

// NewMetrics registers custody_wecom_api_calls_total{api,errcode} and
// custody_wecom_api_rate_limit_wait_seconds with reg, or reuses them when
// already registered there. errcode is WeCom's errcode ("0" for success),
// "http_<status>", "network" or "decode"; api is the path after
// /cgi-bin/. Neither label holds ids.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_wecom_api_calls_total",
			Help: "Requests to WeCom's API (each attempt), by API and errcode.",
		}, []string{"api", "errcode"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "custody_wecom_api_rate_limit_wait_seconds",
			Help:    "Time calls to WeCom's API waited for custody's own per-corp rate limiter.",
			Buckets: []float64{0, .01, .05, .1, .5, 1, 5, 15, 60},
		}),
	}
	var err error
	if m.calls, err = RegisterCollector(reg, m.calls); err != nil {
		return nil, err
	}
	if m.wait, err = RegisterCollector(reg, m.wait); err != nil {
		return nil, err
	}
	return m, nil
}

// RegisterCollector registers c with reg, or returns the collector already
// registered there under the same description, so that several instances
// of a component (one per corp, or a restarted worker) share one metric.
func RegisterCollector[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *Metrics) call(api string, err error) {
	if m == nil {
		return
	}
	label := "0"
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &e) && e.Code != 0:
		label = strconv.Itoa(e.Code)
	case errors.As(err, &e) && e.HTTPStatus != 0:
		label = "http_" + strconv.Itoa(e.HTTPStatus)
	case errors.Is(err, ErrDecode):
		label = "decode"
	default:
		label = "network"
	}
	m.calls.WithLabelValues(api, label).Inc()
}

func (m *Metrics) waited(d time.Duration) {
	if m == nil {
		return
	}
	m.wait.Observe(d.Seconds())
}
