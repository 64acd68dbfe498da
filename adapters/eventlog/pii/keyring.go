// Package pii seals personal data with a key per data subject (crypto
// shredding): each subject's plaintext is encrypted with AES-256-GCM under
// its own random data key, and data keys are stored only wrapped (encrypted)
// under one master key. Erasing a subject destroys its data key and leaves a
// tombstone, so every ciphertext ever sealed for it becomes unreadable and a
// later Seal for it stores nothing rather than minting a new key.
//
// Keys live in a KeyStore: MemoryKeyStore for tests and in-memory logs,
// PostgresKeyStore for the embedded default.
package pii

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors of the keyring and its key stores.
var (
	// ErrErased: the subject's key was destroyed. Seal stores nothing for it
	// and Open can never return its plaintext again.
	ErrErased = errors.New("pii: data subject erased")
	// ErrKeyNotFound: no key (and no tombstone) exists for the subject, so
	// a sealed value for it cannot have been produced by this key store.
	ErrKeyNotFound = errors.New("pii: no data key for subject")
	// ErrMalformed: a sealed value or wrapped key is not in a known format,
	// or fails authentication (tampered, or another master key).
	ErrMalformed = errors.New("pii: malformed sealed data")
	// ErrNoSubject: Seal or Open was called without a subject.
	ErrNoSubject = errors.New("pii: empty data subject")
)

// KeySize is the size of master and data keys: AES-256.
const KeySize = 32

// formatV1 prefixes every sealed value and wrapped key so the format can
// change later without guessing.
const formatV1 byte = 1

// KeyStore keeps wrapped data keys and tombstones. Implementations are safe
// for concurrent use, also across processes sharing the same storage.
type KeyStore interface {
	// LoadOrCreate returns subject's stored wrapped key, storing wrapped as
	// that key first when the subject has none. Of many concurrent callers
	// for one new subject exactly one key wins and all get it. It returns
	// ErrErased for an erased subject.
	LoadOrCreate(ctx context.Context, subject string, wrapped []byte) ([]byte, error)
	// Load returns subject's wrapped key, ErrErased for an erased subject
	// and ErrKeyNotFound when it never had one.
	Load(ctx context.Context, subject string) ([]byte, error)
	// Erase destroys subject's key and keeps a tombstone. Erasing an erased
	// or unknown subject is no error (the tombstone is kept either way).
	Erase(ctx context.Context, subject string) error
}

// BatchKeyStore is implemented by key stores that load many subjects' keys
// in one round trip; Keyring.Keys uses it.
type BatchKeyStore interface {
	// LoadMany returns the wrapped keys of those subjects that have a key
	// or a tombstone; an erased subject maps to nil, one never seen is
	// absent.
	LoadMany(ctx context.Context, subjects []string) (map[string][]byte, error)
}

// Options configure a Keyring.
type Options struct {
	// CacheSize bounds how many unwrapped data keys are kept in memory.
	// Default 10,000. Negative disables the cache.
	CacheSize int
	// CacheTTL bounds how long an unwrapped key is trusted without asking
	// the store again. It is the longest a key erased by ANOTHER process
	// can still be used here; erasure through this Keyring evicts at once.
	// Default 1 minute.
	CacheTTL time.Duration
}

func (o *Options) setDefaults() {
	if o.CacheSize == 0 {
		o.CacheSize = 10_000
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Minute
	}
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	var errs []error
	if o.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("pii: CacheTTL %v is negative", o.CacheTTL))
	}
	return errors.Join(errs...)
}

// Keyring seals and opens personal data per subject. It is safe for
// concurrent use.
type Keyring struct {
	master cipher.AEAD
	store  KeyStore
	opts   Options

	mu    sync.Mutex
	cache map[string]cachedKey
	// epoch counts erasures. A key loaded while an erasure ran is not
	// cached, so a concurrent Erase cannot be undone by a stale load.
	epoch atomic.Uint64
}

// cachedKey is an unwrapped data key, or (aead nil) the knowledge that the
// subject is erased, which never goes stale: erasure is final.
type cachedKey struct {
	aead    cipher.AEAD
	expires time.Time
}

// NewKeyring returns a keyring wrapping data keys under master (KeySize
// bytes) and keeping them in store.
func NewKeyring(master []byte, store KeyStore, o Options) (*Keyring, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(master) != KeySize {
		return nil, fmt.Errorf("pii: master key is %d bytes, want %d", len(master), KeySize)
	}
	if store == nil {
		return nil, errors.New("pii: nil key store")
	}
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	return &Keyring{master: aead, store: store, opts: o, cache: map[string]cachedKey{}}, nil
}

// NewMemoryKeyring returns a keyring over a MemoryKeyStore with a random
// master key: for tests and in-memory logs, where nothing outlives the
// process.
func NewMemoryKeyring() *Keyring {
	master := make([]byte, KeySize)
	if _, err := rand.Read(master); err != nil {
		panic("pii: no randomness: " + err.Error())
	}
	k, err := NewKeyring(master, NewMemoryKeyStore(), Options{})
	if err != nil {
		panic(err) // unreachable: fixed valid arguments
	}
	return k
}

// Seal encrypts plaintext under subject's data key, creating the key on the
// subject's first use. For an erased subject it returns ErrErased and no
// ciphertext: the caller drops the personal data.
func (k *Keyring) Seal(ctx context.Context, subject string, plaintext []byte) ([]byte, error) {
	if subject == "" {
		return nil, ErrNoSubject
	}
	aead, err := k.key(ctx, subject, true)
	if err != nil {
		return nil, err
	}
	return seal(aead, subject, plaintext)
}

// PendingKey is a fresh data key SealDeferred sealed values with for a
// subject whose key the keyring did not hold, not stored anywhere yet.
//
// The caller stores Wrapped as the subject's key only if the subject has
// no key and no tombstone, in the same transaction as the values sealed
// with it (so the key is durable before any of them can be read, and an
// erased subject never gets a key again), keeps those values only if the
// key was stored, and then calls Keyring.Stored. When the subject had a
// key or a tombstone after all, the values sealed with the pending key
// can never be opened: they are to be sealed again with Seal.
type PendingKey struct {
	Subject string
	Wrapped []byte
	aead    cipher.AEAD
	epoch   uint64
}

// SealDeferred is Seal without a round trip to the key store (and a
// transaction of its own there) for a subject new to the keyring: when the
// subject's key is not in the cache, plaintext is sealed under a fresh key
// that is added to pending (see PendingKey), for the caller to store with
// the sealed value. A subject already in pending is sealed under its
// pending key. A subject the cache knows (its key, or its erasure: then
// ErrErased), or knew until its entry expired, is sealed as Seal does; so
// is every subject when the cache is disabled, since nothing then tells a
// new subject from a known one.
func (k *Keyring) SealDeferred(ctx context.Context, subject string, plaintext []byte, pending map[string]*PendingKey) ([]byte, error) {
	if subject == "" {
		return nil, ErrNoSubject
	}
	if p, ok := pending[subject]; ok {
		return seal(p.aead, subject, plaintext)
	}
	if k.opts.CacheSize < 0 || k.expired(subject) {
		return k.Seal(ctx, subject, plaintext)
	}
	if aead, ok := k.cached(subject); ok {
		if aead == nil {
			return nil, ErrErased
		}
		return seal(aead, subject, plaintext)
	}
	epoch := k.epoch.Load()
	dataKey := make([]byte, KeySize)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("pii: data key: %w", err)
	}
	wrapped, err := k.wrap(subject, dataKey)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	pending[subject] = &PendingKey{Subject: subject, Wrapped: wrapped, aead: aead, epoch: epoch}
	return seal(aead, subject, plaintext)
}

// Stored tells the keyring that p was stored as its subject's key, so
// that later seals and opens use it without asking the store (unless the
// subject was erased through this keyring since p was made).
func (k *Keyring) Stored(p *PendingKey) {
	k.remember(p.Subject, p.aead, p.epoch)
}

// KeyStore is where the keyring keeps its keys.
func (k *Keyring) KeyStore() KeyStore { return k.store }

func seal(aead cipher.AEAD, subject string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("pii: nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, dataAAD(subject)), nil
}

// Open decrypts a value Seal produced for subject. It returns ErrErased
// once the subject was erased.
func (k *Keyring) Open(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	if subject == "" {
		return nil, ErrNoSubject
	}
	aead, err := k.key(ctx, subject, false)
	if err != nil {
		return nil, err
	}
	return open(aead, subject, sealed)
}

func open(aead cipher.AEAD, subject string, sealed []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != formatV1 {
		return nil, fmt.Errorf("%w: sealed value of %d bytes", ErrMalformed, len(sealed))
	}
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], dataAAD(subject))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return plain, nil
}

// KeySet holds the data keys of a set of subjects, to open many sealed
// values at once (see Keyring.Keys). It is meant for one page of reads,
// not to be kept: keys erased after Keys returned are still in it.
type KeySet struct {
	k    *Keyring
	keys map[string]cipher.AEAD // nil: erased
}

// Keys loads the data keys of subjects to open many sealed values, such as
// a page of events: keys in the cache are taken from it, the others are
// loaded in one round trip when the store is a BatchKeyStore, and cached.
// Subjects it could not load (no key, or a store without LoadMany) are
// left to KeySet.Open, which then does what Open does.
func (k *Keyring) Keys(ctx context.Context, subjects []string) (*KeySet, error) {
	ks := &KeySet{k: k, keys: make(map[string]cipher.AEAD, len(subjects))}
	var missing []string
	seen := make(map[string]bool, len(subjects))
	for _, s := range subjects {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		if aead, ok := k.cached(s); ok {
			ks.keys[s] = aead
		} else {
			missing = append(missing, s)
		}
	}
	batch, ok := k.store.(BatchKeyStore)
	if !ok || len(missing) == 0 {
		return ks, nil
	}
	epoch := k.epoch.Load()
	wrapped, err := batch.LoadMany(ctx, missing)
	if err != nil {
		return nil, err
	}
	for s, w := range wrapped {
		if w == nil {
			k.remember(s, nil, epoch)
			ks.keys[s] = nil
			continue
		}
		dataKey, err := k.unwrap(s, w)
		if err != nil {
			return nil, err
		}
		aead, err := newAEAD(dataKey)
		if err != nil {
			return nil, err
		}
		k.remember(s, aead, epoch)
		ks.keys[s] = aead
	}
	return ks, nil
}

// Open decrypts a value Seal produced for subject, like Keyring.Open.
func (ks *KeySet) Open(ctx context.Context, subject string, sealed []byte) ([]byte, error) {
	aead, ok := ks.keys[subject]
	switch {
	case !ok:
		return ks.k.Open(ctx, subject, sealed)
	case aead == nil:
		return nil, ErrErased
	}
	return open(aead, subject, sealed)
}

// Erase destroys subject's data key everywhere this keyring reaches: the
// store (with a tombstone) and this process's cache.
func (k *Keyring) Erase(ctx context.Context, subject string) error {
	if subject == "" {
		return ErrNoSubject
	}
	k.epoch.Add(1)
	k.evict(subject)
	if err := k.store.Erase(ctx, subject); err != nil {
		return fmt.Errorf("pii: erase: %w", err)
	}
	// Evict again: a load that started before the store forgot the key
	// may have cached it in between.
	k.epoch.Add(1)
	k.evict(subject)
	return nil
}

func (k *Keyring) key(ctx context.Context, subject string, create bool) (cipher.AEAD, error) {
	if aead, ok := k.cached(subject); ok {
		if aead == nil {
			return nil, ErrErased
		}
		return aead, nil
	}
	epoch := k.epoch.Load()
	var (
		wrapped []byte
		err     error
	)
	if create {
		var fresh []byte
		if fresh, err = k.newWrappedKey(subject); err != nil {
			return nil, err
		}
		wrapped, err = k.store.LoadOrCreate(ctx, subject, fresh)
	} else {
		wrapped, err = k.store.Load(ctx, subject)
	}
	if errors.Is(err, ErrErased) {
		// Remembering the erasure spares every later read of the
		// subject's events a round trip to the store.
		k.remember(subject, nil, epoch)
	}
	if err != nil {
		return nil, err
	}
	dataKey, err := k.unwrap(subject, wrapped)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(dataKey)
	if err != nil {
		return nil, err
	}
	k.remember(subject, aead, epoch)
	return aead, nil
}

func (k *Keyring) newWrappedKey(subject string) ([]byte, error) {
	dataKey := make([]byte, KeySize)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("pii: data key: %w", err)
	}
	n := k.master.NonceSize()
	out := make([]byte, 1+n, 1+n+KeySize+k.master.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("pii: nonce: %w", err)
	}
	return k.master.Seal(out, out[1:], dataKey, keyAAD(subject)), nil
}

func (k *Keyring) unwrap(subject string, wrapped []byte) ([]byte, error) {
	n := k.master.NonceSize()
	if len(wrapped) != 1+n+KeySize+k.master.Overhead() || wrapped[0] != formatV1 {
		return nil, fmt.Errorf("%w: wrapped key of %d bytes", ErrMalformed, len(wrapped))
	}
	key, err := k.master.Open(nil, wrapped[1:1+n], wrapped[1+n:], keyAAD(subject))
	if err != nil {
		return nil, fmt.Errorf("%w: unwrap data key (wrong master key?): %v", ErrMalformed, err)
	}
	return key, nil
}

func (k *Keyring) cached(subject string) (cipher.AEAD, bool) {
	if k.opts.CacheSize < 0 {
		return nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.cache[subject]
	if !ok {
		return nil, false
	}
	if time.Now().After(c.expires) {
		delete(k.cache, subject)
		return nil, false
	}
	return c.aead, true
}

// expired reports whether the cache holds an expired entry for subject:
// the subject had a key (or was erased) when it was cached.
func (k *Keyring) expired(subject string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.cache[subject]
	return ok && time.Now().After(c.expires)
}

func (k *Keyring) remember(subject string, aead cipher.AEAD, epoch uint64) {
	if k.opts.CacheSize < 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if aead != nil && k.epoch.Load() != epoch {
		return // an erasure ran meanwhile: this key may be the erased one
	}
	if len(k.cache) >= k.opts.CacheSize {
		// Evicting an arbitrary entry (map order) keeps this O(1); a miss
		// costs one store round trip, which is all an LRU would save.
		for s := range k.cache {
			delete(k.cache, s)
			break
		}
	}
	ttl := k.opts.CacheTTL
	if aead == nil {
		ttl = 100 * 365 * 24 * time.Hour // erased for good
	}
	k.cache[subject] = cachedKey{aead: aead, expires: time.Now().Add(ttl)}
}

func (k *Keyring) evict(subject string) {
	k.mu.Lock()
	delete(k.cache, subject)
	k.mu.Unlock()
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	return aead, nil
}

// The additional data binds a ciphertext to its subject, so a sealed value
// or wrapped key copied onto another subject fails to open.
func dataAAD(subject string) []byte { return []byte("custody/pii/v1\x00" + subject) }
func keyAAD(subject string) []byte  { return []byte("custody/pii-key/v1\x00" + subject) }
