package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

const selectEvents = `SELECT id, tx_id, event_id, stream, stream_version, type, schema_version, corp_id,
    occurred_at, recorded_at, actor, command_id, correlation_id, causation_id, data, pii_sealed, subject
FROM events `

// belowXmin is the visibility bound of the package doc: rows of
// transactions older than the oldest one still running.
const belowXmin = `tx_id < pg_snapshot_xmin(pg_current_snapshot())`

const readAllSQL = selectEvents + `WHERE (tx_id, id) > ($1::xid8, $2::int8) AND ` + belowXmin + `
ORDER BY tx_id, id LIMIT $3`

// ReadStream implements eventlog.EventLog. It reads committed events
// directly, without the xmin bound: a stream's versions have no gaps to
// fear.
//
// One round trip whenever the answer is not empty or the stream does not
// exist: versions run 0, 1, 2, … without gaps and events are never
// deleted, so an empty read from version 0 means no stream, and a read
// from from > 0 also fetches the event at from-1, which exists exactly
// when the stream reaches from (it is dropped from the answer, its
// personal data never opened). Only a read past from-1 of an existing
// stream asks again whether the stream exists.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64) (_ []events.Recorded, err error) {
	defer func() { err = unavailable(ctx, err) }()
	from = max(from, 0)
	out, sealed, err := s.querySealed(ctx, new(scanner), selectEvents+`WHERE stream = $1 AND stream_version >= $2 ORDER BY stream_version`, stream, max(from-1, 0))
	if err != nil {
		return nil, fmt.Errorf("pgstore: read stream %q: %w", stream, err)
	}
	if from > 0 && len(out) > 0 && out[0].StreamVersion == from-1 {
		out, sealed = out[1:], sealed[1:]
		if len(out) == 0 {
			return []events.Recorded{}, nil
		}
	}
	if len(out) > 0 {
		if err := s.open(ctx, out, sealed); err != nil {
			return nil, fmt.Errorf("pgstore: read stream %q: %w", stream, err)
		}
		return out, nil
	}
	if from == 0 {
		return nil, fmt.Errorf("%w: %q", eventlog.ErrStreamNotFound, stream)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE stream = $1)`, stream).Scan(&exists); err != nil {
		return nil, fmt.Errorf("pgstore: read stream %q: %w", stream, err)
	}
	if !exists {
		return nil, fmt.Errorf("%w: %q", eventlog.ErrStreamNotFound, stream)
	}
	return []events.Recorded{}, nil
}

// ReadAll implements eventlog.EventLog. A limit <= 0 reads up to
// Options.PageSize events.
func (s *Store) ReadAll(ctx context.Context, from events.Position, limit int) (_ []events.Recorded, err error) {
	defer func() { err = unavailable(ctx, err) }()
	if limit <= 0 {
		limit = s.opts.PageSize
	}
	out := make([]events.Recorded, 0, min(limit, s.opts.PageSize))
	err = s.page(ctx, new(scanner), from, limit, func(r events.Recorded) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Head implements eventlog.EventLog.
func (s *Store) Head(ctx context.Context) (_ events.Position, err error) {
	defer func() { err = unavailable(ctx, err) }()
	var (
		tx uint64
		id int64
	)
	err = s.pool.QueryRow(ctx, `SELECT tx_id, id FROM events WHERE `+belowXmin+` ORDER BY tx_id DESC, id DESC LIMIT 1`).Scan(&tx, &id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return events.Start, nil
	case err != nil:
		return events.Start, fmt.Errorf("pgstore: head: %w", err)
	}
	return events.Position{Commit: tx, Prepare: uint64(id)}, nil
}

// page calls fn for up to limit events after from, in global order, below
// the xmin bound. It reads the page, then opens the personal data with the
// page's keys loaded at once (see open), then calls fn.
func (s *Store) page(ctx context.Context, sc *scanner, from events.Position, limit int, fn func(events.Recorded) error) error {
	// ids are bigint: a Prepare beyond their range is after every id.
	prepare := int64(min(from.Prepare, math.MaxInt64))
	recs, err := s.query(ctx, sc, readAllSQL, from.Commit, prepare, limit)
	if err != nil {
		return fmt.Errorf("pgstore: read all after %v: %w", from, err)
	}
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// query runs sql (selectEvents with a tail) and returns every row, its
// personal data opened.
func (s *Store) query(ctx context.Context, sc *scanner, sql string, args ...any) ([]events.Recorded, error) {
	out, sealed, err := s.querySealed(ctx, sc, sql, args...)
	if err != nil {
		return nil, err
	}
	return out, s.open(ctx, out, sealed)
}

// querySealed is query without opening the personal data: sealed[i] is
// the sealed personal data of the i-th record, for open.
func (s *Store) querySealed(ctx context.Context, sc *scanner, sql string, args ...any) ([]events.Recorded, [][]byte, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		out    []events.Recorded
		sealed [][]byte
	)
	for rows.Next() {
		r, seal, err := sc.scan(rows)
		if err != nil {
			return nil, nil, err
		}
		out, sealed = append(out, r), append(sealed, seal)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return out, sealed, nil
}

// open opens the sealed personal data of recs (sealed[i] belongs to
// recs[i]), loading the keys of all their subjects in one round trip
// rather than one per event.
func (s *Store) open(ctx context.Context, recs []events.Recorded, sealed [][]byte) error {
	var subjects []string
	for i, b := range sealed {
		if len(b) > 0 {
			subjects = append(subjects, recs[i].Subject)
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	keys, err := s.opts.Keyring.Keys(ctx, subjects)
	if err != nil {
		return fmt.Errorf("pgstore: load the keys of personal data: %w", err)
	}
	for i, b := range sealed {
		if len(b) == 0 {
			continue
		}
		r := &recs[i]
		plain, err := keys.Open(ctx, r.Subject, b)
		switch {
		case errors.Is(err, pii.ErrErased):
			r.PIIErased = true
		case err != nil:
			return fmt.Errorf("pgstore: open personal data of event %s: %w", r.ID, err)
		default:
			r.PII = plain
		}
	}
	return nil
}

// scanner turns rows of selectEvents into records, reusing its scan
// targets across rows.
type scanner struct {
	id       int64
	tx       uint64
	eventID  pgtype.UUID
	version  int32
	occurred time.Time
	// strs interns the few distinct types, corps and actors, so reading a
	// long log does not allocate them again for every event.
	strs map[string]string
}

// Columns of selectEvents read raw and interned.
const (
	colType  = 5
	colCorp  = 7
	colActor = 10
)

// maxInterned bounds scanner.strs.
const maxInterned = 4096

func (sc *scanner) intern(b []byte) string {
	if s, ok := sc.strs[string(b)]; ok { // no allocation for the lookup
		return s
	}
	if sc.strs == nil || len(sc.strs) >= maxInterned {
		sc.strs = make(map[string]string, 64)
	}
	s := string(b)
	sc.strs[s] = s
	return s
}

// scan reads the current row; personal data is returned sealed, for open.
func (sc *scanner) scan(rows pgx.Rows) (events.Recorded, []byte, error) {
	var (
		r      events.Recorded
		sealed []byte
	)
	if err := rows.Scan(&sc.id, &sc.tx, &sc.eventID, &r.Stream, &r.StreamVersion, nil, &sc.version, nil,
		&sc.occurred, &r.RecordedAt, nil, &r.CommandID, &r.CorrelationID, &r.CausationID, &r.Data, &sealed, &r.Subject); err != nil {
		return r, nil, fmt.Errorf("pgstore: scan event: %w", err)
	}
	// Text is the same bytes in either wire format.
	raw := rows.RawValues()
	r.Type, r.CorpID, r.Actor = sc.intern(raw[colType]), sc.intern(raw[colCorp]), sc.intern(raw[colActor])
	r.ID = sc.eventID.Bytes
	r.SchemaVersion = int(sc.version)
	r.OccurredAt = sc.occurred
	r.Position = events.Position{Commit: sc.tx, Prepare: uint64(sc.id)}
	// NULL: no personal data; empty: dropped at append, the subject was
	// already erased.
	if sealed != nil && len(sealed) == 0 {
		r.PIIErased = true
	}
	return r, sealed, nil
}
