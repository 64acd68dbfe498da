package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/tools/logcopy"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// runLog implements `custody log copy …`.
func runLog(ctx context.Context, args []string) error {
	switch {
	case len(args) > 0 && args[0] == "copy":
		return logCopy(ctx, args[1:], os.Stderr)
	case len(args) > 0 && args[0] == "rebind":
		return logRebind(ctx, args[1:], os.Stdout, os.Stderr)
	}
	fmt.Fprint(os.Stderr, "usage: custody log copy --to URL [--from URL] [flags]\n       custody log rebind -relay-from start|head\n\nRun 'custody log copy -h' or 'custody log rebind -h' for the flags.\n")
	return errUsage
}

func logCopy(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("log copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "destination event log (required): kurrentdb://HOST:PORT?tls=false, esdb://…, postgres://…, or \"postgres\" for the configured database")
	from := fs.String("from", "", "source event log, same forms (default: CUSTODY_EVENT_LOG, the log custody runs on)")
	checkpoint := fs.String("checkpoint", "", "checkpoint file (default ./.data/logcopy-<source+destination hash>.json)")
	restart := fs.Bool("restart", false, "forget the checkpoint and copy from the start (already copied events are recognised and skipped)")
	batch := fs.Int("batch", 500, "most events per append")
	progress := fs.Bool("progress", true, "show a progress bar when standard error is a terminal (counts the source first)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: custody log copy --to URL [--from URL] [flags]

Copies every event of one event log into another, preserving stream names,
stream versions, event ids, envelopes and the global order: this is how a
deployment moves from the embedded PostgreSQL log to a KurrentDB cluster
(or back). The copy saves a checkpoint after every append; run the same
command again after an interruption to continue, or later to copy only
what was appended since. Positions are not copied: after switching
CUSTODY_EVENT_LOG, custody serve refuses to start until 'custody log rebind'
rebuilt the projections and moved the relay to the new log. See
docs/kurrentdb.md.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	src := *from
	if src == "" {
		src = os.Getenv("CUSTODY_EVENT_LOG")
	}
	srcName, dstName := logName(src), logName(*to)
	if srcName == dstName {
		return fmt.Errorf("%w: source and destination are the same log (%s)", errUsage, srcName)
	}
	if *checkpoint == "" {
		sum := sha256.Sum256([]byte(srcName + "\x00" + dstName))
		*checkpoint = filepath.Join(".data", "logcopy-"+hex.EncodeToString(sum[:6])+".json")
	}
	cp := &logcopy.FileCheckpoint{Path: *checkpoint, Source: srcName, Destination: dstName}
	if *restart {
		if err := cp.Remove(); err != nil {
			return fmt.Errorf("remove checkpoint: %w", err)
		}
	}

	logger := slog.Default()
	pool, closePool, err := openPostgres(ctx, logger)
	if err != nil {
		return err
	}
	defer closePool()
	keyring, err := openKeyring(ctx, pool, logger)
	if err != nil {
		return err
	}
	srcLog, _, closeSrc, err := openLogAt(ctx, src, pool, keyring, logger)
	if err != nil {
		return fmt.Errorf("source %s: %w", srcName, err)
	}
	defer closeSrc()
	dstLog, dstEraser, closeDst, err := openLogAt(ctx, *to, pool, keyring, logger)
	if err != nil {
		return fmt.Errorf("destination %s: %w", dstName, err)
	}
	defer closeDst()

	opts := logcopy.Options{Checkpoint: cp, Eraser: dstEraser, BatchEvents: *batch, Logger: logger}
	if *progress && isTTY(os.Stderr) {
		after, err := cp.Load(ctx)
		if err != nil {
			return err
		}
		total, err := countAfter(ctx, srcLog, after)
		if err != nil {
			return fmt.Errorf("count source events: %w", err)
		}
		bar := eventsBar("copying", total)
		defer bar.Finish()
		opts.Progress = func(p logcopy.Progress) { _ = bar.Set64(p.Copied) }
	}

	logger.Info("log copy starting", "from", srcName, "to", dstName, "checkpoint", *checkpoint)
	start := time.Now()
	res, err := logcopy.Copy(ctx, srcLog, dstLog, opts)
	secs := time.Since(start).Seconds()
	attrs := []any{"events", res.Events, "appends", res.Appends, "reconciled", res.Reconciled,
		"until", res.Position.String(), "seconds", fmt.Sprintf("%.1f", secs),
		"events_per_second", int64(float64(res.Events) / max(secs, 1e-9))}
	if errors.Is(err, context.Canceled) {
		logger.Warn("log copy interrupted; run the same command again to continue from the checkpoint", attrs...)
		return err
	}
	if err != nil {
		return err
	}
	logger.Info("log copy finished", attrs...)
	return nil
}

// openLogAt opens the event log target names, as CUSTODY_EVENT_LOG would
// (empty or "postgres": the log in pool's database; postgres://…: a log in
// another database; other schemes: eventLogOpeners), sharing keyring.
func openLogAt(ctx context.Context, target string, pool *pgxpool.Pool, keyring *pii.Keyring, logger *slog.Logger) (eventlog.EventLog, eventlog.Eraser, func(), error) {
	if target == "" || target == "postgres" {
		s, err := openPGStore(ctx, pool, keyring, logger)
		if err != nil {
			return nil, nil, nil, err
		}
		return s, s, func() {}, nil
	}
	scheme, _, ok := strings.Cut(target, "://")
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: event log %q: want \"postgres\" or a URL (%s)", errUsage, redactURL(target), knownSchemes())
	}
	if scheme == "postgres" || scheme == "postgresql" {
		other, err := newPool(ctx, target)
		if err != nil {
			return nil, nil, nil, err
		}
		s, err := openPGStore(ctx, other, keyring, logger)
		if err != nil {
			other.Close()
			return nil, nil, nil, err
		}
		return s, s, other.Close, nil
	}
	open, ok := eventLogOpeners[scheme]
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: unknown event log scheme %q (%s)", errUsage, scheme, knownSchemes())
	}
	return open(ctx, target, pool, keyring, logger)
}

// logName identifies a log in messages and checkpoints, without passwords.
func logName(target string) string {
	if target == "" || target == "postgres" {
		return "postgres"
	}
	if u, err := url.Parse(target); err == nil {
		return u.Redacted()
	}
	// Cluster URLs (host1:port,host2:port) are no valid net/url URLs.
	scheme, rest, _ := strings.Cut(target, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "xxxxx@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// countAfter counts the source events after pos, for the progress bar.
func countAfter(ctx context.Context, log eventlog.EventLog, pos events.Position) (int64, error) {
	var n int64
	for {
		page, err := log.ReadAll(ctx, pos, 5000)
		if err != nil {
			return 0, err
		}
		if len(page) == 0 {
			return n, nil
		}
		n += int64(len(page))
		pos = page[len(page)-1].Position
	}
}

// isTTY reports whether f is a terminal.
func isTTY(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
