package connection_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	aesKey1 = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	aesKey2 = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

func TestConnectRotateAndSeal(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := pii.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := connection.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	keyring, err := pii.NewKeyring(bytes.Repeat([]byte{7}, 32), pii.NewPostgresKeyStore(pool), pii.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := connection.NewStore(pool, keyring)

	if _, err := store.Get(ctx, "acme"); !errors.Is(err, connection.ErrNotFound) {
		t.Fatalf("Get before connect = %v", err)
	}
	c1 := connection.Connection{CorpID: "acme", WeComCorpID: "wx5823bf96d3bd56c7",
		Current: connection.Key{Token: "QDG6eK", EncodingAESKey: aesKey1}, Secret: "app-secret-1"}
	if _, err := store.Connect(ctx, c1, 0); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.Current != c1.Current || got.Secret != "app-secret-1" || len(got.Previous) != 0 {
		t.Fatalf("Get = %+v", got)
	}

	// Rotation keeps the old pair for the overlap; an empty secret keeps
	// the stored one.
	c2 := c1
	c2.Current = connection.Key{Token: "NewToken2", EncodingAESKey: aesKey2}
	c2.Secret = ""
	rotated, err := store.Connect(ctx, c2, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret != "app-secret-1" || len(rotated.Previous) != 1 || rotated.Previous[0].Token != "QDG6eK" {
		t.Fatalf("after rotation: %v previous=%d", rotated, len(rotated.Previous))
	}
	now := time.Now()
	if keys := rotated.Keys(now); len(keys) != 2 || keys[0].Token != "NewToken2" {
		t.Fatalf("keys within the overlap: %d", len(keys))
	}
	if keys := rotated.Keys(now.Add(11 * time.Minute)); len(keys) != 1 {
		t.Fatalf("keys after the overlap: %d", len(keys))
	}

	// No secret is readable in the table.
	var dump []byte
	if err := pool.QueryRow(ctx, `SELECT string_agg(wecom_corp_id || encode(sealed, 'escape'), ',')::bytea FROM wecom.connections`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"QDG6eK", aesKey1, aesKey2, "NewToken2", "app-secret-1"} {
		if bytes.Contains(dump, []byte(secret)) {
			t.Errorf("secret %q stored in the clear", secret)
		}
	}
	for _, s := range []string{got.String(), rotated.String()} {
		if strings.Contains(s, "QDG6eK") || strings.Contains(s, "app-secret") {
			t.Errorf("String shows a secret: %s", s)
		}
	}
	list, err := store.List(ctx)
	if err != nil || len(list) != 1 || !list[0].HasSecret || list[0].PreviousKeys != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := store.Disconnect(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := store.Disconnect(ctx, "acme"); !errors.Is(err, connection.ErrNotFound) {
		t.Fatalf("second Disconnect = %v", err)
	}
}

func TestValidateRefusesWithoutEchoingSecrets(t *testing.T) {
	good := connection.Connection{CorpID: "acme", WeComCorpID: "wx1", Current: connection.Key{Token: "tok", EncodingAESKey: aesKey1}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid connection refused: %v", err)
	}
	for name, mut := range map[string]func(*connection.Connection){
		"empty corp":       func(c *connection.Connection) { c.CorpID = "" },
		"dash in corp":     func(c *connection.Connection) { c.CorpID = "a-b" },
		"NUL in corpid":    func(c *connection.Connection) { c.WeComCorpID = "wx\x00" },
		"long token":       func(c *connection.Connection) { c.Current.Token = strings.Repeat("t", 33) },
		"token with space": func(c *connection.Connection) { c.Current.Token = "to ken" },
		"short aes key":    func(c *connection.Connection) { c.Current.EncodingAESKey = aesKey1[:42] },
		"aes key not b64":  func(c *connection.Connection) { c.Current.EncodingAESKey = strings.Repeat("!", 43) },
		"secret with NUL":  func(c *connection.Connection) { c.Secret = "s\x00cret" },
		"secret over 256":  func(c *connection.Connection) { c.Secret = strings.Repeat("s", 257) },
		"secret bad utf8":  func(c *connection.Connection) { c.Secret = "\xff" },
	} {
		c := good
		mut(&c)
		err := c.Validate()
		if !errors.Is(err, connection.ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
			continue
		}
		for _, secret := range []string{c.Current.Token, c.Current.EncodingAESKey, c.Secret} {
			if secret != "" && len(secret) > 3 && strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error echoes a secret: %v", name, err)
			}
		}
	}
}

// TestTakeTurn: instances (two pools on one database, many goroutines
// each) racing for a corp's turn of a job: exactly one gets it; no one
// within the gap after it; one again once the gap has passed; a turn
// given back is taken at once, and giving back a turn someone else has
// taken since changes nothing. Jobs and corps have turns of their own.
func TestTakeTurn(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := connection.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	other, err := pgxpool.New(ctx, pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	stores := []*connection.Store{connection.NewStore(pool, nil), connection.NewStore(other, nil)}
	const gap = 54 * time.Minute
	t0 := time.Date(2026, 3, 2, 1, 0, 0, 123456789, time.UTC)

	race := func(job, corp string, at time.Time) int {
		t.Helper()
		var (
			wg  sync.WaitGroup
			won atomic.Int32
		)
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := stores[i%2].TakeTurn(ctx, job, corp, at, gap)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		return int(won.Load())
	}
	for _, c := range []struct {
		name      string
		job, corp string
		at        time.Time
		want      int
	}{
		{"first", "mass report", "acme", t0, 1},
		{"another corp", "mass report", "globex", t0, 1},
		{"another job", "reconcile", "acme", t0, 1},
		{"within the gap", "mass report", "acme", t0.Add(gap - time.Second), 0},
		{"after the gap", "mass report", "acme", t0.Add(gap), 1},
	} {
		if got := race(c.job, c.corp, c.at); got != c.want {
			t.Errorf("%s: %d instances took the turn, want %d", c.name, got, c.want)
		}
	}

	// The holder of the turn taken at t0+gap fails and gives it back.
	if err := stores[1].GiveTurnBack(ctx, "mass report", "acme", t0.Add(gap)); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(gap + time.Minute)
	if got := race("mass report", "acme", at); got != 1 {
		t.Errorf("after giving back: %d took the turn, want 1", got)
	}
	// A stale give-back (of the turn at t0+gap) leaves the new one alone.
	if err := stores[0].GiveTurnBack(ctx, "mass report", "acme", t0.Add(gap)); err != nil {
		t.Fatal(err)
	}
	if got := race("mass report", "acme", at.Add(time.Minute)); got != 0 {
		t.Errorf("after a stale give-back: %d took the turn, want 0", got)
	}
}
