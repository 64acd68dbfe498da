package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// idempotencyNamespace derives command ids from (corp, Idempotency-Key).
// Fixed forever: changing it would make retries of old requests new commands.
var idempotencyNamespace = uuid.MustParse("0e6f3c4c-1f5e-4c53-9a43-3c1a1a9c7d15")

// commandIDFor is the command id of a request with Idempotency-Key key in
// corp. The commands derive event ids from it, so two concurrent requests
// with the same key append the same events and the log keeps one copy.
func commandIDFor(corp, key string) string {
	return uuid.NewSHA1(idempotencyNamespace, []byte(corp+"\x00"+key)).String()
}

// validIdempotencyKey: 1-255 visible ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestHash identifies a request for the "same key, same request" check:
// method, path and body bytes.
func requestHash(method, path string, body []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", method, path)
	h.Write(body)
	return h.Sum(nil)
}

// storedAnswer is a response kept for replay.
type storedAnswer struct {
	status int
	body   []byte
}

// idempotencyStore keeps answers of requests that carried an
// Idempotency-Key (table http_idempotency).
type idempotencyStore struct {
	pool *pgxpool.Pool
}

// errKeyReused: the key was used before with a different request.
var errKeyReused = newError(http.StatusUnprocessableEntity, CodeIdempotencyReused,
	"Idempotency-Key was already used with a different request")

// lookup returns the stored answer of (corp, key), nil when there is none,
// or errKeyReused when the stored request differs from hash.
func (s *idempotencyStore) lookup(ctx context.Context, corp, key string, hash []byte) (*storedAnswer, error) {
	var a storedAnswer
	var stored []byte
	err := s.pool.QueryRow(ctx,
		`SELECT request_hash, status, body FROM http_idempotency WHERE corp_id = $1 AND key = $2`,
		corp, key).Scan(&stored, &a.status, &a.body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("httpapi: idempotency lookup: %w", err)
	}
	if !bytes.Equal(stored, hash) {
		return nil, errKeyReused
	}
	return &a, nil
}

// save stores an answer. When a concurrent request with the same key saved
// first, its answer wins and is returned, so both callers answer alike.
func (s *idempotencyStore) save(ctx context.Context, corp, key string, hash []byte, a storedAnswer) (storedAnswer, error) {
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO http_idempotency (corp_id, key, request_hash, status, body)
		 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (corp_id, key) DO NOTHING`,
		corp, key, hash, a.status, a.body)
	if err != nil {
		return a, fmt.Errorf("httpapi: idempotency save: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return a, nil
	}
	prev, err := s.lookup(ctx, corp, key, hash)
	if err != nil {
		return a, err
	}
	if prev == nil {
		return a, nil
	}
	return *prev, nil
}

// PruneIdempotency deletes stored answers older than retention and reports
// how many. A retry with a pruned key runs the command again under the same
// command id: the commands find their events already recorded and record
// nothing new (the answer then says replayed).
func (s *Server) PruneIdempotency(ctx context.Context, retention time.Duration) (int64, error) {
	tag, err := s.opts.Pool.Exec(ctx, `DELETE FROM http_idempotency WHERE created_at < now() - $1::interval`,
		fmt.Sprintf("%d seconds", int64(retention.Seconds())))
	if err != nil {
		return 0, fmt.Errorf("httpapi: prune idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
