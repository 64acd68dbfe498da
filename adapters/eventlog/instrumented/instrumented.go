// Package instrumented decorates any event log (eventlog.EventLog) with
// Prometheus metrics: append latency by result and optimistic-concurrency
// conflicts. `custody serve` wraps whichever log CUSTODY_EVENT_LOG names.
package instrumented

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Log wraps an EventLog and records append latency and
// optimistic-concurrency conflicts (each conflict makes a command retry).
// It changes no behaviour of the log it wraps.
type Log struct {
	eventlog.EventLog
	appendDuration *prometheus.HistogramVec
	conflicts      prometheus.Counter
}

// New wraps log, registering its metrics on reg:
// custody_eventlog_append_duration_seconds{result} and
// custody_eventlog_append_conflicts_total.
func New(log eventlog.EventLog, reg prometheus.Registerer) (*Log, error) {
	l := &Log{
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
			return nil, fmt.Errorf("instrumented: register metrics: %w", err)
		}
	}
	return l, nil
}

// Append records the latency and outcome of the wrapped Append.
func (l *Log) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (eventlog.AppendResult, error) {
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
