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
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/tools/importer"
)

func runImport(ctx context.Context, args []string) error {
	return importCmd(ctx, args, os.Stdout, os.Stderr)
}

func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	corpID := fs.String("corp", "", "corp to import into (required): 1-64 letters, digits or '_'")
	file := fs.String("file", "", "JSONL file to import (required; see docs/import.md)")
	chunk := fs.Int("chunk", 10_000, "records per transaction")
	rejectsTo := fs.String("rejects", "", "write the records the domain rules refused (line and reason) to this file (default: list them on standard error)")
	progress := fs.Bool("progress", true, "show a progress bar when standard error is a terminal")
	sample := fs.Int("sample", 0, "instead of importing, write a synthetic file of this many relations (over 1,000 staff members, with 1,000 groups of 20) to standard output")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: custody import --corp CORP --file FILE.jsonl [flags]
       custody import --sample N > FILE.jsonl

Imports a corp's existing staff members, relations, group chats and group
members (a WeCom snapshot) into the PostgreSQL event log, recording exactly
the events the commands would record, in large COPY chunks. The file is
checked completely first: any bad line stops the import before anything is
written. Records a domain rule refuses (e.g. a relation already active) are
skipped and listed. Interrupted (even kill -9), the same command continues
where the last committed chunk ended; run on a file already imported, it
writes nothing. See docs/import.md.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if *sample > 0 {
		return importer.WriteSample(stdout, importer.Sample{Staff: 1000, Relations: *sample, Groups: 1000, MembersPerGroup: 20, Seed: 1})
	}
	if *corpID == "" || *file == "" {
		fs.Usage()
		return errUsage
	}
	if !importer.ValidCorpID(*corpID) {
		return fmt.Errorf("%w: --corp must be 1-64 characters of letters, digits or '_'", errUsage)
	}
	if *chunk < 1 || *chunk > 1_000_000 {
		return fmt.Errorf("%w: --chunk must be between 1 and 1000000", errUsage)
	}
	if _, err := os.Stat(*file); err != nil {
		return fmt.Errorf("import: %w", err)
	}

	logger := slog.Default()
	pool, closePool, err := openPostgres(ctx, logger)
	if err != nil {
		return err
	}
	defer closePool()
	store, logPool, closeLog, err := openImportLog(ctx, pool, logger)
	if err != nil {
		return err
	}
	defer closeLog()

	o := importer.Options{Pool: logPool, Store: store, Corp: *corpID, Path: *file, ChunkRecords: *chunk, Logger: logger}
	if *progress && isTTY(os.Stderr) {
		var bar *progressbar.ProgressBar
		phase := ""
		o.Progress = func(p string, done, total int64) {
			if p != phase {
				if bar != nil {
					_ = bar.Finish()
				}
				desc := "checking"
				if p == "import" {
					desc = "importing"
				}
				bar = progressbar.NewOptions64(total,
					progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription(desc),
					progressbar.OptionShowBytes(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish(),
				)
				phase = p
			}
			_ = bar.Set64(done)
		}
		defer func() {
			if bar != nil {
				_ = bar.Finish()
			}
		}()
	}
	start := time.Now()
	res, err := importer.Run(ctx, o)
	if errors.Is(err, context.Canceled) {
		logger.Warn("import interrupted; run the same command again to continue after the last committed chunk")
		return err
	}
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	switch {
	case res.AlreadyDone:
		fmt.Fprintf(stdout, "import %s: this file was imported already (%d records, %d events); nothing written\n", res.ImportID, res.Records, res.Events)
	default:
		verb := "imported"
		if res.Resumed {
			verb = "imported (resumed)"
		}
		fmt.Fprintf(stdout, "import %s: %s %d records as %d events in %.1fs, up to log position %s\n",
			res.ImportID, verb, res.Records, res.Events, secs, res.Last)
	}
	if res.Rejected == 0 {
		return nil
	}
	rejects, err := importer.Rejects(ctx, logPool, res.ImportID)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range rejects {
		fmt.Fprintf(&b, "line %d: %s\n", r.Line, r.Reason)
	}
	if *rejectsTo != "" {
		if err := os.WriteFile(*rejectsTo, []byte(b.String()), 0o600); err != nil {
			return fmt.Errorf("import: write rejects: %w", err)
		}
		fmt.Fprintf(stdout, "%d records refused by the domain rules were skipped: see %s\n", res.Rejected, *rejectsTo)
		return nil
	}
	fmt.Fprintf(stdout, "%d records refused by the domain rules were skipped:\n%s", res.Rejected, b.String())
	return nil
}

// openImportLog opens the PostgreSQL event log CUSTODY_EVENT_LOG names and
// the pool it lives on (the importer's progress commits with the events,
// so it is kept in the same database). KurrentDB is refused: import into
// PostgreSQL, then move the log with custody log copy.
func openImportLog(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*pgstore.Store, *pgxpool.Pool, func(), error) {
	target := os.Getenv("CUSTODY_EVENT_LOG")
	logPool, closeLogPool := pool, func() {}
	if target != "" && target != "postgres" {
		scheme, _, _ := strings.Cut(target, "://")
		if scheme != "postgres" && scheme != "postgresql" {
			return nil, nil, nil, fmt.Errorf("import writes to a PostgreSQL event log only (CUSTODY_EVENT_LOG is %s): import into PostgreSQL, then use custody log copy", logName(target))
		}
		other, err := newPool(ctx, target)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("CUSTODY_EVENT_LOG: %w", err)
		}
		logPool, closeLogPool = other, other.Close
	}
	keyring, err := openKeyring(ctx, pool, logger) // where every command looks for the keys
	if err != nil {
		closeLogPool()
		return nil, nil, nil, err
	}
	s, err := openPGStore(ctx, logPool, keyring, logger)
	if err != nil {
		closeLogPool()
		return nil, nil, nil, err
	}
	return s, logPool, closeLogPool, nil
}
