package projections

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// LiveSchema is the PostgreSQL schema holding every projection's live
// tables and the checkpoint table. Dashboards read from it.
const LiveSchema = "projections"

// Source is the part of an event log a projector needs. It is satisfied by
// the adapters' logs (pgstore, memlog, kurrent); its contract is that of
// eventlog.EventLog's methods of the same names.
type Source interface {
	// ReadAll returns up to limit events strictly after from, in global order.
	ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error)
	// Subscribe calls handle for every event strictly after from, in global
	// order, catch-up then live, until ctx is done or handle fails.
	Subscribe(ctx context.Context, from events.Position, handle func(events.Recorded) error) error
	// Head is the position of the newest event ReadAll would return now.
	Head(ctx context.Context) (events.Position, error)
}

// Event is a recorded event with its payload decoded once for every
// projection of a batch.
type Event struct {
	events.Recorded
	// Payload is the decoded payload (a pointer, e.g. *events.StaffJoined),
	// or nil when this build does not know the event type: projections
	// ignore such events.
	Payload events.Payload
	// decodeErr is set, and Payload nil, when the stored payload does not
	// decode: the projections that use the event's type park its corp.
	decodeErr error
}

// Projection is one read model: a named handler with its own tables.
//
// Apply must be deterministic: the rows after applying a sequence of events
// depend only on those events (never on the clock or on other projections'
// tables), so that a rebuild equals the live tables row for row.
type Projection interface {
	// Name is the stable name, used for the checkpoint and on the command line.
	Name() string
	// Tables lists the tables the projection owns (unqualified). Rebuild
	// swaps exactly these.
	Tables() []string
	// Migrations are the projection's ordered DDL steps. Table names are
	// written as {s}.name; {s} is replaced by the target schema. A new step
	// is appended, never edited in place.
	Migrations() []string
	// Apply queues the statements that apply e to the projection's tables;
	// a fold projection (see foldProjection) hands e's fact to w instead,
	// and w's Send folds it.
	Apply(w *Writer, e Event) error
}

// Writer queues a projection's statements into the transaction of a batch;
// they run in order when the batch is sent.
//
// A Writer also collects the facts of the fold projections (see
// foldProjection): Send runs their folds with the statements.
type Writer struct {
	schema string
	batch  *pgx.Batch
	cache  map[string]string
	// folds holds the fold projections' facts, by name, in order.
	folds map[string]*foldRun
	order []string
	// loaded is set once the folds' rows were read (see readLoads).
	loaded bool
	// facts holds the facts the partitions of a fold projection share
	// (see factsOf).
	facts map[*definition]factMemo
}

func newWriter(schema string, b *pgx.Batch) *Writer {
	return &Writer{schema: schema, batch: b, cache: map[string]string{}}
}

// Queue adds a statement; {s} in sql names the projection's schema. Text
// arguments are made storable (see storable): NUL and invalid UTF-8 never
// reach PostgreSQL.
func (w *Writer) Queue(sql string, args ...any) {
	w.batch.Queue(w.sql(sql), storableArgs(args)...)
}

// sql returns q with {s} replaced by the Writer's schema.
func (w *Writer) sql(q string) string {
	s, ok := w.cache[q]
	if !ok {
		s = strings.ReplaceAll(q, "{s}", pgx.Identifier{w.schema}.Sanitize())
		w.cache[q] = s
	}
	return s
}

// ErrUnknownProjection is returned for a projection name not in the set.
var ErrUnknownProjection = errors.New("projections: unknown projection")

// All returns every sales-ops projection with default settings, in a stable
// order. Daily figures are bucketed by UTC day; use Activity{Location: ...}
// in a custom set for another time zone.
func All() []Projection {
	return []Projection{
		Staff{},
		Customers{},
		Relations{},
		Handovers{},
		Groups{},
		Activity{},
		Moments{},
		Consents{},
		Tags{},
		WeComUnmatched{},
		Outreach{},
	}
}

// Lookup returns the projections named in names from set ("all" selects the
// whole set), or ErrUnknownProjection.
func Lookup(set []Projection, names ...string) ([]Projection, error) {
	var out []Projection
	seen := map[string]bool{}
	for _, n := range names {
		if n == "all" {
			return set, nil
		}
		found := false
		for _, p := range set {
			if p.Name() == n {
				if !seen[n] {
					out = append(out, p)
					seen[n] = true
				}
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: %q", ErrUnknownProjection, n)
		}
	}
	return out, nil
}

// decode decodes a batch once. Unknown types get a nil payload. An event
// that does not decode gets its decodeErr: skipping it silently would
// corrupt the tables, so the projections that use its type park its corp
// (see Parking). An event of a schema version newer than this build knows
// fails the batch instead: a newer build can apply it, so the runner waits
// (retrying) rather than park. A large batch is decoded in parallel, one
// part per CPU.
func decode(recs []events.Recorded) ([]Event, error) {
	out := make([]Event, len(recs))
	parts := min(runtime.GOMAXPROCS(0), len(recs)/decodePart+1)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			for i := p * len(recs) / parts; i < (p+1)*len(recs)/parts; i++ {
				r := recs[i]
				pl, err := decodeRecorded(r)
				switch {
				case errors.Is(err, events.ErrUnknownType):
					out[i] = Event{Recorded: r}
				case tooNew(r, err):
					errs[p] = fmt.Errorf("projections: event %s at %s: %w (this build is older than the event)", r.ID, r.Position, err)
					return
				case err != nil:
					out[i] = Event{Recorded: r, decodeErr: &dataError{reason: "decode: " + err.Error(), err: err}}
				default:
					out[i] = Event{Recorded: r, Payload: pl}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the earliest part's
		}
	}
	return out, nil
}

// decodeRecorded is events.DecodeRecorded with a panic turned into an error.
func decodeRecorded(r events.Recorded) (pl events.Payload, err error) {
	defer func() {
		if v := recover(); v != nil {
			pl, err = nil, recovered("decode", v)
		}
	}()
	return events.DecodeRecorded(r)
}

// tooNew reports whether err says that r's schema version is newer than
// this build's.
func tooNew(r events.Recorded, err error) bool {
	if !errors.Is(err, events.ErrUnknownVersion) {
		return false
	}
	cur, ok := events.CurrentVersion(r.Type)
	return ok && r.SchemaVersion > cur
}

// decodePart is the fewest events worth a goroutine of their own.
const decodePart = 512

// statsRefresher runs ANALYZE on a set of tables after batches 1, 4, 16,
// 64, ... of a catch-up. Fresh or fast-growing tables otherwise keep the
// planner's empty-table statistics, and the generic plans PostgreSQL caches
// for the prepared statements after five executions turn into scans whose
// cost grows with the table.
type statsRefresher struct {
	batches, next int
}

func (s *statsRefresher) due() bool {
	s.batches++
	if s.next == 0 {
		s.next = 1
	}
	if s.batches < s.next {
		return false
	}
	s.next *= 4
	return true
}

func analyzeSQL(schema string, ps []Projection) string {
	var ts []string
	for _, p := range ps {
		for _, t := range p.Tables() {
			ts = append(ts, ident(schema)+"."+ident(t))
		}
	}
	return "ANALYZE " + strings.Join(ts, ", ")
}
