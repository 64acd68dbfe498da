package pii

import (
	"bytes"
	"context"
	"sync"
)

// MemoryKeyStore keeps wrapped keys in process memory: for tests and the
// in-memory event log. Safe for concurrent use.
type MemoryKeyStore struct {
	mu   sync.Mutex
	keys map[string][]byte // nil value: tombstone
}

var (
	_ KeyStore      = (*MemoryKeyStore)(nil)
	_ BatchKeyStore = (*MemoryKeyStore)(nil)
)

// NewMemoryKeyStore returns an empty store.
func NewMemoryKeyStore() *MemoryKeyStore {
	return &MemoryKeyStore{keys: map[string][]byte{}}
}

// LoadOrCreate implements KeyStore.
func (m *MemoryKeyStore) LoadOrCreate(ctx context.Context, subject string, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[subject]
	switch {
	case ok && k == nil:
		return nil, ErrErased
	case ok:
		return bytes.Clone(k), nil
	}
	m.keys[subject] = bytes.Clone(wrapped)
	return bytes.Clone(wrapped), nil
}

// Load implements KeyStore.
func (m *MemoryKeyStore) Load(ctx context.Context, subject string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[subject]
	switch {
	case !ok:
		return nil, ErrKeyNotFound
	case k == nil:
		return nil, ErrErased
	}
	return bytes.Clone(k), nil
}

// LoadMany implements BatchKeyStore.
func (m *MemoryKeyStore) LoadMany(ctx context.Context, subjects []string) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(subjects))
	for _, s := range subjects {
		if k, ok := m.keys[s]; ok {
			out[s] = bytes.Clone(k)
		}
	}
	return out, nil
}

// Erase implements KeyStore.
func (m *MemoryKeyStore) Erase(ctx context.Context, subject string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[subject] = nil
	return nil
}
