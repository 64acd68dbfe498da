package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/custody/custody/adapters/driving/relay"
)

const statusUsage = `usage: custody status [--scan N]

Prints who does what in this deployment, read from the database (so any
instance, or none, can answer):

  projections  position, head, lag, schema, parked corps and owner (the
               instance applying it, since when) of each projection (as
               'custody projections status');
  relay routes each route's owner (the instance that took it over last,
               named by host:pid), since when, under which epoch, whether it
               still holds it or released it, its checkpoint and the log's
               head.
`

func runStatus(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, statusCommand(ctx, args, os.Stdout, os.Stderr))
}

func statusCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), statusUsage) }
	scan := fs.Int("scan", 100_000, "count at most this many events behind per projection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *scan <= 0 {
		fs.Usage()
		return errUsage
	}
	pool, log, closeAll, err := openPostgresAndLog(ctx, slog.Default())
	if err != nil {
		return err
	}
	defer closeAll()
	if err := migrateAll(ctx, pool); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Projections")
	if err := printProjectionsStatus(ctx, pool, log, *scan, stdout); err != nil {
		return err
	}
	routes, err := relay.Routes(ctx, pool)
	if err != nil {
		return err
	}
	head, err := log.Head(ctx)
	if err != nil {
		return fmt.Errorf("event log head: %w", err)
	}
	fmt.Fprintln(stdout, "\nRelay routes")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tOWNER\tSINCE\tEPOCH\tSTATE\tCHECKPOINT\tHEAD\tPUBLISHED\tLAST SAVE")
	for _, r := range routes {
		owner, since, state := "-", "-", "never taken over"
		if r.Instance != "" {
			owner, since, state = r.Instance, r.Since.UTC().Format(time.RFC3339), "owned"
			if r.Released {
				state = "released"
			}
		}
		saved := "-"
		if r.UpdatedAt.After(time.Unix(0, 0)) {
			saved = r.UpdatedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", r.Route, owner, since, r.Epoch, state, r.Checkpoint, head, r.Published, saved)
	}
	return tw.Flush()
}
