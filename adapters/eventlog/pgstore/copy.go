package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

var _ eventlog.Copier = (*Store)(nil)

// copySQL is appendSQL with recorded_at taken from the arguments ($15)
// instead of the column's default: the insert, expectation and order are
// appendSQL's own.
var copySQL = func() string {
	s := appendSQL
	for _, r := range [][2]string{
		{"causation_id, data, pii_sealed, subject)", "causation_id, data, pii_sealed, subject, recorded_at)"},
		{"u.data::jsonb, u.pii_sealed, u.subject\n", "u.data::jsonb, u.pii_sealed, u.subject, u.recorded_at\n"},
		{"$13::bytea[], $14::text[])", "$13::bytea[], $14::text[], $15::timestamptz[])"},
		{"command_id, correlation_id, causation_id, data, pii_sealed, subject, ord)", "command_id, correlation_id, causation_id, data, pii_sealed, subject, recorded_at, ord)"},
	} {
		if !strings.Contains(s, r[0]) {
			panic("pgstore: copySQL: appendSQL changed, " + r[0] + " not found")
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return s
}()

// AppendCopied implements eventlog.Copier: Append with each event's
// recorded_at given (custody log copy keeps the source's), in one
// transaction of its own.
func (s *Store) AppendCopied(ctx context.Context, stream string, expected eventlog.ExpectedVersion, recordedAt []time.Time, evs ...events.Event) (_ eventlog.AppendResult, err error) {
	defer func() { err = unavailable(ctx, err) }()
	if err := eventlog.ValidateAppend(stream, expected, evs); err != nil {
		return eventlog.AppendResult{}, err
	}
	if len(recordedAt) != len(evs) {
		return eventlog.AppendResult{}, fmt.Errorf("%w: %d recording times for %d events", eventlog.ErrInvalidEvent, len(recordedAt), len(evs))
	}
	args, erased, err := s.appendArgs(ctx, stream, expected, evs)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	if len(evs) == 1 {
		// appendArgs lays a single event out as scalars; copySQL unnests.
		for i := 2; i < len(args); i++ {
			args[i] = oneElement(args[i])
		}
	}
	args = append(args, recordedAt)
	rows, err := s.pool.Query(ctx, copySQL, args...)
	if err != nil {
		return eventlog.AppendResult{}, fmt.Errorf("pgstore: copy into %q: %w", stream, err)
	}
	out, err := scanAppended(rows, evs)
	var pgErr *pgconn.PgError
	switch {
	case err == nil && len(out) == len(evs):
		for i := range out {
			out[i].Stream = stream
			if erased[i] {
				out[i].PII, out[i].PIIErased = nil, true
			}
		}
		s.notify()
		return eventlog.AppendResult{Events: out, NextExpected: eventlog.ExpectVersion(out[len(out)-1].StreamVersion)}, nil
	case err == nil && len(out) != 0:
		return eventlog.AppendResult{}, fmt.Errorf("pgstore: copy inserted %d of %d events", len(out), len(evs))
	case err == nil,
		errors.As(err, &pgErr) && pgErr.Code == "23505":
		// The expectation did not hold, or the ids or versions are taken:
		// a conflict, or a retry of a stored copy.
		return s.resolve(ctx, stream, expected, evs)
	case errors.As(err, &pgErr) && (len(pgErr.Code) == 5 && pgErr.Code[:2] == "22" || pgErr.Code == "23514"):
		return eventlog.AppendResult{}, fmt.Errorf("%w: %s", eventlog.ErrInvalidEvent, pgErr.Message)
	default:
		return eventlog.AppendResult{}, fmt.Errorf("pgstore: copy into %q: %w", stream, err)
	}
}

// oneElement wraps one appendArgs scalar into the array copySQL unnests.
func oneElement(v any) any {
	switch x := v.(type) {
	case string:
		return []string{x}
	case int32:
		return []int32{x}
	case time.Time:
		return []time.Time{x}
	case []byte:
		return [][]byte{x}
	case pgtype.UUID:
		return []pgtype.UUID{x}
	default:
		return []any{x}
	}
}
