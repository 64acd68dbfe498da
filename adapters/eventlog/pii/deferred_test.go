package pii_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/custody/custody/adapters/eventlog/pii"
)

// roundTrips counts the calls of a key store (its round trips).
type roundTrips struct {
	pii.KeyStore
	calls atomic.Int64
}

func (c *roundTrips) LoadOrCreate(ctx context.Context, s string, w []byte) ([]byte, error) {
	c.calls.Add(1)
	return c.KeyStore.LoadOrCreate(ctx, s, w)
}

func (c *roundTrips) Load(ctx context.Context, s string) ([]byte, error) {
	c.calls.Add(1)
	return c.KeyStore.Load(ctx, s)
}

// SealDeferred seals a new subject's values under one pending key without
// asking the store; once Stored, the key serves Open and Seal from the
// cache; a known or erased subject is sealed as Seal does.
func TestSealDeferred(t *testing.T) {
	ctx := context.Background()
	mem := pii.NewMemoryKeyStore()
	store := &roundTrips{KeyStore: mem}
	k := newKeyring(t, store, pii.Options{})
	pending := map[string]*pii.PendingKey{}
	a, err := k.SealDeferred(ctx, "new", []byte("one"), pending)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.SealDeferred(ctx, "new", []byte("two"), pending)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending["new"] == nil || store.calls.Load() != 0 {
		t.Fatalf("%d pending keys, %d store calls; want 1 and 0", len(pending), store.calls.Load())
	}
	// What the caller does with the pending key: store it (here directly).
	p := pending["new"]
	if _, err := mem.LoadOrCreate(ctx, p.Subject, p.Wrapped); err != nil {
		t.Fatal(err)
	}
	k.Stored(p)
	for sealed, want := range map[string]string{string(a): "one", string(b): "two"} {
		got, err := k.Open(ctx, "new", []byte(sealed))
		if err != nil || string(got) != want {
			t.Fatalf("open: %q, %v; want %q", got, err, want)
		}
	}
	if store.calls.Load() != 0 {
		t.Errorf("%d store calls after Stored, want 0", store.calls.Load())
	}
	// Another keyring on the same store opens them with the stored key.
	other := newKeyring(t, mem, pii.Options{})
	if got, err := other.Open(ctx, "new", a); err != nil || string(got) != "one" {
		t.Fatalf("other keyring opens %q, %v", got, err)
	}
	// Known now: no pending key.
	pending = map[string]*pii.PendingKey{}
	if _, err := k.SealDeferred(ctx, "new", []byte("three"), pending); err != nil || len(pending) != 0 {
		t.Fatalf("known subject: %d pending keys, %v", len(pending), err)
	}
	// Known to be erased: ErrErased, nothing pending. (Right after an
	// erasure the cache has forgotten the subject, and SealDeferred makes a
	// pending key the store then refuses: see pgstore's
	// TestSubjectErasedElsewhereGetsNoKey.)
	if err := k.Erase(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Seal(ctx, "new", []byte("four")); !errors.Is(err, pii.ErrErased) {
		t.Fatalf("seal after erasure: %v", err)
	}
	if _, err := k.SealDeferred(ctx, "new", []byte("four"), pending); !errors.Is(err, pii.ErrErased) || len(pending) != 0 {
		t.Fatalf("erased subject: %v, %d pending keys", err, len(pending))
	}
	// A pending key made before an erasure is not cached by Stored.
	pending = map[string]*pii.PendingKey{}
	if _, err := k.SealDeferred(ctx, "late", []byte("x"), pending); err != nil {
		t.Fatal(err)
	}
	if err := k.Erase(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	k.Stored(pending["late"])
	if _, err := k.Seal(ctx, "late", []byte("y")); !errors.Is(err, pii.ErrErased) {
		t.Fatalf("seal after an erasure that overtook a pending key: %v, want ErrErased", err)
	}
	if _, err := k.SealDeferred(ctx, "", []byte("x"), pending); !errors.Is(err, pii.ErrNoSubject) {
		t.Fatalf("empty subject: %v", err)
	}
}
