package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/custody/custody/adapters/tools/export"
	"github.com/custody/custody/events"
)

func runEvents(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprintln(os.Stderr, "usage: custody events export [flags]   (custody events export -h for the flags)")
		return errUsage
	}
	return explainUsage(os.Stderr, runEventsExport(ctx, args[1:]))
}

// explainUsage prints a usage error that carries more than errUsage itself
// (main exits 2 on errUsage without printing it), so a mistyped flag value
// is explained.
func explainUsage(w io.Writer, err error) error {
	if errors.Is(err, errUsage) && err != errUsage {
		fmt.Fprintln(w, "custody:", err)
	}
	return err
}

func runEventsExport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("custody events export", flag.ContinueOnError)
	format := fs.String("format", "jsonl", "output format: jsonl, csv or parquet")
	corp := fs.String("corp", "", "export only this corp's events")
	from := fs.String("from", "", "export events at or after this time (RFC 3339 or YYYY-MM-DD, UTC)")
	to := fs.String("to", "", "export events before this time (RFC 3339 or YYYY-MM-DD, UTC)")
	timeField := fs.String("time-field", "occurred", "the time --from/--to apply to: occurred (business time) or recorded (log time)")
	types := fs.String("types", "", "comma-separated event types, e.g. customer.relation_started,customer.relation_ended")
	streams := fs.String("streams", "", "comma-separated stream prefixes, e.g. customer-acme-,groupchat-acme-")
	includePII := fs.Bool("include-pii", false, "include personal data of subjects that are not erased")
	out := fs.String("out", "-", "output file; - for standard output")
	after := fs.String("after", "", "start strictly after this log position (COMMIT/PREPARE, as the last export logged in until=): incremental exports")
	pageSize := fs.Int("page-size", 2000, "events read from the log per page")
	progress := fs.Bool("progress", true, "show a progress bar when standard error is a terminal")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: custody events export [flags]\n\nStreams the event log, filtered, as JSON Lines, CSV or Parquet. Memory stays flat\nwhatever the log's size; the export ends at the log's head as it was at the start.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	opts := export.Options{
		IncludePII: *includePII,
		PageSize:   *pageSize,
		Filter: export.Filter{
			CorpID:         *corp,
			TimeField:      export.TimeField(*timeField),
			Types:          splitFlagList(*types),
			StreamPrefixes: splitFlagList(*streams),
		},
	}
	var errs []error
	f, err := export.ParseFormat(*format)
	errs = append(errs, err)
	opts.Format = f
	opts.Filter.From, err = parseWhenFlag("from", *from)
	errs = append(errs, err)
	opts.Filter.To, err = parseWhenFlag("to", *to)
	errs = append(errs, err)
	if opts.After, err = events.ParsePosition(*after); err != nil {
		errs = append(errs, fmt.Errorf("%w: --after: %w", errUsage, err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	if opts.Format == export.Parquet && *out == "-" && onTerminal(os.Stdout) {
		return fmt.Errorf("%w: refusing to write Parquet to a terminal; use --out FILE", errUsage)
	}

	logger := slog.Default()
	for _, t := range opts.Filter.Types {
		if _, known := events.CurrentVersion(t); !known {
			logger.Warn("export: --types names a type this build does not know; a typo?", "type", t, "known", strings.Join(events.Types(), ","))
		}
	}
	_, log, closeAll, err := openPostgresAndLog(ctx, logger)
	if err != nil {
		return err
	}
	defer closeAll()

	if *progress && onTerminal(os.Stderr) {
		bar := eventsBar("exporting", -1)
		defer bar.Finish()
		opts.OnProgress = func(p export.Progress) { _ = bar.Set64(p.Read) }
	}

	start := time.Now()
	var st export.Stats
	err = writeOutput(*out, func(w io.Writer) error {
		var err error
		st, err = export.Export(ctx, log, w, opts)
		return err
	})
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	logger.Info("export finished",
		"format", string(opts.Format), "out", *out,
		"read", st.Read, "written", st.Written,
		"with_pii", st.PIIWritten, "pii_erased", st.PIIErased,
		"until", st.Until.String(), "seconds", fmt.Sprintf("%.2f", secs),
		"events_per_second", int64(float64(st.Read)/max(secs, 1e-9)))
	return nil
}

// writeOutput runs write on standard output for "-". A regular file (or a
// path that does not exist yet) is written to a temporary file beside it
// that is renamed over it only when write succeeded, so a failed export
// never leaves a truncated file behind; a new file is readable by its owner
// only, since exports may hold personal data. Anything else that already
// exists — a device such as /dev/null, a named pipe, a socket — is written
// through in place, never replaced. A directory is refused. A symbolic link
// is followed: its target gets these rules and the link stays.
func writeOutput(path string, write func(io.Writer) error) error {
	if path == "-" || path == "" {
		return write(os.Stdout)
	}
	target := path
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return fmt.Errorf("output %s: %w", path, err)
		}
	}
	fi, err := os.Stat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("output %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("%w: --out %s is a directory; name a file", errUsage, path)
	case !fi.Mode().IsRegular():
		return writeInPlace(target, write)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.partial")
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeInPlace writes to an existing non-regular file (device, pipe)
// without truncating or replacing it.
func writeInPlace(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open output %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// splitFlagList splits a comma-separated flag value, dropping blanks.
func splitFlagList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseWhenFlag parses a time flag: RFC 3339 (with or without fractional
// seconds), or "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" and "YYYY-MM-DDTHH:MM:SS"
// read as UTC. Empty means unset (the zero time).
func parseWhenFlag(name, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: --%s %q: want RFC 3339 (2026-03-01T09:00:00+08:00) or YYYY-MM-DD", errUsage, name, s)
}

// onTerminal reports whether f is a character device (a terminal).
func onTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
