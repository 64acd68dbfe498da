// Package inbox is the durable store between WeCom's callbacks and custody's
// commands. A verified, decrypted callback is stored here before WeCom gets
// its answer (so an acknowledged callback is never lost), deduplicated by a
// key derived from its content (WeCom retries a callback up to three times
// and sometimes delivers one twice), and translated afterwards by one
// drainer at a time, in the order callbacks were received.
//
// Callbacks of kinds custody does not translate are stored with status
// unknown and kept, never rejected at the door; callbacks that cannot
// become a command are kept with status rejected and the reason.
package inbox

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// drainLock is the advisory lock key of the single drainer.
const drainLock = 0x7765636f6d6472 // "wecomdr"

// Statuses of a stored callback.
const (
	StatusPending  = "pending"
	StatusDone     = "done"
	StatusUnknown  = "unknown"
	StatusRejected = "rejected"
)

// Migrations are the inbox's tables (schema wecom), for pgmigrate (listed
// in cmd/custody/app.go). Versions 1 and 2 were written with IF NOT EXISTS:
// databases where they were created before pgmigrate are adopted by
// running them once.
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "wecom.inbox", FS: migrationFS, Dir: "migrations"}
}

// Migrate applies Migrations alone; `custody migrate` runs every
// component's at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}

// Callback is one verified, decrypted callback as it is stored.
type Callback struct {
	// CorpID is custody's corp the callback was addressed to.
	CorpID string
	// DedupKey identifies the fact: deliveries with the same key are one.
	DedupKey string
	// Kind is Event/ChangeType[/UpdateDetail].
	Kind string
	// Subject is the customer or chat the callback is about ("" for none):
	// a subject's callbacks are translated in the order received.
	Subject string
	// CreateTime is WeCom's CreateTime (zero when absent).
	CreateTime time.Time
	// Payload is the decrypted message as received.
	Payload []byte
}

// Item is a stored callback.
type Item struct {
	Callback
	ID         int64
	ReceivedAt time.Time
	Deliveries int
	Attempts   int
	Status     string
	LastError  string
}

// Stored reports what Store did.
type Stored struct {
	ID int64
	// Duplicate: the fact was stored before; only its delivery count rose.
	Duplicate bool
}

// Inbox stores and drains callbacks. It is safe for concurrent use.
type Inbox struct {
	pool *pgxpool.Pool
}

// New returns an inbox on pool; Migrate must have run.
func New(pool *pgxpool.Pool) *Inbox { return &Inbox{pool: pool} }

// ErrInvalid: a callback without a corp, key, kind or payload.
var ErrInvalid = errors.New("wecom inbox: invalid callback")

// Store records cb durably (the statement commits before Store returns) or
// counts one more delivery of a fact stored before. Only after Store
// returned without error may the callback be acknowledged.
func (b *Inbox) Store(ctx context.Context, cb Callback) (Stored, error) {
	if cb.CorpID == "" || cb.DedupKey == "" || cb.Kind == "" || len(cb.Payload) == 0 {
		return Stored{}, ErrInvalid
	}
	var created *time.Time
	if !cb.CreateTime.IsZero() {
		t := cb.CreateTime.UTC()
		created = &t
	}
	var s Stored
	var inserted bool
	err := b.pool.QueryRow(ctx, `
		INSERT INTO wecom.inbox (corp_id, dedup_key, kind, subject, create_time, payload)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (corp_id, dedup_key) DO UPDATE
		   SET deliveries = inbox.deliveries + 1, last_delivery_at = now()
		RETURNING id, (xmax = 0)`,
		cb.CorpID, cb.DedupKey, cb.Kind, cb.Subject, created, cb.Payload).Scan(&s.ID, &inserted)
	if err != nil {
		return Stored{}, fmt.Errorf("wecom inbox: store: %w", err)
	}
	s.Duplicate = !inserted
	return s, nil
}

// Outcome is what translating one callback came to. A Handler returns an
// error instead when the translation could not be tried (the event log or
// the database failed): the callback stays pending and is tried again.
type Outcome struct {
	// Status is StatusDone, StatusUnknown or StatusRejected.
	Status string
	// Reason says why a callback is unknown or rejected. It must not hold
	// personal data.
	Reason string
}

// Handler translates one callback.
type Handler func(ctx context.Context, it Item) (Outcome, error)

// Drained counts what one Drain did.
type Drained struct {
	Done, Unknown, Rejected int
	// Busy: another drainer holds the lock; nothing was done.
	Busy bool
}

// Drain translates up to limit pending callbacks in the order received,
// one at a time, recording each outcome as soon as it is known. Only one
// drainer runs at a time across every process (an advisory lock); a second
// returns Busy. When h returns an error, Drain records it on the callback,
// stops (so a later callback of the same subject cannot overtake it) and
// returns the error. A crash between a translation and the recording of
// its outcome translates the callback again, so h must be idempotent
// (commands with ids derived from the dedup key are).
func (b *Inbox) Drain(ctx context.Context, limit int, h Handler) (Drained, error) {
	var d Drained
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return d, fmt.Errorf("wecom inbox: drain: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(drainLock)).Scan(&locked); err != nil {
		return d, fmt.Errorf("wecom inbox: drain lock: %w", err)
	}
	if !locked {
		d.Busy = true
		return d, nil
	}
	defer func() {
		// A failed unlock (connection gone) releases the lock with the
		// session anyway; the pool discards broken connections.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(drainLock))
	}()

	items, err := b.list(ctx, conn.Conn(), `WHERE status = 'pending' ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return d, err
	}
	for _, it := range items {
		out, herr := h(ctx, it)
		if herr != nil {
			_, _ = conn.Exec(context.WithoutCancel(ctx), `
				UPDATE wecom.inbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1`,
				it.ID, truncate(herr.Error(), 500))
			return d, fmt.Errorf("wecom inbox: callback %d (%s): %w", it.ID, it.Kind, herr)
		}
		switch out.Status {
		case StatusDone:
			d.Done++
		case StatusUnknown:
			d.Unknown++
		case StatusRejected:
			d.Rejected++
		default:
			return d, fmt.Errorf("wecom inbox: handler returned status %q for callback %d", out.Status, it.ID)
		}
		if _, err := conn.Exec(ctx, `
			UPDATE wecom.inbox SET status = $2, last_error = $3, attempts = attempts + 1, processed_at = now()
			 WHERE id = $1`, it.ID, out.Status, truncate(out.Reason, 500)); err != nil {
			return d, fmt.Errorf("wecom inbox: record outcome of callback %d: %w", it.ID, err)
		}
	}
	return d, nil
}

// List returns a corp's callbacks with the given status, oldest first,
// after the id after (0: from the start), at most limit.
func (b *Inbox) List(ctx context.Context, corpID, status string, after int64, limit int) ([]Item, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("wecom inbox: list: %w", err)
	}
	defer conn.Release()
	return b.list(ctx, conn.Conn(), `WHERE corp_id = $2 AND status = $3 AND id > $4 ORDER BY id LIMIT $1`,
		limit, corpID, status, after)
}

// Counts returns a corp's number of callbacks per status.
func (b *Inbox) Counts(ctx context.Context, corpID string) (map[string]int, error) {
	rows, err := b.pool.Query(ctx, `SELECT status, count(*) FROM wecom.inbox WHERE corp_id = $1 GROUP BY status`, corpID)
	if err != nil {
		return nil, fmt.Errorf("wecom inbox: counts: %w", err)
	}
	counts := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("wecom inbox: counts: %w", err)
		}
		counts[s] = n
	}
	return counts, rows.Err()
}

func (b *Inbox) list(ctx context.Context, conn *pgx.Conn, where string, args ...any) ([]Item, error) {
	rows, err := conn.Query(ctx, `
		SELECT id, corp_id, dedup_key, kind, subject, create_time, payload,
		       received_at, deliveries, attempts, status, last_error
		  FROM wecom.inbox `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("wecom inbox: list: %w", err)
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		var it Item
		var created *time.Time
		if err := rows.Scan(&it.ID, &it.CorpID, &it.DedupKey, &it.Kind, &it.Subject, &created, &it.Payload,
			&it.ReceivedAt, &it.Deliveries, &it.Attempts, &it.Status, &it.LastError); err != nil {
			return nil, fmt.Errorf("wecom inbox: list: %w", err)
		}
		if created != nil {
			it.CreateTime = created.UTC()
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("wecom inbox: list: %w", err)
	}
	return items, nil
}

// truncate makes s storable as text (valid UTF-8, no NUL) and cuts it to at
// most n bytes on a rune boundary.
func truncate(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
