package erasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// KeyEraser destroys a subject's key; eventlog.Eraser.
type KeyEraser interface {
	Erase(ctx context.Context, subject string) error
}

// Scrubbing decorates a KeyEraser: once the key is destroyed, the
// subject's personal data is blanked in every custody schema at once
// (ScrubSubjects), instead of waiting for the next Job run. A failure is
// returned like a failure to destroy the key: the erasure command is run
// again (it is idempotent).
type Scrubbing struct {
	KeyEraser
	DB DB
}

// Erase implements KeyEraser.
func (s Scrubbing) Erase(ctx context.Context, subject string) error {
	if err := s.KeyEraser.Erase(ctx, subject); err != nil {
		return err
	}
	if _, err := ScrubSubjects(ctx, s.DB, []string{subject}); err != nil {
		return err
	}
	return nil
}

// Job keeps erasures complete in a running service: every Every it runs
// Scrub (catching copies written by builds that decoded personal data
// just before an erasure, parked corps, replays and shadows made by other
// processes), and when the oldest erasure not yet rewritten is
// RewriteAfter old it runs Rewrite. The promise an operator can make
// follows: personal data of an erased subject is blank in every custody
// schema within Every of the erasure, and gone from the tables' files
// within RewriteAfter + Every + the rewrite's duration.
type Job struct {
	Pool *pgxpool.Pool
	// Every is the period; default one minute.
	Every time.Duration
	// RewriteAfter batches erasures into one rewrite; default one hour.
	RewriteAfter time.Duration
	Logger       *slog.Logger
}

// Run runs the job until ctx ends. Failures are logged and retried at the
// next period.
func (j Job) Run(ctx context.Context) error {
	if j.Pool == nil {
		return errors.New("erasure: job without pool")
	}
	if j.Every <= 0 {
		j.Every = time.Minute
	}
	if j.RewriteAfter <= 0 {
		j.RewriteAfter = time.Hour
	}
	if j.Logger == nil {
		j.Logger = slog.Default()
	}
	t := time.NewTicker(j.Every)
	defer t.Stop()
	for {
		if err := j.runOnce(ctx, time.Now()); err != nil && ctx.Err() == nil {
			j.Logger.Warn("erasure job failed; retrying at the next period", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (j Job) runOnce(ctx context.Context, now time.Time) error {
	res, err := Scrub(ctx, j.Pool)
	if err != nil {
		return err
	}
	if n := res.Total(); n > 0 {
		// Counts and table names only: never subjects or values.
		j.Logger.Info("erasure: blanked personal data of erased subjects", "rows", n, "tables", len(res))
	}
	oldest, due, err := RewriteDue(ctx, j.Pool)
	if err != nil || !due || now.Sub(oldest) < j.RewriteAfter {
		return err
	}
	start := time.Now()
	tables, err := Rewrite(ctx, j.Pool)
	if err != nil {
		return fmt.Errorf("rewrite: %w", err)
	}
	j.Logger.Info("erasure: rewrote the tables holding personal data", "tables", len(tables), "took", time.Since(start).Round(time.Millisecond))
	return nil
}
