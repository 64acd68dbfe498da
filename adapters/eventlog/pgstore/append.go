package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// maxAnyRetries bounds how often an ExpectAny or ExpectStreamExists append
// retries after losing a race for the next stream version. Each lost race
// means another writer won, so the log makes progress regardless.
const maxAnyRetries = 100

// appendSQL inserts a batch if the stream's current version matches the
// expectation, in one statement: the stream's version is read, checked and
// extended by the same INSERT. Two writers that read the same version both
// try to insert it; the unique (stream, stream_version) constraint makes the
// second wait for the first and fail, which Append turns into a conflict (or
// a retry, for ExpectAny). A mismatch inserts nothing and returns no rows.
const appendSQL = `
WITH cur AS (
    SELECT coalesce(max(stream_version), -1) AS v FROM events WHERE stream = $1
)
INSERT INTO events (event_id, stream, stream_version, type, schema_version, corp_id,
    occurred_at, actor, command_id, correlation_id, causation_id, data, pii_sealed, subject)
SELECT u.event_id, $1, cur.v + u.ord, u.type, u.schema_version, u.corp_id,
    u.occurred_at, u.actor, u.command_id, u.correlation_id, u.causation_id, u.data::jsonb, u.pii_sealed, u.subject
FROM cur, unnest($3::uuid[], $4::text[], $5::int4[], $6::text[], $7::timestamptz[], $8::text[],
    $9::text[], $10::text[], $11::text[], $12::text[], $13::bytea[], $14::text[])
    WITH ORDINALITY AS u(event_id, type, schema_version, corp_id, occurred_at, actor,
    command_id, correlation_id, causation_id, data, pii_sealed, subject, ord)
WHERE CASE $2::int8
    WHEN -1 THEN true
    WHEN -2 THEN cur.v = -1
    WHEN -3 THEN cur.v >= 0
    ELSE cur.v = $2::int8
END
ORDER BY u.ord
RETURNING id, tx_id, stream_version, recorded_at`

// appendOneSQL is appendSQL for the common single event, without the
// cost of arrays.
const appendOneSQL = `
WITH cur AS (
    SELECT coalesce(max(stream_version), -1) AS v FROM events WHERE stream = $1
)
INSERT INTO events (event_id, stream, stream_version, type, schema_version, corp_id,
    occurred_at, actor, command_id, correlation_id, causation_id, data, pii_sealed, subject)
SELECT $3::uuid, $1, cur.v + 1, $4::text, $5::int4, $6::text,
    $7::timestamptz, $8::text, $9::text, $10::text, $11::text, $12::text::jsonb, $13::bytea, $14::text
FROM cur
WHERE CASE $2::int8
    WHEN -1 THEN true
    WHEN -2 THEN cur.v = -1
    WHEN -3 THEN cur.v >= 0
    ELSE cur.v = $2::int8
END
RETURNING id, tx_id, stream_version, recorded_at`

// keyedSQL turns an append statement into one that also stores the keys
// of new personal-data subjects ($15 subjects, $16 wrapped keys; see
// pii.Keyring.SealDeferred) in the same transaction, and inserts the
// events only when every one of those keys was stored: a subject that
// had a key or a tombstone already (ON CONFLICT DO NOTHING stores
// nothing for it, after waiting for a concurrent creator's commit) makes
// the statement insert no events, and Append seals again with the stored
// keys. The events and the keys they were sealed with thus become
// visible, and durable, together; an erased subject never gets a key back.
func keyedSQL(sql string) string {
	const keys = `WITH k AS (
    INSERT INTO pii_keys (subject, wrapped_key) SELECT * FROM unnest($15::text[], $16::bytea[])
    ON CONFLICT (subject) DO NOTHING RETURNING 1
), cur AS (`
	const check = `WHERE (SELECT count(*) FROM k) = cardinality($15::text[]) AND CASE $2::int8`
	if !strings.Contains(sql, "WITH cur AS (") || !strings.Contains(sql, "WHERE CASE $2::int8") {
		panic("pgstore: append statement without the places keyedSQL extends")
	}
	sql = strings.Replace(sql, "WITH cur AS (", keys, 1)
	return strings.Replace(sql, "WHERE CASE $2::int8", check, 1)
}

var (
	appendKeyedSQL    = keyedSQL(appendSQL)
	appendOneKeyedSQL = keyedSQL(appendOneSQL)
)

// appendArgsKeyed is how many arguments an append statement storing new
// subjects' keys takes.
const appendArgsKeyed = 16

// appendStatement is the statement for an append of n events with args.
func appendStatement(n int, args []any) string {
	switch {
	case len(args) == appendArgsKeyed && n == 1:
		return appendOneKeyedSQL
	case len(args) == appendArgsKeyed:
		return appendKeyedSQL
	case n == 1:
		return appendOneSQL
	}
	return appendSQL
}

// Append implements eventlog.EventLog. Personal data is sealed before the
// insert; for a subject erased earlier it is dropped, and the event reads
// back with PIIErased.
func (s *Store) Append(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs ...events.Event) (_ eventlog.AppendResult, err error) {
	defer func() { err = unavailable(ctx, err) }()
	if err := eventlog.ValidateAppend(stream, expected, evs); err != nil {
		return eventlog.AppendResult{}, err
	}
	args, erased, pending, err := s.sealArgs(ctx, stream, expected, evs, s.keysWithEvents)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	for attempt := 0; ; attempt++ {
		var (
			out   []events.Recorded
			woken bool
		)
		if attempt == 0 {
			// The first attempt may share a transaction with concurrent
			// appends (group commit); retries after a lost race run alone.
			out, woken, err = s.insertGrouped(ctx, args, evs)
		} else {
			out, err = s.insert(ctx, args, evs)
		}
		var pgErr *pgconn.PgError
		switch {
		case err == nil && len(out) == len(evs):
			for _, p := range pending {
				s.opts.Keyring.Stored(p)
			}
			for i := range out {
				out[i].Stream = stream
				if erased[i] {
					out[i].PII, out[i].PIIErased = nil, true
				}
			}
			if !woken {
				s.notify()
			}
			return eventlog.AppendResult{Events: out, NextExpected: eventlog.ExpectVersion(out[len(out)-1].StreamVersion)}, nil
		case err == nil && len(out) != 0:
			return eventlog.AppendResult{}, fmt.Errorf("pgstore: append inserted %d of %d events", len(out), len(evs))
		case err == nil && len(pending) > 0:
			// A subject had a key after all (or a tombstone, or another
			// append stored one first), or the expectation did not hold:
			// seal again with the stored keys and try again, alone.
			if args, erased, pending, err = s.sealArgs(ctx, stream, expected, evs, false); err != nil {
				return eventlog.AppendResult{}, err
			}
		case err == nil:
			// The expectation did not hold: a conflict, or a retry of a
			// stored append.
			return s.resolve(ctx, stream, expected, evs)
		case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key":
			// Another writer took the version first.
			if (expected == eventlog.ExpectAny || expected == eventlog.ExpectStreamExists) && attempt < maxAnyRetries {
				continue
			}
			return s.resolve(ctx, stream, expected, evs)
		case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_event_id_key":
			return s.resolve(ctx, stream, expected, evs)
		case errors.As(err, &pgErr) && (len(pgErr.Code) == 5 && pgErr.Code[:2] == "22" || pgErr.Code == "23514"):
			// Data exceptions (e.g. a NUL character jsonb refuses) and check
			// violations: the input, not the database, is wrong.
			return eventlog.AppendResult{}, fmt.Errorf("%w: %s", eventlog.ErrInvalidEvent, pgErr.Message)
		default:
			return eventlog.AppendResult{}, fmt.Errorf("pgstore: append to %q: %w", stream, err)
		}
	}
}

// appendArgs seals personal data and lays the batch out as the arrays
// appendSQL unnests.
func (s *Store) appendArgs(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs []events.Event) ([]any, []bool, error) {
	args, erased, _, err := s.sealArgs(ctx, stream, expected, evs, false)
	return args, erased, err
}

// sealArgs is appendArgs. With deferKeys, the keys of subjects new to the
// keyring are made here and returned as pending, and the arguments are
// those of the keyed statement (see keyedSQL), which stores them.
func (s *Store) sealArgs(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs []events.Event, deferKeys bool) ([]any, []bool, []*pii.PendingKey, error) {
	n := len(evs)
	var (
		ids      = make([]pgtype.UUID, n)
		types    = make([]string, n)
		versions = make([]int32, n)
		corps    = make([]string, n)
		occurred = make([]time.Time, n)
		actors   = make([]string, n)
		cmds     = make([]string, n)
		corrs    = make([]string, n)
		causes   = make([]string, n)
		data     = make([]string, n)
		sealed   = make([][]byte, n)
		subjects = make([]string, n)
		erased   = make([]bool, n)
		pending  map[string]*pii.PendingKey
	)
	for i, e := range evs {
		ids[i] = pgtype.UUID{Bytes: e.ID, Valid: true}
		types[i] = e.Type
		versions[i] = int32(e.SchemaVersion)
		corps[i] = e.CorpID
		occurred[i] = e.OccurredAt
		actors[i] = e.Actor
		cmds[i] = e.CommandID
		corrs[i] = e.CorrelationID
		causes[i] = e.CausationID
		data[i] = string(e.Data)
		subjects[i] = e.Subject
		if len(e.PII) == 0 {
			continue
		}
		var (
			b   []byte
			err error
		)
		if deferKeys {
			if pending == nil {
				pending = map[string]*pii.PendingKey{}
			}
			b, err = s.opts.Keyring.SealDeferred(ctx, e.Subject, e.PII, pending)
		} else {
			b, err = s.opts.Keyring.Seal(ctx, e.Subject, e.PII)
		}
		switch {
		case errors.Is(err, pii.ErrErased):
			b, erased[i] = []byte{}, true
		case err != nil:
			return nil, nil, nil, fmt.Errorf("pgstore: seal personal data: %w", err)
		}
		sealed[i] = b
	}
	var args []any
	if n == 1 {
		args = []any{stream, int64(expected), ids[0], types[0], versions[0], corps[0], occurred[0], actors[0], cmds[0], corrs[0], causes[0], data[0], sealed[0], subjects[0]}
	} else {
		args = []any{stream, int64(expected), ids, types, versions, corps, occurred, actors, cmds, corrs, causes, data, sealed, subjects}
	}
	if len(pending) == 0 {
		return args, erased, nil, nil
	}
	keys := make([]*pii.PendingKey, 0, len(pending))
	keySubjects := make([]string, 0, len(pending))
	wrapped := make([][]byte, 0, len(pending))
	for _, p := range pending {
		keys = append(keys, p)
		keySubjects, wrapped = append(keySubjects, p.Subject), append(wrapped, p.Wrapped)
	}
	return append(args, keySubjects, wrapped), erased, keys, nil
}

func (s *Store) insert(ctx context.Context, args []any, evs []events.Event) ([]events.Recorded, error) {
	rows, err := s.pool.Query(ctx, appendStatement(len(evs), args), args...)
	if err != nil {
		return nil, err
	}
	return scanAppended(rows, evs)
}

// scanAppended reads the rows appendSQL returned for evs and closes them.
func scanAppended(rows pgx.Rows, evs []events.Event) ([]events.Recorded, error) {
	defer rows.Close()
	out := make([]events.Recorded, 0, len(evs))
	for rows.Next() {
		var (
			id, ver int64
			tx      uint64
			at      time.Time
		)
		if err := rows.Scan(&id, &tx, &ver, &at); err != nil {
			return nil, err
		}
		i := len(out)
		if i >= len(evs) {
			return nil, fmt.Errorf("pgstore: append returned more rows than events")
		}
		out = append(out, events.Recorded{
			Event:         evs[i],
			StreamVersion: ver,
			Position:      events.Position{Commit: tx, Prepare: uint64(id)},
			RecordedAt:    at,
		})
	}
	return out, rows.Err()
}

// resolve explains a failed append: when every event is already stored in
// the stream, consecutively and in order, it is a retry and the originals
// are returned; otherwise it is a conflict.
func (s *Store) resolve(ctx context.Context, stream string, expected eventlog.ExpectedVersion, evs []events.Event) (eventlog.AppendResult, error) {
	var current int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(stream_version), -1) FROM events WHERE stream = $1`, stream).Scan(&current); err != nil {
		return eventlog.AppendResult{}, fmt.Errorf("pgstore: append to %q: %w", stream, err)
	}
	conflict := &eventlog.ConflictError{Stream: stream, Expected: expected, Actual: current}
	ids := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	stored, err := s.query(ctx, new(scanner), selectEvents+`WHERE event_id = ANY($1) ORDER BY stream_version`, ids)
	if err != nil {
		return eventlog.AppendResult{}, fmt.Errorf("pgstore: append to %q: %w", stream, err)
	}
	if len(stored) != len(evs) {
		return eventlog.AppendResult{}, conflict
	}
	for i, r := range stored {
		if r.ID != evs[i].ID || r.Stream != stream || r.StreamVersion != stored[0].StreamVersion+int64(i) {
			return eventlog.AppendResult{}, conflict
		}
	}
	return eventlog.AppendResult{Events: stored, NextExpected: eventlog.ExpectVersion(stored[len(stored)-1].StreamVersion), Replayed: true}, nil
}

// notifyEvery spaces the NOTIFYs a Store sends: appends during the pause
// share the next one. Under load this keeps NOTIFY (whose commit takes a
// server-wide lock) to ~100/s; an idle store's first append is announced at
// once, and other processes' subscribers learn of events at most this much
// later. This process's subscribers are woken directly, without delay.
const notifyEvery = 10 * time.Millisecond

// notify wakes this process's subscribers at once and, coalesced, other
// processes' through NOTIFY. At most one NOTIFY is in flight per Store.
func (s *Store) notify() {
	s.broadcast()
	s.notifyPending.Store(true)
	if s.notifying.CompareAndSwap(false, true) {
		go s.sendNotifies()
	}
}

func (s *Store) sendNotifies() {
	for {
		for s.notifyPending.Swap(false) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := s.pool.Exec(ctx, "SELECT pg_notify($1, '')", NotifyChannel)
			cancel()
			if err != nil {
				// Subscribers elsewhere still poll.
				s.opts.Logger.Debug("pgstore: notify failed", "err", err)
			}
			time.Sleep(notifyEvery) // coalescing pause, see notifyEvery
		}
		s.notifying.Store(false)
		// An append may have set pending after the loop ended and seen
		// notifying still true: pick it up.
		if !s.notifyPending.Load() || !s.notifying.CompareAndSwap(false, true) {
			return
		}
	}
}

// broadcast wakes every subscriber waiting on the current wake channel.
func (s *Store) broadcast() {
	s.wakeMu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.wakeGen++
	s.wakeMu.Unlock()
}

// wakeChan returns the current wake channel and its generation: channels
// of higher generations were made after it was closed.
func (s *Store) wakeChan() (<-chan struct{}, uint64) {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wake, s.wakeGen
}
