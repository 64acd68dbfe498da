package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// bulkBuilder is implemented by projections whose rebuild derives their
// tables in one key-ordered pass, with a fold of their own, instead of
// replaying the log through Apply batch by batch. The fold projections get
// this pass from their one definition (see planOf and foldProjection); a
// hand-written bulkBuilder is only left in tests (the parking test's
// chat_names).
//
// While Rebuild reads the log, every event the projection uses is copied
// (COPY) into an unlogged staging table of the shadow schema, committed
// together with the shadow's checkpoint, so an interrupted build resumes.
// When the log is exhausted, one transaction reads the staged events back
// grouped by key, in position order within a key, folds each key's events
// into its final rows — one key at a time, so memory does not grow with
// the log — and copies the rows into the shadow tables with their indexes
// dropped, then builds the indexes. Every row is written once, instead of once per event that
// touches it, and indexes are built by sorting instead of row by row.
//
// The fold must yield exactly the rows Apply yields for the same events;
// TestBulkEqualsApply and the live-equals-rebuilt tests compare the two.
// After the fold the shadow is an ordinary one: events that arrive later
// (a resumed build, the swap's catch-up) go through Apply.
type bulkBuilder interface {
	Projection
	bulkPlan() bulkPlan
}

// planOf returns p's rebuild plan: a fold projection's from its
// definition, a bulkBuilder's own.
func planOf(p Projection) (bulkPlan, bool) {
	switch b := p.(type) {
	case foldProjection:
		return b.definition().bulkPlan(), true
	case bulkBuilder:
		return b.bulkPlan(), true
	}
	return bulkPlan{}, false
}

// bulkPlan describes a projection's staging table and fold.
type bulkPlan struct {
	// staging lists the staging table's columns as "name type".
	staging []string
	// stage returns e's staging row (one value per staging column), or nil
	// when the projection does not use e.
	stage func(e Event) []any
	// query reads the staged events in fold order ({s} names the schema).
	query string
	// fanouts, when set, reads staged events the fold takes in before
	// those of query, with addFanout (a fanoutFolder's).
	fanouts string
	// outputs lists, per table the fold writes, its columns in the order
	// the fold emits them; outputTypes, when set, their types (see copyIn).
	outputs, outputTypes map[string][]string
	// newFold returns the fold state for one pass.
	newFold func() folder
	// finish, when set, lists statements run once the fold's rows are
	// copied, before the indexes are built ({s} names the schema; the
	// staging table is still there): what is derived from the final rows
	// as a whole rather than key by key (outreach's window counters).
	finish []string
}

// folder folds the rows of a bulkPlan's query into table rows.
type folder interface {
	// add consumes the current row of rows, emitting the rows of every key
	// it has finished.
	add(rows pgx.Rows, out *bulkOut) error
	// finish emits the rows of the last key.
	finish(out *bulkOut) error
}

// fanoutFolder is a folder that takes in the rows of a bulkPlan's fanouts
// query first.
type fanoutFolder interface {
	folder
	addFanout(rows pgx.Rows) error
}

// bulkOut buffers a fold's output rows per table until they are copied.
type bulkOut struct {
	rows map[string][][]any
}

// emit queues a row; a nil pointer value is written as NULL, text is made
// storable.
func (o *bulkOut) emit(table string, row ...any) {
	storableRow(row)
	o.rows[table] = append(o.rows[table], row)
}

const stagingTable = "bulk_staging"

// stagingDDL creates plan's staging table in schema. Its columns have no
// statistics: the table holds decoded events, personal data included, and
// only the fold reads it (in full, sorted), so ANALYZE must not copy its
// values into pg_statistic, where an erasure cannot reach them. Its text
// columns sort bytewise (COLLATE "C"): the fold needs a key's facts
// together, not in a language's order, and a database's locale collation
// sorts several times slower.
func stagingDDL(schema string, plan bulkPlan) string {
	table := ident(schema) + "." + stagingTable
	var noStats, cols []string
	for _, c := range plan.staging {
		if name, typ, _ := strings.Cut(c, " "); typ == "text" {
			c = name + ` text COLLATE "C"`
		}
		cols = append(cols, c)
	}
	for _, c := range stagingColumns(plan) {
		noStats = append(noStats, "ALTER COLUMN "+ident(c)+" SET STATISTICS 0")
	}
	return fmt.Sprintf("CREATE UNLOGGED TABLE %s (%s);\nALTER TABLE %s %s", table, strings.Join(cols, ", "),
		table, strings.Join(noStats, ", "))
}

func stagingColumns(plan bulkPlan) []string {
	cols := make([]string, len(plan.staging))
	for i, c := range plan.staging {
		cols[i], _, _ = strings.Cut(c, " ")
	}
	return cols
}

// stageBatch copies the events of evs after sh's position into sh's
// staging table and moves its stored checkpoint, in tx. Like the runner it
// skips the events of parked corps, and parks a corp at an event that does
// not decode (when the projection uses its type) or whose staging panics:
// the fold then yields the corp's rows as of before that event, as Apply
// would.
func stageBatch(ctx context.Context, tx pgx.Tx, sh *shadow, evs []Event) error {
	plan := *sh.plan
	var rows [][]any
	var newly []Parked
	park := func(e Event, err error) {
		newly = append(newly, Parked{Projection: sh.p.Name(), CorpID: e.CorpID, Position: e.Position, EventID: e.ID,
			EventType: e.Type, Stream: e.Stream, Reason: reasonOf(err)})
		sh.parked[e.CorpID] = true
	}
	n := 0
	for _, e := range evs {
		if !sh.pos.Less(e.Position) {
			continue
		}
		n++
		switch {
		case len(sh.parked) > 0 && sh.parked[e.CorpID]:
		case e.decodeErr != nil:
			if uses(sh.p, e.Type) {
				park(e, e.decodeErr)
			}
		case e.Payload == nil:
		default:
			r, err := stageEvent(plan, e)
			if err != nil {
				park(e, err)
			} else if r != nil {
				storableRow(r)
				rows = append(rows, r)
			}
		}
	}
	if n == 0 {
		return nil
	}
	if len(rows) > 0 {
		if err := copyIn(ctx, tx, pgx.Identifier{sh.schema, stagingTable}, stagingColumns(plan), colTypes(plan.staging), rows); err != nil {
			return fmt.Errorf("projections: rebuild %s: stage %d events: %w", sh.p.Name(), len(rows), err)
		}
	}
	b := &pgx.Batch{}
	for _, pk := range newly {
		queueParked(b, sh.schema, pk)
	}
	last := evs[len(evs)-1]
	b.Queue(fmt.Sprintf(rebuildStateMove, ident(sh.schema)),
		int64(last.Position.Commit), int64(last.Position.Prepare), last.RecordedAt, n)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("projections: rebuild %s: stage: %w", sh.p.Name(), err)
	}
	sh.pos = last.Position
	return nil
}

// stageEvent is plan.stage(e) with a panic turned into a dataError.
func stageEvent(plan bulkPlan, e Event) (row []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			row, err = nil, recovered("stage", r)
		}
	}()
	return plan.stage(e), nil
}

// foldWorkMem is the work_mem of a fold's transaction (its sort).
var foldWorkMem = "64MB"

// foldRows is how many staged rows a fold fetches at a time.
var foldRows = 10000

// afterFoldChunk, when set (by tests), runs after each chunk a fold copies.
var afterFoldChunk func()

// foldPhases is where a fold's time went: reading the fanouts' facts,
// the query's first result and later fetches (the sort), the fold in Go,
// the COPY of the rows and the index builds.
type foldPhases struct{ fanouts, fetch, fold, copy, index time.Duration }

func (ph foldPhases) attrs() []any {
	return []any{"fanouts", ph.fanouts, "fetch", ph.fetch, "fold", ph.fold, "copy", ph.copy, "index", ph.index}
}

// foldShadow derives sh's tables from its staging table in one
// transaction (see bulkBuilder), drops the staging table and marks the
// shadow as an ordinary one. Interrupted, it leaves the staging table and
// the empty tables as they were, and the next run folds again.
func foldShadow(ctx context.Context, tx pgx.Tx, sh *shadow, ph *foldPhases) error {
	plan := *sh.plan
	mark := time.Now()
	lap := func(d *time.Duration) {
		now := time.Now()
		*d += now.Sub(mark)
		mark = now
	}
	fail := func(what string, err error) error {
		return fmt.Errorf("projections: rebuild %s: fold: %s: %w", sh.p.Name(), what, err)
	}
	// Drop the tables' indexes and constraints and build them again after
	// the rows are in.
	rs, err := tx.Query(ctx, `SELECT c.relname, i.relname, pg_get_indexdef(i.oid), coalesce(con.conname, ''), coalesce(pg_get_constraintdef(con.oid), '')
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class c ON c.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_constraint con ON con.conindid = i.oid AND con.conrelid = c.oid AND con.contype IN ('p', 'u')
		WHERE n.nspname = $1 AND c.relname = ANY($2)
		ORDER BY 1, 2`, sh.schema, sh.p.Tables())
	if err != nil {
		return fail("list indexes", err)
	}
	type index struct{ table, name, def, constraint, constraintDef string }
	idx, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (index, error) {
		var x index
		err := r.Scan(&x.table, &x.name, &x.def, &x.constraint, &x.constraintDef)
		return x, err
	})
	if err != nil {
		return fail("list indexes", err)
	}
	for _, x := range idx {
		stmt := "DROP INDEX " + ident(sh.schema) + "." + ident(x.name)
		if x.constraint != "" {
			stmt = fmt.Sprintf("ALTER TABLE %s.%s DROP CONSTRAINT %s", ident(sh.schema), ident(x.table), ident(x.constraint))
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fail("drop index "+x.name, err)
		}
	}

	// The query sorts every staged event: in memory rather than in
	// temporary files.
	if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '"+foldWorkMem+"'"); err != nil {
		return fail("set work_mem", err)
	}
	f := plan.newFold()
	if plan.fanouts != "" {
		ff, ok := f.(fanoutFolder)
		if !ok {
			return fail("read fanouts", fmt.Errorf("internal error: %T takes no fanouts", f))
		}
		rows, err := tx.Query(ctx, strings.ReplaceAll(plan.fanouts, "{s}", ident(sh.schema)), pgx.QueryExecModeDescribeExec)
		if err != nil {
			return fail("read fanouts", err)
		}
		for rows.Next() {
			if err := ff.addFanout(rows); err != nil {
				rows.Close()
				return fail("read fanouts", err)
			}
		}
		if err := rows.Err(); err != nil {
			return fail("read fanouts", err)
		}
	}
	lap(&ph.fanouts)
	q := strings.ReplaceAll(plan.query, "{s}", ident(sh.schema))
	cursor := ident("bulk_fold_" + sh.p.Name())
	if _, err := tx.Exec(ctx, "DECLARE "+cursor+" NO SCROLL CURSOR FOR "+q); err != nil {
		return fail("query staged events", err)
	}
	out := &bulkOut{rows: map[string][][]any{}}
	for {
		// Described on every fetch: the text is the same for every fold
		// of this projection, the statement cache must not outlive a plan.
		rows, err := tx.Query(ctx, fmt.Sprintf("FETCH FORWARD %d FROM %s", foldRows, cursor), pgx.QueryExecModeDescribeExec)
		if err != nil {
			return fail("fetch staged events", err)
		}
		lap(&ph.fetch)
		n := 0
		for rows.Next() {
			n++
			if err := f.add(rows, out); err != nil {
				rows.Close()
				return fail("fold", err)
			}
		}
		if err := rows.Err(); err != nil {
			return fail("fetch staged events", err)
		}
		if n == 0 {
			if err := f.finish(out); err != nil {
				return fail("fold", err)
			}
		}
		lap(&ph.fold)
		for t, buf := range out.rows {
			if len(buf) == 0 {
				continue
			}
			if err := copyIn(ctx, tx, pgx.Identifier{sh.schema, t}, plan.outputs[t], plan.outputTypes[t], buf); err != nil {
				return fail("copy "+t, err)
			}
			clear(buf)
			out.rows[t] = buf[:0]
		}
		lap(&ph.copy)
		if afterFoldChunk != nil {
			afterFoldChunk()
		}
		if n == 0 {
			break
		}
	}
	if _, err := tx.Exec(ctx, "CLOSE "+cursor); err != nil {
		return fail("close cursor", err)
	}
	for _, stmt := range plan.finish {
		if _, err := tx.Exec(ctx, strings.ReplaceAll(stmt, "{s}", ident(sh.schema))); err != nil {
			return fail("finish", err)
		}
	}

	lap(&ph.copy)
	for _, x := range idx {
		stmt := x.def
		if x.constraint != "" {
			stmt = fmt.Sprintf("ALTER TABLE %s.%s ADD CONSTRAINT %s %s", ident(sh.schema), ident(x.table), ident(x.constraint), x.constraintDef)
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fail("build index "+x.name, err)
		}
	}
	lap(&ph.index)
	stmts := []string{
		fmt.Sprintf("DROP TABLE %s.%s", ident(sh.schema), stagingTable),
		fmt.Sprintf("UPDATE %s.rebuild_state SET bulk_pending = false", ident(sh.schema)),
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fail("finish", err)
		}
	}
	return nil
}

// pgEpochMicros is 2000-01-01 UTC, PostgreSQL's epoch, in microseconds
// since the Unix epoch.
const pgEpochMicros = 946684800 * 1_000_000

// rawFact decodes the current row of rows, whose columns have the staging
// types types, into a normalised fact (what norm makes of rows.Values)
// straight from the wire format of the usual types, without pgx's boxed
// intermediate values: a fold reads every staged fact, and those
// allocations were most of its time in Go. It returns false when a column
// has a type or format it does not know, or a value it leaves to pgx
// (an infinite time, a multi-dimensional array): the caller then decodes
// the row with rows.Values.
func rawFact(rows pgx.Rows, types []string) ([]any, bool) {
	raw := rows.RawValues()
	fds := rows.FieldDescriptions()
	if len(raw) != len(types) || len(fds) != len(types) {
		return nil, false
	}
	out := make([]any, len(raw))
	for i, b := range raw {
		if b == nil {
			continue // NULL
		}
		binary := fds[i].Format == pgx.BinaryFormatCode
		switch t := types[i]; {
		case t == "text" && (fds[i].DataTypeOID == pgtype.TextOID || fds[i].DataTypeOID == pgtype.VarcharOID):
			out[i] = string(b)
		case !binary:
			return nil, false
		case t == "smallint" && fds[i].DataTypeOID == pgtype.Int2OID && len(b) == 2:
			out[i] = int16(be.Uint16(b))
		case t == "bigint" && fds[i].DataTypeOID == pgtype.Int8OID && len(b) == 8:
			out[i] = int64(be.Uint64(b))
		case t == "integer" && fds[i].DataTypeOID == pgtype.Int4OID && len(b) == 4:
			out[i] = int64(int32(be.Uint32(b)))
		case t == "boolean" && fds[i].DataTypeOID == pgtype.BoolOID && len(b) == 1:
			out[i] = b[0] != 0
		case t == "timestamptz" && fds[i].DataTypeOID == pgtype.TimestamptzOID && len(b) == 8:
			us := int64(be.Uint64(b))
			if us == math.MaxInt64 || us == math.MinInt64 {
				return nil, false // infinity
			}
			us += pgEpochMicros
			out[i] = time.UnixMicro(us).UTC()
		case t == "text[]" && fds[i].DataTypeOID == pgtype.TextArrayOID:
			a, ok := rawTextArray(b)
			if !ok {
				return nil, false
			}
			out[i] = a
		default:
			return nil, false
		}
	}
	return out, true
}

var be = binary.BigEndian

// rawTextArray decodes a one-dimensional text[] in binary format; a NULL
// element is "" (as norm makes it).
func rawTextArray(b []byte) ([]string, bool) {
	if len(b) < 12 {
		return nil, false
	}
	ndim := int32(be.Uint32(b))
	b = b[12:] // ndim, has-nulls flag, element type
	if ndim == 0 {
		return []string{}, true
	}
	if ndim != 1 || len(b) < 8 {
		return nil, false
	}
	n := int32(be.Uint32(b))
	b = b[8:] // length, lower bound
	if n < 0 || int(n) > len(b)/4 {
		return nil, false
	}
	out := make([]string, n)
	for i := range out {
		if len(b) < 4 {
			return nil, false
		}
		l := int32(be.Uint32(b))
		b = b[4:]
		if l < 0 {
			continue // NULL
		}
		if int(l) > len(b) {
			return nil, false
		}
		out[i], b = string(b[:l]), b[l:]
	}
	return out, len(b) == 0
}

// copyIn copies rows into table's cols, whose types are types ("bigint",
// "text[]", ...), with COPY in binary format, encoding the values itself
// when every one has a Go type it knows for its column (those the staging
// and fold functions give: strings, integers, booleans, times, string
// slices, their pointers and nil); otherwise it leaves the rows to
// pgx.CopyFrom. It saves pgx's per-value encoding plans and its round
// trip describing the table before each COPY: a rebuild copies every
// staged fact and every row it derives.
func copyIn(ctx context.Context, tx pgx.Tx, table pgx.Identifier, cols, types []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if buf, ok := copyBinary(types, rows); ok && len(types) == len(cols) {
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = ident(c)
		}
		sql := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT binary)", table.Sanitize(), strings.Join(quoted, ", "))
		_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(buf), sql)
		return err
	}
	_, err := tx.CopyFrom(ctx, table, cols, pgx.CopyFromRows(rows))
	return err
}

// copyBinary encodes rows in COPY's binary format, or returns false when
// a value is not one it knows for its column's type.
func copyBinary(types []string, rows [][]any) ([]byte, bool) {
	buf := make([]byte, 0, 64*len(rows)*len(types))
	buf = append(buf, "PGCOPY\n\xff\r\n\x00"...)
	buf = be.AppendUint32(buf, 0) // flags
	buf = be.AppendUint32(buf, 0) // header extension
	for _, r := range rows {
		if len(r) != len(types) {
			return nil, false
		}
		buf = be.AppendUint16(buf, uint16(len(r)))
		for i, v := range r {
			var ok bool
			if buf, ok = appendBinary(buf, types[i], v); !ok {
				return nil, false
			}
		}
	}
	return be.AppendUint16(buf, 0xffff), true
}

// appendBinary appends v as a COPY binary field (its length, then its
// bytes) of type typ.
func appendBinary(buf []byte, typ string, v any) ([]byte, bool) {
	// Pointers and NULL first.
	switch x := v.(type) {
	case nil:
		return be.AppendUint32(buf, 0xffffffff), true
	case *string:
		if x == nil {
			return appendBinary(buf, typ, nil)
		}
		v = *x
	case *time.Time:
		if x == nil {
			return appendBinary(buf, typ, nil)
		}
		v = *x
	case *int64:
		if x == nil {
			return appendBinary(buf, typ, nil)
		}
		v = *x
	case *bool:
		if x == nil {
			return appendBinary(buf, typ, nil)
		}
		v = *x
	}
	switch typ {
	case "text":
		s, ok := v.(string)
		if !ok {
			// A named string type (events.Reason, ...).
			rv := reflect.ValueOf(v)
			if rv.Kind() != reflect.String {
				return nil, false
			}
			s = rv.String()
		}
		buf = be.AppendUint32(buf, uint32(len(s)))
		return append(buf, s...), true
	case "smallint", "integer", "bigint":
		n, ok := integer(v)
		if !ok {
			return nil, false
		}
		switch typ {
		case "smallint":
			if n < math.MinInt16 || n > math.MaxInt16 {
				return nil, false
			}
			return be.AppendUint16(be.AppendUint32(buf, 2), uint16(n)), true
		case "integer":
			if n < math.MinInt32 || n > math.MaxInt32 {
				return nil, false
			}
			return be.AppendUint32(be.AppendUint32(buf, 4), uint32(n)), true
		}
		return be.AppendUint64(be.AppendUint32(buf, 8), uint64(n)), true
	case "date":
		t, ok := v.(time.Time)
		if !ok {
			return nil, false
		}
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()
		days := (day - pgEpochMicros/1_000_000) / 86400
		if days < math.MinInt32 || days > math.MaxInt32 {
			return nil, false
		}
		return be.AppendUint32(be.AppendUint32(buf, 4), uint32(int32(days))), true
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, false
		}
		buf = be.AppendUint32(buf, 1)
		if b {
			return append(buf, 1), true
		}
		return append(buf, 0), true
	case "timestamptz":
		t, ok := v.(time.Time)
		if !ok {
			return nil, false
		}
		return be.AppendUint64(be.AppendUint32(buf, 8), uint64(t.UnixMicro()-pgEpochMicros)), true
	case "text[]":
		a, ok := v.([]string)
		if !ok {
			return nil, false
		}
		if a == nil {
			return appendBinary(buf, typ, nil) // as pgx: a nil slice is NULL
		}
		size := 12
		if len(a) > 0 {
			size += 8
		}
		for _, s := range a {
			size += 4 + len(s)
		}
		buf = be.AppendUint32(buf, uint32(size))
		if len(a) == 0 {
			buf = be.AppendUint32(buf, 0) // no dimension
		} else {
			buf = be.AppendUint32(buf, 1)
		}
		buf = be.AppendUint32(buf, 0) // no NULL
		buf = be.AppendUint32(buf, pgtype.TextOID)
		if len(a) > 0 {
			buf = be.AppendUint32(buf, uint32(len(a)))
			buf = be.AppendUint32(buf, 1) // lower bound
		}
		for _, s := range a {
			buf = be.AppendUint32(buf, uint32(len(s)))
			buf = append(buf, s...)
		}
		return buf, true
	}
	return nil, false
}

// integer returns v as an int64 when it is a Go integer that fits.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	}
	// A named integer type.
	if rv := reflect.ValueOf(v); rv.CanInt() {
		return rv.Int(), true
	}
	return 0, false
}
