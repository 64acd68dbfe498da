package erasure

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the erasure_rewrites table, for pgmigrate (listed in
// cmd/custody/app.go).
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "erasure", FS: migrations, Dir: "migrations"}
}

// Migrate applies Migrations alone; `custody migrate` runs every
// component's at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}

// Rewrite rewrites every table that holds personal data — the Personal
// tables of every custody schema and pii_keys — with VACUUM (FULL), so the
// row versions an erasure or a Scrub left behind in page free space are
// gone from the database files (a plain VACUUM only marks that space
// reusable; the bytes stay until overwritten). It records the rewrite in
// erasure_rewrites. VACUUM FULL holds an ACCESS EXCLUSIVE lock on each
// table while it copies it: readers of that table wait for the copy (about
// a second per few hundred thousand rows). It must not run in a
// transaction.
func Rewrite(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	start := time.Now()
	schemas, err := Schemas(ctx, pool)
	if err != nil {
		return nil, err
	}
	ts, err := tables(ctx, pool, schemas)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names, targets []string
	if ok, err := hasKeyStore(ctx, pool); err != nil {
		return nil, err
	} else if ok {
		names, targets = append(names, "pii_keys"), append(targets, ident("pii_keys"))
	}
	for _, t := range ts {
		if k := t.schema + "." + t.Name; !seen[k] {
			seen[k] = true
			names = append(names, k)
			targets = append(targets, t.name())
		}
	}
	for i, t := range targets {
		if _, err := pool.Exec(ctx, "VACUUM (FULL) "+t); err != nil {
			return names[:i], fmt.Errorf("erasure: rewrite %s: %w", names[i], err)
		}
	}
	_, err = pool.Exec(ctx, `INSERT INTO erasure_rewrites (started_at, finished_at, tables) VALUES ($1, now(), $2)`, start, names)
	if err != nil {
		return names, fmt.Errorf("erasure: record rewrite: %w", err)
	}
	return names, nil
}

// RewriteDue reports the oldest erasure recorded since the last rewrite
// started, and whether there is one.
func RewriteDue(ctx context.Context, db DB) (time.Time, bool, error) {
	if ok, err := hasKeyStore(ctx, db); !ok || err != nil {
		return time.Time{}, false, err
	}
	var oldest *time.Time
	err := db.QueryRow(ctx, `SELECT min(erased_at) FROM pii_keys
		WHERE erased_at > coalesce((SELECT max(started_at) FROM erasure_rewrites), '-infinity')`).Scan(&oldest)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("erasure: pending rewrites: %w", err)
	}
	if oldest == nil {
		return time.Time{}, false, nil
	}
	return oldest.UTC(), true, nil
}

// pendingRewrites adds a finding when the subject's erasure is later than
// the last rewrite.
func pendingRewrites(ctx context.Context, db DB, rep *Report) error {
	if rep.ErasedAt == nil {
		return nil
	}
	var last *time.Time
	var ledger bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('erasure_rewrites') IS NOT NULL`).Scan(&ledger); err != nil {
		return fmt.Errorf("erasure: last rewrite: %w", err)
	}
	if ledger { // else never migrated, so never rewritten
		err := db.QueryRow(ctx, `SELECT max(started_at) FROM erasure_rewrites`).Scan(&last)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("erasure: last rewrite: %w", err)
		}
	}
	if last == nil || !last.After(*rep.ErasedAt) {
		rep.Findings = append(rep.Findings, Finding{Kind: KindRewrite, Where: "tables with personal columns, pii_keys",
			Detail: "not rewritten since the erasure: old row versions may remain in page free space until custody erasure rewrite (custody serve runs it within CUSTODY_ERASURE_REWRITE_WITHIN)"})
	}
	return nil
}
