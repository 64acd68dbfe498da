package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/custody/custody/adapters/driving/wecom/inbox"
)

// RunOptions configure Run.
type RunOptions struct {
	// Interval between drains when the inbox was empty; default 1 s.
	Interval time.Duration
	// MaxBackoff bounds the wait after a failed drain; default 30 s.
	MaxBackoff time.Duration
	// Batch is how many callbacks one drain takes; default 500.
	Batch int
	// Logger defaults to slog.Default(). Nothing personal is logged.
	Logger *slog.Logger
}

func (o *RunOptions) setDefaults() {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Run translates the inbox's callbacks until ctx is done: a full batch is
// followed at once by the next, an empty inbox is polled every Interval,
// and a failed drain (the log or the database down) is retried with
// exponential backoff up to MaxBackoff — the failed callback stays first
// in line, so nothing overtakes it. Several instances may run it; one
// drains at a time.
func Run(ctx context.Context, ib *inbox.Inbox, t *Translator, o RunOptions) error {
	o.setDefaults()
	wait := time.Duration(0)
	b := &backoff.ExponentialBackOff{InitialInterval: o.Interval, Multiplier: 2, MaxInterval: o.MaxBackoff}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		d, err := ib.Drain(ctx, o.Batch, t.Translate)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			wait = b.NextBackOff()
			o.Logger.Warn("wecom ingest: drain failed; retrying", "err", err, "in", wait)
			continue
		}
		b.Reset()
		if n := d.Done + d.Unknown + d.Rejected; n > 0 {
			o.Logger.Info("wecom ingest: callbacks translated", "done", d.Done, "unknown", d.Unknown, "rejected", d.Rejected)
		}
		if d.Done+d.Unknown+d.Rejected >= o.Batch {
			wait = 0
		} else {
			wait = o.Interval
		}
	}
}
