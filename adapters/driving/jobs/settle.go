// Package jobs holds custody's periodic background jobs that orchestrate
// commands from the read models: Settle, the 24-hour handover rule.
// `custody serve` runs them.
package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/projections"
)

// duePage bounds the query that finds the corps with due handovers.
const duePage = 1000

// Settle completes due handovers of every corp periodically: the job
// behind WeCom's 24-hour rule. It finds the corps with due handovers in the
// projections, then lets the command handler settle each corp.
type Settle struct {
	Commands *commands.Handler
	Pool     *pgxpool.Pool
	// Every is the period; default one minute.
	Every  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Run settles once at start and then every period until ctx is done.
// Failures are logged and retried at the next tick.
func (j Settle) Run(ctx context.Context) error {
	if j.Every <= 0 {
		j.Every = time.Minute
	}
	if j.Now == nil {
		j.Now = time.Now
	}
	if j.Logger == nil {
		j.Logger = slog.Default()
	}
	t := time.NewTicker(j.Every)
	defer t.Stop()
	for {
		if _, err := j.Once(ctx); err != nil && ctx.Err() == nil {
			j.Logger.Error("settle job failed; retrying at the next tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Once settles every corp's due handovers as of now and returns how many
// outcomes were recorded.
func (j Settle) Once(ctx context.Context) (int, error) {
	now, logger := time.Now, slog.Default()
	if j.Now != nil {
		now = j.Now
	}
	if j.Logger != nil {
		logger = j.Logger
	}
	asOf := now().UTC()
	due, err := projections.NewReader(j.Pool).DueHandovers(ctx, "", asOf, duePage)
	if err != nil {
		return 0, err
	}
	corps := map[string]bool{}
	for _, h := range due {
		corps[h.CorpID] = true
	}
	n := 0
	for corp := range corps {
		rep, err := j.Commands.SettleDue(ctx, corp, asOf)
		if err != nil {
			return n, err
		}
		// Only what this round recorded: another instance's settle job may
		// have recorded the same outcomes first (Replayed).
		completed, failed := rep.CountNew("completed"), rep.CountNew("failed")
		n += completed + failed
		if completed+failed > 0 {
			logger.Info("settled due handovers", "corp", corp, "completed", completed, "failed", failed)
		}
	}
	return n, nil
}
