package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
)

const projectionsUsage = `usage: custody projections status [-scan N]
       custody projections rebuild [-batch N] [-fresh] NAME...|all
       custody projections unpark [-batch N] NAME CORP

status   prints each projection's checkpoint, the log's head and the lag
         (events and recorded time behind the head), and the parked corps:
         a corp is parked in a projection when one of its events cannot be
         applied because of its data; the projection then skips that corp's
         later events and keeps applying every other corp's. OWNER is the
         'custody serve' instance applying the projection (instances divide
         them; "(released)" or "(gone)" until another takes it over) and
         OWNER SINCE when it took it over; for a projection applied in
         partitions (CUSTODY_PROJECTION_PARTITIONS) the instances applying
         them with their share, e.g. host-a(3/6),host-b(3/6), POSITION and
         APPLIED where its slowest partition stands.
rebuild  rebuilds the named projections (or all) from the start of the log
         into fresh tables while the live ones keep serving, then swaps them
         in one transaction. An interrupted rebuild resumes where it stopped
         (-fresh starts over). Safe while 'custody serve' is running. The
         rebuild un-parks every corp of the projection whose events now
         apply, and parks again those whose events still fail.
unpark   un-parks CORP in projection NAME: the corp's skipped events must be
         applied, so this rebuilds NAME (every parked corp of it is
         rechecked) and fails when CORP is still parked afterwards (its
         event still fails: fix the cause, e.g. upgrade custody, first).

projections: %s
`

// runProjections implements `custody projections`.
func runProjections(ctx context.Context, args []string) error {
	usage := func(w io.Writer) {
		var ns []string
		for _, p := range projections.All() {
			ns = append(ns, p.Name())
		}
		fmt.Fprintf(w, projectionsUsage, fmt.Sprint(ns))
	}
	if len(args) == 0 {
		usage(os.Stderr)
		return errUsage
	}
	switch args[0] {
	case "status":
		return runProjectionsStatus(ctx, args[1:], os.Stdout, usage)
	case "rebuild":
		return runProjectionsRebuild(ctx, args[1:], usage)
	case "unpark":
		return runProjectionsUnpark(ctx, args[1:], os.Stdout, usage)
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return nil
	}
	usage(os.Stderr)
	return errUsage
}

func runProjectionsStatus(ctx context.Context, args []string, stdout io.Writer, usage func(io.Writer)) error {
	fs := flag.NewFlagSet("projections status", flag.ContinueOnError)
	fs.Usage = func() { usage(fs.Output()) }
	scan := fs.Int("scan", 100_000, "count at most this many events behind per projection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	logger := slog.Default()
	pool, log, closeAll, err := openPostgresAndLog(ctx, logger)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := projections.Migrate(ctx, pool); err != nil {
		return err
	}
	return printProjectionsStatus(ctx, pool, log, *scan, stdout)
}

// printProjectionsStatus prints every projection's position, lag, schema
// and parked corps.
func printProjectionsStatus(ctx context.Context, pool *pgxpool.Pool, log eventlog.EventLog, scan int, stdout io.Writer) error {
	lags, err := projections.Status(ctx, pool, log, projections.All(), projections.StatusOptions{ScanLimit: scan})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTION\tPOSITION\tHEAD\tEVENTS BEHIND\tTIME BEHIND\tAPPLIED\tSCHEMA\tLAST EVENT RECORDED\tPARKED CORPS\tOWNER\tOWNER SINCE")
	var parked []projections.Parked
	for _, l := range lags {
		behind := fmt.Sprint(l.EventsBehind)
		if l.Capped {
			behind += "+"
		}
		last := "-"
		if !l.LastRecordedAt.IsZero() {
			last = l.LastRecordedAt.UTC().Format(time.RFC3339)
		}
		schema := fmt.Sprintf("v%d", l.SchemaVersion)
		if l.PendingMigrations > 0 {
			schema += fmt.Sprintf(" (+%d pending)", l.PendingMigrations)
		}
		owner, since := ownerColumns(l.Owner)
		if l.Partitions > 1 {
			owner, since = partitionOwnerColumns(l)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", l.Name, l.Position, l.Head, behind,
			l.Behind.Round(time.Millisecond), l.EventsApplied, schema, last, len(l.Parked), owner, since)
		parked = append(parked, l.Parked...)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return printParked(stdout, parked)
}

// ownerColumns are the OWNER and OWNER SINCE of a projection: the
// instance applying it (custody serve instances divide the projections)
// and since when; "(released)" or "(gone)" after an instance that gave it
// up or stopped heartbeating and was not replaced yet; "-" when no
// instance ever took it over.
func ownerColumns(o *projections.Owner) (string, string) {
	if o == nil {
		return "-", "-"
	}
	owner := o.Instance
	switch {
	case o.Released:
		owner += " (released)"
	case !o.Alive:
		owner += " (gone)"
	}
	return owner, o.Since.UTC().Format(time.RFC3339)
}

// partitionOwnerColumns are the OWNER and OWNER SINCE of a projection
// applied in partitions (CUSTODY_PROJECTION_PARTITIONS): the instances
// applying them, each with its number of the partitions
// ("host-a(3/6),host-b(3/6)"; "(released)" or "(gone)" as in
// ownerColumns), and when the latest of them took one over.
func partitionOwnerColumns(l projections.Lag) (string, string) {
	if len(l.PartitionOwners) == 0 {
		return "-", "-"
	}
	var order []string
	count := map[string]int{}
	var latest time.Time
	for _, o := range l.PartitionOwners {
		name, _ := ownerColumns(&o)
		name = strings.ReplaceAll(name, " ", "")
		if count[name] == 0 {
			order = append(order, name)
		}
		count[name]++
		if o.Since.After(latest) {
			latest = o.Since
		}
	}
	parts := make([]string, len(order))
	for i, n := range order {
		parts[i] = fmt.Sprintf("%s(%d/%d)", n, count[n], l.Partitions)
	}
	return strings.Join(parts, ","), latest.UTC().Format(time.RFC3339)
}

// printParked lists parked corps, if any, after the status table.
func printParked(w io.Writer, parked []projections.Parked) error {
	if len(parked) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nParked corps: their events are skipped by the projection; 'custody projections rebuild NAME' un-parks those whose events now apply.")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECTION\tCORP\tPOSITION\tEVENT ID\tEVENT TYPE\tSTREAM\tPARKED AT\tREASON")
	for _, p := range parked {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Projection, p.CorpID, p.Position, p.EventID, p.EventType,
			p.Stream, p.ParkedAt.UTC().Format(time.RFC3339), p.Reason)
	}
	return tw.Flush()
}

func runProjectionsRebuild(ctx context.Context, args []string, usage func(io.Writer)) error {
	fs := flag.NewFlagSet("projections rebuild", flag.ContinueOnError)
	fs.Usage = func() { usage(fs.Output()) }
	batch := fs.Int("batch", 5000, "events per shadow transaction")
	fresh := fs.Bool("fresh", false, "discard an interrupted rebuild instead of resuming it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	ps, err := projections.Lookup(projections.All(), fs.Args()...)
	if err != nil {
		return fmt.Errorf("%w (%v)", err, errUsage)
	}
	logger := slog.Default()
	pool, log, closeAll, err := openPostgresAndLog(ctx, logger)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := projections.Migrate(ctx, pool); err != nil {
		return err
	}
	return rebuildProjections(ctx, pool, log, ps, projections.RebuildOptions{BatchSize: *batch, Fresh: *fresh, Logger: logger})
}

// rebuildProjections rebuilds ps with a progress display. The rebuild is
// this process's work: unless GOGC says otherwise, the collector's target
// is raised for it (projections.DefaultRebuildGCPercent).
func rebuildProjections(ctx context.Context, pool *pgxpool.Pool, log projections.Source, ps []projections.Projection, opts projections.RebuildOptions) error {
	if os.Getenv("GOGC") == "" {
		opts.GCPercent = projections.DefaultRebuildGCPercent
	}
	logger := opts.Logger
	// The live checkpoints count the events consumed so far: a good guess
	// of the log's length for the progress bar.
	var total int64
	if lags, err := projections.Status(ctx, pool, log, ps, projections.StatusOptions{ScanLimit: 1}); err == nil {
		for _, l := range lags {
			total = max(total, l.EventsApplied)
		}
	}
	progress, finish := rebuildProgress(logger, total)
	opts.Progress = progress
	res, err := projections.Rebuild(ctx, pool, log, ps, opts)
	finish()
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	rate := float64(res.Applied) / max(res.Duration.Seconds(), 1e-9)
	logger.Info("projections rebuilt and swapped in", "projections", res.Names, "position", res.Position.String(),
		"events", res.Applied, "resumed", res.Resumed, "took", res.Duration.Round(time.Millisecond), "events_per_second", int64(rate))
	return nil
}

// errStillParked is returned by unpark when the corp's event still fails.
var errStillParked = errors.New("still parked: its event still cannot be applied")

func runProjectionsUnpark(ctx context.Context, args []string, stdout io.Writer, usage func(io.Writer)) error {
	fs := flag.NewFlagSet("projections unpark", flag.ContinueOnError)
	fs.Usage = func() { usage(fs.Output()) }
	batch := fs.Int("batch", 5000, "events per shadow transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) == "all" {
		fs.Usage()
		return errUsage
	}
	ps, err := projections.Lookup(projections.All(), fs.Arg(0))
	if err != nil {
		return fmt.Errorf("%w (%v)", err, errUsage)
	}
	name, corp := fs.Arg(0), fs.Arg(1)
	logger := slog.Default()
	pool, log, closeAll, err := openPostgresAndLog(ctx, logger)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := projections.Migrate(ctx, pool); err != nil {
		return err
	}
	parkedIn := func() (*projections.Parked, error) {
		parked, err := projections.ParkedCorps(ctx, pool, name)
		if err != nil {
			return nil, err
		}
		for _, p := range parked {
			if p.CorpID == corp {
				return &p, nil
			}
		}
		return nil, nil
	}
	p, err := parkedIn()
	if err != nil {
		return err
	}
	if p == nil {
		fmt.Fprintf(stdout, "corp %s is not parked in %s\n", corp, name)
		return nil
	}
	if err := rebuildProjections(ctx, pool, log, ps, projections.RebuildOptions{BatchSize: *batch, Logger: logger}); err != nil {
		return err
	}
	if p, err = parkedIn(); err != nil {
		return err
	}
	if p != nil {
		printParked(stdout, []projections.Parked{*p})
		return fmt.Errorf("corp %s in %s: %w", corp, name, errStillParked)
	}
	fmt.Fprintf(stdout, "corp %s un-parked in %s\n", corp, name)
	return nil
}

// rebuildProgress shows a progress bar on a terminal and plain log lines
// (every 5 seconds) otherwise.
func rebuildProgress(logger *slog.Logger, total int64) (func(int64, events.Position), func()) {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		max := total
		if max == 0 {
			max = -1
		}
		bar := eventsBar("rebuilding", max, progressbar.OptionFullWidth())
		return func(n int64, _ events.Position) {
				if total > 0 && n > total {
					bar.ChangeMax64(n)
				}
				bar.Set64(n)
			}, func() {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
	}
	last := time.Now()
	return func(n int64, at events.Position) {
		if time.Since(last) < 5*time.Second {
			return
		}
		last = time.Now()
		if total > 0 {
			logger.Info("rebuilding", "events", n, "of_about", total, "position", at.String())
		} else {
			logger.Info("rebuilding", "events", n, "position", at.String())
		}
	}, func() {}
}
