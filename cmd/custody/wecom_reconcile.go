package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/reconcile"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/pending"
)

const wecomReconcileUsage = `usage: custody wecom reconcile --corp CORP [--api-url URL] [--rate N] [--workers N]

Makes custody's view of the corp equal to WeCom's: reads every relation
(batch/get_by_user, get_unassigned_list), customer group (groupchat/list,
groupchat/get) and tag (get_corp_tag_list) through WeCom's API with the
corp's app secret (custody wecom connect with CUSTODY_WECOM_SECRET), and
records every difference as a fact with actor wecom: relations WeCom has
and custody lacks start (at WeCom's add time), relations custody has and
WeCom does not end with reason reconciled, details, groups and tags are
corrected. A corp that already agrees records nothing. The first reconcile
of a corp with history in WeCom brings that history in.

Prints what was corrected (counts only). The projections are caught up
first; a reconcile already running for the corp (serve's periodic job)
makes this one stop.
`

// runWecomReconcile is "custody wecom reconcile".
func runWecomReconcile(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, wecomReconcileCmd(ctx, args, os.Stdout, os.Stderr))
}

func wecomReconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("custody wecom reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, wecomReconcileUsage); fs.PrintDefaults() }
	corp := fs.String("corp", "", "custody corp id (required)")
	apiURL := fs.String("api-url", env("CUSTODY_WECOM_API_URL"), "WeCom's API host (CUSTODY_WECOM_API_URL; a stand-in's URL for a demo)")
	rate := fs.Int("rate", 2400, "API calls per minute for this corp, all APIs together (WeCom allows 10,000 per minute, 150,000 per hour)")
	workers := fs.Int("workers", 4, "corrections recorded concurrently")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *corp == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: --corp is required", errUsage)
	}
	if *rate < 1 || *workers < 1 || *workers > 64 {
		return fmt.Errorf("%w: --rate must be at least 1, --workers 1..64", errUsage)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pool, evlog, cleanup, err := openPostgresAndLog(ctx, logger)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := migrateAll(ctx, pool); err != nil {
		return err
	}
	keyring, err := openKeyring(ctx, pool, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	conns := connection.NewStore(pool, keyring)
	clients := api.NewClients(conns, api.Options{BaseURL: *apiURL, RatePerMinute: *rate})
	if _, err := clients.Client(ctx, *corp); err != nil {
		if errors.Is(err, connection.ErrNotFound) || errors.Is(err, api.ErrNoSecret) {
			return fmt.Errorf("corp %s needs a WeCom connection with an app secret (custody wecom connect, CUSTODY_WECOM_SECRET): %w", *corp, err)
		}
		return err
	}
	cmds, err := commands.New(commands.Options{Log: evlog, Eraser: keyring, Settings: &commands.LogSettings{Log: evlog},
		Pending: pending.Handovers{Pool: pool}})
	if err != nil {
		return err
	}
	runner, err := projections.NewRunner(pool, evlog, projections.Options{Logger: logger})
	if err != nil {
		return err
	}
	release, ok, err := reconcile.Lock(ctx, pool, *corp)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("a reconcile of corp %s is already running", *corp)
	}
	defer release()
	if _, err := runner.CatchUp(ctx); err != nil {
		return fmt.Errorf("catch up projections: %w", err)
	}
	bar := progressBar(stderr)
	rec, err := reconcile.New(reconcile.Options{
		Commands: cmds, View: reconcile.Projected{Pool: pool, Log: evlog}, Workers: *workers, Logger: logger,
		Clients:  func(ctx context.Context, c string) (reconcile.WeCom, error) { return clients.Client(ctx, c) },
		Progress: bar,
	})
	if err != nil {
		return err
	}
	rep, err := rec.Corp(ctx, *corp)
	bar(reconcile.Progress{Phase: "done"})
	printReconcileReport(stdout, rep)
	return err
}

// progressBar draws a one-line progress bar on a terminal, nothing
// otherwise.
func progressBar(w io.Writer) func(reconcile.Progress) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func(reconcile.Progress) {}
	}
	return func(p reconcile.Progress) {
		if p.Phase == "done" {
			fmt.Fprint(w, "\r\033[K")
			return
		}
		const width = 30
		filled := 0
		if p.Total > 0 {
			filled = width * p.Done / p.Total
		}
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = '.'
			if i < filled {
				bar[i] = '#'
			}
		}
		fmt.Fprintf(w, "\r\033[K%-18s [%s] %d/%d", p.Phase, bar, p.Done, p.Total)
	}
}

func printReconcileReport(w io.Writer, rep reconcile.Report) {
	fmt.Fprintf(w, "corp %s: WeCom lists %d relations, %d groups, %d tags; %d corrections in %s\n",
		rep.CorpID, rep.WeComPairs, rep.WeComChats, rep.WeComTags, rep.Total(), rep.Duration.Round(1e6))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	kinds := make([]string, 0, len(rep.Corrections))
	for k := range rep.Corrections {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(tw, "  corrected\t%s\t%d\n", k, rep.Corrections[k])
	}
	if rep.Deferred > 0 {
		fmt.Fprintf(tw, "  deferred\tpending handovers (the transfer poller settles them)\t%d\n", rep.Deferred)
	}
	why := make([]string, 0, len(rep.Refused))
	for k := range rep.Refused {
		why = append(why, k)
	}
	sort.Strings(why)
	for _, k := range why {
		fmt.Fprintf(tw, "  not recorded\t%s\t%d\n", k, rep.Refused[k])
	}
	_ = tw.Flush()
}
