package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Token errors.
var (
	// ErrTokenNotFound: no live token has that secret or id.
	ErrTokenNotFound = errors.New("httpapi: token not found")
	// ErrInvalidCorp: a corp id that cannot name a corp.
	ErrInvalidCorp = errors.New("httpapi: invalid corp id")
)

// tokenPrefix marks custody bearer tokens so that secret scanners and humans
// recognise them.
const tokenPrefix = "cust_"

// Token kinds.
const (
	// KindOperator reads and acts, through the API and the console, and
	// sees personal data. Every token created before kinds existed is one.
	KindOperator = "operator"
	// KindViewer opens the console read-only: it sees pages but cannot act,
	// and the JSON API refuses it (403). It sees personal data only when
	// created with TokenOptions.PersonalData.
	KindViewer = "viewer"
)

// Token is a stored bearer token, without its secret.
type Token struct {
	ID     string
	CorpID string
	Label  string
	// Kind is KindOperator or KindViewer.
	Kind string
	// PersonalData: the token may see personal data (names, remarks,
	// phones). Always true for operators.
	PersonalData bool
	CreatedAt    time.Time
	RevokedAt    *time.Time
}

// TokenOptions choose what a new token may do.
type TokenOptions struct {
	// Viewer makes a read-only console token (KindViewer).
	Viewer bool
	// PersonalData lets a viewer see personal data; operators always do.
	PersonalData bool
}

// Tokens stores corp-bound bearer tokens in PostgreSQL (table http_tokens).
// Only the SHA-256 of a secret is stored: a database dump does not reveal
// usable tokens. Safe for concurrent use. A server remembers tokens it has
// looked up for Options.TokenCacheTTL: a revocation through its own Tokens
// applies to its next request, one made elsewhere within that TTL.
type Tokens struct {
	pool *pgxpool.Pool
	// onRevoke is called after a revocation (the server's auth cache).
	onRevoke func()
}

// NewTokens returns the token store on pool (migrated with Migrate).
func NewTokens(pool *pgxpool.Pool) *Tokens { return &Tokens{pool: pool} }

// hashToken is the stored form of a secret.
func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewSecret returns a fresh random bearer secret.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("httpapi: random token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Create stores a new operator token for corp and returns it with its
// secret. The secret is shown once: it cannot be read back.
func (s *Tokens) Create(ctx context.Context, corp, label string) (Token, string, error) {
	return s.CreateWith(ctx, corp, label, TokenOptions{})
}

// CreateWith is Create for a token of the kind o describes.
func (s *Tokens) CreateWith(ctx context.Context, corp, label string, o TokenOptions) (Token, string, error) {
	if !validCorpID(corp) {
		return Token{}, "", fmt.Errorf("%w: %q", ErrInvalidCorp, corp)
	}
	secret, err := NewSecret()
	if err != nil {
		return Token{}, "", err
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return Token{}, "", fmt.Errorf("httpapi: random token id: %w", err)
	}
	t := Token{ID: "tok_" + hex.EncodeToString(idb[:]), CorpID: corp, Label: label, Kind: KindOperator, PersonalData: true}
	if o.Viewer {
		t.Kind, t.PersonalData = KindViewer, o.PersonalData
	}
	err = s.pool.QueryRow(ctx,
		`INSERT INTO http_tokens (id, corp_id, token_hash, label, kind, personal_data) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		t.ID, corp, hashToken(secret), label, t.Kind, t.PersonalData).Scan(&t.CreatedAt)
	if err != nil {
		return Token{}, "", fmt.Errorf("httpapi: create token: %w", err)
	}
	return t, secret, nil
}

// Revoke makes the token with id unusable from the next request on.
// Revoking an already revoked token is no error; an unknown id is
// ErrTokenNotFound.
func (s *Tokens) Revoke(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE http_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("httpapi: revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrTokenNotFound, id)
	}
	if s.onRevoke != nil {
		s.onRevoke()
	}
	return nil
}

// Lookup returns the live token whose secret is secret, or ErrTokenNotFound.
func (s *Tokens) Lookup(ctx context.Context, secret string) (Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 200 {
		return Token{}, ErrTokenNotFound
	}
	var t Token
	err := s.pool.QueryRow(ctx,
		`SELECT id, corp_id, label, kind, personal_data, created_at FROM http_tokens WHERE token_hash = $1 AND revoked_at IS NULL`,
		hashToken(secret)).Scan(&t.ID, &t.CorpID, &t.Label, &t.Kind, &t.PersonalData, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, ErrTokenNotFound
	}
	if err != nil {
		return Token{}, fmt.Errorf("httpapi: look up token: %w", err)
	}
	return t, nil
}

// List returns the tokens of corp (all corps when corp is empty), newest
// first, revoked ones included.
func (s *Tokens) List(ctx context.Context, corp string) ([]Token, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT id, corp_id, label, kind, personal_data, created_at, revoked_at FROM http_tokens
		 WHERE $1 = '' OR corp_id = $1 ORDER BY created_at DESC, id`, corp)
	if err != nil {
		return nil, fmt.Errorf("httpapi: list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		err := r.Scan(&t.ID, &t.CorpID, &t.Label, &t.Kind, &t.PersonalData, &t.CreatedAt, &t.RevokedAt)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("httpapi: list tokens: %w", err)
	}
	return out, nil
}
