package projections

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// A fold projection is defined once, as a keyed fold: what it takes from
// an event (one fact, on one key) and how a key's facts, in log order, turn
// the key's rows into its new rows. Two drivers run that one definition:
//
//   - live (Writer.Send, used by the Runner for every batch): the facts of
//     the batch are collected, the touched keys' current rows of every fold
//     projection are loaded in one round trip, each key's fold is seeded
//     from its rows and fed the batch's facts in log order, and only the
//     rows that changed are written back, set-based (one upsert and one
//     delete per table), in one more round trip;
//   - rebuild (foldShadow): the facts of the whole log are staged with COPY,
//     read back grouped by key, in log order within a key, and folded from
//     empty, one key at a time, and the rows copied into the new tables (see
//     bulkBuilder).
//
// A fact is a row of values, one per column of definition.staging, with
// the Go types norm gives (string, []string, int64, int16, bool,
// time.Time at microseconds, or nil): the live driver normalises the row
// its fact function returns exactly as the rebuild reads it back from the
// staging table, so that both feed the fold the same values.
type foldProjection interface {
	Projection
	definition() *definition
}

// definition is a fold projection's single definition.
type definition struct {
	// staging lists the fact's columns as "name type"; it must include
	// "cpos bigint" and "ppos bigint" (the event's position).
	staging []string
	// key lists the staging columns (text) of the fact's key, in order.
	key []string
	// fact returns e's fact, one value per staging column, or nil when the
	// projection does not use e.
	fact func(e Event) []any
	// tables lists the tables the fold writes.
	tables []foldTable
	// newFold returns the fold of one key.
	newFold func() keyFold
	// fanouts lists the facts that reach every key of a group (a
	// departure: each relation of the member) instead of one key.
	fanouts []fanout
	// written, when set, queues into b what follows the live driver's
	// writes of a batch's keys, given every row the folds emitted
	// (out.rows, by table name: a fold may emit rows of names that are
	// not tables of the definition, for this only). The rebuild does not
	// call it.
	written func(w *Writer, b *pgx.Batch, out *bulkOut)

	// derived by prepared
	stagingTypes     []string
	keyIdx           []int
	cposIdx, pposIdx int
}

// fanout describes a fact that reaches several keys: the keys whose
// facts of kind from carry the same values in the match columns. The
// fact's own key columns that are not match columns are empty (NULL).
//
// The rebuild reads such facts first and joins them to each key with
// staged facts of kind from as it folds the key (sortedFold); the live
// driver finds the keys among the stored rows of table (match columns
// equal, where holding) and among the batch's own facts of kind from,
// loads their rows with the others', and folds the fact into each, in log
// order with the key's own facts. A key
// reached that the fact cannot change (a relation not yet started) must
// be left as it is by the fold.
type fanout struct {
	kind, from int16
	// match lists the staging columns the fact and the keys share.
	match []string
	// table is where the live driver finds the keys: tableKey names its
	// columns of the fold key (in definition.key order), tableMatch its
	// columns of match.
	table                string
	tableKey, tableMatch []string
	// where, when set, restricts the stored keys to those the fact can
	// change.
	where string
	// loadMatched says the fact changes the rows of table that match it
	// even where table's where does not load them (an erasure blanks the
	// closed stints of a member too): the live driver loads them as well.
	loadMatched bool

	matchIdx []int // derived by prepared
}

// fanoutOf returns the fanout of fact's kind, or nil.
func (d *definition) fanoutOf(fact []any) *fanout {
	for i := range d.fanouts {
		if d.fanouts[i].kind == vKind(fact) {
			return &d.fanouts[i]
		}
	}
	return nil
}

// matches reports whether fact (of f's kind) reaches a key whose fact of
// kind from is other.
func (f *fanout) matches(fact, other []any) bool {
	if vKind(other) != f.from {
		return false
	}
	for _, i := range f.matchIdx {
		if fact[i] != other[i] {
			return false
		}
	}
	return true
}

// foldTable is a table a fold writes.
type foldTable struct {
	name string
	// cols lists the columns as "name type", in the order the fold emits
	// them.
	cols []string
	// pk names the primary key's columns: rows are upserted and deleted by
	// it.
	pk []string
	// key names the columns holding the fold's key (in the order of
	// definition.key): a key's rows are loaded by them.
	key []string
	// where, when set, restricts the rows loaded to those the fold can
	// change; the fold then emits only those (and new ones), and rows not
	// loaded are left as they are.
	where string
	// added marks a table whose rows, once written, a fold never changes
	// (a history): none is loaded, the fold emits the new ones.
	added bool
	// narrow, when set, lists staging columns that name the rows of a key
	// a fact can change (a group's member: its type and id), and
	// narrowCols the table's columns holding them, in the same order: the
	// live driver loads only the key's rows that some fact of the key in
	// the batch names, instead of every row of the key (a group's whole
	// membership), and rows not loaded are left as they are, as with
	// where. A fact whose narrow columns are all empty names no row. A
	// fanout loads the rows its facts match (the table must hold the
	// fanout's tableMatch columns). A fact of a kind in whole names every
	// row of its key (a dismissal empties a chat): the key's rows are
	// loaded as without narrow.
	narrow, narrowCols []string
	whole              []int16

	// derived by prepared: the statements of the live driver, the column
	// types and the positions of the key and primary key columns.
	loadQ, upsertQ, deleteQ string
	loadWholeQ              string   // loadQ without narrow, for whole keys
	fanoutQ                 []string // per fanout of the definition
	types                   []string
	keyIdx, pkIdx           []int
	narrowIdx               []int // the narrow columns' staging indexes
}

// keyFold folds the facts of one key.
type keyFold interface {
	// seed starts the fold of key from its current rows (per table, in
	// foldTable.cols order, normalised); rows is empty for a key without
	// rows, and always for a rebuild. It resets the whole state: the
	// rebuild reuses one fold for every key.
	seed(key foldKey, rows map[string][][]any)
	// add folds the next fact of the key, in log order.
	add(fact []any) error
	// finish emits every row of the key (those loaded by seed included).
	finish(out *bulkOut)
}

// foldKey is a fact's key: its key columns' values ("" beyond them).
type foldKey [3]string

// prepared returns d with its derived fields set; every definition is
// prepared once, when its package variable is initialised.
func prepared(d *definition) *definition {
	cols := make([]string, len(d.staging))
	d.stagingTypes = make([]string, len(d.staging))
	for i, c := range d.staging {
		cols[i], d.stagingTypes[i], _ = strings.Cut(c, " ")
	}
	for _, k := range d.key {
		d.keyIdx = append(d.keyIdx, slices.Index(cols, k))
	}
	d.cposIdx, d.pposIdx = slices.Index(cols, "cpos"), slices.Index(cols, "ppos")
	for i := range d.fanouts {
		f := &d.fanouts[i]
		for _, m := range f.match {
			f.matchIdx = append(f.matchIdx, slices.Index(cols, m))
		}
	}
	for i := range d.tables {
		t := &d.tables[i]
		t.types, t.keyIdx, t.pkIdx = colTypes(t.cols), colIndexes(t.cols, t.key), colIndexes(t.cols, t.pk)
		if len(t.narrow) != len(t.narrowCols) {
			panic("projections: " + t.name + ": narrow and narrowCols differ in length")
		}
		for _, c := range t.narrow {
			t.narrowIdx = append(t.narrowIdx, slices.Index(cols, c))
		}
		for _, f := range d.fanouts {
			for _, c := range f.tableMatch {
				if len(t.narrow) > 0 && !slices.Contains(colNames(t.cols), c) {
					panic("projections: " + t.name + " is narrowed but has no column " + c + " for a fanout to match")
				}
			}
		}
		t.loadQ, t.upsertQ, t.deleteQ = loadSQL(t), upsertSQL(t), deleteSQL(t)
		if len(t.whole) > 0 {
			wt := *t
			wt.narrowCols = nil
			t.loadWholeQ = loadSQL(&wt)
		}
		for j := range d.fanouts {
			t.fanoutQ = append(t.fanoutQ, fanoutLoadSQL(t, &d.fanouts[j]))
		}
	}
	return d
}

// keyOf returns fact's key.
func (d *definition) keyOf(fact []any) foldKey {
	var k foldKey
	for i, c := range d.keyIdx {
		k[i], _ = fact[c].(string)
	}
	return k
}

// factOf returns e's normalised fact, or nil. A panic of the fact
// function is a dataError.
func (d *definition) factOf(e Event) (fact []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			fact, err = nil, recovered("stage", r)
		}
	}()
	fact = d.fact(e)
	if fact == nil {
		return nil, nil
	}
	storableRow(fact)
	for i, t := range d.stagingTypes {
		fact[i] = norm(t, fact[i])
	}
	return fact, nil
}

// bulkPlan is the rebuild's plan of a fold projection.
func (d *definition) bulkPlan() bulkPlan {
	cols := make([]string, len(d.staging))
	for i, c := range d.staging {
		cols[i], _, _ = strings.Cut(c, " ")
	}
	outputs, types := map[string][]string{}, map[string][]string{}
	for _, t := range d.tables {
		outputs[t.name], types[t.name] = colNames(t.cols), t.types
	}
	query, fanouts := d.foldQueries(cols)
	return bulkPlan{
		staging:     d.staging,
		stage:       d.fact,
		query:       query,
		fanouts:     fanouts,
		outputs:     outputs,
		outputTypes: types,
		newFold:     func() folder { return &sortedFold{d: d} },
	}
}

// foldQueries returns the query reading the staged facts of single keys
// grouped by key, each key's in log order, and the one reading the
// fanouts' facts (or "") in log order. The fanouts' facts are few
// (departures, erasures): the fold keeps them in memory and joins them to
// the keys they reach itself, rather than have the database find those
// keys with a sort of its own.
//
// The fold needs a key's facts together, not the keys in any order: the
// sort takes the corp column last. A log holds one or a few corps, and a
// sort led by a column that hardly varies compares the next columns of
// nearly every pair of rows in full (its abbreviated keys are useless);
// led by the customer (or staff member, chat, ...) it sorts several times
// faster (BENCHMARKS.md, issue 17). With one corp the keys still
// come out in key order, which is also the order of the tables' primary
// keys, so that building those indexes sorts sorted rows.
func (d *definition) foldQueries(cols []string) (query, fanouts string) {
	q := fmt.Sprintf("SELECT %s FROM {s}.bulk_staging", strings.Join(cols, ", "))
	var order []string
	for _, k := range d.key {
		if k != "corp" {
			order = append(order, k)
		}
	}
	if len(order) < len(d.key) {
		order = append(order, "corp")
	}
	by := fmt.Sprintf(" ORDER BY %s, cpos, ppos", strings.Join(order, ", "))
	if len(d.fanouts) == 0 {
		return q + by, ""
	}
	var kinds []string
	for _, f := range d.fanouts {
		kinds = append(kinds, fmt.Sprint(f.kind))
	}
	in := "(" + strings.Join(kinds, ", ") + ")"
	return q + " WHERE kind NOT IN " + in + by, q + " WHERE kind IN " + in + " ORDER BY cpos, ppos"
}

// sortedFold is the rebuild's driver of a definition: it folds staged
// facts grouped by key, each key from empty. With fanouts it holds a key's
// facts until the key ends and adds to them, in log order, the fanouts'
// facts that reach it: those of a fanout whose match columns equal those
// of one of the key's facts of kind from, once per distinct such match
// (the join the live driver's reach does from stored rows), each with the
// key's columns of that fact.
type sortedFold struct {
	d       *definition
	f       keyFold
	key     foldKey
	started bool
	// fans holds, per fanout of d, its facts by their match values, in
	// log order; facts holds the current key's (only with fanouts).
	fans  []map[string][][]any
	facts [][]any
}

// addFanout takes in a fanout fact (read before any other, in log order).
func (s *sortedFold) addFanout(rows pgx.Rows) error {
	vals, err := s.values(rows)
	if err != nil {
		return err
	}
	if s.fans == nil {
		s.fans = make([]map[string][][]any, len(s.d.fanouts))
		for i := range s.fans {
			s.fans[i] = map[string][][]any{}
		}
	}
	for i := range s.d.fanouts {
		f := &s.d.fanouts[i]
		if vKind(vals) != f.kind {
			continue
		}
		if m, ok := matchValues(f, vals); ok {
			s.fans[i][m] = append(s.fans[i][m], vals)
		}
	}
	return nil
}

// matchValues returns fact's values of f's match columns as one string,
// and false when one is NULL (NULL equals nothing).
func matchValues(f *fanout, fact []any) (string, bool) {
	var b strings.Builder
	for _, c := range f.matchIdx {
		v, ok := fact[c].(string)
		if !ok {
			return "", false
		}
		// Text holds no NUL: it separates the values.
		b.WriteString(v)
		b.WriteByte(0)
	}
	return b.String(), true
}

func (s *sortedFold) values(rows pgx.Rows) ([]any, error) {
	if vals, ok := rawFact(rows, s.d.stagingTypes); ok {
		return vals, nil
	}
	vals, err := rows.Values()
	if err != nil {
		return nil, err
	}
	for i, t := range s.d.stagingTypes {
		vals[i] = norm(t, vals[i])
	}
	return vals, nil
}

func (s *sortedFold) add(rows pgx.Rows, out *bulkOut) error {
	vals, err := s.values(rows)
	if err != nil {
		return err
	}
	if k := s.d.keyOf(vals); !s.started || k != s.key {
		if err := s.end(out); err != nil {
			return err
		}
		// One fold for every key: seed resets it.
		if s.f == nil {
			s.f = s.d.newFold()
		}
		s.key, s.started = k, true
		s.f.seed(k, nil)
	}
	if len(s.d.fanouts) > 0 {
		s.facts = append(s.facts, vals)
		return nil
	}
	return s.f.add(vals)
}

// end folds the current key's facts held back for the fanouts and emits
// the key's rows.
func (s *sortedFold) end(out *bulkOut) error {
	if !s.started {
		return nil
	}
	s.started = false
	if len(s.fans) > 0 {
		joined, n := false, len(s.facts)
		for i := range s.d.fanouts {
			f := &s.d.fanouts[i]
			seen := map[string]bool{}
			for _, own := range s.facts[:n] {
				if vKind(own) != f.from {
					continue
				}
				m, ok := matchValues(f, own)
				if !ok || seen[m] {
					continue
				}
				seen[m] = true
				for _, fan := range s.fans[i][m] {
					fact := slices.Clone(fan)
					for _, c := range s.d.keyIdx {
						fact[c] = own[c]
					}
					s.facts = append(s.facts, fact)
					joined = true
				}
			}
		}
		if joined {
			slices.SortStableFunc(s.facts, func(a, b []any) int {
				if c := cmpInt(vInt(a, s.d.cposIdx), vInt(b, s.d.cposIdx)); c != 0 {
					return c
				}
				return cmpInt(vInt(a, s.d.pposIdx), vInt(b, s.d.pposIdx))
			})
		}
	}
	for _, fact := range s.facts {
		if err := s.f.add(fact); err != nil {
			return err
		}
	}
	clear(s.facts)
	s.facts = s.facts[:0]
	s.f.finish(out)
	return nil
}

func (s *sortedFold) finish(out *bulkOut) error { return s.end(out) }

// foldRun is one fold projection's share of a Writer: its facts in log
// order.
type foldRun struct {
	d     *definition
	keys  []foldKey
	facts map[foldKey][][]any
	// fans holds the fanouts' facts, in log order.
	fans [][]any
	// loaded holds the keys' current rows once loaded.
	loaded map[foldKey]map[string][][]any
	// own holds the partitions (of parts) the run applies, a bit each
	// (parts 1: the whole projection): only their keys are folded and
	// loaded.
	own   uint64
	parts int
	// first and n are the events the run's facts were taken from.
	first *Event
	n     int
}

// mine reports whether k belongs to one of run's partitions.
func (run *foldRun) mine(k foldKey) bool {
	return run.parts <= 1 || run.own&(1<<keyPart(k, run.parts)) != 0
}

// addFacts records the facts of evs for p in w. An error of the
// projection's code, or a panic, is a dataError. A partition of a
// projection (partView) records the facts of its keys and every fanout
// fact. The partitions of one projection in w given the same events
// share the facts, made once, and one run: their keys are loaded,
// folded and written together, in as many statements as the whole
// projection's.
func (w *Writer) addFacts(p foldProjection, evs []Event) error {
	d := p.definition()
	key, part, parts := p.Name(), 0, 1
	var facts [][]any
	var first *Event
	if len(evs) > 0 {
		first = &evs[0]
	}
	if v, ok := p.(partView); ok {
		part, parts = v.part, v.parts
		var err error
		if facts, err = w.factsOf(d, evs); err != nil {
			return err
		}
		key = v.foldProjection.Name()
		if run := w.folds[key]; run != nil && (run.first != first || run.n != len(evs)) {
			key = v.name // other events: a run of its own
		}
	}
	run := w.folds[key]
	fans := true
	if run != nil && parts > 1 {
		run.own |= 1 << part
		fans = false // the run has them from the partition that made it
	}
	for i, e := range evs {
		if e.Payload == nil {
			continue
		}
		var fact []any
		if facts != nil {
			fact = facts[i]
		} else {
			var err error
			if fact, err = d.factOf(e); err != nil {
				return err
			}
		}
		if fact == nil {
			continue
		}
		if run == nil {
			run = &foldRun{d: d, facts: map[foldKey][][]any{}, own: 1 << part, parts: parts, first: first, n: len(evs)}
			if w.folds == nil {
				w.folds = map[string]*foldRun{}
			}
			w.folds[key] = run
			w.order = append(w.order, key)
		}
		if d.fanoutOf(fact) != nil {
			if fans {
				run.fans = append(run.fans, fact)
			}
			continue
		}
		k := d.keyOf(fact)
		if parts > 1 && keyPart(k, parts) != part {
			continue
		}
		if _, ok := run.facts[k]; !ok {
			run.keys = append(run.keys, k)
		}
		run.facts[k] = append(run.facts[k], fact)
	}
	return nil
}

// factMemo is the facts of a definition for a slice of events.
type factMemo struct {
	first *Event
	n     int
	facts [][]any
	err   error
}

// factsOf returns the facts of d for evs (nil where none), made once per
// Writer and slice of events.
func (w *Writer) factsOf(d *definition, evs []Event) ([][]any, error) {
	if len(evs) == 0 {
		return [][]any{}, nil
	}
	if m, ok := w.facts[d]; ok && m.first == &evs[0] && m.n == len(evs) {
		return m.facts, m.err
	}
	m := factMemo{first: &evs[0], n: len(evs), facts: make([][]any, len(evs))}
	for i, e := range evs {
		if e.Payload == nil {
			continue
		}
		if m.facts[i], m.err = d.factOf(e); m.err != nil {
			m.facts = nil
			break
		}
	}
	if w.facts == nil {
		w.facts = map[*definition]factMemo{}
	}
	w.facts[d] = m
	return m.facts, m.err
}

// sender is what pgx.Tx, *pgx.Conn and *pgxpool.Pool share for sending a
// batch.
type sender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Send runs everything queued in w, in tx: the statements of the
// projections that apply events by statements and the folds of the fold
// projections (their keys' rows loaded in one round trip, folded, and
// the changed rows written back with the statements in one more).
func (w *Writer) Send(ctx context.Context, tx pgx.Tx) error {
	_, err := w.send(ctx, tx, "", nil)
	return err
}

// Empty reports whether w holds nothing to send.
func (w *Writer) Empty() bool { return w.batch.Len() == 0 && len(w.folds) == 0 }

// send sends w: head (a statement, e.g. a SAVEPOINT, or "") first, then
// the loads; the writes, then the statements of w's batch, then what tail
// queues. sent reports whether anything reached the server (then a
// savepoint in head exists). A fold's error or panic is a dataError.
func (w *Writer) send(ctx context.Context, c sender, head string, tail func(*pgx.Batch)) (sent bool, err error) {
	out := &pgx.Batch{}
	if head != "" {
		out.Queue(head)
	}
	if len(w.folds) > 0 {
		if !w.loaded {
			if err := w.load(ctx, c, out); err != nil {
				return out.Len() > 0, err
			}
			sent = out.Len() > 0
			out = &pgx.Batch{}
		}
		for _, name := range w.order {
			if err := w.folds[name].write(w, out); err != nil {
				return sent, err
			}
		}
	}
	out.QueuedQueries = append(out.QueuedQueries, w.batch.QueuedQueries...)
	if tail != nil {
		tail(out)
	}
	if out.Len() == 0 {
		return sent, nil
	}
	return true, c.SendBatch(ctx, out).Close()
}

// load queues into b (after what it holds) the queries reading the rows
// of every fold run's keys, sends b and keeps the rows in each run's
// loaded.
func (w *Writer) load(ctx context.Context, c sender, b *pgx.Batch) error {
	before := b.Len()
	reads := w.queueLoads(b)
	if b.Len() == 0 {
		return nil
	}
	br := c.SendBatch(ctx, b)
	defer br.Close()
	for range before {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	if err := w.readLoads(br, reads); err != nil {
		return err
	}
	return br.Close()
}

// loadRead is one queued load: a table of a fold run.
type loadRead struct {
	run *foldRun
	t   *foldTable
}

// queueLoads queues into b the queries reading the rows of every fold
// run's keys (and of the keys its fanouts reach).
func (w *Writer) queueLoads(b *pgx.Batch) []loadRead {
	var reads []loadRead
	for _, name := range w.order {
		run := w.folds[name]
		run.loaded = make(map[foldKey]map[string][][]any, len(run.keys))
		for i := range run.d.tables {
			t := &run.d.tables[i]
			if t.added {
				continue
			}
			switch {
			case len(t.narrow) > 0:
				args, whole := narrowArgs(run, t)
				if args != nil {
					b.Queue(w.sql(t.loadQ), args...)
					reads = append(reads, loadRead{run, t})
				}
				if len(whole) > 0 {
					b.Queue(w.sql(t.loadWholeQ), keyArgs(whole, len(t.key))...)
					reads = append(reads, loadRead{run, t})
				}
			case len(run.keys) > 0:
				b.Queue(w.sql(t.loadQ), keyArgs(run.keys, len(t.key))...)
				reads = append(reads, loadRead{run, t})
			}
			for j := range run.d.fanouts {
				f := &run.d.fanouts[j]
				var args []any
				for _, m := range f.matchIdx {
					col := []string{}
					for _, fact := range run.fans {
						if vKind(fact) == f.kind {
							col = append(col, vStr(fact, m))
						}
					}
					args = append(args, col)
				}
				if len(args[0].([]string)) == 0 {
					continue
				}
				b.Queue(w.sql(t.fanoutQ[j]), args...)
				reads = append(reads, loadRead{run, t})
			}
		}
	}
	return reads
}

// readLoads reads the results of reads from br (next in line) into their
// runs' loaded.
func (w *Writer) readLoads(br pgx.BatchResults, reads []loadRead) error {
	// A row may be read twice (by its key and by a fanout reaching it).
	seen := map[*foldTable]map[string]bool{}
	var buf []byte
	for _, r := range reads {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		types, keyIdx, pkIdx := r.t.types, r.t.keyIdx, r.t.pkIdx
		ids := seen[r.t]
		if ids == nil {
			ids = map[string]bool{}
			seen[r.t] = ids
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return err
			}
			for i, t := range types {
				vals[i] = norm(t, vals[i])
			}
			var k foldKey
			for i, c := range keyIdx {
				k[i] = keyText(vals[c])
			}
			if !r.run.mine(k) {
				continue // a fanout reached another partition's key
			}
			m := r.run.loaded[k]
			if m == nil {
				m = map[string][][]any{}
				r.run.loaded[k] = m
			}
			buf = appendRowKey(buf[:0], vals, pkIdx)
			if !ids[string(buf)] {
				ids[string(buf)] = true
				m[r.t.name] = append(m[r.t.name], vals)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	w.loaded = true
	return nil
}

// write folds every key of run from its loaded rows and queues into b the
// upserts of the rows that changed and the deletes of those that went.
func (run *foldRun) write(w *Writer, b *pgx.Batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recovered("fold", r)
		}
	}()
	out := &bulkOut{rows: map[string][][]any{}}
	keys := run.reach()
	for _, k := range keys {
		f := run.d.newFold()
		f.seed(k, run.loaded[k])
		for _, fact := range run.facts[k] {
			if err := f.add(fact); err != nil {
				return &dataError{reason: "fold: " + err.Error(), err: err}
			}
		}
		f.finish(out)
	}
	for i := range run.d.tables {
		t := &run.d.tables[i]
		types, pk := t.types, t.pkIdx
		before := map[string][]any{}
		for _, k := range keys {
			for _, row := range run.loaded[k][t.name] {
				before[rowKey(row, pk)] = row
			}
		}
		var upserts [][]any
		for _, row := range out.rows[t.name] {
			for j, typ := range types {
				row[j] = norm(typ, row[j])
			}
			id := rowKey(row, pk)
			old, ok := before[id]
			delete(before, id)
			if !ok || !sameRow(old, row) {
				upserts = append(upserts, row)
			}
		}
		if len(before) > 0 {
			var gone [][]any
			for _, row := range before {
				gone = append(gone, row)
			}
			// Deterministic order: the statements of one batch and the
			// next must lock rows in the same order.
			slices.SortFunc(gone, func(a, b []any) int { return strings.Compare(rowKey(a, pk), rowKey(b, pk)) })
			b.Queue(w.sql(t.deleteQ), columnArgs(gone, pk, types)...)
		}
		if len(upserts) > 0 {
			b.Queue(w.sql(t.upsertQ), columnArgs(upserts, nil, types)...)
		}
	}
	if run.d.written != nil {
		run.d.written(w, b, out)
	}
	return nil
}

// reach adds the fanouts' facts to the facts of every key they reach, in
// log order, and returns every key to fold: those with facts of their own
// first, then the others reached, sorted.
func (run *foldRun) reach() []foldKey {
	if len(run.fans) == 0 {
		return run.keys
	}
	d := run.d
	// A key is reached through its stored row of the fanout's table or
	// through its own facts of the fanout's kind from.
	reaches := func(f *fanout, fact []any, k foldKey) bool {
		for _, own := range run.facts[k] {
			if f.matches(fact, own) {
				return true
			}
		}
		t := d.table(f.table)
		match := colIndexes(t.cols, f.tableMatch)
	rows:
		for _, r := range run.loaded[k][f.table] {
			for i, c := range match {
				if keyText(r[c]) != vStr(fact, f.matchIdx[i]) {
					continue rows
				}
			}
			return true
		}
		return false
	}
	keys := slices.Clone(run.keys)
	var more []foldKey
	for k := range run.loaded {
		if _, own := run.facts[k]; !own {
			more = append(more, k)
		}
	}
	slices.SortFunc(more, func(a, b foldKey) int {
		return strings.Compare(strings.Join(a[:], "\x00"), strings.Join(b[:], "\x00"))
	})
	keys = append(keys, more...)
	touched := map[foldKey]bool{}
	for _, fact := range run.fans {
		f := d.fanoutOf(fact)
		for _, k := range keys {
			if reaches(f, fact, k) {
				run.facts[k] = append(run.facts[k], fact)
				touched[k] = true
			}
		}
	}
	for k := range touched {
		slices.SortStableFunc(run.facts[k], func(a, b []any) int {
			if c := cmpInt(vInt(a, d.cposIdx), vInt(b, d.cposIdx)); c != 0 {
				return c
			}
			return cmpInt(vInt(a, d.pposIdx), vInt(b, d.pposIdx))
		})
	}
	return keys
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// table returns d's table name.
func (d *definition) table(name string) *foldTable {
	for i := range d.tables {
		if d.tables[i].name == name {
			return &d.tables[i]
		}
	}
	panic("projections: no fold table " + name)
}

// fanoutLoadSQL reads t's rows of the keys f's facts reach among the
// stored rows of f.table (given as one text array per match column).
func fanoutLoadSQL(t *foldTable, f *fanout) string {
	var ms, mcols, on []string
	for i, c := range f.tableMatch {
		ms = append(ms, fmt.Sprintf("$%d::text[]", i+1))
		mcols = append(mcols, fmt.Sprintf("m%d", i))
		on = append(on, fmt.Sprintf("f.%s = m.m%d", ident(c), i))
	}
	var tk, fk []string
	for i, c := range t.key {
		tk = append(tk, "t."+ident(c))
		fk = append(fk, "f."+ident(f.tableKey[i]))
	}
	var sel []string
	for _, c := range colNames(t.cols) {
		sel = append(sel, "t."+ident(c))
	}
	where := ""
	if f.where != "" {
		where = " WHERE " + f.where
	}
	q := fmt.Sprintf("SELECT %s FROM {s}.%s AS t WHERE (%s) IN (SELECT %s FROM unnest(%s) AS m(%s) JOIN {s}.%s AS f ON %s%s)",
		strings.Join(sel, ", "), ident(t.name), strings.Join(tk, ", "), strings.Join(fk, ", "),
		strings.Join(ms, ", "), strings.Join(mcols, ", "), ident(f.table), strings.Join(on, " AND "), where)
	var tm []string
	for _, c := range f.tableMatch {
		tm = append(tm, "t."+ident(c))
	}
	matched := fmt.Sprintf("(%s) IN (SELECT * FROM unnest(%s))", strings.Join(tm, ", "), strings.Join(ms, ", "))
	// A fanout table whose matched rows the fact changes (loadMatched)
	// loads them whatever its where says.
	matchedToo := f.loadMatched && t.name == f.table
	switch {
	case len(t.narrow) > 0:
		// Only the rows the facts match.
		q += " AND " + matched
		if t.where != "" && !matchedToo {
			q += " AND " + t.where
		}
	case t.where != "" && matchedToo:
		q += fmt.Sprintf(" AND (%s OR %s)", t.where, matched)
	case t.where != "":
		q += " AND " + t.where
	}
	return q
}

// keyText is a loaded key column's value as the fold key holds it: text
// as it is, a date as YYYY-MM-DD.
func keyText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case time.Time:
		return x.Format(time.DateOnly)
	}
	return fmt.Sprint(v)
}

// narrowArgs returns the arguments of t's narrowed load: one text array
// per key column, then one per narrow column, a row for each distinct
// (key, narrow values) that a fact of run's keys names (nil when no fact
// names a row); and the keys with a fact of a whole kind, whose rows are
// all to be loaded.
func narrowArgs(run *foldRun, t *foldTable) (args []any, whole []foldKey) {
	n := len(t.key) + len(t.narrow)
	cols := make([][]string, n)
	seen := map[string]bool{}
	var id []byte
	for _, k := range run.keys {
		if slices.ContainsFunc(run.facts[k], func(f []any) bool { return slices.Contains(t.whole, vKind(f)) }) {
			whole = append(whole, k)
			continue
		}
		for _, fact := range run.facts[k] {
			named := false
			id = id[:0]
			for i := range t.key {
				id = append(append(id, k[i]...), 0)
			}
			for _, c := range t.narrowIdx {
				v := vStr(fact, c)
				named = named || v != ""
				id = append(append(id, v...), 0)
			}
			if !named || seen[string(id)] {
				continue
			}
			seen[string(id)] = true
			for i := range t.key {
				cols[i] = append(cols[i], k[i])
			}
			for i, c := range t.narrowIdx {
				cols[len(t.key)+i] = append(cols[len(t.key)+i], vStr(fact, c))
			}
		}
	}
	if len(cols[0]) == 0 {
		return nil, whole
	}
	args = make([]any, n)
	for i, c := range cols {
		args[i] = c
	}
	return args, whole
}

// keyArgs returns the keys' first n parts as n text arrays.
func keyArgs(keys []foldKey, n int) []any {
	args := make([]any, n)
	for i := range n {
		col := make([]string, len(keys))
		for j, k := range keys {
			col[j] = k[i]
		}
		args[i] = col
	}
	return args
}

// loadSQL reads t's rows of a set of keys (given as one text array per
// key column). The key columns lead the table's primary key or an index,
// so each key is an index lookup.
func loadSQL(t *foldTable) string {
	var on, ks []string
	types := colTypes(t.cols)
	for i, c := range t.key {
		ks = append(ks, fmt.Sprintf("$%d::text[]", i+1))
		cast := ""
		if typ := types[slices.Index(colNames(t.cols), c)]; typ != "text" {
			cast = "::" + typ // a key part travels as text
		}
		on = append(on, fmt.Sprintf("t.%s = k.k%d%s", ident(c), i, cast))
	}
	var kcols []string
	for i := range t.key {
		kcols = append(kcols, fmt.Sprintf("k%d", i))
	}
	for i, c := range t.narrowCols {
		ks = append(ks, fmt.Sprintf("$%d::text[]", len(t.key)+i+1))
		kcols = append(kcols, fmt.Sprintf("n%d", i))
		on = append(on, fmt.Sprintf("t.%s = k.n%d", ident(c), i))
	}
	var sel []string
	for _, c := range colNames(t.cols) {
		sel = append(sel, "t."+ident(c))
	}
	q := fmt.Sprintf("SELECT %s FROM unnest(%s) AS k(%s) JOIN {s}.%s AS t ON %s",
		strings.Join(sel, ", "), strings.Join(ks, ", "), strings.Join(kcols, ", "), ident(t.name), strings.Join(on, " AND "))
	if t.where != "" {
		q += " WHERE " + t.where
	}
	return q
}

// upsertSQL writes rows of t given as one array per column.
func upsertSQL(t *foldTable) string {
	names, types := colNames(t.cols), colTypes(t.cols)
	var params, sel, set []string
	for i, n := range names {
		params = append(params, fmt.Sprintf("$%d::%s", i+1, paramType(types[i])))
		s := "u." + ident(n)
		if isArray(types[i]) {
			s += "::" + types[i]
		}
		sel = append(sel, s)
		if !slices.Contains(t.pk, n) {
			set = append(set, fmt.Sprintf("%s = excluded.%s", ident(n), ident(n)))
		}
	}
	var quoted, pk []string
	for _, n := range names {
		quoted = append(quoted, ident(n))
	}
	for _, n := range t.pk {
		pk = append(pk, ident(n))
	}
	return fmt.Sprintf("INSERT INTO {s}.%s AS t (%s) SELECT %s FROM unnest(%s) AS u(%s) ON CONFLICT (%s) DO UPDATE SET %s",
		ident(t.name), strings.Join(quoted, ", "), strings.Join(sel, ", "), strings.Join(params, ", "),
		strings.Join(quoted, ", "), strings.Join(pk, ", "), strings.Join(set, ", "))
}

// deleteSQL deletes rows of t by primary key, given as one array per key
// column.
func deleteSQL(t *foldTable) string {
	types := colTypes(t.cols)
	names := colNames(t.cols)
	var params, on, as []string
	for i, n := range t.pk {
		params = append(params, fmt.Sprintf("$%d::%s", i+1, paramType(types[slices.Index(names, n)])))
		on = append(on, fmt.Sprintf("t.%s = d.%s", ident(n), ident(n)))
		as = append(as, ident(n))
	}
	return fmt.Sprintf("DELETE FROM {s}.%s AS t USING unnest(%s) AS d(%s) WHERE %s",
		ident(t.name), strings.Join(params, ", "), strings.Join(as, ", "), strings.Join(on, " AND "))
}

// columnArgs turns rows into one typed array per column (only the columns
// idx when not nil).
func columnArgs(rows [][]any, idx []int, types []string) []any {
	if idx == nil {
		idx = make([]int, len(types))
		for i := range idx {
			idx[i] = i
		}
	}
	args := make([]any, len(idx))
	for a, c := range idx {
		switch t := types[c]; t {
		case "text":
			col := make([]*string, len(rows))
			for j, r := range rows {
				if s, ok := r[c].(string); ok {
					col[j] = &s
				}
			}
			args[a] = col
		case "bigint", "integer", "smallint":
			col := make([]*int64, len(rows))
			for j, r := range rows {
				if n, ok := r[c].(int64); ok {
					col[j] = &n
				}
			}
			args[a] = col
		case "boolean":
			col := make([]*bool, len(rows))
			for j, r := range rows {
				if v, ok := r[c].(bool); ok {
					col[j] = &v
				}
			}
			args[a] = col
		case "timestamptz", "date":
			col := make([]*time.Time, len(rows))
			for j, r := range rows {
				if v, ok := r[c].(time.Time); ok {
					col[j] = &v
				}
			}
			args[a] = col
		default:
			if !isArray(t) {
				panic("projections: no column type " + t)
			}
			// Arrays cannot nest in unnest's arrays: each travels as its
			// text literal.
			col := make([]*string, len(rows))
			for j, r := range rows {
				if v, ok := r[c].([]string); ok {
					s := arrayLiteral(v)
					col[j] = &s
				}
			}
			args[a] = col
		}
	}
	return args
}

func paramType(t string) string {
	switch {
	case isArray(t):
		return "text[]"
	case t == "integer" || t == "smallint":
		return "bigint[]"
	}
	return t + "[]"
}

func isArray(t string) bool { return strings.HasSuffix(t, "[]") }

func colNames(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i], _, _ = strings.Cut(c, " ")
	}
	return out
}

func colTypes(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		_, out[i], _ = strings.Cut(c, " ")
	}
	return out
}

func colIndexes(cols, names []string) []int {
	all := colNames(cols)
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = slices.Index(all, n)
	}
	return out
}

// rowKey renders the values of row's columns idx (normalised) as a map
// key.
func rowKey(row []any, idx []int) string { return string(appendRowKey(nil, row, idx)) }

// appendRowKey appends rowKey(row, idx) to b.
func appendRowKey(b []byte, row []any, idx []int) []byte {
	for _, i := range idx {
		switch v := row[i].(type) {
		case string:
			b = append(b, v...)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int16:
			b = strconv.AppendInt(b, int64(v), 10)
		case bool:
			b = strconv.AppendBool(b, v)
		case time.Time:
			b = strconv.AppendInt(b, v.UnixMicro(), 10)
		case nil:
			b = append(b, "<nil>"...)
		default:
			b = fmt.Append(b, v)
		}
		b = append(b, 0)
	}
	return b
}

// norm returns v, a value for a column of type t as a fold emits it or
// pgx reads it, in one form per type: text string, bigint/integer/smallint
// int64 (smallint staging columns: int16), boolean bool, timestamptz and
// date time.Time in UTC at microseconds (what PostgreSQL keeps), arrays
// []string; NULL (and a nil pointer) nil.
func norm(t string, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case *string:
		if x == nil {
			return nil
		}
		v = *x
	case *int64:
		if x == nil {
			return nil
		}
		v = *x
	case *bool:
		if x == nil {
			return nil
		}
		v = *x
	case *time.Time:
		if x == nil {
			return nil
		}
		v = *x
	}
	switch t {
	case "smallint":
		switch x := v.(type) {
		case int16:
			return x
		case int:
			return int16(x)
		case int32:
			return int16(x)
		case int64:
			return int16(x)
		}
	case "bigint", "integer":
		switch x := v.(type) {
		case int64:
			return x
		case int:
			return int64(x)
		case int32:
			return int64(x)
		case int16:
			return int64(x)
		case uint32:
			return int64(x)
		}
	case "timestamptz":
		if x, ok := v.(time.Time); ok {
			return micro(x)
		}
	case "date":
		if x, ok := v.(time.Time); ok {
			return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC)
		}
	case "text[]":
		switch x := v.(type) {
		case []string:
			return x
		case []any:
			out := make([]string, len(x))
			for i, e := range x {
				out[i], _ = e.(string)
			}
			return out
		}
	}
	return v
}

// micro is t as PostgreSQL stores it: in UTC, truncated to microseconds
// (as pgx sends it).
func micro(t time.Time) time.Time {
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// sameRow reports whether two normalised rows are equal.
func sameRow(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		switch x := a[i].(type) {
		case time.Time:
			y, ok := b[i].(time.Time)
			if !ok || !x.Equal(y) {
				return false
			}
		case []string:
			y, ok := b[i].([]string)
			if !ok || !slices.Equal(x, y) {
				return false
			}
		default:
			if a[i] != b[i] {
				return false
			}
		}
	}
	return true
}

// Accessors of a fact's or a loaded row's normalised values.

func vStr(r []any, i int) string {
	s, _ := r[i].(string)
	return s
}

func vInt(r []any, i int) int64 {
	n, _ := r[i].(int64)
	return n
}

func vBool(r []any, i int) bool {
	b, _ := r[i].(bool)
	return b
}

func vTime(r []any, i int) time.Time {
	t, _ := r[i].(time.Time)
	return t
}

// vTimePtr is a nullable time.
func vTimePtr(r []any, i int) *time.Time {
	t, ok := r[i].(time.Time)
	if !ok {
		return nil
	}
	return &t
}

// vStrPtr is a nullable text.
func vStrPtr(r []any, i int) *string {
	s, ok := r[i].(string)
	if !ok {
		return nil
	}
	return &s
}

func vList(r []any, i int) []string {
	l, _ := r[i].([]string)
	return l
}

func vKind(r []any) int16 {
	k, _ := r[0].(int16)
	return k
}
