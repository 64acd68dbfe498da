package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custody/custody/adapters/tools/erasure"
)

const erasureUsage = `usage:
  custody erasure verify [--value V]... [--json] SUBJECT
  custody erasure scrub
  custody erasure rewrite

SUBJECT is customer/<corp>/<external_user_id> or staff/<corp>/<user_id>.

verify is the check a privacy officer runs and files after an erasure: it
reports the subject's key, rows of the subject with personal data in every
custody schema (live projections, rebuild shadows and their staging tables,
replays), and every column of every table and every pg_stats entry holding
one of the subject's known values — those given with --value (the erasure
request's name and phone number, say) and those found in residue rows. The
report names places and counts, never the values. It exits 1 when it finds
anything. It reads every table in full.

scrub blanks the personal data of every erased subject in every custody
schema now; rewrite rewrites the tables holding personal data (VACUUM FULL)
so old row versions leave the files. custody serve runs both on its own
(CUSTODY_ERASURE_REWRITE_AFTER). See docs/erasure.md.
`

// errFindings makes verify exit 1 without a usage message.
var errFindings = errors.New("erasure verify found personal data")

func runErasure(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, erasureCmd(ctx, args, os.Stdout, os.Stderr))
}

// values is a repeatable string flag.
type values []string

func (v *values) String() string     { return fmt.Sprint(len(*v)) + " values" }
func (v *values) Set(s string) error { *v = append(*v, s); return nil }

func erasureCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "scrub" && args[0] != "rewrite") {
		fmt.Fprint(stderr, erasureUsage)
		return errUsage
	}
	verb := args[0]
	fs := flag.NewFlagSet("custody erasure "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var vals values
	fs.Var(&vals, "value", "a personal value of the subject to search for (repeatable)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprint(stderr, erasureUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if (verb == "verify") != (len(pos) == 1) || len(pos) > 1 {
		fs.Usage()
		return errUsage
	}
	logger := slog.Default()
	pool, closePool, err := openPostgres(ctx, logger)
	if err != nil {
		return err
	}
	defer closePool()
	if err := migrateAll(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	switch verb {
	case "scrub":
		res, err := erasure.Scrub(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "blanked %d rows of erased subjects in %d tables\n", res.Total(), len(res))
		return nil
	case "rewrite":
		start := time.Now()
		tables, err := erasure.Rewrite(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rewrote %d tables in %s: %s\n", len(tables), time.Since(start).Round(time.Millisecond), strings.Join(tables, ", "))
		return nil
	}
	rep, err := erasure.Verify(ctx, pool, pos[0], erasure.VerifyOptions{Values: vals})
	if errors.Is(err, erasure.ErrBadSubject) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := printReport(stdout, rep); err != nil {
		return err
	}
	if !rep.Clean() {
		return errFindings
	}
	return nil
}

func printReport(w io.Writer, rep erasure.Report) error {
	fmt.Fprintf(w, "subject     %s\nkey         %s", rep.Subject, rep.KeyStatus)
	if rep.ErasedAt != nil {
		fmt.Fprintf(w, " (erased at %s)", rep.ErasedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "\nchecked at  %s\nschemas     %s\ntables      %d searched for %d known values\n",
		rep.CheckedAt.Format(time.RFC3339), strings.Join(rep.Schemas, ", "), rep.Tables, rep.Values)
	for _, r := range rep.Replays {
		fmt.Fprintf(w, "replay      %s (as of %s, built %s)\n", r.Schema, r.Until.Format(time.RFC3339), r.BuiltAt.Format(time.RFC3339))
	}
	if rep.Clean() {
		fmt.Fprintln(w, "\nfindings    none: no personal data of the subject is readable with SQL")
	} else {
		fmt.Fprintf(w, "\nfindings    %d\n", len(rep.Findings))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tWHERE\tROWS\tDETAIL")
		for _, f := range rep.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", f.Kind, f.Where, f.Rows, f.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nnot reachable by SQL (the operator's part, docs/erasure.md):")
	for _, u := range rep.Unreachable {
		fmt.Fprintf(w, "  - %s\n", u)
	}
	return nil
}
