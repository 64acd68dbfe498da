package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/internal/pgmigrate"
)

// migrateOut is where custody migrate prints what it applied; tests replace it.
var migrateOut io.Writer = os.Stdout

// runMigrate implements `custody migrate`: every component's migrations
// (app.go's migrationComponents), on DATABASE_URL (or the private
// PostgreSQL), printing each migration it applied. Safe to run while
// custody is running and from several processes at once.
func runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: custody migrate

Creates or updates the tables of the event log, the personal-data keys and
every other component (projections, relay, HTTP API, WeCom, tools) in the
database of DATABASE_URL, or of the private PostgreSQL under ./.data when
it is unset, and prints each migration it applied ("component version
file"). When CUSTODY_EVENT_LOG is a postgres:// URL, that database's event
log is migrated too. Applied migrations are recorded in schema_migrations;
running it again applies nothing.
`)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	logger := slog.Default()
	pool, cleanup, err := openPostgres(ctx, logger)
	if err != nil {
		return err
	}
	defer cleanup()
	applied, err := migrateAllReport(ctx, pool)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	printApplied(migrateOut, "", applied)
	if target := os.Getenv("CUSTODY_EVENT_LOG"); strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://") {
		other, err := newPool(ctx, target)
		if err != nil {
			return fmt.Errorf("migrate CUSTODY_EVENT_LOG: %w", err)
		}
		defer other.Close()
		applied, err := pgmigrate.Run(ctx, other, pii.Migrations(), pgstore.Migrations())
		if err != nil {
			return fmt.Errorf("migrate CUSTODY_EVENT_LOG: %w", err)
		}
		printApplied(migrateOut, "CUSTODY_EVENT_LOG: ", applied)
	}
	return nil
}

// printApplied prints one line per applied migration, or that there was
// nothing to apply.
func printApplied(w io.Writer, prefix string, applied []pgmigrate.Applied) {
	if len(applied) == 0 {
		fmt.Fprintf(w, "%sup to date: nothing to apply\n", prefix)
		return
	}
	for _, a := range applied {
		fmt.Fprintf(w, "%sapplied %s\n", prefix, a)
	}
}
