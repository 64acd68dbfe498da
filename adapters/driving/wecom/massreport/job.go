package massreport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/custody/custody/commands"
)

// Job polls the mass-message results of every connected corp
// periodically.
type Job struct {
	Commands *commands.Handler
	// Clients gives a custody corp's API client (api.Clients.Client).
	Clients func(ctx context.Context, corpID string) (WeCom, error)
	// Corps lists the corps to poll (connected with an app secret).
	Corps func(ctx context.Context) ([]string, error)
	// Every is the period (default 1h); Lookback how far back each poll
	// asks for messages created (default 7 days: a member may confirm a
	// task days after it was created, and each poll records only what is
	// new).
	Every, Lookback time.Duration
	// Turn, when set, shares the polls among instances (connection.Store's
	// Turns): a corp is polled only on this instance's turn, and a failed
	// poll gives the turn back. Nil polls every corp at every tick.
	Turn   func(ctx context.Context, corpID string, now time.Time) (ok bool, giveBack func(), err error)
	Now    func() time.Time
	Logger *slog.Logger
}

func (j *Job) setDefaults() {
	if j.Every <= 0 {
		j.Every = time.Hour
	}
	if j.Lookback <= 0 {
		j.Lookback = 7 * 24 * time.Hour
	}
	if j.Now == nil {
		j.Now = time.Now
	}
	if j.Logger == nil {
		j.Logger = slog.Default()
	}
}

// Once polls every corp once (each corp whose turn it has, with Turn); a
// corp that fails is logged and its error returned joined with the others
// after the rest are done.
func (j Job) Once(ctx context.Context) error {
	j.setDefaults()
	corps, err := j.Corps(ctx)
	if err != nil {
		return fmt.Errorf("massreport: corps: %w", err)
	}
	var errs []error
	for _, corp := range corps {
		now := j.Now()
		giveBack := func() {}
		if j.Turn != nil {
			ok, back, err := j.Turn(ctx, corp, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("massreport: corp %s: %w", corp, err))
				continue
			}
			if !ok {
				continue // another instance polled it this period
			}
			giveBack = back
		}
		c, err := j.Clients(ctx, corp)
		if err != nil {
			giveBack()
			errs = append(errs, fmt.Errorf("massreport: corp %s: %w", corp, err))
			continue
		}
		rep, err := Reporter{WeCom: c, Commands: j.Commands, CorpID: corp, Now: j.Now, Logger: j.Logger}.Report(ctx,
			now.Add(-j.Lookback), now)
		if err != nil {
			giveBack()
			j.Logger.Warn("wecom mass-message report failed", "corp", corp, "err", err)
			errs = append(errs, fmt.Errorf("massreport: corp %s: %w", corp, err))
		}
		j.Logger.Info("wecom mass-message report", "corp", corp, "messages", rep.Messages, "batches", rep.Batches,
			"new", rep.New, "flagged", rep.Flagged)
	}
	return errors.Join(errs...)
}

// Run polls every Every until ctx is done; failures are logged and tried
// again at the next tick.
func (j Job) Run(ctx context.Context) error {
	j.setDefaults()
	t := time.NewTicker(j.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = j.Once(ctx)
		}
	}
}
