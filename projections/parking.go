package projections

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custody/custody/events"
)

// Parking keeps one event's data from stopping a projection.
//
// A projection applies a batch in a savepoint. When that fails with a data
// error (see isDataError) — PostgreSQL refused a value, the payload does not
// decode, Apply failed or panicked — the runner narrows the batch down to
// the first event that fails on its own (bisecting, each part in a
// savepoint), and parks the event's corp for that projection: it records
// the event in projections.parked and from then on skips every later event
// of that corp for that projection, while the other corps' events are
// applied and the checkpoint moves on. The parked row commits with the
// checkpoint, so parking survives restarts.
//
// A parked corp's rows in that projection stay as they were before the
// event; nothing of the corp after it is applied. Rebuilding the projection
// (custody projections rebuild NAME) un-parks: the rebuild replays the
// whole log into fresh tables, parks there the corps whose events still
// fail, and its swap replaces the projection's parked rows by its own.
//
// Everything else — lost connections, serialization failures, deadlocks,
// an administrator's shutdown, a cancelled context, a missing table, an
// event version newer than this build — is not the event's fault: the
// batch fails and the runner retries it with backoff, as before.

// Parked is a corp whose events a projection skips since one of them could
// not be applied.
type Parked struct {
	Projection string          `json:"projection"`
	CorpID     string          `json:"corp_id"`
	Position   events.Position `json:"position"`
	EventID    uuid.UUID       `json:"event_id"`
	EventType  string          `json:"event_type"`
	Stream     string          `json:"stream"`
	// Reason is the error, without personal data: quoted values of
	// PostgreSQL's messages are left out.
	Reason   string    `json:"reason"`
	ParkedAt time.Time `json:"parked_at"`
}

// ParkedCorps lists the corps parked in the projections named (every
// projection when none is), by projection and corp.
func ParkedCorps(ctx context.Context, q Querier, names ...string) ([]Parked, error) {
	return readParked(ctx, q, LiveSchema, names)
}

func readParked(ctx context.Context, q Querier, schema string, names []string) ([]Parked, error) {
	sql := fmt.Sprintf(`SELECT projection, corp_id, commit_pos, prepare_pos, event_id, event_type, stream, reason, parked_at
		FROM %s.parked WHERE cardinality($1::text[]) = 0 OR projection = ANY($1) ORDER BY 1, 2`, ident(schema))
	if names == nil {
		names = []string{}
	}
	rows, err := q.Query(ctx, sql, names)
	if err != nil {
		return nil, fmt.Errorf("projections: read parked corps: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Parked, error) {
		var pk Parked
		var c, p int64
		err := r.Scan(&pk.Projection, &pk.CorpID, &c, &p, &pk.EventID, &pk.EventType, &pk.Stream, &pk.Reason, &pk.ParkedAt)
		pk.Position = events.Position{Commit: uint64(c), Prepare: uint64(p)}
		return pk, err
	})
	if err != nil {
		return nil, fmt.Errorf("projections: read parked corps: %w", err)
	}
	return out, nil
}

// parkedDDL creates a shadow's parked table (%s: the shadow schema), shaped
// like the live one so that a swap copies it over.
const parkedDDL = `CREATE TABLE %s.parked (LIKE projections.parked INCLUDING ALL)`

// queueParked queues the insert of pk into schema's parked table.
func queueParked(b *pgx.Batch, schema string, pk Parked) {
	b.Queue(fmt.Sprintf(`INSERT INTO %s.parked (projection, corp_id, commit_pos, prepare_pos, event_id, event_type, stream, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (projection, corp_id) DO NOTHING`, ident(schema)),
		storableArgs([]any{pk.Projection, pk.CorpID, int64(pk.Position.Commit), int64(pk.Position.Prepare), pk.EventID,
			pk.EventType, pk.Stream, pk.Reason})...)
}

// dataError is an error caused by one event's data rather than by the
// infrastructure. reason is safe to store and log.
type dataError struct {
	reason string
	err    error
}

func (e *dataError) Error() string { return e.reason }
func (e *dataError) Unwrap() error { return e.err }

// isDataError reports whether err is caused by the data of the events
// being applied, so that retrying cannot help: PostgreSQL's data exceptions
// (SQLSTATE class 22), integrity violations (23), datatype mismatches
// (42804) and cardinality violations (21: a statement met a row twice — a
// batch-combining fault that applying fewer events at a time avoids), and
// the dataErrors of decoding and applying. Connection loss, serialization
// failures and deadlocks (40), shutdowns and cancellations (57), resource
// shortages (53), missing tables or columns (42P01, 42703: a migration
// problem) and context errors are not.
func isDataError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var de *dataError
	if errors.As(err, &de) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch c := pe.Code; {
		case strings.HasPrefix(c, "22"), strings.HasPrefix(c, "23"), strings.HasPrefix(c, "21"), c == "42804":
			return true
		}
	}
	return false
}

// quoted matches the quoted parts of PostgreSQL and JSON error messages,
// which may hold values (personal data).
var quoted = regexp.MustCompile(`"[^"]*"|'[^']*'`)

// reasonOf renders err for the parked table and the logs, without values.
func reasonOf(err error) string {
	var msg string
	var pe *pgconn.PgError
	var de *dataError
	switch {
	case errors.As(err, &pe):
		msg = fmt.Sprintf("SQLSTATE %s: %s", pe.Code, pe.Message)
		for _, s := range []struct{ what, v string }{{"table", pe.TableName}, {"column", pe.ColumnName}, {"constraint", pe.ConstraintName}} {
			if s.v != "" {
				msg += fmt.Sprintf(" (%s %s)", s.what, s.v)
			}
		}
	case errors.As(err, &de):
		msg = de.reason
	default:
		msg = err.Error()
	}
	msg = quoted.ReplaceAllString(msg, `"…"`)
	if len(msg) > 500 {
		msg = strings.ToValidUTF8(msg[:500], "") + "…"
	}
	return msg
}

// recovered turns a panic of a projection's code into a dataError. Only a
// runtime error's text is kept: other panic values may hold event data.
func recovered(what string, r any) error {
	if re, ok := r.(runtime.Error); ok {
		return &dataError{reason: fmt.Sprintf("%s panicked: %s", what, re.Error())}
	}
	return &dataError{reason: fmt.Sprintf("%s panicked (%T)", what, r)}
}

// queueEvents queues p's statements for evs into w. An error of the
// projection's code, or a panic, is a dataError.
func queueEvents(w *Writer, p Projection, evs []Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered("apply", r)
		}
	}()
	if fp, ok := p.(foldProjection); ok {
		return w.addFacts(fp, evs)
	}
	if ba, ok := p.(batchApplier); ok {
		if err := ba.applyBatch(w, evs); err != nil {
			return &dataError{reason: "apply: " + err.Error(), err: err}
		}
		return nil
	}
	for _, e := range evs {
		if e.Payload == nil {
			continue
		}
		if err := p.Apply(w, e); err != nil {
			return &dataError{reason: "apply: " + err.Error(), err: err}
		}
	}
	return nil
}

// uses reports whether p applies events of type t: whether applying a zero
// payload of t queues a statement. It decides whether an event of t that
// does not decode concerns p.
func uses(p Projection, t string) (used bool) {
	z, err := events.Zero(t)
	if err != nil {
		return false
	}
	defer func() {
		if recover() != nil {
			used = true
		}
	}()
	b := &pgx.Batch{}
	w := newWriter(LiveSchema, b)
	if err := queueEvents(w, p, []Event{{Payload: z}}); err != nil {
		return true
	}
	return !w.Empty()
}

// applySavepoint names the savepoint around a projection's statements.
const applySavepoint = "projection_apply"

// tryApply applies evs to p's tables in schema inside a savepoint of tx; on
// a data error the savepoint is rolled back and tx stays usable.
func tryApply(ctx context.Context, tx pgx.Tx, p Projection, schema string, evs []Event) error {
	w := newWriter(schema, &pgx.Batch{})
	if err := queueEvents(w, p, evs); err != nil {
		return err // nothing was sent
	}
	if w.Empty() {
		return nil // nothing to write
	}
	sent, err := w.send(ctx, tx, "SAVEPOINT "+applySavepoint, func(b *pgx.Batch) { b.Queue("RELEASE SAVEPOINT " + applySavepoint) })
	if err != nil && sent && isDataError(err) {
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+applySavepoint); rerr != nil {
			return fmt.Errorf("projections: %s: roll back after %v: %w", p.Name(), reasonOf(err), rerr)
		}
	}
	return err
}

// applyParking applies the events of evs after pos to p's tables in
// schema, in tx, skipping the corps in parked and parking those whose
// events fail on their data (see Parking above). It returns how many
// events it consumed (every event after pos, applied or skipped) and the
// corps it parked, which it also adds to parked. Any other error fails the
// batch.
func applyParking(ctx context.Context, tx pgx.Tx, p Projection, schema string, pos events.Position, evs []Event, parked map[string]bool) (int, []Parked, error) {
	i := 0
	for i < len(evs) && !pos.Less(evs[i].Position) {
		i++
	}
	evs = evs[i:]
	var newly []Parked
	park := func(e Event, err error) {
		pk := Parked{Projection: p.Name(), CorpID: e.CorpID, Position: e.Position, EventID: e.ID, EventType: e.Type,
			Stream: e.Stream, Reason: reasonOf(err)}
		newly = append(newly, pk)
		parked[e.CorpID] = true
	}
	// run is evs without the parked corps and the events that did not
	// decode; evs itself when there are none.
	run := evs
	for j, e := range evs {
		if parked[e.CorpID] || e.decodeErr != nil {
			run = append([]Event(nil), evs[:j]...)
			for _, e := range evs[j:] {
				switch {
				case parked[e.CorpID]:
				case e.decodeErr != nil:
					if uses(p, e.Type) {
						park(e, e.decodeErr)
					}
				default:
					run = append(run, e)
				}
			}
			break
		}
	}
	// Apply run; on a data error apply ever smaller prefixes until one
	// event fails alone, park its corp and go on with the rest.
	for rest := run; len(rest) > 0; {
		k := len(rest)
		for {
			err := tryApply(ctx, tx, p, schema, rest[:k])
			if err == nil {
				rest = rest[k:]
				break
			}
			if !isDataError(err) {
				return 0, nil, fmt.Errorf("projections: %s: apply %d events up to %s: %w", p.Name(), k, rest[k-1].Position, err)
			}
			if k == 1 {
				e := rest[0]
				park(e, err)
				rest = slicesDeleteCorp(rest[1:], e.CorpID)
				break
			}
			k /= 2
		}
	}
	return len(evs), newly, nil
}

// slicesDeleteCorp returns evs without corp's events, in a new slice.
func slicesDeleteCorp(evs []Event, corp string) []Event {
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		if e.CorpID != corp {
			out = append(out, e)
		}
	}
	return out
}
