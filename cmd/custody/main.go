// Command custody is the event-sourced core of a customer-relationship
// system for private-domain customer assets (see README.md). main only
// dispatches: each subcommand lives in its own file and is listed, with
// everything else the binary is composed of, in app.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// subcommand is one verb of the custody binary.
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

// findSubcommand returns the subcommand called name in subcommandTable.
func findSubcommand(name string) (subcommand, bool) {
	for _, sc := range subcommandTable() {
		if sc.name == name {
			return sc, true
		}
	}
	return subcommand{}, false
}

// errUsage marks a command-line mistake: custody prints usage and exits 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "custody:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	slog.SetDefault(newLogger(stderr))
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sc, ok := findSubcommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "custody: unknown command %q\n\n", args[0])
		usage(stderr)
		return errUsage
	}
	return sc.run(ctx, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: custody <command> [flags]\n\ncommands:")
	for _, sc := range subcommandTable() {
		fmt.Fprintf(w, "  %-14s %s\n", sc.name, sc.summary)
	}
	fmt.Fprintln(w, "\nRun 'custody <command> -h' for a command's flags. Configuration: README.md.")
}

// newLogger builds the process logger from CUSTODY_LOG_LEVEL (debug, info,
// warn, error) and CUSTODY_LOG_FORMAT (text, json).
func newLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(envOr("CUSTODY_LOG_LEVEL", "info"))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(os.Getenv("CUSTODY_LOG_FORMAT"), "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// envOr returns the environment variable k, or def when it is unset or empty.
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
