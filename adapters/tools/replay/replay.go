// Package replay builds every projection as of a point in time into a
// PostgreSQL schema of its own, for analysts: the same tables as the live
// schema ("projections"), holding the corp as it was at that time, queryable
// with the same SQL (docs/schema.md). The live tables and their checkpoints
// are never touched.
//
// A replay reads the whole log up to its head (as it was when the replay
// started), page by page, keeps the events at or before the time asked for,
// and applies them with the projections' own Apply functions through
// projections.NewWriter. Business time (occurred_at) is the default clock,
// matching the as-of queries (projections/asof); recorded time (when the log
// stored the event) answers "what did custody show at T" instead.
//
// The build goes into a scratch schema that replaces the target in one
// transaction at the end, so an existing replay of the same name keeps
// answering until the new one is complete, and an interrupted build leaves
// no half-built target behind. Every replay schema holds a replay_info table;
// Build only replaces, and Drop only drops, schemas that have one.
//
// Erasure reaches replays: a subject erased after a replay was built has
// its personal columns blanked there too (adapters/tools/erasure), while the
// replay's erased flags keep saying what was true at Until.
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/tools/erasure"
	"github.com/custody/custody/events"
	"github.com/custody/custody/projections"
)

// Source is the part of an event log a replay reads. eventlog.EventLog
// satisfies it.
type Source interface {
	ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error)
	Head(ctx context.Context) (events.Position, error)
}

// TimeField selects the clock Until is measured on.
type TimeField string

// Clocks.
const (
	// Occurred is business time: the state of the corp at Until, including
	// facts logged later than Until that happened before it.
	Occurred TimeField = "occurred"
	// Recorded is log time: what custody's projections showed at Until.
	Recorded TimeField = "recorded"
)

// Sentinel errors.
var (
	// ErrInvalidOptions wraps every Options.Validate failure.
	ErrInvalidOptions = errors.New("replay: invalid options")
	// ErrNotReplaySchema is returned when a schema exists but was not made
	// by a replay: it is never replaced or dropped.
	ErrNotReplaySchema = errors.New("replay: schema exists and is not a replay schema")
	// ErrNotFound is returned by Drop and Describe for a schema that does
	// not exist.
	ErrNotFound = errors.New("replay: schema not found")
)

// schemaName is what a replay schema may be called: a plain lower-case
// identifier, so it needs no quoting in analysts' SQL.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,49}$`)

// reserved schemas and prefixes a replay must never take.
var reservedSchemas = []string{projections.LiveSchema, "public", "information_schema"}
var reservedPrefixes = []string{"pg_", "projections_"}

// buildingSuffix names the scratch schema a replay is built in.
const buildingSuffix = "__building"

// ValidateSchema reports whether name can be a replay schema.
func ValidateSchema(name string) error {
	if !schemaName.MatchString(name) || strings.HasSuffix(name, buildingSuffix) {
		return fmt.Errorf("%w: schema %q: want [a-z_][a-z0-9_]*, at most 50 characters", ErrInvalidOptions, name)
	}
	for _, r := range reservedSchemas {
		if name == r {
			return fmt.Errorf("%w: schema %q is reserved", ErrInvalidOptions, name)
		}
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("%w: schema %q: the prefix %q is reserved", ErrInvalidOptions, name, p)
		}
	}
	return nil
}

// Options configure Build.
type Options struct {
	// Schema is the target schema; required (see ValidateSchema).
	Schema string
	// Until is the time the replay stops at: events at or before it count.
	// Required. replay_info keeps it with PostgreSQL's microsecond precision.
	Until time.Time
	// TimeField is the clock Until is measured on; Occurred by default.
	TimeField TimeField
	// Projections to build; default projections.All().
	Projections []projections.Projection
	// BatchSize is how many events are read and applied per transaction;
	// default 5,000.
	BatchSize int
	// OnProgress, when set, is called after each batch with the events read
	// so far and the position reached.
	OnProgress func(read int64, at events.Position)
	// Logger receives progress lines (never personal data); default
	// slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.TimeField == "" {
		o.TimeField = Occurred
	}
	if o.Projections == nil {
		o.Projections = projections.All()
	}
	if o.BatchSize == 0 {
		o.BatchSize = 5000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate applies the defaults and reports every problem at once.
func (o *Options) Validate() error {
	o.setDefaults()
	var errs []error
	errs = append(errs, ValidateSchema(o.Schema))
	if o.Until.IsZero() {
		errs = append(errs, fmt.Errorf("%w: until is required", ErrInvalidOptions))
	}
	if o.TimeField != Occurred && o.TimeField != Recorded {
		errs = append(errs, fmt.Errorf("%w: time field %q: want occurred or recorded", ErrInvalidOptions, o.TimeField))
	}
	if len(o.Projections) == 0 {
		errs = append(errs, fmt.Errorf("%w: no projections", ErrInvalidOptions))
	}
	if o.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("%w: batch size %d < 1", ErrInvalidOptions, o.BatchSize))
	}
	return errors.Join(errs...)
}

// Info describes a replay schema; it is the row of its replay_info table.
type Info struct {
	Schema    string    `json:"schema"`
	Until     time.Time `json:"until"`
	TimeField TimeField `json:"time_field"`
	// Position is the log position the replay read up to (the head when it
	// started); Read counts the events read and Applied those at or before
	// Until.
	Position    events.Position `json:"position"`
	Read        int64           `json:"read"`
	Applied     int64           `json:"applied"`
	Projections []string        `json:"projections"`
	BuiltAt     time.Time       `json:"built_at"`
	Took        time.Duration   `json:"took"`
}

const infoDDL = `CREATE TABLE %s.replay_info (
	until         timestamptz NOT NULL,
	time_field    text        NOT NULL,
	commit_pos    bigint      NOT NULL,
	prepare_pos   bigint      NOT NULL,
	events_read   bigint      NOT NULL,
	events_applied bigint     NOT NULL,
	projections   text[]      NOT NULL,
	built_at      timestamptz NOT NULL DEFAULT now(),
	took_ms       bigint      NOT NULL
);
COMMENT ON TABLE %[1]s.replay_info IS 'custody replay: every projection as of until (custody replay)'`

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Build builds opts.Projections as of opts.Until into opts.Schema,
// replacing an earlier replay of that name atomically when it is complete.
// It refuses (ErrNotReplaySchema) a schema of that name that a replay did
// not make. Build is not meant to run twice at once for the same schema:
// the second fails when it finds the scratch schema taken.
func Build(ctx context.Context, pool *pgxpool.Pool, src Source, opts Options) (Info, error) {
	if err := opts.Validate(); err != nil {
		return Info{}, err
	}
	start := time.Now()
	info := Info{Schema: opts.Schema, Until: opts.Until.UTC(), TimeField: opts.TimeField}
	for _, p := range opts.Projections {
		info.Projections = append(info.Projections, p.Name())
	}
	if exists, isReplay, err := inspect(ctx, pool, opts.Schema); err != nil {
		return info, err
	} else if exists && !isReplay {
		return info, fmt.Errorf("%w: %s", ErrNotReplaySchema, opts.Schema)
	}
	head, err := src.Head(ctx)
	if err != nil {
		return info, fmt.Errorf("replay: head: %w", err)
	}
	scratch := opts.Schema + buildingSuffix
	if err := prepare(ctx, pool, scratch, opts.Projections); err != nil {
		return info, err
	}
	// Leave no scratch schema behind on failure; a rerun would drop it too.
	ok := false
	defer func() {
		if !ok {
			_, _ = pool.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+ident(scratch)+" CASCADE")
		}
	}()

	keep := func(r *events.Recorded) bool { return !r.OccurredAt.After(opts.Until) }
	if opts.TimeField == Recorded {
		keep = func(r *events.Recorded) bool { return !r.RecordedAt.After(opts.Until) }
	}
	pos := events.Start
	for pos.Less(head) {
		recs, err := src.ReadAll(ctx, pos, opts.BatchSize)
		if err != nil {
			return info, fmt.Errorf("replay: read log after %s: %w", pos, err)
		}
		if len(recs) == 0 {
			break
		}
		if i := cut(recs, head); i < len(recs) {
			recs = recs[:i]
		}
		applied, err := apply(ctx, pool, scratch, opts.Projections, recs, keep)
		if err != nil {
			return info, err
		}
		info.Read += int64(len(recs))
		info.Applied += int64(applied)
		pos = recs[len(recs)-1].Position
		if opts.OnProgress != nil {
			opts.OnProgress(info.Read, pos)
		}
	}
	info.Position = pos
	info.Took = time.Since(start)

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.replay_info (until, time_field, commit_pos, prepare_pos,
				events_read, events_applied, projections, took_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, ident(scratch)),
			info.Until, string(info.TimeField), int64(pos.Commit), int64(pos.Prepare), info.Read, info.Applied,
			info.Projections, info.Took.Milliseconds()); err != nil {
			return err
		}
		// Re-check under the swap: someone may have created the schema
		// meanwhile.
		exists, isReplay, err := inspect(ctx, tx, opts.Schema)
		if err != nil {
			return err
		}
		if exists && !isReplay {
			return fmt.Errorf("%w: %s", ErrNotReplaySchema, opts.Schema)
		}
		// Subjects erased while the build read the log may have been
		// decoded before their key was destroyed: blank them before the
		// replay becomes visible (erasure.Job catches any later erasure).
		if _, err := erasure.ScrubSchema(ctx, tx, scratch); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident(opts.Schema)+" CASCADE"); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "ALTER SCHEMA "+ident(scratch)+" RENAME TO "+ident(opts.Schema))
		return err
	})
	if err != nil {
		return info, fmt.Errorf("replay: publish %s: %w", opts.Schema, err)
	}
	ok = true
	info.BuiltAt = time.Now().UTC()
	opts.Logger.Info("replay: built", "schema", opts.Schema, "until", info.Until.Format(time.RFC3339Nano),
		"time_field", string(info.TimeField), "events_read", info.Read, "events_applied", info.Applied,
		"position", pos.String(), "took", info.Took.Round(time.Millisecond))
	return info, nil
}

// cut returns the number of leading recs at or before head.
func cut(recs []events.Recorded, head events.Position) int {
	for i := range recs {
		if head.Less(recs[i].Position) {
			return i
		}
	}
	return len(recs)
}

// prepare creates the scratch schema with every projection's tables,
// dropping a leftover of an interrupted build.
func prepare(ctx context.Context, pool *pgxpool.Pool, scratch string, ps []projections.Projection) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		stmts := []string{
			"DROP SCHEMA IF EXISTS " + ident(scratch) + " CASCADE",
			"CREATE SCHEMA " + ident(scratch),
			fmt.Sprintf(infoDDL, ident(scratch)),
		}
		for _, p := range ps {
			for _, m := range p.Migrations() {
				stmts = append(stmts, strings.ReplaceAll(m, "{s}", ident(scratch)))
			}
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay: create schema %s: %w", scratch, err)
	}
	return nil
}

// apply applies the kept events of recs to every projection in one
// transaction and returns how many were kept.
func apply(ctx context.Context, pool *pgxpool.Pool, schema string, ps []projections.Projection, recs []events.Recorded, keep func(*events.Recorded) bool) (int, error) {
	b := &pgx.Batch{}
	w := projections.NewWriter(schema, b)
	n := 0
	for i := range recs {
		r := &recs[i]
		if !keep(r) {
			continue
		}
		n++
		p, err := events.DecodeRecorded(*r)
		if errors.Is(err, events.ErrUnknownType) {
			continue // projections ignore what this build does not know
		}
		if err != nil {
			return 0, fmt.Errorf("replay: event %s at %s: %w", r.ID, r.Position, err)
		}
		e := projections.Event{Recorded: *r, Payload: p}
		for _, pr := range ps {
			if err := pr.Apply(w, e); err != nil {
				return 0, fmt.Errorf("replay: %s: event %s (%s) at %s: %w", pr.Name(), r.ID, r.Type, r.Position, err)
			}
		}
	}
	if w.Empty() {
		return n, nil
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return w.Send(ctx, tx) })
	if err != nil {
		return 0, fmt.Errorf("replay: apply %d events up to %s: %w", n, recs[len(recs)-1].Position, err)
	}
	return n, nil
}

// querier is what inspect and Describe run on.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inspect reports whether schema exists and whether a replay made it.
func inspect(ctx context.Context, db querier, schema string) (exists, isReplay bool, err error) {
	err = db.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
			EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'replay_info')`, schema).
		Scan(&exists, &isReplay)
	if err != nil {
		return false, false, fmt.Errorf("replay: inspect schema %s: %w", schema, err)
	}
	return exists, isReplay, nil
}

// Drop drops a replay schema and everything in it. It refuses schemas a
// replay did not make (ErrNotReplaySchema) and reports ErrNotFound for a
// schema that does not exist.
func Drop(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if err := ValidateSchema(schema); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		exists, isReplay, err := inspect(ctx, tx, schema)
		switch {
		case err != nil:
			return err
		case !exists:
			return fmt.Errorf("%w: %s", ErrNotFound, schema)
		case !isReplay:
			return fmt.Errorf("%w: %s", ErrNotReplaySchema, schema)
		}
		if _, err := tx.Exec(ctx, "DROP SCHEMA "+ident(schema)+" CASCADE"); err != nil {
			return fmt.Errorf("replay: drop %s: %w", schema, err)
		}
		return nil
	})
}

// List describes every replay schema in the database, by name.
func List(ctx context.Context, pool *pgxpool.Pool) ([]Info, error) {
	rows, err := pool.Query(ctx, `SELECT schemaname FROM pg_tables WHERE tablename = 'replay_info'
		AND schemaname NOT LIKE '%\_\_building' ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("replay: list: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("replay: list: %w", err)
	}
	out := make([]Info, 0, len(names))
	for _, n := range names {
		info, err := Describe(ctx, pool, n)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Describe reads a replay schema's replay_info.
func Describe(ctx context.Context, pool *pgxpool.Pool, schema string) (Info, error) {
	info := Info{Schema: schema}
	exists, isReplay, err := inspect(ctx, pool, schema)
	switch {
	case err != nil:
		return info, err
	case !exists:
		return info, fmt.Errorf("%w: %s", ErrNotFound, schema)
	case !isReplay:
		return info, fmt.Errorf("%w: %s", ErrNotReplaySchema, schema)
	}
	var c, p, took int64
	var tf string
	err = pool.QueryRow(ctx, fmt.Sprintf(`SELECT until, time_field, commit_pos, prepare_pos, events_read, events_applied,
			projections, built_at, took_ms FROM %s.replay_info`, ident(schema))).
		Scan(&info.Until, &tf, &c, &p, &info.Read, &info.Applied, &info.Projections, &info.BuiltAt, &took)
	if err != nil {
		return info, fmt.Errorf("replay: describe %s: %w", schema, err)
	}
	info.TimeField = TimeField(tf)
	info.Position = events.Position{Commit: uint64(c), Prepare: uint64(p)}
	info.Took = time.Duration(took) * time.Millisecond
	info.Until, info.BuiltAt = info.Until.UTC(), info.BuiltAt.UTC()
	return info, nil
}
