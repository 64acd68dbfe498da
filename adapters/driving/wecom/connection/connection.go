// Package connection stores each custody corp's WeCom connection: the
// WeCom corpid, the callback Token and EncodingAESKey, and the app secret.
// Secrets are sealed (AES-256-GCM under a data key of the keyring, wrapped by
// custody's master key) before they reach the database; they are never
// logged and never returned by String or Summary.
//
// Rotation: connecting again with a new Token or EncodingAESKey keeps the
// previous pair valid for an overlap (default one hour), so callbacks WeCom
// signed under the old pair while the admin console was being changed, and
// its retries of them, are still accepted.
package connection

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/internal/pgmigrate"
)

// DefaultOverlap is how long a replaced Token/EncodingAESKey stays valid.
const DefaultOverlap = time.Hour

// Key is one callback Token and EncodingAESKey pair.
type Key struct {
	Token          string `json:"token"`
	EncodingAESKey string `json:"encoding_aes_key"`
	// Until is when a previous pair stops being accepted; zero for the
	// current pair.
	Until time.Time `json:"until,omitzero"`
}

// Connection is one corp's WeCom connection.
type Connection struct {
	// CorpID is custody's corp.
	CorpID string
	// WeComCorpID is WeCom's corpid: the receiveid callbacks must carry.
	WeComCorpID string
	// Current is the callback Token and EncodingAESKey now configured in
	// WeCom's admin console.
	Current Key
	// Previous pairs still accepted until their Until.
	Previous []Key
	// Secret is the app secret for WeCom's API (optional until the API
	// client is used).
	Secret    string
	UpdatedAt time.Time
}

// Keys returns the pairs to try on a callback received at now: the current
// one first, then previous ones still within their overlap.
func (c Connection) Keys(now time.Time) []Key {
	keys := []Key{c.Current}
	for _, k := range c.Previous {
		if now.Before(k.Until) {
			keys = append(keys, k)
		}
	}
	return keys
}

// String never shows secrets.
func (c Connection) String() string {
	return fmt.Sprintf("wecom connection %s (corpid %s, %d previous keys)", c.CorpID, c.WeComCorpID, len(c.Previous))
}

// Summary is what may be shown of a connection.
type Summary struct {
	CorpID       string    `json:"corp_id"`
	WeComCorpID  string    `json:"wecom_corp_id"`
	HasSecret    bool      `json:"has_secret"`
	PreviousKeys int       `json:"previous_keys"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Summary returns c without its secrets.
func (c Connection) Summary() Summary {
	return Summary{CorpID: c.CorpID, WeComCorpID: c.WeComCorpID, HasSecret: c.Secret != "", PreviousKeys: len(c.Previous), UpdatedAt: c.UpdatedAt}
}

// Errors.
var (
	// ErrInvalid: a field is missing or malformed; nothing was stored.
	ErrInvalid = errors.New("wecom connection: invalid")
	// ErrNotFound: the corp has no WeCom connection.
	ErrNotFound = errors.New("wecom connection: not found")
)

// Validate reports every problem of c, joined, each wrapping ErrInvalid.
// Values are never echoed (they may be secrets).
func (c Connection) Validate() error {
	var errs []error
	bad := func(field, why string) { errs = append(errs, fmt.Errorf("%w: %s %s", ErrInvalid, field, why)) }
	if !plainID(c.CorpID, 64) {
		bad("corp", "must be 1-64 letters, digits or '_'")
	}
	if !plainID(c.WeComCorpID, 64) {
		bad("wecom corpid", "must be 1-64 letters, digits or '_'")
	}
	if !plainID(c.Current.Token, 32) {
		bad("token", "must be 1-32 letters or digits (WeCom's admin console generates them)")
	}
	if k, err := base64.StdEncoding.DecodeString(c.Current.EncodingAESKey + "="); len(c.Current.EncodingAESKey) != 43 || err != nil || len(k) != 32 {
		bad("encoding_aes_key", "must be the 43 characters of WeCom's EncodingAESKey (base64 of 32 bytes without '=')")
	}
	if len(c.Secret) > 256 || !utf8.ValidString(c.Secret) || containsControl(c.Secret) {
		bad("secret", "must be at most 256 printable characters")
	}
	return errors.Join(errs...)
}

func plainID(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func containsControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// Sealer seals and opens secrets under a subject's key (pii.Keyring).
type Sealer interface {
	Seal(ctx context.Context, subject string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, subject string, sealed []byte) ([]byte, error)
}

// subject names the key the corp's secrets are sealed under.
func subject(corpID string) string { return "wecom-connection/" + corpID }

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the connections table and the periodic jobs' turns
// (schema wecom), for pgmigrate
// (listed in cmd/custody/app.go). Version 1 was written with IF NOT EXISTS:
// databases where it was created before pgmigrate are adopted by running
// it once.
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "wecom.connection", FS: migrations, Dir: "migrations"}
}

// Migrate applies Migrations alone; `custody migrate` runs every
// component's at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}

// Store keeps connections in PostgreSQL (table wecom.connections). It is
// safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	sealer Sealer
	now    func() time.Time
}

// NewStore returns a store on pool sealing with sealer.
func NewStore(pool *pgxpool.Pool, sealer Sealer) *Store {
	return &Store{pool: pool, sealer: sealer, now: time.Now}
}

type secrets struct {
	Current  Key    `json:"current"`
	Previous []Key  `json:"previous,omitempty"`
	Secret   string `json:"secret,omitempty"`
}

// Connect stores c as the corp's connection. When the corp was connected
// before with another Token or EncodingAESKey, the old pair stays valid
// for overlap (DefaultOverlap when zero); an empty c.Secret keeps the
// stored app secret. Concurrent Connects of one corp are serialised.
func (s *Store) Connect(ctx context.Context, c Connection, overlap time.Duration) (Connection, error) {
	if err := c.Validate(); err != nil {
		return Connection{}, err
	}
	if overlap <= 0 {
		overlap = DefaultOverlap
	}
	now := s.now().UTC()
	var out Connection
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var sealed []byte
		err := tx.QueryRow(ctx, `SELECT sealed FROM wecom.connections WHERE corp_id = $1 FOR UPDATE`, c.CorpID).Scan(&sealed)
		var old secrets
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			if old, err = s.open(ctx, c.CorpID, sealed); err != nil {
				return err
			}
		}
		next := secrets{Current: Key{Token: c.Current.Token, EncodingAESKey: c.Current.EncodingAESKey}, Secret: c.Secret}
		if next.Secret == "" {
			next.Secret = old.Secret
		}
		for _, k := range old.Previous {
			if now.Before(k.Until) && k.Token+k.EncodingAESKey != next.Current.Token+next.Current.EncodingAESKey {
				next.Previous = append(next.Previous, k)
			}
		}
		if old.Current.Token != "" && (old.Current.Token != next.Current.Token || old.Current.EncodingAESKey != next.Current.EncodingAESKey) {
			prev := old.Current
			prev.Until = now.Add(overlap)
			next.Previous = append([]Key{prev}, next.Previous...)
		}
		plain, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if sealed, err = s.sealer.Seal(ctx, subject(c.CorpID), plain); err != nil {
			return fmt.Errorf("seal secrets: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO wecom.connections (corp_id, wecom_corp_id, sealed, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (corp_id) DO UPDATE SET wecom_corp_id = EXCLUDED.wecom_corp_id, sealed = EXCLUDED.sealed, updated_at = EXCLUDED.updated_at`,
			c.CorpID, c.WeComCorpID, sealed, now); err != nil {
			return err
		}
		out = Connection{CorpID: c.CorpID, WeComCorpID: c.WeComCorpID, Current: next.Current, Previous: next.Previous, Secret: next.Secret, UpdatedAt: now}
		return nil
	})
	if err != nil {
		return Connection{}, fmt.Errorf("wecom connection: connect %s: %w", c.CorpID, err)
	}
	return out, nil
}

// Get returns the corp's connection with its secrets opened, or
// ErrNotFound.
func (s *Store) Get(ctx context.Context, corpID string) (Connection, error) {
	var c Connection
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT corp_id, wecom_corp_id, sealed, updated_at FROM wecom.connections WHERE corp_id = $1`, corpID).
		Scan(&c.CorpID, &c.WeComCorpID, &sealed, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Connection{}, ErrNotFound
	}
	if err != nil {
		return Connection{}, fmt.Errorf("wecom connection: get: %w", err)
	}
	sec, err := s.open(ctx, corpID, sealed)
	if err != nil {
		return Connection{}, fmt.Errorf("wecom connection: get %s: %w", corpID, err)
	}
	c.Current, c.Previous, c.Secret = sec.Current, sec.Previous, sec.Secret
	return c, nil
}

// List returns every connection's summary, without secrets, by corp.
func (s *Store) List(ctx context.Context) ([]Summary, error) {
	rows, err := s.pool.Query(ctx, `SELECT corp_id FROM wecom.connections ORDER BY corp_id`)
	if err != nil {
		return nil, fmt.Errorf("wecom connection: list: %w", err)
	}
	corps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("wecom connection: list: %w", err)
	}
	out := make([]Summary, 0, len(corps))
	for _, corp := range corps {
		c, err := s.Get(ctx, corp)
		if errors.Is(err, ErrNotFound) {
			continue // disconnected meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c.Summary())
	}
	return out, nil
}

// Disconnect removes the corp's connection: its callbacks are refused from
// then on. Disconnecting an unconnected corp returns ErrNotFound.
func (s *Store) Disconnect(ctx context.Context, corpID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM wecom.connections WHERE corp_id = $1`, corpID)
	if err != nil {
		return fmt.Errorf("wecom connection: disconnect: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *Store) open(ctx context.Context, corpID string, sealed []byte) (secrets, error) {
	plain, err := s.sealer.Open(ctx, subject(corpID), sealed)
	if err != nil {
		return secrets{}, fmt.Errorf("open secrets: %w", err)
	}
	var sec secrets
	if err := json.Unmarshal(plain, &sec); err != nil {
		return secrets{}, fmt.Errorf("open secrets: %w", err)
	}
	sec.Previous = slices.DeleteFunc(sec.Previous, func(k Key) bool { return k.Token == "" })
	return sec, nil
}

// TakeTurn gives the caller the turn of job for the corp at now when no
// turn of it was taken in the gap before now, and records it (table
// wecom.job_turns): of instances racing for a turn, one gets it. Periodic
// jobs ask for a turn per corp before calling WeCom, with a gap a little
// shorter than their period, so a corp is polled about once per period
// whatever the number of instances.
func (s *Store) TakeTurn(ctx context.Context, job, corpID string, now time.Time, gap time.Duration) (bool, error) {
	now = now.Truncate(time.Microsecond) // as PostgreSQL keeps it, for GiveTurnBack
	var taken bool
	err := s.pool.QueryRow(ctx, `
		INSERT INTO wecom.job_turns AS t (job, corp_id, taken_at) VALUES ($1, $2, $3)
		ON CONFLICT (job, corp_id) DO UPDATE SET taken_at = excluded.taken_at
		WHERE t.taken_at <= $3::timestamptz - make_interval(secs => $4)
		RETURNING true`, job, corpID, now, gap.Seconds()).Scan(&taken)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("wecom connection: take the turn of %s for %s: %w", job, corpID, err)
	}
	return taken, nil
}

// GiveTurnBack returns the turn of job for the corp taken at `taken`
// (after the job failed), so that the next instance to ask gets it
// without waiting for the gap. A turn taken since by another is left
// alone.
func (s *Store) GiveTurnBack(ctx context.Context, job, corpID string, taken time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE wecom.job_turns SET taken_at = '-infinity'
		WHERE job = $1 AND corp_id = $2 AND taken_at = $3`, job, corpID, taken.Truncate(time.Microsecond))
	if err != nil {
		return fmt.Errorf("wecom connection: give back the turn of %s for %s: %w", job, corpID, err)
	}
	return nil
}

// Turn is a periodic job's turn-taking for one corp: ok reports whether
// this instance has the corp's turn at now; giveBack, after a failed run,
// returns the turn so another instance may try at its next tick.
type Turn func(ctx context.Context, corpID string, now time.Time) (ok bool, giveBack func(), err error)

// Turns is the Turn of job run every period on each instance: a turn is
// given when the last was taken at least nine tenths of a period ago (the
// tenth absorbs the instances' tick jitter), so the corp's job runs about
// once per period across all instances.
func (s *Store) Turns(job string, period time.Duration) Turn {
	gap := period - period/10
	return func(ctx context.Context, corpID string, now time.Time) (bool, func(), error) {
		ok, err := s.TakeTurn(ctx, job, corpID, now, gap)
		giveBack := func() { _ = s.GiveTurnBack(context.WithoutCancel(ctx), job, corpID, now) }
		return ok, giveBack, err
	}
}
