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
	if err != nil && !errors.Is(err, errUsage) && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "custody:", err)
	}
	os.Exit(exitCode(err))
}

// exitCode is custody's exit status after err: 0 on success and when help
// was asked for (-h, -help, --help: the usage was printed), 2 on a
// command-line mistake, 1 on any other failure.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		return 1
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	if err := checkEnvironment(slog.New(slog.NewTextHandler(stderr, nil))); err != nil {
		return err
	}
	slog.SetDefault(newLogger(stderr))
	if len(args) == 0 || args[0] == "help" || isHelpFlag(args[0]) {
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
	err := sc.run(ctx, args[1:])
	if len(args) == 2 && isHelpFlag(args[1]) && errors.Is(err, errUsage) {
		// Subcommands with actions print their usage and answer errUsage
		// when no action is named: asked for, that is help, exit 0.
		return flag.ErrHelp
	}
	return err
}

// isHelpFlag reports whether arg asks for help, as the flag package
// understands it.
func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "--h"
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
	if err := level.UnmarshalText([]byte(env("CUSTODY_LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo // unreachable: checkEnvironment accepts only the four names
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(env("CUSTODY_LOG_FORMAT"), "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
