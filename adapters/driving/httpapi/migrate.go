package httpapi

import (
	"context"
	"embed"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the tables the HTTP API owns (http_tokens,
// http_idempotency), for pgmigrate (listed in cmd/custody/app.go). Version
// 1 was written with IF NOT EXISTS: databases where the HTTP API created
// its tables before pgmigrate are adopted by running it once.
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "httpapi", FS: migrationFS, Dir: "migrations"}
}

// Migrate applies Migrations alone (tests, tools that need only these
// tables); `custody migrate` runs every component's at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}
