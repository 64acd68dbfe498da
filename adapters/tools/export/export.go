// Package export streams custody's event log to files analysts can load:
// JSON Lines, CSV and Parquet, with the same columns in every format.
//
// An export pages through the log with the EventLog port's ReadAll, filters
// each page and writes it before reading the next, so its memory does not
// grow with the size of the log (a Parquet row group is the largest thing it
// holds). It stops at the log's head as it was when the export started, so
// an export of a busy log still ends and is a consistent prefix of the log.
//
// Personal data is left out unless Options.IncludePII is set, and even then
// only events whose data subject has not been erased carry it: the log hands
// erased events back with PIIErased set and no personal data, and the export
// writes pii as null and pii_erased as true for them. With IncludePII the
// export first reads the log once for customer.erased and staff.erased
// events, so a customer or staff member whose erasure is recorded but whose
// key was not destroyed yet (a crash between the two steps) is treated as
// erased too.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/custody/custody/events"
)

// Source is the part of an event log an export reads. eventlog.EventLog
// satisfies it.
type Source interface {
	// ReadAll returns up to limit events strictly after from, in global order.
	ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error)
	// Head is the position of the newest event ReadAll would return now.
	Head(ctx context.Context) (events.Position, error)
}

// Format is an output format.
type Format string

// Formats.
const (
	JSONL   Format = "jsonl"
	CSV     Format = "csv"
	Parquet Format = "parquet"
)

// Formats lists every format, for flag help.
var Formats = []Format{JSONL, CSV, Parquet}

// ErrUnknownFormat is returned for a format that is not one of Formats.
var ErrUnknownFormat = errors.New("export: unknown format")

// ParseFormat parses "jsonl", "csv" or "parquet" (case-insensitive; "json"
// and "ndjson" mean JSON Lines).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "jsonl", "json", "ndjson":
		return JSONL, nil
	case "csv":
		return CSV, nil
	case "parquet", "pq":
		return Parquet, nil
	}
	return "", fmt.Errorf("%w %q: want jsonl, csv or parquet", ErrUnknownFormat, s)
}

// TimeField selects which of an event's times a time range applies to.
type TimeField string

// Time fields.
const (
	// Occurred is business time: when the fact happened.
	Occurred TimeField = "occurred"
	// Recorded is when the log stored the event.
	Recorded TimeField = "recorded"
)

// Filter selects the events an export writes. The zero Filter selects every
// event. Conditions combine with AND; the values inside Types and
// StreamPrefixes combine with OR.
type Filter struct {
	// CorpID keeps only the events of this tenant when not empty.
	CorpID string
	// From and To bound TimeField: From <= t < To. A zero bound is open.
	From, To time.Time
	// TimeField is the time From and To apply to; Occurred by default.
	TimeField TimeField
	// Types keeps only events of these type names ("customer.erased").
	Types []string
	// StreamPrefixes keeps only events whose stream starts with one of them
	// ("customer-", "customer-acme-", "groupchat-acme-").
	StreamPrefixes []string
}

// ErrInvalidOptions is wrapped by every Options.Validate failure.
var ErrInvalidOptions = errors.New("export: invalid options")

func (f *Filter) setDefaults() {
	if f.TimeField == "" {
		f.TimeField = Occurred
	}
}

func (f Filter) validate() error {
	var errs []error
	if f.TimeField != Occurred && f.TimeField != Recorded {
		errs = append(errs, fmt.Errorf("%w: time field %q: want occurred or recorded", ErrInvalidOptions, f.TimeField))
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		errs = append(errs, fmt.Errorf("%w: from %s is not before to %s", ErrInvalidOptions,
			f.From.Format(time.RFC3339), f.To.Format(time.RFC3339)))
	}
	if slices.Contains(f.Types, "") {
		errs = append(errs, fmt.Errorf("%w: empty event type", ErrInvalidOptions))
	}
	if slices.Contains(f.StreamPrefixes, "") {
		errs = append(errs, fmt.Errorf("%w: empty stream prefix", ErrInvalidOptions))
	}
	return errors.Join(errs...)
}

// Match reports whether r passes the filter. An empty TimeField means
// Occurred.
func (f Filter) Match(r *events.Recorded) bool {
	if f.CorpID != "" && r.CorpID != f.CorpID {
		return false
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		t := r.OccurredAt
		if f.TimeField == Recorded {
			t = r.RecordedAt
		}
		if !f.From.IsZero() && t.Before(f.From) {
			return false
		}
		if !f.To.IsZero() && !t.Before(f.To) {
			return false
		}
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, r.Type) {
		return false
	}
	if len(f.StreamPrefixes) > 0 {
		ok := false
		for _, p := range f.StreamPrefixes {
			if strings.HasPrefix(r.Stream, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Progress is reported after each page the export has read.
type Progress struct {
	// Read counts the events read from the log so far, Written those that
	// passed the filter and were written.
	Read, Written int64
	// Position is the last position read; Until is where the export stops.
	Position, Until events.Position
}

// Options configure an export.
type Options struct {
	// Format is the output format; JSONL by default.
	Format Format
	// Filter selects the events to write.
	Filter Filter
	// IncludePII writes the personal data of subjects that are not erased.
	// Off by default: the pii column is then always null. It costs a first
	// pass over the log (see the package doc).
	IncludePII bool
	// After starts the export strictly after this position (Start: from the
	// beginning of the log).
	After events.Position
	// Until stops the export after this position. Zero: the log's head when
	// the export starts.
	Until events.Position
	// PageSize is how many events each ReadAll asks for; 2,000 by default.
	PageSize int
	// RowGroupSize is the number of rows per Parquet row group, which bounds
	// the Parquet writer's memory; 50,000 by default.
	RowGroupSize int
	// OnProgress, when set, is called after every page on the export's
	// goroutine.
	OnProgress func(Progress)
}

func (o *Options) setDefaults() {
	if o.Format == "" {
		o.Format = JSONL
	}
	if o.PageSize == 0 {
		o.PageSize = 2000
	}
	if o.RowGroupSize == 0 {
		o.RowGroupSize = 50_000
	}
	o.Filter.setDefaults()
}

// Validate reports every problem with the options at once. It applies the
// defaults first.
func (o *Options) Validate() error {
	o.setDefaults()
	var errs []error
	if !slices.Contains(Formats, o.Format) {
		errs = append(errs, fmt.Errorf("%w: %w %q", ErrInvalidOptions, ErrUnknownFormat, o.Format))
	}
	if o.PageSize < 1 {
		errs = append(errs, fmt.Errorf("%w: page size %d < 1", ErrInvalidOptions, o.PageSize))
	}
	if o.RowGroupSize < 1 {
		errs = append(errs, fmt.Errorf("%w: row group size %d < 1", ErrInvalidOptions, o.RowGroupSize))
	}
	if !o.Until.IsZero() && o.Until.Less(o.After) {
		errs = append(errs, fmt.Errorf("%w: until %s is before after %s", ErrInvalidOptions, o.Until, o.After))
	}
	errs = append(errs, o.Filter.validate())
	return errors.Join(errs...)
}

// Stats summarises a finished export.
type Stats struct {
	// Read counts the events read from the log, Written those written.
	Read, Written int64
	// PIIWritten counts the written events that carry personal data,
	// PIIErased those whose personal data was erased.
	PIIWritten, PIIErased int64
	// Until is where the export was to stop: Options.Until, or the log's
	// head when the export started.
	Until events.Position
}

// rowWriter is one output format.
type rowWriter interface {
	// write appends the page's rows; the slice is reused after it returns.
	write(rows []Row) error
	// close flushes buffered output; it does not close the io.Writer.
	close() error
}

// Export writes the events src holds, filtered by opts, to w in opts.Format,
// in log order. It reads page by page, up to readAhead pages ahead of the
// writer, so it holds at most readAhead+2 pages (and, for Parquet, one row
// group) in memory, whatever the size of the log.
// On error the output is incomplete; nothing is retried. w is not closed.
// Export reads src from a second goroutine; src must be safe for concurrent
// use, as every eventlog.EventLog is.
func Export(ctx context.Context, src Source, w io.Writer, opts Options) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	until := opts.Until
	if until.IsZero() {
		head, err := src.Head(ctx)
		if err != nil {
			return Stats{}, fmt.Errorf("export: head: %w", err)
		}
		until = head
	}
	var rw rowWriter
	switch opts.Format {
	case JSONL:
		rw = newJSONLWriter(w)
	case CSV:
		rw = newCSVWriter(w)
	case Parquet:
		rw = newParquetWriter(w, opts.RowGroupSize)
	}

	var erased map[string]bool
	if opts.IncludePII {
		var err error
		if erased, err = erasedSubjects(ctx, src, until, opts.PageSize); err != nil {
			return Stats{}, err
		}
	}

	var st Stats
	st.Until = until
	// Reading the next page overlaps writing this one: the log's round
	// trip and decoding run while the writer encodes. At most readAhead+2
	// pages are alive at once (one written, readAhead queued, one read).
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page, readAhead)
	done := make(chan struct{})
	go func() {
		defer close(done)
		readPages(ctx, src, opts.After, until, opts.PageSize, pages)
	}()
	defer func() {
		cancel()
		<-done
	}()

	rows := make([]Row, 0, opts.PageSize)
	pos := opts.After
	for p := range pages {
		if p.err != nil {
			return st, p.err
		}
		rows = rows[:0]
		for i := range p.recs {
			r := &p.recs[i]
			st.Read++
			pos = r.Position
			if !opts.Filter.Match(r) {
				continue
			}
			rows = append(rows, Row{})
			row := &rows[len(rows)-1]
			fillRow(row, r, opts.IncludePII)
			if erased[r.Subject] && !r.PIIErased {
				row.PII, row.PIIErased = "", true
			}
			if row.PII != "" {
				st.PIIWritten++
			}
			if row.PIIErased {
				st.PIIErased++
			}
		}
		if len(rows) > 0 {
			if err := rw.write(rows); err != nil {
				return st, fmt.Errorf("export: write %s: %w", opts.Format, err)
			}
			st.Written += int64(len(rows))
		}
		if opts.OnProgress != nil {
			opts.OnProgress(Progress{Read: st.Read, Written: st.Written, Position: pos, Until: until})
		}
	}
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("export: %w", err)
	}
	if err := rw.close(); err != nil {
		return st, fmt.Errorf("export: finish %s: %w", opts.Format, err)
	}
	return st, nil
}

// readAhead is how many pages the reader may queue ahead of the writer. A
// few absorb the writer's bursts (a Parquet row group is compressed and
// written in one go) without letting memory grow with the log.
const readAhead = 4

// page is one ReadAll result on its way from the reader to the writer.
type page struct {
	recs []events.Recorded
	err  error
}

// readPages sends the log's pages after `after` up to and including
// `until` on out, then closes it. It stops at the first error (sent as the
// last page) or when ctx is done.
func readPages(ctx context.Context, src Source, after, until events.Position, size int, out chan<- page) {
	defer close(out)
	pos := after
	for pos.Less(until) {
		recs, err := src.ReadAll(ctx, pos, size)
		if err != nil {
			select {
			case out <- page{err: fmt.Errorf("export: read after %s: %w", pos, err)}:
			case <-ctx.Done():
			}
			return
		}
		n := len(recs)
		for i := range recs {
			if until.Less(recs[i].Position) {
				n = i
				break
			}
		}
		if n == 0 {
			return
		}
		pos = recs[n-1].Position
		select {
		case out <- page{recs: recs[:n]}:
		case <-ctx.Done():
			return
		}
		if n < len(recs) {
			return
		}
	}
}

// erasedSubjects reads the log up to until and returns the data subjects of
// every customer.erased and staff.erased event. It needs no more memory than the erasures
// (a subject each) and a few pages.
func erasedSubjects(ctx context.Context, src Source, until events.Position, size int) (map[string]bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		readPages(ctx, src, events.Start, until, size, pages)
	}()
	defer func() {
		cancel()
		<-done
	}()
	erased := map[string]bool{}
	for p := range pages {
		if p.err != nil {
			return nil, p.err
		}
		for i := range p.recs {
			r := &p.recs[i]
			if r.Type != "customer.erased" && r.Type != "staff.erased" {
				continue
			}
			pl, err := events.DecodeRecorded(*r)
			if err != nil {
				return nil, fmt.Errorf("export: event %s at %s: %w", r.ID, r.Position, err)
			}
			switch e := pl.(type) {
			case *events.CustomerErased:
				erased[events.CustomerSubject(r.CorpID, e.CustomerID)] = true
			case *events.StaffErased:
				erased[events.StaffSubject(r.CorpID, e.StaffID)] = true
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return erased, nil
}
