package pii

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
)

// BatchCreateKeyStore is implemented by key stores that create many
// subjects' keys in one round trip; Keyring.SealingKeys uses it.
type BatchCreateKeyStore interface {
	// CreateMany stores fresh[s] as the wrapped key of every subject s that
	// has neither a key nor a tombstone, like LoadOrCreate for each.
	CreateMany(ctx context.Context, fresh map[string][]byte) error
}

var (
	_ BatchCreateKeyStore = (*PostgresKeyStore)(nil)
	_ BatchCreateKeyStore = (*MemoryKeyStore)(nil)
)

// SealingKeys returns the data keys of subjects for sealing many values at
// once (a bulk append): keys that exist are loaded as Keys does, missing
// ones are created in one round trip when the store is a
// BatchCreateKeyStore (else one by one, as Seal would), and erased subjects
// are known as such (KeySet.Seal returns ErrErased for them).
func (k *Keyring) SealingKeys(ctx context.Context, subjects []string) (*KeySet, error) {
	ks, err := k.Keys(ctx, subjects)
	if err != nil {
		return nil, err
	}
	var missing []string
	seen := make(map[string]bool)
	for _, s := range subjects {
		if _, ok := ks.keys[s]; !ok && s != "" && !seen[s] {
			seen[s] = true
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return ks, nil
	}
	if bs, ok := k.store.(BatchCreateKeyStore); ok {
		fresh := make(map[string][]byte, len(missing))
		for _, s := range missing {
			if fresh[s], err = k.newWrappedKey(s); err != nil {
				return nil, err
			}
		}
		if err := bs.CreateMany(ctx, fresh); err != nil {
			return nil, fmt.Errorf("pii: create keys: %w", err)
		}
		more, err := k.Keys(ctx, missing)
		if err != nil {
			return nil, err
		}
		for s, a := range more.keys {
			ks.keys[s] = a
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

// CreateMany implements BatchCreateKeyStore.
func (s *PostgresKeyStore) CreateMany(ctx context.Context, fresh map[string][]byte) error {
	subjects := make([]string, 0, len(fresh))
	wrapped := make([][]byte, 0, len(fresh))
	for sub, w := range fresh {
		subjects, wrapped = append(subjects, sub), append(wrapped, w)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO pii_keys (subject, wrapped_key)
		SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (subject) DO NOTHING`, subjects, wrapped)
	return err
}

// CreateMany implements BatchCreateKeyStore.
func (m *MemoryKeyStore) CreateMany(ctx context.Context, fresh map[string][]byte) error {
	for s, w := range fresh {
		if _, err := m.LoadOrCreate(ctx, s, w); err != nil && !errors.Is(err, ErrErased) {
			return err
		}
	}
	return nil
}
