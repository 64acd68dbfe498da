package pii_test

import (
	"context"
	"errors"
	"testing"

	"github.com/custody/custody/adapters/eventlog/pii"
)

// TestSealingKeys: keys created in bulk open with the keyring (in this
// process and in another keyring on the same store), existing keys are
// reused, erased subjects seal nothing.
func TestSealingKeys(t *testing.T) {
	keyStores(t, func(t *testing.T, newStore func() pii.KeyStore) {
		ctx := context.Background()
		k := newKeyring(t, newStore(), pii.Options{})
		old, err := k.Seal(ctx, "old", []byte("o"))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Erase(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		other := newKeyring(t, newStore(), pii.Options{}) // empty cache
		ks, err := other.SealingKeys(ctx, []string{"a", "b", "a", "old", "gone", ""})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"a", "b", "old"} {
			sealed, err := ks.Seal(ctx, s, []byte("plain "+s))
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			for _, kr := range []*pii.Keyring{k, other, newKeyring(t, newStore(), pii.Options{})} {
				got, err := kr.Open(ctx, s, sealed)
				if err != nil || string(got) != "plain "+s {
					t.Fatalf("%s: open = %q, %v", s, got, err)
				}
			}
		}
		if got, err := other.Open(ctx, "old", old); err != nil || string(got) != "o" {
			t.Errorf("old key replaced: %q %v", got, err)
		}
		if _, err := ks.Seal(ctx, "gone", []byte("x")); !errors.Is(err, pii.ErrErased) {
			t.Errorf("erased subject: %v", err)
		}
	})
}
