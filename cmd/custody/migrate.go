package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/custody/custody/adapters/eventlog/pgstore"
)

// runMigrate implements `custody migrate`: the event log, the personal-data
// keys and every registered component's tables, on DATABASE_URL (or the
// private PostgreSQL). Safe to run while custody is running and from
// several processes at once.
func runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: custody migrate

Creates or updates the tables of the event log, the personal-data keys and
every other component (projections, relay, HTTP API) in the database of
DATABASE_URL, or of the private PostgreSQL under ./.data when it is unset.
When CUSTODY_EVENT_LOG is a postgres:// URL, that database's event log is
migrated too. Applied migrations are recorded in schema_migrations; running
it again is a no-op.
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
	if err := migrateAll(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if target := os.Getenv("CUSTODY_EVENT_LOG"); strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://") {
		other, err := newPool(ctx, target)
		if err != nil {
			return fmt.Errorf("migrate CUSTODY_EVENT_LOG: %w", err)
		}
		defer other.Close()
		if err := pgstore.Migrate(ctx, other); err != nil {
			return fmt.Errorf("migrate CUSTODY_EVENT_LOG: %w", err)
		}
	}
	logger.Info("migrations applied")
	return nil
}
