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

	"github.com/custody/custody/adapters/tools/timeline"
	"github.com/custody/custody/projections"
)

func runTimeline(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, showTimeline(ctx, args, os.Stdout, os.Stderr))
}

func showTimeline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("custody timeline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	corp := fs.String("corp", "", "corp id (required)")
	from := fs.String("from", "", "only entries at or after this time (RFC 3339 or YYYY-MM-DD, UTC)")
	to := fs.String("to", "", "only entries before this time")
	groups := fs.String("groups", "projection", "how to find the customer's group chats: projection (group membership table), scan (read the whole log) or none")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: custody timeline --corp C [flags] CUSTOMER

Prints the customer's history, oldest first, from the event log: who added
the customer and through which channel, relations ended (churn or deleted by
staff), handovers with their outcomes, moments opt-outs, consents, group
chats joined and left, erasure. No personal data is shown.

flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *corp == "" {
		fs.Usage()
		return errUsage
	}
	opts := timeline.Options{}
	if opts.From, err = parseWhenFlag("from", *from); err != nil {
		return err
	}
	if opts.To, err = parseWhenFlag("to", *to); err != nil {
		return err
	}

	logger := slog.Default()
	pool, log, closeAll, err := openPostgresAndLog(ctx, logger)
	if err != nil {
		return err
	}
	defer closeAll()
	switch *groups {
	case "projection":
		opts.Groups = timeline.Membership{DB: pool, Schema: projections.LiveSchema}
		var projected bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass('projections.group_membership_history') IS NOT NULL`).Scan(&projected); err != nil {
			return err
		}
		if !projected {
			logger.Info("timeline: no group membership projection (custody migrate); scanning the log for group chats")
			opts.Groups = timeline.LogScan{Log: log}
		}
	case "scan":
		opts.Groups = timeline.LogScan{Log: log}
	case "none":
	default:
		return fmt.Errorf("%w: --groups %q: want projection, scan or none", errUsage, *groups)
	}
	tl, err := timeline.Build(ctx, log, *corp, pos[0], opts)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONIndented(stdout, tl)
	}
	fmt.Fprintf(stdout, "customer %s in %s", tl.CustomerID, tl.CorpID)
	if tl.Erased {
		fmt.Fprint(stdout, " (personal data erased)")
	}
	fmt.Fprintf(stdout, "; followers now: %v\n", tl.Followers)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, e := range tl.Entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.Kind, e.Summary, e.Actor)
	}
	return tw.Flush()
}
