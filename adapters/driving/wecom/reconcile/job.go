package reconcile

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Lock takes the corp's reconcile lock (a PostgreSQL session advisory
// lock) if no one holds it: ok is false when another reconcile of the corp
// is under way (a terminal's and serve's periodic job). release frees it.
func Lock(ctx context.Context, pool *pgxpool.Pool, corpID string) (release func(), ok bool, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("reconcile: lock: %w", err)
	}
	key := lockKey(corpID)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("reconcile: lock: %w", err)
	}
	if !ok {
		conn.Release()
		return func() {}, false, nil
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
		conn.Release()
	}, true, nil
}

func lockKey(corpID string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("custody/wecom-reconcile/" + corpID))
	return int64(h.Sum64())
}

// Job reconciles every corp connected with an app secret periodically.
type Job struct {
	Reconciler *Reconciler
	Pool       *pgxpool.Pool
	// Corps lists the corps to reconcile (connected with an app secret).
	Corps func(ctx context.Context) ([]string, error)
	// CatchUp, when set, brings the View up to the log before each corp.
	CatchUp func(ctx context.Context) error
	// Every is the period; the first run is one period after start.
	Every time.Duration
	// Turn, when set, shares the runs among instances (connection.Store's
	// Turns): a corp is reconciled only on this instance's turn, and a
	// failed run gives the turn back. Nil reconciles every corp at every
	// tick (one instance).
	Turn   func(ctx context.Context, corpID string, now time.Time) (ok bool, giveBack func(), err error)
	Logger *slog.Logger
}

// Run reconciles every Every until ctx is done. A failed corp is logged
// and tried again at the next tick; a corp another process is reconciling
// (or, with Turn, has reconciled this period) is skipped.
func (j Job) Run(ctx context.Context) error {
	if j.Logger == nil {
		j.Logger = slog.Default()
	}
	t := time.NewTicker(j.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		j.Once(ctx)
	}
}

// Once reconciles each corp once and returns the reports of those it did.
func (j Job) Once(ctx context.Context) []Report {
	corps, err := j.Corps(ctx)
	if err != nil {
		j.Logger.Warn("wecom reconcile: listing corps failed", "err", err)
		return nil
	}
	var out []Report
	for _, corp := range corps {
		rep, err := j.one(ctx, corp)
		switch {
		case err != nil && ctx.Err() == nil:
			j.Logger.Warn("wecom reconcile failed; retrying at the next tick", "corp", corp, "err", err)
		case err == nil && rep != nil:
			out = append(out, *rep)
		}
	}
	return out
}

func (j Job) one(ctx context.Context, corp string) (_ *Report, err error) {
	if j.Turn != nil {
		ok, giveBack, err := j.Turn(ctx, corp, time.Now())
		if err != nil || !ok {
			return nil, err
		}
		defer func() {
			if err != nil {
				giveBack()
			}
		}()
	}
	release, ok, err := Lock(ctx, j.Pool, corp)
	if err != nil || !ok {
		return nil, err
	}
	defer release()
	if j.CatchUp != nil {
		if err := j.CatchUp(ctx); err != nil {
			return nil, err
		}
	}
	rep, err := j.Reconciler.Corp(ctx, corp)
	return &rep, err
}
