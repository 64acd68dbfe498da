// Package pgstore is custody's event log on PostgreSQL (pgx/v5): the
// embedded default implementation of eventlog.EventLog and
// eventlog.Eraser.
//
// # Storage
//
// One table, events: a row per event with its envelope, the JSON data
// (jsonb) and the personal data sealed by adapters/eventlog/pii (bytea). Unique
// constraints on event_id and on (stream, stream_version) make the database
// itself enforce idempotent ids and optimistic concurrency; an append is one
// INSERT statement, so it is atomic without an explicit transaction.
// Concurrent appends share transactions (group commit, see committer in
// groupcommit.go): each keeps its own statement and check, and a group
// that fails on any statement is rolled back and its appends run alone.
//
// # Global order without gaps: the xid8 technique
//
// A sequence (the id column) does not give readers a safe order: ids are
// taken when a row is inserted but become visible when its transaction
// commits, so a reader that saw id 11 can later find id 10 committed by a
// slower transaction — a follower that had already moved past 11 would skip
// it forever.
//
// Every row therefore also records the id of the transaction that wrote it
// (tx_id xid8, default pg_current_xact_id()). Readers order by (tx_id, id)
// and only read rows with
//
//	tx_id < pg_snapshot_xmin(pg_current_snapshot())
//
// i.e. written by transactions older than the oldest transaction still
// running. Such a transaction has finished, and no transaction that is
// still running or starts later can obtain a smaller id, so the set of rows
// below that bound never grows again: once a reader passed a position
// (tx_id, id), nothing can appear behind it. Pages continue with the row
// comparison (tx_id, id) > ($last_tx, $last_id), served by the index on
// (tx_id, id). This is the scheme watermill-sql v4 uses.
//
// Position{Commit: tx_id, Prepare: id} is the event's place in that order.
// The price is latency, not correctness: a long-running transaction
// anywhere on the server (xids are server-wide) holds back what readers see
// until it ends.
//
// # Subscriptions
//
// Subscribe reads pages (growing while it is far behind) until it is
// caught up, then waits to be woken and reads again. Wake-ups come from
// this process's own appends, from LISTEN on the channel "custody_events"
// (every Store sends a NOTIFY after its appends commit, so other processes'
// writes wake it too), and from a poll every PollInterval: a notification
// can arrive while an older transaction still holds the xmin bound back,
// and that transaction may send none. NOTIFY is sent after the commit, from
// outside the appending transaction, because a NOTIFY inside it would take
// PostgreSQL's global notify lock at commit and serialise all appending
// transactions. Memory stays flat: a few pages at a time, however long the
// log. Lost connections are retried from the last delivered position.
//
// The caught-up subscriptions of one Store (a process's projector, relay
// and slot keeper) are woken together by the same commits and share one
// read of the new events per wake-up (see readTail): one query and one
// opening of the personal data instead of one per subscription. A
// subscription that fell behind reads alone from its own position. Shared
// events share their Data and PII bytes, which handlers only read.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/internal/pgmigrate"
)

var (
	_ eventlog.EventLog = (*Store)(nil)
	_ eventlog.Eraser   = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// NotifyChannel is the LISTEN/NOTIFY channel appends are announced on.
const NotifyChannel = "custody_events"

// Options configure a Store.
type Options struct {
	// PageSize is how many events ReadAll returns at most when asked for
	// no limit, and how many a live subscription reads per query; one
	// catching up grows its pages to 10 × PageSize. Default 1000.
	PageSize int
	// PollInterval is how often a caught-up subscription looks for new
	// events when no notification woke it. Default 250ms.
	PollInterval time.Duration
	// Keyring seals and opens personal data. Required.
	Keyring *pii.Keyring
	// Logger receives operational messages (never personal data). Default
	// slog.Default().
	Logger *slog.Logger
	// GroupCommits is how many group commits of concurrent appends may be
	// in flight at once (see committer): appends that arrive while that
	// many are running share the next transaction. Default 1; negative:
	// no grouping, every append is a transaction of its own.
	GroupCommits int
}

func (o *Options) setDefaults() {
	if o.PageSize == 0 {
		o.PageSize = 1000
	}
	if o.PollInterval == 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.GroupCommits == 0 {
		o.GroupCommits = 1
	}
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	var errs []error
	if o.PageSize < 1 {
		errs = append(errs, fmt.Errorf("pgstore: PageSize %d < 1", o.PageSize))
	}
	if o.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("pgstore: PollInterval %v <= 0", o.PollInterval))
	}
	if o.Keyring == nil {
		errs = append(errs, errors.New("pgstore: Keyring is required"))
	}
	return errors.Join(errs...)
}

// Store is the PostgreSQL event log. Safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	opts Options

	// wakeMu guards wake, which is closed and replaced whenever new events
	// may be readable: after local appends and on notifications.
	wakeMu  sync.Mutex
	wake    chan struct{}
	wakeGen uint64 // how many wake channels were closed

	// tail is the latest read of a woken subscription, which the others
	// may share (see readTail).
	tailMu sync.Mutex
	tail   *tailRead

	// Coalesced NOTIFY sender (see notify).
	notifyPending atomic.Bool
	notifying     atomic.Bool

	// The shared LISTEN connection runs while subscribers exist.
	listenMu     sync.Mutex
	listeners    int
	stopListener context.CancelFunc
	listenerDone chan struct{}

	// committer groups concurrent appends; nil without grouping.
	committer *committer

	// keysWithEvents: the keyring keeps its keys in this database, so a
	// new subject's key is stored by the statement appending the events
	// sealed with it (see keyedSQL), not in a transaction of its own.
	keysWithEvents bool
}

// New returns a store on pool. It does not touch the database; call
// Migrate once before first use.
func New(ctx context.Context, pool *pgxpool.Pool, o Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Store{pool: pool, opts: o, wake: make(chan struct{})}
	if ks, ok := o.Keyring.KeyStore().(*pii.PostgresKeyStore); ok && ks.Pool() == pool {
		s.keysWithEvents = true
	}
	if o.GroupCommits > 0 {
		s.committer = &committer{s: s, max: o.GroupCommits}
	}
	return s, nil
}

// Migrate creates or updates the store's tables: the event log and the
// pii_keys table of adapters/eventlog/pii (so a PostgreSQL keyring works on the same
// database). Safe to run concurrently from several processes.
func (s *Store) Migrate(ctx context.Context) error {
	return Migrate(ctx, s.pool)
}

// Migrations are the event log's tables, for pgmigrate (listed in
// cmd/custody/app.go, after pii's).
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "pgstore", FS: migrations, Dir: "migrations"}
}

// Migrate applies the event log's and adapters/eventlog/pii's migrations
// to pool (a log in a database of its own needs both).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, pii.Migrations(), Migrations())
	return err
}

// Erase implements eventlog.Eraser by destroying the subject's key in the
// keyring: its events keep their data and read back with PIIErased.
func (s *Store) Erase(ctx context.Context, subject string) error {
	if err := s.opts.Keyring.Erase(ctx, subject); err != nil {
		return unavailable(ctx, fmt.Errorf("pgstore: %w", err))
	}
	return nil
}
