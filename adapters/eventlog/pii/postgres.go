package pii

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the pii_keys table, for pgmigrate (listed in
// cmd/custody/app.go, before the event log's).
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "pii", FS: migrations, Dir: "migrations"}
}

// Migrate applies Migrations alone; `custody migrate` runs every
// component's at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}

// PostgresKeyStore keeps wrapped keys in the pii_keys table (see Migrate).
// Safe for concurrent use by any number of processes.
type PostgresKeyStore struct {
	pool *pgxpool.Pool
}

var _ KeyStore = (*PostgresKeyStore)(nil)

// NewPostgresKeyStore returns a store on pool.
func NewPostgresKeyStore(pool *pgxpool.Pool) *PostgresKeyStore {
	return &PostgresKeyStore{pool: pool}
}

// Pool is the pool the keys are kept through: an event log on the same
// database may store a new subject's key in the transaction of its events
// (Keyring.SealDeferred).
func (s *PostgresKeyStore) Pool() *pgxpool.Pool { return s.pool }

// LoadOrCreate implements KeyStore. ON CONFLICT DO NOTHING waits for a
// concurrent creator to commit, and the SELECT after it runs on a new
// snapshot (read committed), so every racer returns the winner's key.
func (s *PostgresKeyStore) LoadOrCreate(ctx context.Context, subject string, wrapped []byte) ([]byte, error) {
	var stored []byte
	err := s.pool.QueryRow(ctx, `INSERT INTO pii_keys (subject, wrapped_key) VALUES ($1, $2)
		ON CONFLICT (subject) DO NOTHING RETURNING wrapped_key`, subject, wrapped).Scan(&stored)
	switch {
	case err == nil:
		return stored, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("pii: create key: %w", err)
	}
	return s.Load(ctx, subject)
}

// Load implements KeyStore.
func (s *PostgresKeyStore) Load(ctx context.Context, subject string) ([]byte, error) {
	var stored []byte
	err := s.pool.QueryRow(ctx, `SELECT wrapped_key FROM pii_keys WHERE subject = $1`, subject).Scan(&stored)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ErrKeyNotFound
	case err != nil:
		return nil, fmt.Errorf("pii: load key: %w", err)
	case stored == nil:
		return nil, ErrErased
	}
	return stored, nil
}

// LoadMany implements BatchKeyStore.
func (s *PostgresKeyStore) LoadMany(ctx context.Context, subjects []string) (map[string][]byte, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, wrapped_key FROM pii_keys WHERE subject = ANY($1)`, subjects)
	if err != nil {
		return nil, fmt.Errorf("pii: load keys: %w", err)
	}
	out := make(map[string][]byte, len(subjects))
	var (
		subject string
		wrapped []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&subject, &wrapped}, func() error {
		out[subject], wrapped = wrapped, nil
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pii: load keys: %w", err)
	}
	return out, nil
}

// Erase implements KeyStore. The key bytes are overwritten in the row;
// PostgreSQL may keep the old tuple until VACUUM, and WAL and backups keep
// it longer: a deployment must rotate those within its erasure deadline.
func (s *PostgresKeyStore) Erase(ctx context.Context, subject string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO pii_keys (subject, wrapped_key, erased_at) VALUES ($1, NULL, now())
		ON CONFLICT (subject) DO UPDATE SET wrapped_key = NULL, erased_at = coalesce(pii_keys.erased_at, now())`, subject)
	if err != nil {
		return fmt.Errorf("pii: erase key: %w", err)
	}
	return nil
}
