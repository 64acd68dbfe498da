package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
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
//
// Saves are group-committed: while one group of saves is being written,
// the saves that arrive queue, and the next group takes them all (up to
// maxSaveGroup) as one INSERT, one commit. A save alone is one statement,
// as before; under concurrency a command's answer no longer costs a
// commit of its own. Each caller still returns only after its answer is
// committed (or with the group's error).
type idempotencyStore struct {
	pool *pgxpool.Pool

	mu       sync.Mutex
	queue    []*pendingSave
	flushing bool
}

// maxSaveGroup bounds the answers one INSERT stores.
const maxSaveGroup = 256

// saveTimeout bounds one group's INSERT: the group is written on behalf
// of callers that may have gone (a client that hung up still gets its
// answer stored, as a retry with its key expects).
const saveTimeout = 30 * time.Second

// pendingSave is one answer waiting for its group.
type pendingSave struct {
	corp, key string
	hash      []byte
	answer    storedAnswer
	// stored: this answer's row was inserted; otherwise (and err nil) an
	// answer with the same key was stored first.
	stored bool
	err    error
	done   chan struct{}
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
	p := &pendingSave{corp: corp, key: key, hash: hash, answer: a, done: make(chan struct{})}
	s.mu.Lock()
	s.queue = append(s.queue, p)
	if !s.flushing {
		s.flushing = true
		go s.flushLoop()
	}
	s.mu.Unlock()
	select {
	case <-p.done:
	case <-ctx.Done():
		// The answer may still be stored by its group.
		return a, ctx.Err()
	}
	if p.err != nil {
		return a, p.err
	}
	if p.stored {
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

// flushLoop writes the queued saves, group after group, until the queue
// is empty.
func (s *idempotencyStore) flushLoop() {
	for {
		s.mu.Lock()
		n := min(len(s.queue), maxSaveGroup)
		if n == 0 {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		group := make([]*pendingSave, n)
		copy(group, s.queue)
		s.queue = append(s.queue[:0], s.queue[n:]...)
		s.mu.Unlock()
		s.flush(group)
	}
}

// flush inserts one group's answers in one statement and wakes the
// callers. Of several answers with one key in a group, the first is
// inserted and the others find it, as if they came after it. A failed
// statement stores nothing of the group and fails every save of it.
func (s *idempotencyStore) flush(group []*pendingSave) {
	defer func() {
		for _, p := range group {
			close(p.done)
		}
	}()
	type slot struct{ corp, key string }
	first := make(map[slot]*pendingSave, len(group))
	var corps, keys []string
	var hashes, bodies [][]byte
	var statuses []int32
	for _, p := range group {
		k := slot{p.corp, p.key}
		if _, dup := first[k]; dup {
			continue
		}
		first[k] = p
		corps = append(corps, p.corp)
		keys = append(keys, p.key)
		hashes = append(hashes, p.hash)
		statuses = append(statuses, int32(p.answer.status))
		bodies = append(bodies, p.answer.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx,
		`INSERT INTO http_idempotency (corp_id, key, request_hash, status, body)
		 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[], $5::bytea[])
		 ON CONFLICT (corp_id, key) DO NOTHING
		 RETURNING corp_id, key`,
		corps, keys, hashes, statuses, bodies)
	if err == nil {
		var k slot
		_, err = pgx.ForEachRow(rows, []any{&k.corp, &k.key}, func() error {
			if p := first[k]; p != nil {
				p.stored = true
			}
			return nil
		})
	}
	if err != nil {
		err = fmt.Errorf("httpapi: idempotency save: %w", err)
		for _, p := range group {
			p.stored, p.err = false, err
		}
	}
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
