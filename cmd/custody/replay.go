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

	"github.com/custody/custody/adapters/tools/replay"
	"github.com/custody/custody/events"
)

const replayUsage = `usage:
  custody replay --until T --schema NAME [--time-field occurred|recorded]
  custody replay drop --schema NAME
  custody replay list

Builds every projection as it was at T into the PostgreSQL schema NAME, for
analysts (same tables as the live schema "projections", see docs/schema.md).
The live tables are not touched. Rebuilding an existing replay replaces it
when the new one is complete. T: RFC 3339 or YYYY-MM-DD (UTC).

Erasure reaches replays: personal data of a subject erased after a replay
was built is blanked in it too (customers.erased still says what was true
at T). custody erasure verify SUBJECT checks every replay.
`

func runReplay(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, replayCmd(ctx, args, os.Stdout, os.Stderr))
}

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb := "build"
	if len(args) > 0 && (args[0] == "drop" || args[0] == "list") {
		verb, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("custody replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schema := fs.String("schema", "", "the replay schema (lower-case letters, digits, _)")
	until := fs.String("until", "", "build as of this time (required to build)")
	timeField := fs.String("time-field", "occurred", "clock of --until: occurred (business time) or recorded (what custody showed then)")
	progress := fs.Bool("progress", true, "show a progress bar when standard error is a terminal")
	fs.Usage = func() {
		fmt.Fprint(stderr, replayUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || (verb != "list" && *schema == "") || (verb == "build" && *until == "") {
		fs.Usage()
		return errUsage
	}
	logger := slog.Default()
	opts := replay.Options{Schema: *schema, TimeField: replay.TimeField(*timeField), Logger: logger}
	if verb == "build" {
		if opts.Until, err = parseWhenFlag("until", *until); err != nil {
			return err
		}
		if err := opts.Validate(); err != nil {
			return err
		}
	}

	pool, closePool, err := openPostgres(ctx, logger)
	if err != nil {
		return err
	}
	defer closePool()
	switch verb {
	case "drop":
		if err := replay.Drop(ctx, pool, *schema); err != nil {
			return err
		}
		logger.Info("replay dropped", "schema", *schema)
		return nil
	case "list":
		infos, err := replay.List(ctx, pool)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCHEMA\tUNTIL\tCLOCK\tEVENTS\tBUILT")
		for _, i := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", i.Schema, i.Until.Format(time.RFC3339Nano), i.TimeField, i.Applied, i.BuiltAt.Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(infos) > 0 {
			fmt.Fprintln(stdout, "\nPersonal data of subjects erased after a replay was built is blanked in it too (custody erasure verify).")
		}
		return nil
	}

	log, _, closeLog, err := openEventLog(ctx, pool, logger)
	if err != nil {
		return err
	}
	defer closeLog()
	if *progress && onTerminal(os.Stderr) {
		bar := eventsBar("replaying", -1)
		defer bar.Finish()
		opts.OnProgress = func(read int64, _ events.Position) { _ = bar.Set64(read) }
	}
	info, err := replay.Build(ctx, pool, log, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema %s: every projection as of %s (%s time), %d of %d events; query e.g.\n  SELECT * FROM %s.staff;\n",
		info.Schema, info.Until.Format(time.RFC3339Nano), info.TimeField, info.Applied, info.Read, info.Schema)
	return nil
}
