package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/internal/pgmigrate"
)

// BenchmarkMigrate measures what every custody start pays for migrations
// on a database that is up to date (every component's, one transaction,
// the lock and the schema_migrations read, nothing applied), against a
// baseline of one empty transaction on the same pool, and a migration of
// an empty database from scratch.
func BenchmarkMigrate(b *testing.B) {
	ctx := context.Background()
	cs, err := migrationComponents()
	if err != nil {
		b.Fatal(err)
	}
	pool := pgtest.NewPool(b)
	if _, err := pgmigrate.Run(ctx, pool, cs...); err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-empty-tx", func(b *testing.B) {
		for b.Loop() {
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "SELECT 1")
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("up-to-date", func(b *testing.B) {
		for b.Loop() {
			applied, err := pgmigrate.Run(ctx, pool, cs...)
			if err != nil || len(applied) != 0 {
				b.Fatalf("applied %v, err %v", applied, err)
			}
		}
	})
	b.Run("from-empty", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			fresh := pgtest.NewPool(b)
			b.StartTimer()
			if _, err := pgmigrate.Run(ctx, fresh, cs...); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			fresh.Close()
			b.StartTimer()
		}
	})
}
