package pgstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// BulkEvent is one event of a bulk append with the stream and the stream
// version it is to take.
type BulkEvent struct {
	Stream  string
	Version int64
	Event   events.Event
}

// ErrBulkConflict: a bulk append found a stream at another version than its
// first event continues from (for a new stream: a stream that already holds
// events). Nothing of the batch was written. Wrapped with the stream named;
// errors.Is(err, eventlog.ErrConflict) holds too.
var ErrBulkConflict = fmt.Errorf("pgstore: bulk append: %w", eventlog.ErrConflict)

// bulkColumns are the columns AppendBulk copies, in the order
// appendBulkRow encodes them; id, tx_id and recorded_at take their
// defaults as in Append.
var bulkColumns = []string{"event_id", "stream", "stream_version", "type", "schema_version", "corp_id", "occurred_at",
	"actor", "command_id", "correlation_id", "causation_id", "data", "pii_sealed", "subject"}

// bulkCopySQL is the COPY AppendBulk sends its encoded rows with.
var bulkCopySQL = "COPY events (" + strings.Join(bulkColumns, ", ") + ") FROM STDIN WITH (FORMAT binary)"

// AppendBulk appends evs, in their order, in one transaction with COPY,
// keeping every guarantee of Append:
//
//   - each stream's events of the batch must have consecutive versions
//     (the first one is the stream's expectation: 0 for a new stream) and
//     pass eventlog.ValidateAppend, or nothing is written
//     (eventlog.ErrInvalidEvent);
//   - every stream must stand exactly at the version before its first
//     event, or nothing is written (ErrBulkConflict naming the stream): a
//     stream the batch continues is checked inside the transaction, and the
//     unique constraint on (stream, stream_version) refuses the batch when
//     a stream it starts (version 0) already exists or when another writer
//     appends to one of its streams meanwhile;
//   - personal data is sealed per subject as Append does (keys of new
//     subjects created in one round trip; an erased subject's data is
//     dropped);
//   - the events take the global positions of one transaction, in their
//     order, and become visible together (the xid8 order of the package
//     doc: no reader can skip them).
//
// inTx, when not nil, runs in the same transaction after the events are
// written, with the position of the last one: the caller records its own
// progress there, so that a crash keeps both or neither. AppendBulk
// returns that position. An empty batch writes nothing and runs inTx with
// the zero position.
func (s *Store) AppendBulk(ctx context.Context, evs []BulkEvent, inTx func(ctx context.Context, tx pgx.Tx, last events.Position) error) (events.Position, error) {
	b, err := s.PrepareBulk(ctx, evs)
	if err != nil {
		return events.Start, err
	}
	return s.WriteBulk(ctx, b, inTx)
}

// BulkBatch is a batch PrepareBulk validated, sealed and encoded for
// COPY, ready for WriteBulk.
type BulkBatch struct {
	streams map[string]int64
	n       int    // events
	copy    []byte // COPY's binary format: header, rows, trailer
}

// PrepareBulk does the part of AppendBulk that needs no transaction:
// validating the batch, sealing its personal data (creating the keys of
// new subjects) and encoding its rows for COPY. A bulk writer prepares the
// next batch while the previous one is written.
func (s *Store) PrepareBulk(ctx context.Context, evs []BulkEvent) (_ *BulkBatch, err error) {
	defer func() { err = unavailable(ctx, err) }()
	streams, err := validateBulk(evs)
	if err != nil {
		return nil, err
	}
	buf, err := s.bulkCopy(ctx, evs)
	if err != nil {
		return nil, err
	}
	return &BulkBatch{streams: streams, n: len(evs), copy: buf}, nil
}

// WriteBulk writes a prepared batch as AppendBulk does. Versions are
// checked here, in the transaction, not when the batch was prepared.
func (s *Store) WriteBulk(ctx context.Context, b *BulkBatch, inTx func(ctx context.Context, tx pgx.Tx, last events.Position) error) (_ events.Position, err error) {
	defer func() { err = unavailable(ctx, err) }()
	var last events.Position
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if b.n > 0 {
			if err := checkBulkVersions(ctx, tx, b.streams); err != nil {
				return err
			}
			if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(b.copy), bulkCopySQL); err != nil {
				return bulkError(err)
			}
			var id int64
			if err := tx.QueryRow(ctx, `SELECT tx_id, id FROM events WHERE tx_id = pg_current_xact_id() ORDER BY id DESC LIMIT 1`).
				Scan(&last.Commit, &id); err != nil {
				return fmt.Errorf("pgstore: bulk append: last position: %w", err)
			}
			last.Prepare = uint64(id)
		}
		if inTx != nil {
			return inTx(ctx, tx, last)
		}
		return nil
	})
	if err != nil {
		return events.Start, err
	}
	if b.n > 0 {
		s.notify()
	}
	return last, nil
}

// validateBulk checks the batch as Append would check each stream's part
// of it, and returns each stream's version before its first event.
func validateBulk(evs []BulkEvent) (map[string]int64, error) {
	type part struct {
		first, next int64
		evs         []events.Event
	}
	parts := map[string]*part{}
	var order []string
	var errs []error
	for i, e := range evs {
		p := parts[e.Stream]
		if p == nil {
			p = &part{first: e.Version, next: e.Version}
			parts[e.Stream] = p
			order = append(order, e.Stream)
		}
		if e.Version != p.next {
			errs = append(errs, fmt.Errorf("event %d of the batch: stream %q version %d, want %d", i, e.Stream, e.Version, p.next))
		}
		p.next++
		p.evs = append(p.evs, e.Event)
	}
	out := make(map[string]int64, len(parts))
	for _, st := range order {
		p := parts[st]
		expected := eventlog.ExpectVersion(p.first - 1)
		if p.first == 0 {
			expected = eventlog.ExpectNoStream
		}
		if p.first < 0 {
			errs = append(errs, fmt.Errorf("stream %q: negative version %d", st, p.first))
			continue
		}
		if err := eventlog.ValidateAppend(st, expected, p.evs); err != nil {
			errs = append(errs, fmt.Errorf("stream %q: %w", st, err))
		}
		out[st] = p.first - 1
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", eventlog.ErrInvalidEvent, errors.Join(errs...))
	}
	return out, nil
}

// bulkCopy seals the personal data of the batch and encodes its rows in
// COPY's binary format (bulkColumns): the values are laid out directly,
// without pgx's per-value encoding or its round trip describing the table.
func (s *Store) bulkCopy(ctx context.Context, evs []BulkEvent) ([]byte, error) {
	var subjects []string
	size := 21 // the header and the trailer
	for _, e := range evs {
		if len(e.Event.PII) > 0 {
			subjects = append(subjects, e.Event.Subject)
		}
		size += bulkRowSize(e)
	}
	var keys *pii.KeySet
	if len(subjects) > 0 {
		var err error
		if keys, err = s.opts.Keyring.SealingKeys(ctx, subjects); err != nil {
			return nil, fmt.Errorf("pgstore: bulk append: keys of personal data: %w", err)
		}
	}
	buf := make([]byte, 0, size)
	buf = append(buf, "PGCOPY\n\xff\r\n\x00"...)
	buf = be.AppendUint64(buf, 0) // flags, header extension
	for _, ev := range evs {
		var sealed []byte // nil: NULL, no personal data
		if e := ev.Event; len(e.PII) > 0 {
			b, err := keys.Seal(ctx, e.Subject, e.PII)
			switch {
			case errors.Is(err, pii.ErrErased):
				b = []byte{}
			case err != nil:
				return nil, fmt.Errorf("pgstore: seal personal data: %w", err)
			}
			sealed = b
		}
		buf = appendBulkRow(buf, ev, sealed)
	}
	return be.AppendUint16(buf, 0xffff), nil
}

var be = binary.BigEndian

// pgEpochMicros is 2000-01-01 UTC, PostgreSQL's epoch, in microseconds
// since 1970.
const pgEpochMicros = 946684800 * 1_000_000

// bulkRowSize is about the bytes appendBulkRow appends for e (the sealed
// personal data's overhead estimated).
func bulkRowSize(e BulkEvent) int {
	v := e.Event
	return 2 + 14*4 + 16 + 8 + 4 + 8 + 1 + 64 + len(e.Stream) + len(v.Type) + len(v.CorpID) + len(v.Actor) + len(v.CommandID) +
		len(v.CorrelationID) + len(v.CausationID) + len(v.Data) + len(v.PII) + len(v.Subject)
}

// appendBulkRow appends one row of bulkColumns in COPY's binary format:
// each field is its length and its bytes in the type's binary form (uuid:
// 16 bytes; bigint, integer: big-endian; timestamptz: microseconds since
// 2000-01-01 UTC, the fraction truncated as pgx does; jsonb: format
// version 1 and the text; text and bytea: the bytes; NULL: length -1).
func appendBulkRow(buf []byte, e BulkEvent, sealed []byte) []byte {
	v := e.Event
	text := func(buf []byte, s string) []byte {
		return append(be.AppendUint32(buf, uint32(len(s))), s...)
	}
	buf = be.AppendUint16(buf, uint16(len(bulkColumns)))
	buf = append(be.AppendUint32(buf, 16), v.ID[:]...)
	buf = text(buf, e.Stream)
	buf = be.AppendUint64(be.AppendUint32(buf, 8), uint64(e.Version))
	buf = text(buf, v.Type)
	buf = be.AppendUint32(be.AppendUint32(buf, 4), uint32(int32(v.SchemaVersion)))
	buf = text(buf, v.CorpID)
	buf = be.AppendUint64(be.AppendUint32(buf, 8), uint64(v.OccurredAt.UnixMicro()-pgEpochMicros))
	buf = text(buf, v.Actor)
	buf = text(buf, v.CommandID)
	buf = text(buf, v.CorrelationID)
	buf = text(buf, v.CausationID)
	buf = append(be.AppendUint32(buf, uint32(1+len(v.Data))), 1)
	buf = append(buf, v.Data...)
	if sealed == nil {
		buf = be.AppendUint32(buf, 0xffffffff)
	} else {
		buf = append(be.AppendUint32(buf, uint32(len(sealed))), sealed...)
	}
	return text(buf, v.Subject)
}

// checkBulkVersions requires every stream that the batch continues
// (version >= 0 in streams) to stand at that version, inside tx. Streams
// the batch starts (-1) are left to the unique constraint: their version 0
// cannot be inserted when they exist. One statement looks up each stream's
// last version through the (stream, stream_version) index, newest first,
// and returns only the streams that do not stand where the batch expects:
// its cost grows with the streams of the batch, not with their events (a
// bulk import continues the same staff streams chunk after chunk).
func checkBulkVersions(ctx context.Context, tx pgx.Tx, all map[string]int64) error {
	names := make([]string, 0, len(all))
	wants := make([]int64, 0, len(all))
	for st, v := range all {
		if v >= 0 {
			names, wants = append(names, st), append(wants, v)
		}
	}
	if len(names) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT s.stream, s.want, cur.v
		FROM unnest($1::text[], $2::bigint[]) AS s(stream, want)
		LEFT JOIN LATERAL (SELECT e.stream_version AS v FROM events e WHERE e.stream = s.stream
			ORDER BY e.stream_version DESC LIMIT 1) cur ON true
		WHERE cur.v IS DISTINCT FROM s.want
		ORDER BY s.stream LIMIT 6`, names, wants)
	if err != nil {
		return fmt.Errorf("pgstore: bulk append: read stream versions: %w", err)
	}
	var (
		stream string
		want   int64
		cur    *int64
	)
	var conflicts []error
	_, err = pgx.ForEachRow(rows, []any{&stream, &want, &cur}, func() error {
		switch {
		case len(conflicts) == 5:
			conflicts = append(conflicts, errors.New("… and more streams"))
		case cur == nil:
			conflicts = append(conflicts, fmt.Errorf("%w: stream %q holds no events, the batch continues from %d", ErrBulkConflict, stream, want))
		default:
			conflicts = append(conflicts, fmt.Errorf("%w: stream %q holds events up to version %d, the batch continues from %d",
				ErrBulkConflict, stream, *cur, want))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: bulk append: read stream versions: %w", err)
	}
	return errors.Join(conflicts...)
}

// bulkError classifies a failed COPY like Append classifies a failed
// insert.
func bulkError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		// The detail names the key (stream and version, or event id), not
		// personal data.
		return fmt.Errorf("%w: a version or an id of the batch is taken (%s: %s): nothing written", ErrBulkConflict, pgErr.ConstraintName, pgErr.Detail)
	case errors.As(err, &pgErr) && (len(pgErr.Code) == 5 && pgErr.Code[:2] == "22" || pgErr.Code == "23514"):
		return fmt.Errorf("%w: %s", eventlog.ErrInvalidEvent, pgErr.Message)
	}
	return fmt.Errorf("pgstore: bulk append: copy: %w", err)
}

// ReadStreams returns the events of the named streams, each in version
// order, personal data opened; a stream without events is absent from the
// map. It reads them in one query, for callers that load many small
// streams at once (a bulk writer resuming).
func (s *Store) ReadStreams(ctx context.Context, streams []string) (_ map[string][]events.Recorded, err error) {
	defer func() { err = unavailable(ctx, err) }()
	out := map[string][]events.Recorded{}
	if len(streams) == 0 {
		return out, nil
	}
	recs, err := s.query(ctx, new(scanner), selectEvents+`WHERE stream = ANY($1) ORDER BY stream, stream_version`, streams)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read streams: %w", err)
	}
	for _, r := range recs {
		out[r.Stream] = append(out[r.Stream], r)
	}
	return out, nil
}
