package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/asof"
)

const asofUsage = `usage:
  custody asof owners    --corp C --at T CUSTOMER   staff who had a relation with CUSTOMER at T
  custody asof customers --corp C --at T STAFF      customers STAFF had a relation with at T
  custody asof numbers   --corp C --at T            the corp's headline numbers at T

T is business time (when things happened): RFC 3339 or YYYY-MM-DD (UTC).
Answers come from the ownership-interval projection; --schema reads a
replay schema (custody replay) instead of the live tables.
`

func runAsOf(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, asOf(ctx, args, os.Stdout, os.Stderr))
}

func asOf(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "owners" && args[0] != "customers" && args[0] != "numbers") {
		fmt.Fprint(stderr, asofUsage)
		return errUsage
	}
	verb := args[0]
	fs := flag.NewFlagSet("custody asof "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	corp := fs.String("corp", "", "corp id (required)")
	at := fs.String("at", "", "the time asked about (required): RFC 3339 or YYYY-MM-DD, UTC")
	schema := fs.String("schema", projections.LiveSchema, "schema to read: the live projections or a replay schema")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	catchUp := fs.Bool("catch-up", false, "bring the live projections up to the log's head first (when no `custody serve` keeps them current)")
	fs.Usage = func() {
		fmt.Fprint(stderr, asofUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	want := 1
	if verb == "numbers" {
		want = 0
	}
	if len(pos) != want || *corp == "" || *at == "" {
		fs.Usage()
		return errUsage
	}
	when, err := parseWhenFlag("at", *at)
	if err != nil {
		return err
	}

	logger := slog.Default()
	pool, closePool, err := openPostgres(ctx, logger)
	if err != nil {
		return err
	}
	defer closePool()
	if *catchUp {
		if err := asofCatchUp(ctx, pool, logger); err != nil {
			return err
		}
	}
	q := asof.Queries{DB: pool, Schema: *schema}
	switch verb {
	case "owners":
		owners, err := q.Owners(ctx, *corp, pos[0], when)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSONIndented(stdout, map[string]any{"corp_id": *corp, "customer_id": pos[0], "at": when.UTC(), "owners": owners})
		}
		fmt.Fprintf(stdout, "owners of customer %s in %s at %s: %d\n", pos[0], *corp, when.UTC().Format(time.RFC3339), len(owners))
		printOwnerships(stdout, owners, "staff")
	case "customers":
		var all []asof.Ownership
		page := asof.Page{Limit: 10_000}
		for {
			res, err := q.Customers(ctx, *corp, pos[0], when, page)
			if err != nil {
				return err
			}
			all = append(all, res.Customers...)
			if res.Next == "" {
				break
			}
			page.After = res.Next
		}
		if all == nil {
			all = []asof.Ownership{}
		}
		if *asJSON {
			return writeJSONIndented(stdout, map[string]any{"corp_id": *corp, "staff_id": pos[0], "at": when.UTC(), "customers": all})
		}
		fmt.Fprintf(stdout, "customers of %s in %s at %s: %d\n", pos[0], *corp, when.UTC().Format(time.RFC3339), len(all))
		printOwnerships(stdout, all, "customer")
	case "numbers":
		n, err := q.Numbers(ctx, *corp, when)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSONIndented(stdout, n)
		}
		printNumbers(stdout, n)
	}
	return nil
}

func printOwnerships(w io.Writer, list []asof.Ownership, who string) {
	if len(list) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tsince\tstarted by\tunassigned\n", strings.ToUpper(who))
	for _, o := range list {
		id := o.StaffID
		if who == "customer" {
			id = o.CustomerID
		}
		by := o.StartedBy
		if o.StartHandoverID != "" {
			by += " " + o.StartHandoverID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", id, o.StartedAt.Format(time.RFC3339), by, o.Unassigned)
	}
	tw.Flush()
}

func printNumbers(w io.Writer, n asof.Numbers) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "corp %s at %s\n", n.CorpID, n.At.Format(time.RFC3339))
	rows := []struct {
		k string
		v int64
	}{
		{"customers", n.Customers},
		{"relations", n.Relations},
		{"staff with customers", n.StaffWithCustomers},
		{"unassigned relations", n.UnassignedRelations},
		{"active staff", n.ActiveStaff},
		{"departed staff", n.DepartedStaff},
		{"pending handovers", n.PendingHandovers},
		{"added (to date)", n.Added},
		{"deleted by customer (to date)", n.DeletedByCustomer},
		{"deleted by staff (to date)", n.DeletedByStaff},
		{"handed over (to date)", n.HandedOver},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%d\n", r.k, r.v)
	}
	statuses := make([]string, 0, len(n.HandoversSettled))
	for s := range n.HandoversSettled {
		statuses = append(statuses, s)
	}
	sort.Strings(statuses)
	for _, s := range statuses {
		fmt.Fprintf(tw, "  handovers %s (to date)\t%d\n", s, n.HandoversSettled[s])
	}
	tw.Flush()
}

func writeJSONIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// asofCatchUp migrates the live projections and applies the log up
// to its head, for CLI use without a running server.
func asofCatchUp(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	log, _, closeLog, err := openEventLog(ctx, pool, logger)
	if err != nil {
		return err
	}
	defer closeLog()
	if err := projections.Migrate(ctx, pool); err != nil {
		return err
	}
	r, err := projections.NewRunner(pool, log, projections.Options{Logger: logger})
	if err != nil {
		return err
	}
	_, err = r.CatchUp(ctx)
	return err
}
