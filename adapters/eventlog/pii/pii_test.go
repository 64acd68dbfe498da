package pii_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func master(b byte) []byte { return bytes.Repeat([]byte{b}, pii.KeySize) }

func newKeyring(t *testing.T, store pii.KeyStore, o pii.Options) *pii.Keyring {
	t.Helper()
	k, err := pii.NewKeyring(master(7), store, o)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyStores runs f on every KeyStore implementation.
func keyStores(t *testing.T, f func(t *testing.T, newStore func() pii.KeyStore)) {
	t.Run("memory", func(t *testing.T) {
		s := pii.NewMemoryKeyStore()
		f(t, func() pii.KeyStore { return s })
	})
	t.Run("postgres", func(t *testing.T) {
		pool := pgtest.NewPool(t)
		if err := pii.Migrate(context.Background(), pool); err != nil {
			t.Fatal(err)
		}
		f(t, func() pii.KeyStore { return pii.NewPostgresKeyStore(pool) })
	})
}

func TestSealOpenErase(t *testing.T) {
	keyStores(t, func(t *testing.T, newStore func() pii.KeyStore) {
		ctx := context.Background()
		k := newKeyring(t, newStore(), pii.Options{})
		plain := []byte(`{"name":"张三"}`)
		sealed, err := k.Seal(ctx, "customer/c/1", plain)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte("张三")) {
			t.Fatal("sealed value contains the plaintext")
		}
		again, err := k.Seal(ctx, "customer/c/1", plain)
		if err != nil || bytes.Equal(again, sealed) {
			t.Fatalf("sealing twice gave the same bytes (nonce reuse?) or err %v", err)
		}
		got, err := k.Open(ctx, "customer/c/1", sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open: %q, %v", got, err)
		}
		// Bound to its subject.
		if _, err := k.Seal(ctx, "customer/c/2", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Open(ctx, "customer/c/2", sealed); !errors.Is(err, pii.ErrMalformed) {
			t.Fatalf("open under another subject: err %v, want ErrMalformed", err)
		}
		// Tampering is detected.
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		if _, err := k.Open(ctx, "customer/c/1", bad); !errors.Is(err, pii.ErrMalformed) {
			t.Fatalf("open of tampered value: err %v, want ErrMalformed", err)
		}
		if _, err := k.Open(ctx, "customer/c/never", sealed); !errors.Is(err, pii.ErrKeyNotFound) {
			t.Fatalf("open for an unknown subject: err %v, want ErrKeyNotFound", err)
		}

		if err := k.Erase(ctx, "customer/c/1"); err != nil {
			t.Fatal(err)
		}
		if err := k.Erase(ctx, "customer/c/1"); err != nil {
			t.Fatalf("second erase: %v", err)
		}
		if _, err := k.Open(ctx, "customer/c/1", sealed); !errors.Is(err, pii.ErrErased) {
			t.Fatalf("open after erase (cached key must be evicted): err %v, want ErrErased", err)
		}
		if _, err := k.Seal(ctx, "customer/c/1", plain); !errors.Is(err, pii.ErrErased) {
			t.Fatalf("seal after erase: err %v, want ErrErased (no new key)", err)
		}
		// Erasing a subject that never had a key still blocks future keys.
		if err := k.Erase(ctx, "customer/c/3"); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Seal(ctx, "customer/c/3", plain); !errors.Is(err, pii.ErrErased) {
			t.Fatalf("seal for a pre-erased subject: err %v, want ErrErased", err)
		}
		// Other subjects are untouched.
		if _, err := k.Seal(ctx, "customer/c/2", plain); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Seal(ctx, "", plain); !errors.Is(err, pii.ErrNoSubject) {
			t.Fatalf("empty subject: err %v", err)
		}
	})
}

// Many keyrings (as in many processes) create the first key of the same
// subjects at once: every one ends up with the same key.
func TestConcurrentKeyCreation(t *testing.T) {
	keyStores(t, func(t *testing.T, newStore func() pii.KeyStore) {
		ctx := context.Background()
		const workers, subjects = 8, 20
		sealed := make([][][]byte, workers)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := newKeyring(t, newStore(), pii.Options{CacheSize: -1})
				for s := range subjects {
					b, err := k.Seal(ctx, fmt.Sprintf("customer/c/%d", s), []byte("x"))
					if err != nil {
						errs <- err
						return
					}
					sealed[w] = append(sealed[w], b)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		reader := newKeyring(t, newStore(), pii.Options{})
		for w := range workers {
			for s, b := range sealed[w] {
				if _, err := reader.Open(ctx, fmt.Sprintf("customer/c/%d", s), b); err != nil {
					t.Fatalf("worker %d subject %d sealed under a key that lost the race: %v", w, s, err)
				}
			}
		}
	})
}

// An erasure in another process is seen once the cache entry expires.
func TestErasureElsewhereAfterTTL(t *testing.T) {
	ctx := context.Background()
	store := pii.NewMemoryKeyStore()
	here := newKeyring(t, store, pii.Options{CacheTTL: time.Nanosecond})
	elsewhere := newKeyring(t, store, pii.Options{})
	sealed, err := here.Seal(ctx, "s", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := elsewhere.Erase(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := here.Open(ctx, "s", sealed)
		if errors.Is(err, pii.ErrErased) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key erased elsewhere still opens: err %v", err)
		}
	}
}

func TestWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	store := pii.NewMemoryKeyStore()
	sealed, err := newKeyring(t, store, pii.Options{}).Seal(ctx, "s", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := pii.NewKeyring(master(8), store, pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(ctx, "s", sealed); !errors.Is(err, pii.ErrMalformed) || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("open with another master key: err %v, want ErrMalformed naming the master key", err)
	}
	if _, err := pii.NewKeyring(make([]byte, 16), store, pii.Options{}); err == nil {
		t.Fatal("a 16-byte master key was accepted")
	}
	if _, err := pii.NewKeyring(master(1), store, pii.Options{CacheTTL: -time.Second}); err == nil {
		t.Fatal("a negative cache TTL was accepted")
	}
}

// The cache stays within its bound and still serves every subject.
func TestCacheBound(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t, pii.NewMemoryKeyStore(), pii.Options{CacheSize: 3})
	var sealed [][]byte
	for i := range 10 {
		b, err := k.Seal(ctx, fmt.Sprint(i), []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, b)
	}
	for i, b := range sealed {
		got, err := k.Open(ctx, fmt.Sprint(i), b)
		if err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("subject %d: %v %v", i, got, err)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, pii.KeySize)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, err := pii.ParseMasterKey(" " + enc.EncodeToString(key) + "\n")
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("parse: %v %v", got, err)
		}
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString(key[:16]), base64.StdEncoding.EncodeToString(append(key, 1))} {
		if _, err := pii.ParseMasterKey(bad); !errors.Is(err, pii.ErrBadMasterKey) || !strings.Contains(err.Error(), pii.MasterKeyEnv) {
			t.Fatalf("parse %q: err %v, want ErrBadMasterKey naming %s", bad, err, pii.MasterKeyEnv)
		}
	}
}

func TestDevelopmentMasterKey(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv(pii.MasterKeyEnv, "")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	// Several processes starting at once agree on one key.
	keys := make([][]byte, 6)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := pii.LoadMasterKey(slog.New(slog.DiscardHandler))
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) || len(k) != pii.KeySize {
			t.Fatal("concurrent starts generated different development keys")
		}
	}
	fi, err := os.Stat(pii.DevMasterKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("development key mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := pii.LoadMasterKey(logger)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Fatalf("reload: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), pii.MasterKeyEnv) {
		t.Fatalf("no loud warning: %q", logs.String())
	}
	entries, _ := os.ReadDir(filepath.Dir(pii.DevMasterKeyPath))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	t.Setenv(pii.MasterKeyEnv, base64.StdEncoding.EncodeToString(master(3)))
	k, err := pii.LoadMasterKey(logger)
	if err != nil || !bytes.Equal(k, master(3)) {
		t.Fatalf("env key: %v", err)
	}
	t.Setenv(pii.MasterKeyEnv, "short")
	if _, err := pii.LoadMasterKey(logger); !errors.Is(err, pii.ErrBadMasterKey) {
		t.Fatalf("bad env key: err %v", err)
	}
}

// FuzzOpen feeds arbitrary stored bytes to Open: it must refuse them
// without panicking, and never "open" anything it did not seal.
func FuzzOpen(f *testing.F) {
	k, err := pii.NewKeyring(master(7), pii.NewMemoryKeyStore(), pii.Options{})
	if err != nil {
		f.Fatal(err)
	}
	good, err := k.Seal(context.Background(), "s", []byte(`{"a":1}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(append([]byte{2}, good[1:]...))
	f.Add(good[:len(good)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := k.Open(context.Background(), "s", b)
		if bytes.Equal(b, good) {
			if err != nil {
				t.Fatalf("the sealed value does not open: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("forged value opened to %q", plain)
		}
	})
}

func FuzzParseMasterKey(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(master(1)))
	f.Add("")
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := pii.ParseMasterKey(s)
		if err == nil && len(k) != pii.KeySize {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
	})
}

// countingStore counts Load calls.
type countingStore struct {
	pii.KeyStore
	loads atomic.Int64
}

func (c *countingStore) Load(ctx context.Context, subject string) ([]byte, error) {
	c.loads.Add(1)
	return c.KeyStore.Load(ctx, subject)
}

// Reading many events of an erased subject asks the store once.
func TestErasureIsCached(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{KeyStore: pii.NewMemoryKeyStore()}
	writer := newKeyring(t, store, pii.Options{})
	sealed, err := writer.Seal(ctx, "s", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Erase(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	reader := newKeyring(t, store, pii.Options{})
	before := store.loads.Load()
	for range 100 {
		if _, err := reader.Open(ctx, "s", sealed); !errors.Is(err, pii.ErrErased) {
			t.Fatalf("err %v, want ErrErased", err)
		}
	}
	if n := store.loads.Load() - before; n != 1 {
		t.Fatalf("%d store loads for 100 reads of an erased subject, want 1", n)
	}
}

// batchCounting counts Load and LoadMany calls of a BatchKeyStore.
type batchCounting struct {
	pii.KeyStore
	loads, batches atomic.Int64
}

func (c *batchCounting) Load(ctx context.Context, subject string) ([]byte, error) {
	c.loads.Add(1)
	return c.KeyStore.Load(ctx, subject)
}

func (c *batchCounting) LoadMany(ctx context.Context, subjects []string) (map[string][]byte, error) {
	c.batches.Add(1)
	return c.KeyStore.(pii.BatchKeyStore).LoadMany(ctx, subjects)
}

// Keys opens what Open opens — live, erased, unknown and tampered values
// alike — loading the keys of a whole page of subjects in one store round
// trip, and caches them for later reads.
func TestKeysOpensLikeOpen(t *testing.T) {
	keyStores(t, func(t *testing.T, newStore func() pii.KeyStore) {
		ctx := context.Background()
		writer := newKeyring(t, newStore(), pii.Options{})
		subjects := make([]string, 50)
		sealed := make([][]byte, 50)
		for i := range subjects {
			subjects[i] = fmt.Sprintf("customer/c/%d", i)
			var err error
			if sealed[i], err = writer.Seal(ctx, subjects[i], []byte(subjects[i])); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range subjects[:5] {
			if err := writer.Erase(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		store := &batchCounting{KeyStore: newStore()}
		reader := newKeyring(t, store, pii.Options{})
		// One subject already cached, one asked twice, one unknown.
		if _, err := reader.Open(ctx, subjects[10], sealed[10]); err != nil {
			t.Fatal(err)
		}
		loadsBefore := store.loads.Load()
		page := append(append([]string{}, subjects...), subjects[20], "customer/c/never", "")
		keys, err := reader.Keys(ctx, page)
		if err != nil {
			t.Fatal(err)
		}
		if store.batches.Load() != 1 || store.loads.Load() != loadsBefore {
			t.Fatalf("Keys for %d subjects: %d batch loads and %d single loads, want 1 and 0", len(page), store.batches.Load(), store.loads.Load()-loadsBefore)
		}
		for i, s := range subjects {
			got, err := keys.Open(ctx, s, sealed[i])
			want, wantErr := reader.Open(ctx, s, sealed[i])
			if !bytes.Equal(got, want) || !errors.Is(err, wantErr) && err != wantErr {
				t.Errorf("%s: KeySet.Open = %q, %v; Keyring.Open = %q, %v", s, got, err, want, wantErr)
			}
			if i < 5 && !errors.Is(err, pii.ErrErased) || i >= 5 && string(got) != s {
				t.Errorf("%s: %q, %v", s, got, err)
			}
		}
		bad := bytes.Clone(sealed[30])
		bad[len(bad)-1] ^= 1
		if _, err := keys.Open(ctx, subjects[30], bad); !errors.Is(err, pii.ErrMalformed) {
			t.Errorf("tampered value: %v, want ErrMalformed", err)
		}
		if _, err := keys.Open(ctx, subjects[31], sealed[30]); !errors.Is(err, pii.ErrMalformed) {
			t.Errorf("value of another subject: %v, want ErrMalformed", err)
		}
		if _, err := keys.Open(ctx, "customer/c/never", sealed[30]); !errors.Is(err, pii.ErrKeyNotFound) {
			t.Errorf("unknown subject: %v, want ErrKeyNotFound", err)
		}
		// The keys were cached: reading the page again asks the store nothing.
		loads, batches := store.loads.Load(), store.batches.Load()
		for i, s := range subjects {
			if _, err := reader.Open(ctx, s, sealed[i]); err != nil && !errors.Is(err, pii.ErrErased) {
				t.Fatal(err)
			}
		}
		if _, err := reader.Keys(ctx, subjects); err != nil {
			t.Fatal(err)
		}
		if store.loads.Load() != loads || store.batches.Load() != batches {
			t.Errorf("re-reading cached subjects asked the store %d + %d times", store.loads.Load()-loads, store.batches.Load()-batches)
		}
	})
}
