package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func prometheusGoCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}

// httpMetrics are the per-route request metrics.
type httpMetrics struct {
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "custody_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "code"}),
	}
	if err := reg.Register(m.duration); err != nil {
		return nil, fmt.Errorf("httpapi: register metrics: %w", err)
	}
	return m, nil
}

// observe records one request. route is the mux pattern ("POST
// /v1/corps/{corp}/staff"), so the label set stays bounded.
func (m *httpMetrics) observe(route string, code int, d time.Duration) {
	m.duration.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
}

// InstrumentedLog wraps an EventLog and records append latency and
// optimistic-concurrency conflicts (each conflict makes a command retry).
// It changes no behaviour of the log it wraps.
type InstrumentedLog struct {
	eventlog.EventLog
	appendDuration *prometheus.HistogramVec
	conflicts      prometheus.Counter
}

// InstrumentLog wraps log, registering its metrics on reg:
// custody_eventlog_append_duration_seconds{result} and
// custody_eventlog_append_conflicts_total.
func InstrumentLog(log eventlog.EventLog, reg prometheus.Registerer) (*InstrumentedLog, error) {
	l := &InstrumentedLog{
		EventLog: log,
		appendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "custody_eventlog_append_duration_seconds",
			Help:    "Event log append latency by result (ok, conflict, error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"result"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "custody_eventlog_append_conflicts_total",
			Help: "Appends refused for a wrong expected version; each makes the command retry.",
		}),
	}
	for _, c := range []prometheus.Collector{l.appendDuration, l.conflicts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register log metrics: %w", err)
		}
	}
	return l, nil
}

// Append records the latency and outcome of the wrapped Append.
func (l *InstrumentedLog) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
	start := time.Now()
	res, err := l.EventLog.Append(ctx, stream, expected, evs...)
	result := "ok"
	switch {
	case errors.Is(err, eventlog.ErrConflict):
		result = "conflict"
		l.conflicts.Inc()
	case err != nil:
		result = "error"
	}
	l.appendDuration.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return res, err
}
