// Package logbinding records which event log the positions kept in a
// PostgreSQL database belong to: the projections' checkpoints, the relay
// routes' and the followers' (slot keeper). Positions are the log's own
// (a copy made with custody log copy holds the same events at other
// positions), so a database whose positions came from one log must not be
// used with another without moving them: custody serve checks the binding
// at start and refuses a changed log, naming what to run (custody log
// rebind).
package logbinding

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the binding table, for pgmigrate (listed in
// cmd/custody/app.go).
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "logbinding", FS: migrations, Dir: "migrations"}
}

// ErrChanged: the database is bound to another log than the one given.
var ErrChanged = errors.New("logbinding: the event log changed")

// ChangedError says which log the database is bound to and which one was
// given, and what to run. errors.Is(err, ErrChanged) holds.
type ChangedError struct {
	Bound, Current eventlog.Identity
	BoundAt        time.Time
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("the event log changed: the positions kept in this database (projection checkpoints, relay routes, "+
		"followers) belong to %s (bound %s), but the configured event log is %s. Either set CUSTODY_EVENT_LOG back to "+
		"the bound log, or stop every custody serve and run 'custody log rebind -relay-from start|head' (it rebuilds the "+
		"projections from the new log, moves the relay routes and followers to its start or head, and binds the database to it)",
		e.Bound, e.BoundAt.UTC().Format(time.RFC3339), e.Current)
}

func (e *ChangedError) Unwrap() error { return ErrChanged }

// Binding is the binding in force.
type Binding struct {
	Log     eventlog.Identity
	BoundAt time.Time
	How     string
}

// lockKey serialises binding changes across processes.
const lockKey = 0x6c6f_6762_696e_64 // "logbind"

// Check returns nil when the database is bound to id, binds it to id when
// it has no binding yet (a new database, or one from before bindings,
// whose positions are taken to be id's: bound reports that), and returns
// a *ChangedError when it is bound to another log. Safe to run from
// several processes at once.
func Check(ctx context.Context, pool *pgxpool.Pool, id eventlog.Identity) (bound bool, err error) {
	if id.IsZero() {
		return false, errors.New("logbinding: check against no log")
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		cur, ok, err := current(ctx, tx)
		if err != nil {
			return err
		}
		if ok {
			if cur.Log != id {
				return &ChangedError{Bound: cur.Log, Current: id, BoundAt: cur.BoundAt}
			}
			return nil
		}
		bound = true
		return insert(ctx, tx, id, "first start")
	})
	if err != nil {
		var ce *ChangedError
		if errors.As(err, &ce) {
			return false, err
		}
		return false, fmt.Errorf("logbinding: check: %w", err)
	}
	return bound, nil
}

// Bind binds the database to id from now on, recording how.
func Bind(ctx context.Context, pool *pgxpool.Pool, id eventlog.Identity, how string) error {
	if id.IsZero() {
		return errors.New("logbinding: bind to no log")
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		return insert(ctx, tx, id, how)
	})
	if err != nil {
		return fmt.Errorf("logbinding: bind: %w", err)
	}
	return nil
}

// Current returns the binding in force; ok is false when there is none.
func Current(ctx context.Context, pool *pgxpool.Pool) (b Binding, ok bool, err error) {
	b, ok, err = current(ctx, pool)
	if err != nil {
		return Binding{}, false, fmt.Errorf("logbinding: read: %w", err)
	}
	return b, ok, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func current(ctx context.Context, q querier) (Binding, bool, error) {
	var b Binding
	err := q.QueryRow(ctx, `SELECT kind, log_id, bound_at, how FROM log_bindings ORDER BY seq DESC LIMIT 1`).
		Scan(&b.Log.Kind, &b.Log.ID, &b.BoundAt, &b.How)
	if errors.Is(err, pgx.ErrNoRows) {
		return Binding{}, false, nil
	}
	if err != nil {
		return Binding{}, false, err
	}
	return b, true, nil
}

func insert(ctx context.Context, tx pgx.Tx, id eventlog.Identity, how string) error {
	_, err := tx.Exec(ctx, `INSERT INTO log_bindings (kind, log_id, how) VALUES ($1, $2, $3)`, id.Kind, id.ID, how)
	return err
}
