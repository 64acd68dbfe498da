package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/massreport"
	"github.com/custody/custody/adapters/driving/wecom/outbound"
	"github.com/custody/custody/adapters/driving/wecom/reconcile"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
)

// wecomSettings wraps base: corps connected with an app secret have their
// handovers carried out in WeCom (corp.Settings.HandoversInWeCom), so the
// settle job leaves them to WeCom's transfer result. conns is set once the
// connection store exists (before any worker starts).
type wecomSettings struct {
	src   *outbound.Settings
	conns *connection.Store
}

// Settings implements commands.SettingsSource.
func (s *wecomSettings) Settings(ctx context.Context, corpID string) (corp.Settings, error) {
	return s.src.Settings(ctx, corpID)
}

func newWeComSettings(base commands.SettingsSource) *wecomSettings {
	s := &wecomSettings{}
	s.src = &outbound.Settings{Base: base, InWeCom: func(ctx context.Context, corp string) (bool, error) {
		if s.conns == nil {
			return false, nil
		}
		c, err := s.conns.Get(ctx, corp)
		if err != nil {
			return false, nil // not connected
		}
		return c.Secret != "", nil
	}}
	return s
}

// wecomWorkers are the workers of WeCom's API side: detail fetches after
// callbacks, handovers carried out in WeCom, the mass messages WeCom
// reports as sent (CUSTODY_WECOM_MASS_REPORT_EVERY, default 1h), the
// periodic reconcile (CUSTODY_WECOM_RECONCILE_EVERY, default 24h); 0
// turns either off. The two periodic jobs take turns per corp across
// instances (connection.Store.Turns), so WeCom is asked once per period
// however many instances run.
func wecomWorkers(pool *pgxpool.Pool, evlog eventlog.EventLog, cmds *commands.Handler, runner *projections.Runner,
	conns *connection.Store, ib *inbox.Inbox, clients *api.Clients, reg prometheus.Registerer, logger *slog.Logger,
) (map[string]func(context.Context) error, error) {
	corps := func(ctx context.Context) ([]string, error) {
		list, err := conns.List(ctx)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, s := range list {
			if s.HasSecret {
				out = append(out, s.CorpID)
			}
		}
		return out, nil
	}
	catchUp := func(ctx context.Context) error { _, err := runner.CatchUp(ctx); return err }
	recMetrics, err := reconcile.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	outMetrics, err := outbound.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	rec, err := reconcile.New(reconcile.Options{
		Commands: cmds, View: reconcile.Projected{Pool: pool, Log: evlog}, Metrics: recMetrics,
		Clients: func(ctx context.Context, c string) (reconcile.WeCom, error) { return clients.Client(ctx, c) },
		Logger:  logger.With("component", "wecom reconcile"),
	})
	if err != nil {
		return nil, err
	}
	w := map[string]func(context.Context) error{
		"wecom refresh": reconcile.RefreshWorker{Reconciler: rec, Marks: ib, Corps: corps, CatchUp: catchUp,
			Logger: logger.With("component", "wecom refresh")}.Run,
		"wecom handovers": outbound.Worker{Commands: cmds, Pool: pool, Corps: corps, Metrics: outMetrics,
			Clients: func(ctx context.Context, c string) (outbound.WeCom, error) { return clients.Client(ctx, c) },
			Logger:  logger.With("component", "wecom handovers")}.Run,
	}
	if every := envDurationOf("CUSTODY_WECOM_MASS_REPORT_EVERY"); every > 0 {
		w["wecom mass messages"] = massreport.Job{Commands: cmds, Corps: corps, Every: every,
			Turn:    conns.Turns("mass report", every),
			Clients: func(ctx context.Context, c string) (massreport.WeCom, error) { return clients.Client(ctx, c) },
			Logger:  logger.With("component", "wecom mass messages")}.Run
	}
	if every := envDurationOf("CUSTODY_WECOM_RECONCILE_EVERY"); every > 0 {
		w["wecom reconcile"] = reconcile.Job{Reconciler: rec, Pool: pool, Corps: corps, CatchUp: catchUp, Every: every,
			Turn:   conns.Turns("reconcile", every),
			Logger: logger.With("component", "wecom reconcile")}.Run
	}
	return w, nil
}
