package pii

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// BatchCreateKeyStore is implemented by key stores that create many
// subjects' keys in one round trip; Keyring.SealingKeys uses it.
type BatchCreateKeyStore interface {
	// CreateMany stores fresh[s] as the wrapped key of every subject s that
	// has neither a key nor a tombstone, like LoadOrCreate for each, and
	// reports which subjects it stored a key for.
	CreateMany(ctx context.Context, fresh map[string][]byte) (created map[string]bool, err error)
}

var (
	_ BatchCreateKeyStore = (*PostgresKeyStore)(nil)
	_ BatchCreateKeyStore = (*MemoryKeyStore)(nil)
)

// SealingKeys returns the data keys of subjects for sealing many values at
// once (a bulk append): cached keys are taken from the cache; for the
// others, when the store is a BatchCreateKeyStore, fresh keys are offered
// in one round trip and the subjects that already had one (or a tombstone)
// are loaded as Keys does; otherwise each is loaded or created as Seal
// would. Erased subjects are known as such: KeySet.Seal returns ErrErased
// for them.
func (k *Keyring) SealingKeys(ctx context.Context, subjects []string) (*KeySet, error) {
	ks := &KeySet{k: k, keys: make(map[string]cipher.AEAD, len(subjects))}
	var missing []string
	seen := make(map[string]bool, len(subjects))
	for _, s := range subjects {
		if seen[s] || s == "" {
			continue
		}
		seen[s] = true
		if aead, ok := k.cached(s); ok {
			ks.keys[s] = aead
			continue
		}
		missing = append(missing, s)
	}
	if len(missing) == 0 {
		return ks, nil
	}
	if bs, ok := k.store.(BatchCreateKeyStore); ok {
		fresh := make(map[string][]byte, len(missing))
		plain := make(map[string][]byte, len(missing))
		for _, s := range missing {
			dataKey := make([]byte, KeySize)
			if _, err := rand.Read(dataKey); err != nil {
				return nil, fmt.Errorf("pii: data key: %w", err)
			}
			w, err := k.wrap(s, dataKey)
			if err != nil {
				return nil, err
			}
			fresh[s], plain[s] = w, dataKey
		}
		created, err := bs.CreateMany(ctx, fresh)
		if err != nil {
			return nil, fmt.Errorf("pii: create keys: %w", err)
		}
		var rest []string
		for _, s := range missing {
			if !created[s] {
				rest = append(rest, s)
				continue
			}
			aead, err := newAEAD(plain[s])
			if err != nil {
				return nil, err
			}
			// Not cached: a bulk writer seals for each new subject once,
			// and caching thousands of keys per batch would only churn the
			// cache of the keys readers use.
			ks.keys[s] = aead
		}
		if len(rest) > 0 {
			more, err := k.Keys(ctx, rest)
			if err != nil {
				return nil, err
			}
			for s, a := range more.keys {
				ks.keys[s] = a
			}
		}
	}
	for _, s := range missing {
		if _, ok := ks.keys[s]; ok {
			continue
		}
		aead, err := k.key(ctx, s, true)
		switch {
		case errors.Is(err, ErrErased):
			ks.keys[s] = nil
		case err != nil:
			return nil, err
		default:
			ks.keys[s] = aead
		}
	}
	return ks, nil
}

// wrap encrypts a data key under the master key for subject (the format
// newWrappedKey produces).
func (k *Keyring) wrap(subject string, dataKey []byte) ([]byte, error) {
	n := k.master.NonceSize()
	out := make([]byte, 1+n, 1+n+KeySize+k.master.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("pii: nonce: %w", err)
	}
	return k.master.Seal(out, out[1:], dataKey, keyAAD(subject)), nil
}

// Seal encrypts plaintext under subject's key from the set, like
// Keyring.Seal; ErrErased for an erased subject. A subject outside the set
// is sealed through the keyring.
func (ks *KeySet) Seal(ctx context.Context, subject string, plaintext []byte) ([]byte, error) {
	aead, ok := ks.keys[subject]
	switch {
	case !ok:
		return ks.k.Seal(ctx, subject, plaintext)
	case aead == nil:
		return nil, ErrErased
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("pii: nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, dataAAD(subject)), nil
}

// CreateMany implements BatchCreateKeyStore. It looks up which subjects
// already have a row (a key or a tombstone) and copies the keys of the
// others in with COPY: for a bulk writer's new subjects, about two thirds
// of PostgreSQL's work for an INSERT … ON CONFLICT DO NOTHING of the same
// rows. A subject given a row by another writer between the lookup and the
// copy makes the copy fail as a whole (nothing stored); the batch is then
// stored with INSERT … ON CONFLICT DO NOTHING, which settles every race.
func (s *PostgresKeyStore) CreateMany(ctx context.Context, fresh map[string][]byte) (map[string]bool, error) {
	return s.createMany(ctx, fresh, nil)
}

// createMany is CreateMany; between, in tests, runs between the lookup and
// the copy.
func (s *PostgresKeyStore) createMany(ctx context.Context, fresh map[string][]byte, between func(context.Context) error) (map[string]bool, error) {
	if len(fresh) == 0 {
		return map[string]bool{}, nil
	}
	subjects := make([]string, 0, len(fresh))
	size := 21 // the header and the trailer
	for sub, w := range fresh {
		subjects = append(subjects, sub)
		size += 10 + len(sub) + len(w)
	}
	rows, err := s.pool.Query(ctx, `SELECT subject FROM pii_keys WHERE subject = ANY($1)`, subjects)
	if err != nil {
		return nil, err
	}
	taken := map[string]bool{}
	var sub string
	if _, err := pgx.ForEachRow(rows, []any{&sub}, func() error {
		taken[sub] = true
		return nil
	}); err != nil {
		return nil, err
	}
	if between != nil {
		if err := between(ctx); err != nil {
			return nil, err
		}
	}
	created := make(map[string]bool, len(fresh)-len(taken))
	buf := make([]byte, 0, size)
	buf = append(buf, "PGCOPY\n\xff\r\n\x00"...)
	buf = binary.BigEndian.AppendUint64(buf, 0) // flags, header extension
	for _, sub := range subjects {
		if taken[sub] {
			continue
		}
		w := fresh[sub]
		buf = binary.BigEndian.AppendUint16(buf, 2)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(sub)))
		buf = append(buf, sub...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(w)))
		buf = append(buf, w...)
		created[sub] = true
	}
	if len(created) == 0 {
		return created, nil
	}
	buf = binary.BigEndian.AppendUint16(buf, 0xffff)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	_, err = conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(buf), `COPY pii_keys (subject, wrapped_key) FROM STDIN WITH (FORMAT binary)`)
	conn.Release()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return s.insertMany(ctx, fresh)
	}
	if err != nil {
		return nil, err
	}
	return created, nil
}

// insertMany stores the keys of the subjects without a row with INSERT …
// ON CONFLICT DO NOTHING and reports which it stored.
func (s *PostgresKeyStore) insertMany(ctx context.Context, fresh map[string][]byte) (map[string]bool, error) {
	subjects := make([]string, 0, len(fresh))
	wrapped := make([][]byte, 0, len(fresh))
	for sub, w := range fresh {
		subjects, wrapped = append(subjects, sub), append(wrapped, w)
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO pii_keys (subject, wrapped_key)
		SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (subject) DO NOTHING RETURNING subject`, subjects, wrapped)
	if err != nil {
		return nil, err
	}
	created := make(map[string]bool, len(fresh))
	var sub string
	_, err = pgx.ForEachRow(rows, []any{&sub}, func() error {
		created[sub] = true
		return nil
	})
	return created, err
}

// CreateMany implements BatchCreateKeyStore.
func (m *MemoryKeyStore) CreateMany(ctx context.Context, fresh map[string][]byte) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	created := map[string]bool{}
	for s, w := range fresh {
		if _, ok := m.keys[s]; !ok {
			m.keys[s] = bytes.Clone(w)
			created[s] = true
		}
	}
	return created, nil
}
