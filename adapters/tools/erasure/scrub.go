package erasure

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what this package runs on: a *pgxpool.Pool, a *pgx.Conn or a
// pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Schemas lists every schema custody made for projections: the live one
// ("projections"), rebuild shadows and retired tables ("projections_*")
// and replay schemas (those holding a replay_info table, also while they
// are built).
func Schemas(ctx context.Context, db DB) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT nspname FROM pg_namespace n
		WHERE nspname = 'projections' OR nspname LIKE 'projections\_%'
		   OR EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = n.nspname AND t.tablename = 'replay_info')
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("erasure: list schemas: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("erasure: list schemas: %w", err)
	}
	return out, nil
}

// present is one Table found in one schema.
type present struct {
	schema string
	Table
}

func (p present) name() string { return ident(p.schema) + "." + ident(p.Name) }

// tables returns every Personal table present in schemas.
func tables(ctx context.Context, db DB, schemas []string) ([]present, error) {
	rows, err := db.Query(ctx, `SELECT table_schema, table_name, array_agg(column_name::text)
		FROM information_schema.columns WHERE table_schema = ANY($1) GROUP BY 1, 2`, schemas)
	if err != nil {
		return nil, fmt.Errorf("erasure: list tables: %w", err)
	}
	type key struct{ schema, table string }
	cols := map[key]map[string]bool{}
	var s, t string
	var cs []string
	_, err = pgx.ForEachRow(rows, []any{&s, &t, &cs}, func() error {
		m := map[string]bool{}
		for _, c := range cs {
			m[c] = true
		}
		cols[key{s, t}] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("erasure: list tables: %w", err)
	}
	var out []present
	for _, schema := range schemas {
		for _, tb := range Personal {
			have, ok := cols[key{schema, tb.Name}]
			if !ok {
				continue
			}
			all := true
			for _, c := range tb.columns() {
				all = all && have[c]
			}
			if all {
				out = append(out, present{schema: schema, Table: tb})
			}
		}
	}
	return out, nil
}

// ScrubResult counts the rows Scrub blanked, per "schema.table".
type ScrubResult map[string]int64

// Total is the number of rows blanked.
func (r ScrubResult) Total() int64 {
	var n int64
	for _, v := range r {
		n += v
	}
	return n
}

// Scrub blanks the personal columns of every erased subject (a tombstone
// in pii_keys) in every custody schema (Schemas). It is idempotent and
// cheap when there is nothing to do, so it runs after each erasure, before
// a replay is published, when an interrupted rebuild resumes and
// periodically in custody serve; rows a concurrent writer decoded before
// the key was destroyed are caught by the next run. Rows keep their ids,
// times and everything pseudonymous.
//
// Scrub blanks values; the old row versions stay in the tables' pages
// until they are rewritten (Rewrite).
//
// Without a pii_keys table in db (the keys are kept elsewhere) Scrub does
// nothing: use ScrubSubjects.
func Scrub(ctx context.Context, db DB) (ScrubResult, error) {
	if ok, err := hasKeyStore(ctx, db); !ok || err != nil {
		return ScrubResult{}, err
	}
	return scrub(ctx, db, `IN (SELECT subject FROM pii_keys WHERE wrapped_key IS NULL)`, nil)
}

// hasKeyStore reports whether db holds adapters/eventlog/pii's pii_keys table.
func hasKeyStore(ctx context.Context, db DB) (bool, error) {
	var ok bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('pii_keys') IS NOT NULL`).Scan(&ok); err != nil {
		return false, fmt.Errorf("erasure: look for pii_keys: %w", err)
	}
	return ok, nil
}

// ScrubSubjects is Scrub for the given subjects only, whatever the key
// store says (for a key store outside this database).
func ScrubSubjects(ctx context.Context, db DB, subjects []string) (ScrubResult, error) {
	return scrub(ctx, db, `= ANY($1)`, []any{subjects})
}

// ScrubSchema is Scrub limited to one schema (adapters/tools/replay runs it on a
// replay before publishing it).
func ScrubSchema(ctx context.Context, db DB, schema string) (ScrubResult, error) {
	if ok, err := hasKeyStore(ctx, db); !ok || err != nil {
		return ScrubResult{}, err
	}
	return scrubIn(ctx, db, []string{schema}, `IN (SELECT subject FROM pii_keys WHERE wrapped_key IS NULL)`, nil)
}

func scrub(ctx context.Context, db DB, match string, args []any) (ScrubResult, error) {
	schemas, err := Schemas(ctx, db)
	if err != nil {
		return nil, err
	}
	return scrubIn(ctx, db, schemas, match, args)
}

func scrubIn(ctx context.Context, db DB, schemas []string, match string, args []any) (ScrubResult, error) {
	ts, err := tables(ctx, db, schemas)
	if err != nil {
		return nil, err
	}
	if err := noStatistics(ctx, db, ts); err != nil {
		return nil, err
	}
	res := ScrubResult{}
	for _, t := range ts {
		q := fmt.Sprintf(`UPDATE %s SET %s WHERE %s AND (%s) %s`, t.name(), t.blankAll(), t.nonBlank(), t.Subject, match)
		tag, err := db.Exec(ctx, q, args...)
		if err != nil {
			return res, fmt.Errorf("erasure: scrub %s: %w", t.name(), err)
		}
		if n := tag.RowsAffected(); n > 0 {
			res[t.schema+"."+t.Name] += n
		}
	}
	return res, nil
}

// noStatistics makes sure no personal column of ts has statistics: the
// projections' migrations disable them, but schemas made before that
// (replays, shadows) still sample them. A same-type ALTER ... TYPE drops
// the statistics already gathered without rewriting the table.
func noStatistics(ctx context.Context, db DB, ts []present) error {
	for _, t := range ts {
		var names []string
		for _, c := range t.Columns {
			names = append(names, c.Name)
		}
		rows, err := db.Query(ctx, `SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
			FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = ANY($2) AND NOT a.attisdropped
			  AND (a.attstattarget <> 0 OR EXISTS (SELECT 1 FROM pg_statistic s WHERE s.starelid = a.attrelid AND s.staattnum = a.attnum))`,
			t.name(), names)
		if err != nil {
			return fmt.Errorf("erasure: statistics of %s: %w", t.name(), err)
		}
		var col, typ string
		var alters []string
		_, err = pgx.ForEachRow(rows, []any{&col, &typ}, func() error {
			alters = append(alters, "ALTER COLUMN "+ident(col)+" SET STATISTICS 0", "ALTER COLUMN "+ident(col)+" TYPE "+typ)
			return nil
		})
		if err != nil {
			return fmt.Errorf("erasure: statistics of %s: %w", t.name(), err)
		}
		if len(alters) == 0 {
			continue
		}
		if _, err := db.Exec(ctx, "ALTER TABLE "+t.name()+" "+strings.Join(alters, ", ")); err != nil {
			return fmt.Errorf("erasure: drop statistics of %s: %w", t.name(), err)
		}
	}
	return nil
}
