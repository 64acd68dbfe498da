// Package importer is bulk onboarding: it imports a corp's existing staff,
// relations, group chats and members from a JSONL file (docs/import.md)
// into the PostgreSQL event log, deciding every record with the same
// domain aggregates, field rules, envelopes and event ids as the command
// handlers, and writing the events in large chunks with COPY
// (pgstore.AppendBulk).
//
// A run first reads the whole file once: it hashes it (the file's
// identity) and decodes and checks every line; any bad line stops the
// import before anything is written, naming up to MaxReported lines. It
// then reads the file again and writes it chunk by chunk; each chunk's
// events and the import's progress (file hash, line, byte offset, log
// position) commit in one transaction. Run again after a crash (kill -9
// included), the same command continues after the last committed chunk and
// the log ends exactly as after an uninterrupted run: event ids derive from
// the import and the line, and the aggregates are reloaded from the log.
//
// A record a domain rule refuses (a relation already active, a member
// joining a group that does not exist, a full group, a member joining
// twice) is skipped and listed in import_rejects, in its chunk's
// transaction; Result.Rejected counts them and Rejects lists them.
//
// Memory: the file is streamed, chunks are bounded (Options.ChunkRecords),
// customers and group chats are cached up to Options.CacheEntries and
// reloaded from the log when evicted. A fixed-size filter (16 MiB, from the
// first eviction on) remembers which evicted streams the run wrote, so that
// a stream it never wrote is not looked up in the log. Staff members are
// cached up to Options.StaffCacheEntries; each holds its slot table (one
// entry per customer it follows: the domain's capacity state).
package importer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/events"
	"github.com/custody/custody/internal/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the importer's tables (import_progress, import_rejects),
// for pgmigrate (listed in cmd/custody/app.go).
func Migrations() pgmigrate.Component {
	return pgmigrate.Component{Name: "importer", FS: migrations, Dir: "migrations"}
}

// Migrate applies Migrations alone; `custody migrate` runs every
// component's at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pgmigrate.Run(ctx, pool, Migrations())
	return err
}

// MaxReported bounds how many bad lines a refused file reports.
const MaxReported = 20

// Options configure Run.
type Options struct {
	// Pool holds the importer's tables; Store is the event log on it.
	Pool  *pgxpool.Pool
	Store *pgstore.Store
	// Corp is the corp imported into.
	Corp string
	// Path is the JSONL file.
	Path string
	// Settings are the corp's rules (group size). Default corp.Defaults().
	Settings *corp.Settings
	// ChunkRecords is how many records each transaction writes. Default
	// 10,000.
	ChunkRecords int
	// CacheEntries bounds the customers and group chats kept in memory
	// between chunks. Default 50,000.
	CacheEntries int
	// StaffCacheEntries bounds the staff members kept. Default 20,000.
	StaffCacheEntries int
	// Now is the clock bounding business times. Default time.Now.
	Now func() time.Time
	// Progress, when set, is told the bytes of the file done (of total),
	// during the check (phase "check") and the import (phase "import").
	Progress func(phase string, done, total int64)
	// Logger receives counts and positions, never records. Default
	// slog.Default().
	Logger *slog.Logger
	// afterChunk, in tests, runs after each committed chunk;
	// beforeCommit inside each chunk's transaction, before its commit.
	afterChunk   func(n int)
	beforeCommit func(n int)
}

// Result is what a run did.
type Result struct {
	// ImportID names the import: a hash of the corp and the file's SHA-256.
	ImportID string
	// FileSHA256 is the file's identity.
	FileSHA256 string
	// Resumed: an earlier run had committed part of the file.
	Resumed bool
	// AlreadyDone: an earlier run had imported the whole file; nothing
	// was written.
	AlreadyDone bool
	// Records, Events and Rejected count the whole import (earlier runs
	// included).
	Records, Events, Rejected int64
	// Last is the log position of the last event written.
	Last events.Position
}

// Reject is a record a domain rule refused.
type Reject struct {
	Line   int64
	Reason string
}

// ErrBadFile: the file holds lines that do not decode or break a field
// rule; nothing was written. The error lists the lines.
var ErrBadFile = errors.New("importer: bad input file, nothing written")

// ErrForeignStream: a stream the file names holds events that this import
// did not write; nothing of the chunk was written.
var ErrForeignStream = errors.New("importer: stream already holds events not written by this import")

// Run imports the file, or continues an interrupted import of it.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	if err := Migrate(ctx, o.Pool); err != nil {
		return Result{}, err
	}
	size, sum, err := check(ctx, o)
	if err != nil {
		return Result{}, err
	}
	res := Result{FileSHA256: sum, ImportID: ImportID(o.Corp, sum)}
	p, err := loadProgress(ctx, o.Pool, res.ImportID)
	switch {
	case err != nil:
		return res, err
	case p == nil:
		_, err := o.Pool.Exec(ctx, `INSERT INTO import_progress (import_id, corp_id, file_sha256, file_bytes) VALUES ($1, $2, $3, $4)`,
			res.ImportID, o.Corp, sum, size)
		if err != nil {
			return res, fmt.Errorf("importer: record the import: %w", err)
		}
		p = &progress{}
	case p.finished:
		res.AlreadyDone = true
		res.Records, res.Events, res.Rejected, res.Last = p.records, p.events, p.rejected, p.last
		return res, nil
	default:
		res.Resumed = p.offset > 0
	}
	o.Logger.Info("importer: importing", "import", res.ImportID, "bytes", size, "from_line", p.line)
	im := newRun(o, res.ImportID)
	im.fresh = p.offset == 0
	if err := im.write(ctx, size, p); err != nil {
		return res, err
	}
	res.Records, res.Events, res.Rejected, res.Last = p.records, p.events, p.rejected, p.last
	o.Logger.Info("importer: done", "import", res.ImportID, "records", p.records, "events", p.events,
		"rejected", p.rejected, "last_position", p.last.String())
	return res, nil
}

func (o *Options) defaults() error {
	if o.Pool == nil || o.Store == nil {
		return errors.New("importer: Pool and Store are required")
	}
	if !ValidCorpID(o.Corp) {
		return errors.New("importer: corp must be 1-64 characters of letters, digits or '_'")
	}
	if o.Settings == nil {
		s := corp.Defaults()
		o.Settings = &s
	}
	if o.ChunkRecords <= 0 {
		o.ChunkRecords = 10_000
	}
	if o.CacheEntries <= 0 {
		o.CacheEntries = 50_000
	}
	if o.StaffCacheEntries <= 0 {
		o.StaffCacheEntries = 20_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// ImportID names the import of a file (by its SHA-256) into a corp.
func ImportID(corpID, fileSHA256 string) string {
	h := sha256.Sum256([]byte(corpID + "\x00" + fileSHA256))
	return hex.EncodeToString(h[:8])
}

// CommandID is the command id of the record on line, the key its event
// ids derive from: the command path given the same id records the same
// events.
func CommandID(importID string, line int) string {
	return "import-" + importID + "-" + strconv.Itoa(line)
}

// CorrelationID is the correlation id of every event of an import.
func CorrelationID(importID string) string { return "import-" + importID }

// Rejects lists the records the domain rules refused in an import, by line.
func Rejects(ctx context.Context, pool *pgxpool.Pool, importID string) ([]Reject, error) {
	rows, err := pool.Query(ctx, `SELECT line, reason FROM import_rejects WHERE import_id = $1 ORDER BY line`, importID)
	if err != nil {
		return nil, fmt.Errorf("importer: rejects: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Reject])
}

// lineReader reads lines of at most MaxLineBytes, counting bytes.
type lineReader struct {
	r      *bufio.Reader
	line   int
	offset int64 // after the last line returned
}

func newLineReader(r io.Reader, line int, offset int64) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, MaxLineBytes+1), line: line, offset: offset}
}

// next returns the next line without its "\n"; io.EOF at the end.
func (lr *lineReader) next() ([]byte, error) {
	b, err := lr.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		lr.line++
		return nil, &LineError{Line: lr.line, Err: bad("line over %d bytes", MaxLineBytes)}
	case errors.Is(err, io.EOF) && len(b) == 0:
		return nil, io.EOF
	case err != nil && !errors.Is(err, io.EOF):
		return nil, err
	}
	lr.line++
	lr.offset += int64(len(b))
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return b, nil
}

// check reads the whole file once: its size and SHA-256, and every line
// decoded and checked. Bad lines (up to MaxReported) are returned joined
// under ErrBadFile.
func check(ctx context.Context, o Options) (int64, string, error) {
	f, err := os.Open(o.Path)
	if err != nil {
		return 0, "", fmt.Errorf("importer: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", fmt.Errorf("importer: %w", err)
	}
	if !st.Mode().IsRegular() {
		// A directory, device or pipe has no fixed content to hash and
		// resume from (/dev/zero would never end).
		return 0, "", fmt.Errorf("importer: %s is not a regular file (%s)", o.Path, st.Mode().Type())
	}
	h := sha256.New()
	lr := newLineReader(io.TeeReader(f, h), 0, 0)
	now := o.Now()
	var bads []error
	more := 0
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, "", err
			}
			if o.Progress != nil {
				o.Progress("check", lr.offset, st.Size())
			}
		}
		b, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			// The rest of an over-long line is not a line of its own.
			if len(bads) < MaxReported {
				bads = append(bads, err)
			}
			return 0, "", fmt.Errorf("%w: %w", ErrBadFile, errors.Join(bads...))
		}
		if err != nil {
			return 0, "", fmt.Errorf("importer: read: %w", err)
		}
		if _, err := Decode(b, lr.line, o.Corp, now); err != nil {
			if len(bads) < MaxReported {
				bads = append(bads, err)
			} else {
				more++
			}
		}
	}
	if o.Progress != nil {
		o.Progress("check", lr.offset, st.Size())
	}
	if len(bads) > 0 {
		if more > 0 {
			bads = append(bads, fmt.Errorf("… and %d more bad lines", more))
		}
		return 0, "", fmt.Errorf("%w: %w", ErrBadFile, errors.Join(bads...))
	}
	if lr.line == 0 {
		return 0, "", fmt.Errorf("%w: the file holds no records", ErrBadFile)
	}
	return lr.offset, hex.EncodeToString(h.Sum(nil)), nil
}

// progress is an import's row of import_progress.
type progress struct {
	line                      int
	offset                    int64
	records, events, rejected int64
	last                      events.Position
	finished                  bool
}

func loadProgress(ctx context.Context, pool *pgxpool.Pool, importID string) (*progress, error) {
	var (
		p        progress
		line     int64
		last     string
		finished *time.Time
	)
	err := pool.QueryRow(ctx, `SELECT line, byte_offset, records, events, rejected, last_position, finished_at
		FROM import_progress WHERE import_id = $1`, importID).Scan(&line, &p.offset, &p.records, &p.events, &p.rejected, &last, &finished)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("importer: read progress: %w", err)
	}
	p.line, p.finished = int(line), finished != nil
	if p.last, err = events.ParsePosition(last); err != nil {
		return nil, err
	}
	return &p, nil
}

// run is one import's writing state.
type run struct {
	o         Options
	id        string
	prefix    string // of this import's command ids
	customers map[string]*customer.Customer
	staff     map[string]*staff.Staff
	groups    map[string]*groupchat.GroupChat
	// fresh: this run started the import, so every stream holding an
	// event of the import is one it wrote: cached, or evicted and then
	// remembered in written. A stream neither cached nor possibly in
	// written holds no event of this import and is not read: it starts at
	// version 0, and a stream that exists after all (other events) makes
	// its chunk fail on the log's unique (stream, version) constraint.
	fresh bool
	// written remembers the streams of the aggregates evicted while fresh
	// (nil until the first eviction).
	written *writtenFilter
}

func newRun(o Options, id string) *run {
	return &run{o: o, id: id, prefix: CommandID(id, 0)[:len("import-")+len(id)+1],
		customers: map[string]*customer.Customer{}, staff: map[string]*staff.Staff{}, groups: map[string]*groupchat.GroupChat{}}
}

// write imports the file from p on, chunk by chunk, advancing p. Three
// stages overlap: while chunk n is written, chunk n+1 is validated and
// sealed (pgstore.PrepareBulk) and chunk n+2 is decided. Decisions run in
// this goroutine, one chunk after another, on the cached aggregates, which
// already hold every chunk decided before; each chunk's goroutine prepares
// it, waits for the chunk before it to commit and writes it, so chunks
// commit in file order and a chunk after a failed one is never written. A
// stream read from the log is one no chunk of this run has touched or one
// evicted after every chunk written so far committed (drain), so it is
// never read while a chunk that changes it is in flight.
func (im *run) write(ctx context.Context, size int64, p *progress) error {
	f, err := os.Open(im.o.Path)
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(p.offset, io.SeekStart); err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	lr := newLineReader(f, p.line, p.offset)
	now := im.o.Now()
	var (
		flights []*flight // in file order; at most two
		last    *flight   // the chunk launched last
	)
	// landed waits for the oldest chunk in flight to commit (or fail).
	landed := func() error {
		fl := flights[0]
		flights = flights[1:]
		<-fl.done
		if fl.err == nil && im.o.Progress != nil {
			im.o.Progress("import", fl.end, size)
		}
		return fl.err
	}
	// drain waits for every chunk in flight; the first error wins.
	drain := func() error {
		var first error
		for len(flights) > 0 {
			if err := landed(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	defer drain()
	planned := *p // the progress once every chunk decided so far is written
	for chunkNo := 0; ; chunkNo++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs := make([]Record, 0, im.o.ChunkRecords)
		eof := false
		for len(recs) < im.o.ChunkRecords {
			b, err := lr.next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return fmt.Errorf("importer: read: %w", err)
			}
			rec, err := Decode(b, lr.line, im.o.Corp, now)
			if err != nil {
				// The check passed: the file changed under the import.
				return fmt.Errorf("importer: the file changed since it was checked: %w", err)
			}
			recs = append(recs, rec)
		}
		if !eof {
			// A full chunk may end the file: peek, so the last chunk marks the
			// import finished in its own transaction.
			if _, err := lr.r.Peek(1); errors.Is(err, io.EOF) {
				eof = true
			}
		}
		batch, rejects, err := im.decide(ctx, recs)
		if err != nil {
			return err
		}
		prev := planned
		next := planned
		next.line, next.offset = lr.line, lr.offset
		next.records += int64(len(recs))
		next.events += int64(len(batch))
		next.rejected += int64(len(rejects))
		next.finished = eof
		planned = next
		if len(flights) == 2 {
			if err := landed(); err != nil {
				return err
			}
		}
		fl := &flight{done: make(chan struct{}), end: next.offset}
		go im.fly(ctx, fl, last, chunkNo, batch, rejects, prev.offset, next, p)
		flights, last = append(flights, fl), fl
		if im.overBounds() || eof {
			if err := drain(); err != nil {
				return err
			}
			im.evict()
		}
		if eof {
			return nil
		}
	}
}

// flight is a chunk on its way to the log: done is closed once it
// committed (err nil) or failed.
type flight struct {
	done chan struct{}
	err  error
	end  int64 // the file offset after the chunk
}

// errEarlierChunk: a chunk was not written because the one before it
// failed (that one's error is the import's).
var errEarlierChunk = errors.New("importer: an earlier chunk failed")

// fly prepares a decided chunk, waits for the chunk before it (prev, nil
// for the first) to commit, and writes it.
func (im *run) fly(ctx context.Context, fl, prev *flight, chunkNo int, batch []pgstore.BulkEvent, rejects []Reject,
	prevOffset int64, next progress, p *progress) {
	defer close(fl.done)
	prepared, err := im.o.Store.PrepareBulk(ctx, batch)
	if prev != nil {
		<-prev.done
		if prev.err != nil {
			fl.err = errEarlierChunk
			return
		}
	}
	if err != nil {
		fl.err = fmt.Errorf("importer: chunk ending at line %d: %w", next.line, err)
		return
	}
	fl.err = im.append(ctx, chunkNo, prepared, len(batch), rejects, prevOffset, next, p)
}

// append writes one chunk and its progress; on success *p becomes next.
func (im *run) append(ctx context.Context, chunkNo int, batch *pgstore.BulkBatch, n int, rejects []Reject, prevOffset int64, next progress, p *progress) error {
	_, err := im.o.Store.WriteBulk(ctx, batch, func(ctx context.Context, tx pgx.Tx, last events.Position) error {
		if n > 0 {
			next.last = last
		}
		if err := im.saveProgress(ctx, tx, prevOffset, &next, rejects); err != nil {
			return err
		}
		if im.o.beforeCommit != nil {
			im.o.beforeCommit(chunkNo)
		}
		return nil
	})
	if errors.Is(err, pgstore.ErrBulkConflict) {
		return fmt.Errorf("importer: chunk ending at line %d: %w: %w", next.line, ErrForeignStream, err)
	}
	if err != nil {
		return fmt.Errorf("importer: chunk ending at line %d: %w", next.line, err)
	}
	*p = next
	if im.o.afterChunk != nil {
		im.o.afterChunk(chunkNo)
	}
	return nil
}

// saveProgress records p and the chunk's rejects in tx, provided no other
// run of the import advanced it meanwhile.
func (im *run) saveProgress(ctx context.Context, tx pgx.Tx, prevOffset int64, p *progress, rejects []Reject) error {
	var finished any
	if p.finished {
		finished = time.Now().UTC()
	}
	tag, err := tx.Exec(ctx, `UPDATE import_progress SET line = $2, byte_offset = $3, records = $4, events = $5, rejected = $6,
		last_position = $7, updated_at = now(), finished_at = $8 WHERE import_id = $1 AND byte_offset = $9`,
		im.id, p.line, p.offset, p.records, p.events, p.rejected, p.last.String(), finished, prevOffset)
	if err != nil {
		return fmt.Errorf("importer: save progress: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return errors.New("importer: another run of this import advanced it meanwhile")
	}
	if len(rejects) > 0 {
		rows := make([][]any, len(rejects))
		for i, r := range rejects {
			rows[i] = []any{im.id, r.Line, r.Reason}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_rejects"}, []string{"import_id", "line", "reason"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("importer: save rejects: %w", err)
		}
	}
	return nil
}

// overBounds reports whether a cache holds more than its bound.
func (im *run) overBounds() bool {
	return len(im.customers) > im.o.CacheEntries || len(im.groups) > im.o.CacheEntries || len(im.staff) > im.o.StaffCacheEntries
}

// evict drops cached aggregates beyond the bounds (they are reloaded from
// the log when needed again), remembering the streams written while
// fresh. Only while no chunk is in flight.
func (im *run) evict() {
	corpID := im.o.Corp
	if len(im.customers) > im.o.CacheEntries {
		for id, c := range im.customers {
			im.remember(events.CustomerStream(corpID, id), c.Version())
		}
		im.customers = map[string]*customer.Customer{}
	}
	if len(im.groups) > im.o.CacheEntries {
		for id, g := range im.groups {
			im.remember(events.GroupChatStream(corpID, id), g.Version())
		}
		im.groups = map[string]*groupchat.GroupChat{}
	}
	if len(im.staff) > im.o.StaffCacheEntries {
		for id, s := range im.staff {
			im.remember(events.StaffStream(corpID, id), s.Version())
		}
		im.staff = map[string]*staff.Staff{}
	}
}

// remember notes an evicted stream at version (-1: no events) in written.
func (im *run) remember(stream string, version int64) {
	if !im.fresh || version < 0 {
		return
	}
	if im.written == nil {
		im.written = newWrittenFilter()
	}
	im.written.add(stream)
}

// load brings the aggregates the records need into the caches, reading
// the streams not cached in one query; a stream holding an event this
// import did not write is refused.
func (im *run) load(ctx context.Context, recs []Record) error {
	corpID := im.o.Corp
	want := map[string]bool{}
	need := func(stream string) {
		want[stream] = true
	}
	for _, r := range recs {
		switch {
		case r.Staff != nil:
			if im.staff[r.Staff.StaffID] == nil {
				need(events.StaffStream(corpID, r.Staff.StaffID))
			}
		case r.Relation != nil:
			if im.customers[r.Relation.CustomerID] == nil {
				need(events.CustomerStream(corpID, r.Relation.CustomerID))
			}
			if im.staff[r.Relation.StaffID] == nil {
				need(events.StaffStream(corpID, r.Relation.StaffID))
			}
		case r.Group != nil:
			if im.groups[r.Group.ChatID] == nil {
				need(events.GroupChatStream(corpID, r.Group.ChatID))
			}
		case r.Member != nil:
			if im.groups[r.Member.ChatID] == nil {
				need(events.GroupChatStream(corpID, r.Member.ChatID))
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	loaded := map[string][]events.Recorded{}
	var names []string
	for s := range want {
		if !im.fresh || im.written != nil && im.written.mayHold(s) {
			names = append(names, s)
		}
	}
	if len(names) > 0 {
		var err error
		if loaded, err = im.o.Store.ReadStreams(ctx, names); err != nil {
			return fmt.Errorf("importer: load streams: %w", err)
		}
	}
	for stream, recs := range loaded {
		for _, e := range recs {
			if !strings.HasPrefix(e.CommandID, im.prefix) {
				return fmt.Errorf("%w: %s (import into a corp's new streams only)", ErrForeignStream, stream)
			}
		}
	}
	for _, r := range recs {
		var err error
		switch {
		case r.Staff != nil:
			err = im.loadStaff(r.Staff.StaffID, loaded)
		case r.Relation != nil:
			if err = im.loadStaff(r.Relation.StaffID, loaded); err == nil && im.customers[r.Relation.CustomerID] == nil {
				id := r.Relation.CustomerID
				im.customers[id], err = customer.Rehydrate(id, loaded[events.CustomerStream(corpID, id)])
			}
		case r.Group != nil:
			err = im.loadGroup(r.Group.ChatID, loaded)
		case r.Member != nil:
			err = im.loadGroup(r.Member.ChatID, loaded)
		}
		if err != nil {
			return fmt.Errorf("importer: line %d: %w", r.Line, err)
		}
	}
	return nil
}

func (im *run) loadStaff(id string, loaded map[string][]events.Recorded) error {
	if im.staff[id] != nil {
		return nil
	}
	s, err := staff.Rehydrate(id, loaded[events.StaffStream(im.o.Corp, id)])
	im.staff[id] = s
	return err
}

func (im *run) loadGroup(id string, loaded map[string][]events.Recorded) error {
	if im.groups[id] != nil {
		return nil
	}
	g, err := groupchat.Rehydrate(id, loaded[events.GroupChatStream(im.o.Corp, id)])
	im.groups[id] = g
	return err
}

// decide runs every record through its aggregate as its command handler
// would, and returns the chunk's events in the order the handlers would
// append them, and the records a domain rule refused.
func (im *run) decide(ctx context.Context, recs []Record) ([]pgstore.BulkEvent, []Reject, error) {
	if err := im.load(ctx, recs); err != nil {
		return nil, nil, err
	}
	var (
		out     = make([]pgstore.BulkEvent, 0, 2*len(recs)+16)
		rejects []Reject
	)
	for _, r := range recs {
		var err error
		out, err = im.decideOne(r, out)
		var de *domainError
		switch {
		case errors.As(err, &de):
			rejects = append(rejects, Reject{Line: int64(r.Line), Reason: de.Error()})
		case err != nil:
			return nil, nil, fmt.Errorf("importer: line %d: %w", r.Line, err)
		}
	}
	return out, rejects, nil
}

// domainError is a refusal by a domain rule: the record is skipped.
type domainError struct{ err error }

func (e *domainError) Error() string { return e.err.Error() }

// meta is the command Meta of a record.
func (im *run) meta(m commands.Meta, line int) commands.Meta {
	m.CorpID = im.o.Corp
	m.CommandID = CommandID(im.id, line)
	m.CorrelationID = CorrelationID(im.id)
	m.Actor = "system"
	return m
}

// replayer is what emit needs of an aggregate.
type replayer interface {
	Version() int64
	Replay(...events.Recorded) error
}

// emit appends pays to out as the handler appends them to stream after the
// aggregate's version, with ids derived from key, and replays them into the
// aggregate.
func emit(out []pgstore.BulkEvent, a replayer, stream, key string, meta events.Meta, pays []events.Payload) ([]pgstore.BulkEvent, error) {
	version := a.Version()
	recs := make([]events.Recorded, len(pays))
	for i, p := range pays {
		ev, err := events.New(commands.EventID(key, stream, version, i), meta, p)
		if err != nil {
			return out, fmt.Errorf("encode %s: %w", p.EventType(), err)
		}
		recs[i] = events.Decided(events.Recorded{Event: ev, Stream: stream, StreamVersion: version + 1 + int64(i)}, p)
		out = append(out, pgstore.BulkEvent{Stream: stream, Version: version + 1 + int64(i), Event: ev})
	}
	if err := a.Replay(recs...); err != nil {
		return out, fmt.Errorf("replay on %s: %w", stream, err)
	}
	return out, nil
}

func (im *run) decideOne(r Record, out []pgstore.BulkEvent) ([]pgstore.BulkEvent, error) {
	corpID := im.o.Corp
	switch {
	case r.Staff != nil:
		cmd := r.Staff
		m := im.meta(cmd.Meta, r.Line)
		s := im.staff[cmd.StaffID]
		pays, err := s.Join(cmd.Capacity, events.StaffPII{Name: cmd.Name})
		if err != nil {
			return out, &domainError{err}
		}
		return emit(out, s, events.StaffStream(corpID, cmd.StaffID), m.CommandID, commands.EventMeta(m, m.OccurredAt), pays)
	case r.Relation != nil:
		cmd := r.Relation
		m := im.meta(cmd.Meta, r.Line)
		em := commands.EventMeta(m, m.OccurredAt)
		c := im.customers[cmd.CustomerID]
		pays, err := c.StartRelation(customer.NewRelation{
			StaffID: cmd.StaffID, Initiator: cmd.Initiator, AddWay: cmd.AddWay, State: cmd.State, Tags: cmd.Tags,
			PII: events.RelationPII{CustomerName: cmd.CustomerName, Remark: cmd.Remark, Description: cmd.Description, Phones: cmd.Phones},
		})
		if err != nil {
			return out, &domainError{err}
		}
		if out, err = emit(out, c, events.CustomerStream(corpID, cmd.CustomerID), m.CommandID, em, pays); err != nil {
			return out, err
		}
		// The slot effects (commands' slotEffects → converge).
		members, ok := commands.SlotTouches(pays)
		if !ok {
			return out, errors.New("a relation start touched a handover")
		}
		for _, id := range members {
			s := im.staff[id]
			if s == nil {
				return out, fmt.Errorf("staff %s not loaded", id)
			}
			spays, fail := commands.SlotDecision(c, s, *im.o.Settings)
			if fail != nil {
				return out, errors.New("a relation start failed a handover")
			}
			if len(spays) == 0 {
				continue
			}
			if out, err = emit(out, s, events.StaffStream(corpID, id), commands.SlotEventKey(cmd.CustomerID, spays), em, spays); err != nil {
				return out, err
			}
		}
		return out, nil
	case r.Group != nil:
		cmd := r.Group
		m := im.meta(cmd.Meta, r.Line)
		g := im.groups[cmd.ChatID]
		pays, err := g.Create(cmd.OwnerID, cmd.Name)
		if err != nil {
			return out, &domainError{err}
		}
		return emit(out, g, events.GroupChatStream(corpID, cmd.ChatID), m.CommandID, commands.EventMeta(m, m.OccurredAt), pays)
	case r.Member != nil:
		cmd := r.Member
		m := im.meta(cmd.Meta, r.Line)
		g := im.groups[cmd.ChatID]
		pays, err := g.Join(groupchat.Member{
			ID: cmd.MemberID, Type: cmd.MemberType, Scene: cmd.JoinScene, InviterID: cmd.InviterID,
			PII: events.GroupMemberPII{Nickname: cmd.Nickname},
		}, *im.o.Settings)
		if err != nil {
			return out, &domainError{err}
		}
		return emit(out, g, events.GroupChatStream(corpID, cmd.ChatID), m.CommandID, commands.EventMeta(m, m.OccurredAt), pays)
	}
	return out, errors.New("empty record")
}
