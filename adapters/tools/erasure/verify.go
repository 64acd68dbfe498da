package erasure

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Finding kinds.
const (
	// KindKey: the subject's key still exists — it is not erased.
	KindKey = "key"
	// KindRow: rows of the subject whose personal columns are not blank.
	KindRow = "row"
	// KindValue: a column somewhere in the database holds one of the
	// subject's known values.
	KindValue = "value"
	// KindStatistics: pg_stats (most common values, histogram bounds)
	// holds one of the subject's known values.
	KindStatistics = "statistics"
	// KindRewrite: a table held the subject's personal data and has not
	// been rewritten since the erasure; its old row versions may still sit
	// in page free space.
	KindRewrite = "rewrite"
)

// Finding is one place where the subject's personal data may survive. It
// never contains the data itself: a report is filed, so it names places
// and counts only.
type Finding struct {
	Kind   string `json:"kind"`
	Where  string `json:"where"`
	Rows   int64  `json:"rows,omitempty"`
	Detail string `json:"detail"`
}

// ReplayNote describes a replay schema Verify checked.
type ReplayNote struct {
	Schema  string    `json:"schema"`
	Until   time.Time `json:"until"`
	BuiltAt time.Time `json:"built_at"`
}

// Report is what Verify found. It is clean when Findings is empty.
type Report struct {
	Subject   string     `json:"subject"`
	Erased    bool       `json:"erased"`
	ErasedAt  *time.Time `json:"erased_at,omitempty"`
	CheckedAt time.Time  `json:"checked_at"`
	// KeyStatus is "erased", "present", "none" (the subject never had
	// sealed personal data in this database's key store) or "unknown" (the
	// keys are not kept in this database).
	KeyStatus string `json:"key_status"`
	// Schemas are the custody schemas whose personal tables were checked
	// row by row; Tables is the number of tables of the whole database
	// searched for the known values.
	Schemas []string     `json:"schemas"`
	Tables  int          `json:"tables_searched"`
	Replays []ReplayNote `json:"replays"`
	// Values is how many distinct known values of the subject were
	// searched for: those given to Verify and those found in residue rows.
	Values   int       `json:"values_searched"`
	Findings []Finding `json:"findings"`
	// Unreachable lists the copies Verify cannot see; an operator must
	// handle them (docs/erasure.md).
	Unreachable []string `json:"unreachable"`
}

// Clean reports whether nothing was found.
func (r Report) Clean() bool { return len(r.Findings) == 0 }

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Values are personal values of the subject the caller knows (the name
	// and phone number in the erasure request, say). After an erasure
	// custody no longer knows them itself, except from residue it finds;
	// without Values, Verify can search only for those.
	Values []string
	// Now is the report's time; default time.Now.
	Now time.Time
}

// ErrBadSubject is returned for a subject that is not
// customer/<corp>/<id> or staff/<corp>/<id>.
var ErrBadSubject = errors.New("erasure: subject must be customer/<corp>/<id> or staff/<corp>/<id>")

// Unreachable are the copies no SQL can reach; Verify lists them in every
// report.
var Unreachable = []string{
	"write-ahead log segments and their archive (until recycled or expired)",
	"base backups and dumps taken before the erasure",
	"physical replicas' lag and their own WAL",
	"files written by custody events export --include-pii before the erasure",
	"messages published with personal data (routes with pii) still held by brokers, and consumers' own copies",
	"disk blocks freed by a table rewrite (file system free space)",
}

// minValueLen is the shortest value searched for, in characters: two, so
// that two-character Chinese names are found; shorter values match
// everywhere and mean nothing.
const minValueLen = 2

// Verify looks for residue of subject's personal data: its key, rows of
// the subject in every custody schema whose personal columns are not blank,
// and the subject's known values in every column of every table of the
// database and in pg_stats. It reads only; it reads every table in full,
// so on a large database it takes as long as a sequential scan of it.
func Verify(ctx context.Context, db DB, subject string, opts VerifyOptions) (Report, error) {
	rep := Report{Subject: subject, CheckedAt: opts.Now, Unreachable: Unreachable, Findings: []Finding{}}
	if rep.CheckedAt.IsZero() {
		rep.CheckedAt = time.Now().UTC()
	}
	if err := checkSubject(subject); err != nil {
		return rep, err
	}
	if err := verifyKey(ctx, db, &rep); err != nil {
		return rep, err
	}
	schemas, err := Schemas(ctx, db)
	if err != nil {
		return rep, err
	}
	rep.Schemas = schemas
	if rep.Replays, err = replays(ctx, db, schemas); err != nil {
		return rep, err
	}
	ts, err := tables(ctx, db, schemas)
	if err != nil {
		return rep, err
	}
	known := map[string]bool{}
	for _, v := range opts.Values {
		known[strings.TrimSpace(v)] = true
	}
	for _, t := range ts {
		n, vals, err := residue(ctx, db, t, subject)
		if err != nil {
			return rep, err
		}
		if n > 0 {
			rep.Findings = append(rep.Findings, Finding{Kind: KindRow, Where: t.schema + "." + t.Name, Rows: n,
				Detail: "rows of the subject whose personal columns are not blank"})
		}
		for _, v := range vals {
			known[strings.TrimSpace(v)] = true
		}
	}
	var values []string
	for v := range known {
		if utf8.RuneCountInString(v) >= minValueLen {
			values = append(values, v)
		}
	}
	sort.Strings(values)
	rep.Values = len(values)
	if len(values) > 0 {
		if err := searchStats(ctx, db, values, &rep); err != nil {
			return rep, err
		}
		if err := searchTables(ctx, db, values, &rep); err != nil {
			return rep, err
		}
	}
	if rep.Erased {
		if err := pendingRewrites(ctx, db, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func checkSubject(s string) error {
	kind, rest, ok := strings.Cut(s, "/")
	if !ok || (kind != "customer" && kind != "staff") {
		return fmt.Errorf("%w: %q", ErrBadSubject, s)
	}
	corp, id, ok := strings.Cut(rest, "/")
	if !ok || corp == "" || id == "" {
		return fmt.Errorf("%w: %q", ErrBadSubject, s)
	}
	return nil
}

func verifyKey(ctx context.Context, db DB, rep *Report) error {
	if ok, err := hasKeyStore(ctx, db); err != nil {
		return err
	} else if !ok {
		rep.KeyStatus = "unknown"
		return nil
	}
	var wrapped []byte
	var erasedAt *time.Time
	err := db.QueryRow(ctx, `SELECT wrapped_key, erased_at FROM pii_keys WHERE subject = $1`, rep.Subject).Scan(&wrapped, &erasedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		rep.KeyStatus = "none"
	case err != nil:
		return fmt.Errorf("erasure: read key of subject: %w", err)
	case wrapped != nil:
		rep.KeyStatus = "present"
		rep.Findings = append(rep.Findings, Finding{Kind: KindKey, Where: "pii_keys", Rows: 1,
			Detail: "the subject's data key exists: the subject is not erased and its sealed data can be read"})
	default:
		rep.KeyStatus, rep.Erased = "erased", true
		if erasedAt != nil {
			t := erasedAt.UTC()
			rep.ErasedAt = &t
		}
	}
	return nil
}

func replays(ctx context.Context, db DB, schemas []string) ([]ReplayNote, error) {
	out := []ReplayNote{}
	for _, s := range schemas {
		var isReplay bool
		if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'replay_info')`, s).Scan(&isReplay); err != nil {
			return nil, fmt.Errorf("erasure: inspect %s: %w", s, err)
		}
		if !isReplay {
			continue
		}
		n := ReplayNote{Schema: s}
		err := db.QueryRow(ctx, fmt.Sprintf(`SELECT until, built_at FROM %s.replay_info`, ident(s))).Scan(&n.Until, &n.BuiltAt)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) { // a replay being built has no row yet
			return nil, fmt.Errorf("erasure: read %s.replay_info: %w", s, err)
		}
		n.Until, n.BuiltAt = n.Until.UTC(), n.BuiltAt.UTC()
		out = append(out, n)
	}
	return out, nil
}

// residue counts t's rows of subject with personal data and returns their
// values.
func residue(ctx context.Context, db DB, t present, subject string) (int64, []string, error) {
	var cols []string
	for _, c := range t.Columns {
		if c.Blank == "'{}'" {
			cols = append(cols, "array_to_string("+ident(c.Name)+", chr(31))")
		} else {
			cols = append(cols, ident(c.Name))
		}
	}
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE (%s) = $1 AND %s LIMIT 10000`, strings.Join(cols, ", "), t.name(), t.Subject, t.nonBlank())
	rows, err := db.Query(ctx, q, subject)
	if err != nil {
		return 0, nil, fmt.Errorf("erasure: check %s: %w", t.name(), err)
	}
	defer rows.Close()
	var n int64
	var vals []string
	for rows.Next() {
		n++
		vs, err := rows.Values()
		if err != nil {
			return 0, nil, fmt.Errorf("erasure: check %s: %w", t.name(), err)
		}
		for _, v := range vs {
			if s, ok := v.(string); ok {
				vals = append(vals, strings.Split(s, "\x1f")...)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("erasure: check %s: %w", t.name(), err)
	}
	return n, vals, nil
}

// searchStats looks for values in pg_stats of every table custody's role
// can read.
func searchStats(ctx context.Context, db DB, values []string, rep *Report) error {
	rows, err := db.Query(ctx, `SELECT schemaname::text, tablename::text, attname::text,
			concat_ws(' ', most_common_vals::text, histogram_bounds::text, most_common_elems::text)
		FROM pg_stats WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		return fmt.Errorf("erasure: read pg_stats: %w", err)
	}
	var s, t, a, stats string
	_, err = pgx.ForEachRow(rows, []any{&s, &t, &a, &stats}, func() error {
		n := 0
		for _, v := range values {
			if strings.Contains(stats, v) || strings.Contains(stats, arrayEscape(v)) {
				n++
			}
		}
		if n > 0 {
			rep.Findings = append(rep.Findings, Finding{Kind: KindStatistics, Where: s + "." + t + "." + a,
				Detail: fmt.Sprintf("pg_stats holds %d of the subject's values: disable the column's statistics (SET STATISTICS 0) and drop them (docs/erasure.md)", n)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("erasure: read pg_stats: %w", err)
	}
	return nil
}

// arrayEscape is v as PostgreSQL writes it inside an array literal.
func arrayEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)
}

// searchTables looks for values in every text, JSON and bytea column of
// every table of the database outside the system schemas.
func searchTables(ctx context.Context, db DB, values []string, rep *Report) error {
	rows, err := db.Query(ctx, `SELECT c.table_schema::text, c.table_name::text, c.column_name::text, c.data_type::text, c.udt_name::text
		FROM information_schema.columns c JOIN information_schema.tables t
		  ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg\_%'
		  AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')
		       OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar')))
		ORDER BY 1, 2, c.ordinal_position`)
	if err != nil {
		return fmt.Errorf("erasure: list columns: %w", err)
	}
	type col struct{ name, dataType string }
	type tbl struct {
		schema, name string
		cols         []col
	}
	var order []*tbl
	byName := map[string]*tbl{}
	var s, t, c, dt, udt string
	_, err = pgx.ForEachRow(rows, []any{&s, &t, &c, &dt, &udt}, func() error {
		k := s + "." + t
		tb, ok := byName[k]
		if !ok {
			tb = &tbl{schema: s, name: t}
			byName[k] = tb
			order = append(order, tb)
		}
		tb.cols = append(tb.cols, col{c, dt})
		return nil
	})
	if err != nil {
		return fmt.Errorf("erasure: list columns: %w", err)
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	for _, tb := range order {
		var filters []string
		for _, c := range tb.cols {
			var conds []string
			for i := range values {
				if c.dataType == "bytea" {
					conds = append(conds, fmt.Sprintf("position(convert_to($%d, 'UTF8') in %s) > 0", i+1, ident(c.name)))
				} else {
					conds = append(conds, fmt.Sprintf("strpos(%s::text, $%d) > 0", ident(c.name), i+1))
				}
			}
			filters = append(filters, "count(*) FILTER (WHERE "+strings.Join(conds, " OR ")+")")
		}
		name := ident(tb.schema) + "." + ident(tb.name)
		counts := make([]int64, len(tb.cols))
		dest := make([]any, len(counts))
		for i := range counts {
			dest[i] = &counts[i]
		}
		if err := db.QueryRow(ctx, "SELECT "+strings.Join(filters, ", ")+" FROM "+name, args...).Scan(dest...); err != nil {
			return fmt.Errorf("erasure: search %s: %w", name, err)
		}
		rep.Tables++
		for i, n := range counts {
			if n > 0 {
				rep.Findings = append(rep.Findings, Finding{Kind: KindValue, Where: tb.schema + "." + tb.name + "." + tb.cols[i].name,
					Rows: n, Detail: "rows holding one of the subject's values"})
			}
		}
	}
	return nil
}
