package outbound

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/adapters/driving/wecom/api"
)

// Metrics counts transfer_result polls and the handovers outstanding in
// WeCom. A nil *Metrics records nothing.
type Metrics struct {
	outstanding prometheus.Gauge
	polls       *prometheus.CounterVec
}

// NewMetrics registers custody_wecom_transfers_outstanding and
// custody_wecom_transfer_polls_total{result} with reg (reusing them when
// already registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		outstanding: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "custody_wecom_transfers_outstanding",
			Help: "Handovers custody asked WeCom to carry out whose outcome is not known yet (transfer polls outstanding).",
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_wecom_transfer_polls_total",
			Help: "transfer_result polls, by result (ok, failed).",
		}, []string{"result"}),
	}
	var err error
	if m.outstanding, err = api.RegisterCollector(reg, m.outstanding); err != nil {
		return nil, err
	}
	if m.polls, err = api.RegisterCollector(reg, m.polls); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) polled(err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.polls.WithLabelValues(result).Inc()
}
