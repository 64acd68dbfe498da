package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/adapters/driving/wecom/api"
)

// Metrics records reconciles. A nil *Metrics records nothing.
type Metrics struct {
	duration    *prometheus.HistogramVec
	corrections *prometheus.CounterVec
}

// NewMetrics registers custody_wecom_reconcile_duration_seconds{result}
// and custody_wecom_reconcile_corrections_total{kind} with reg (reusing
// them when already registered). No label holds an id.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "custody_wecom_reconcile_duration_seconds",
			Help:    "Duration of reconciles of a corp with WeCom's API, by result (ok, failed).",
			Buckets: []float64{1, 5, 15, 60, 300, 900, 3600, 4 * 3600},
		}, []string{"result"}),
		corrections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_wecom_reconcile_corrections_total",
			Help: "Compensating facts recorded by reconciles with WeCom, by kind.",
		}, []string{"kind"}),
	}
	var err error
	if m.duration, err = api.RegisterCollector(reg, m.duration); err != nil {
		return nil, err
	}
	if m.corrections, err = api.RegisterCollector(reg, m.corrections); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) observe(rep Report, ok bool) {
	if m == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.duration.WithLabelValues(result).Observe(rep.Duration.Seconds())
	for kind, n := range rep.Corrections {
		m.corrections.WithLabelValues(kind).Add(float64(n))
	}
}
