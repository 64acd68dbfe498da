package relay

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus collectors, labelled by route.
type metrics struct {
	published *prometheus.CounterVec
	retries   *prometheus.CounterVec
	lag       *prometheus.GaugeVec
	owned     *prometheus.GaugeVec
	takeovers *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_relay_published_total",
			Help: "Events the broker acknowledged, per route (re-publishes after a restart count again).",
		}, []string{"route"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_relay_retries_total",
			Help: "Failed publish attempts that were retried, per route.",
		}, []string{"route"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "custody_relay_lag_seconds",
			Help: "Age of the oldest event not yet published by the route (0 when caught up).",
		}, []string{"route"}),
		owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "custody_relay_route_owned",
			Help: "1 while this instance owns the route (holds its lock and lease and publishes), else 0.",
		}, []string{"route"}),
		takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custody_relay_route_takeovers_total",
			Help: "Times this instance took the route over.",
		}, []string{"route"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.published, err = register(reg, m.published)
	if err != nil {
		return nil, err
	}
	m.retries, err = register(reg, m.retries)
	if err != nil {
		return nil, err
	}
	m.lag, err = register(reg, m.lag)
	if err != nil {
		return nil, err
	}
	m.owned, err = register(reg, m.owned)
	if err != nil {
		return nil, err
	}
	m.takeovers, err = register(reg, m.takeovers)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the equal collector already registered
// (several relays may share one registry, with different routes).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
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
