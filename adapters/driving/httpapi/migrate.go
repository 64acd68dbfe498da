package httpapi

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key that serialises concurrent
// migrators of the HTTP API's tables ("httpapi" in ASCII).
const migrationLock = 0x68747470617069

// Migrate creates or updates the tables the HTTP API owns (http_tokens,
// http_idempotency). Every migration is idempotent; concurrent callers
// are serialised by an advisory lock, so several starting instances are safe.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("httpapi: migrations: %w", err)
	}
	sort.Strings(names)
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return fmt.Errorf("httpapi: migration lock: %w", err)
		}
		for _, n := range names {
			sql, err := migrationFS.ReadFile(n)
			if err != nil {
				return fmt.Errorf("httpapi: read %s: %w", n, err)
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("httpapi: apply %s: %w", n, err)
			}
		}
		return nil
	})
}
