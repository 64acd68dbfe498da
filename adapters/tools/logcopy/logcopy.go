// Package logcopy copies a whole custody event log into another one — the
// embedded PostgreSQL log into a KurrentDB cluster, or back — preserving
// stream names, stream versions, event ids, every envelope field (the
// time the source recorded each event too, when the destination is an
// eventlog.Copier, as custody's logs are) and the global order of events.
//
// The copy walks the source with ReadAll and appends each run of
// consecutive events of one stream as one append, with the exact expected
// version the source had (stream version of the run's first event minus
// one). Appends happen one after the other, so the destination's global
// order is the source's. After every append the position reached in the
// source is saved in a Checkpoint; an interrupted copy started again with
// the same checkpoint continues from there. The append that was in flight
// when the copy stopped may or may not have been stored: it is sent again,
// and since its ids are stored at the same place the destination treats
// it as an idempotent retry (or, when the runs are cut differently this
// time, the copy finds the already stored prefix and appends the rest).
// A destination stream that holds different events than the source at the
// same version stops the copy with ErrDiverged.
//
// Positions are not copied: each log assigns its own. Consumers that keep
// a position (projections, the relay) must rebuild or restart from the
// destination's start after a switch.
//
// Personal data is read unsealed from the source and sealed again by the
// destination (normally both use the same keyring). An event whose subject
// was erased in the source is copied without personal data, and the
// subject is erased in the destination too, so the event reads back erased
// there as well.
package logcopy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// ErrDiverged: the destination holds, at a stream version being copied,
// an event other than the source's. Nothing more is copied.
var ErrDiverged = errors.New("logcopy: destination diverges from source")

// erasedPlaceholder stands in for the personal data of an event whose
// subject is erased: the destination then drops it (the subject is erased
// there too) and marks the event erased, as the source does.
var erasedPlaceholder = []byte(`{}`)

// Checkpoint keeps how far a copy got: the source position of the last
// event known to be stored in the destination.
type Checkpoint interface {
	// Load returns the saved position, events.Start when there is none.
	Load(ctx context.Context) (events.Position, error)
	// Save records that every source event up to pos is copied.
	Save(ctx context.Context, pos events.Position) error
}

// Progress is reported after every append.
type Progress struct {
	// Copied counts events appended by this run (re-sent ones included).
	Copied int64
	// Position is the source position reached.
	Position events.Position
}

// Options configure Copy.
type Options struct {
	// Checkpoint saves and restores progress. Default: none (a restarted
	// copy starts over, which is safe but slower).
	Checkpoint Checkpoint
	// Eraser erases subjects in the destination: used for events whose
	// subject is erased in the source. Required when the source holds
	// such events.
	Eraser eventlog.Eraser
	// PageSize is how many events one source read returns. Default 1000.
	PageSize int
	// BatchEvents bounds the events of one append. Default 500.
	BatchEvents int
	// BatchBytes bounds the data, personal data and envelope bytes of one
	// append. Default 512 KiB: half of KurrentDB's default maximum append
	// size, leaving room for the sealed form and metadata.
	BatchBytes int
	// Progress, when set, is called after every append.
	Progress func(Progress)
	// Logger receives progress milestones. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.PageSize == 0 {
		o.PageSize = 1000
	}
	if o.BatchEvents == 0 {
		o.BatchEvents = 500
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = 512 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.PageSize < 1 {
		errs = append(errs, fmt.Errorf("logcopy: PageSize %d < 1", o.PageSize))
	}
	if o.BatchEvents < 1 {
		errs = append(errs, fmt.Errorf("logcopy: BatchEvents %d < 1", o.BatchEvents))
	}
	if o.BatchBytes < 1 {
		errs = append(errs, fmt.Errorf("logcopy: BatchBytes %d < 1", o.BatchBytes))
	}
	return errors.Join(errs...)
}

// Result summarises a copy run.
type Result struct {
	// Events is how many source events this run handled.
	Events int64
	// Appends is how many appends it sent.
	Appends int64
	// Reconciled counts runs the destination already held in part (an
	// earlier, interrupted copy cut them differently): only the rest was
	// appended.
	Reconciled int64
	// Position is the source position reached (the checkpoint).
	Position events.Position
}

// Copy copies every event of src after the checkpoint into dst, in order,
// until src has no more events, and returns what it did. It stops early
// with ctx's error when ctx is done; the checkpoint then says where to
// continue. Copy is not safe to run twice at once on one destination.
func Copy(ctx context.Context, src, dst eventlog.EventLog, o Options) (Result, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	c := &copier{dst: dst, opts: o, erased: map[string]bool{}}
	if o.Checkpoint != nil {
		pos, err := o.Checkpoint.Load(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("logcopy: load checkpoint: %w", err)
		}
		c.res.Position = pos
	}
	if !c.res.Position.IsZero() {
		o.Logger.Info("logcopy: resuming", "after", c.res.Position.String())
	}
	read := c.res.Position
	for {
		page, err := src.ReadAll(ctx, read, o.PageSize)
		if err != nil {
			return c.res, fmt.Errorf("logcopy: read source after %s: %w", read, err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if err := c.add(ctx, r); err != nil {
				return c.res, err
			}
		}
		read = page[len(page)-1].Position
	}
	if err := c.flush(ctx); err != nil {
		return c.res, err
	}
	return c.res, nil
}

// copier accumulates one run of consecutive events of one stream.
type copier struct {
	dst    eventlog.EventLog
	opts   Options
	res    Result
	erased map[string]bool // subjects already erased in dst by this run

	stream string
	first  int64 // stream version of run[0]
	run    []events.Event
	at     []time.Time     // the source's RecordedAt of each event of run
	last   events.Position // source position of the run's last event
	bytes  int
}

func size(e events.Event) int {
	return len(e.Data) + len(e.PII) + len(e.Type) + len(e.CorpID) + len(e.Actor) + len(e.CommandID) +
		len(e.CorrelationID) + len(e.CausationID) + len(e.Subject) + 256
}

func (c *copier) add(ctx context.Context, r events.Recorded) error {
	e := r.Event
	if r.PIIErased {
		if e.Subject == "" {
			return fmt.Errorf("logcopy: event %s is marked erased but names no subject", e.ID)
		}
		if !c.erased[e.Subject] {
			if c.opts.Eraser == nil {
				return fmt.Errorf("logcopy: event %s's subject is erased in the source and no destination Eraser is set", e.ID)
			}
			if err := c.opts.Eraser.Erase(ctx, e.Subject); err != nil {
				return fmt.Errorf("logcopy: erase a subject in the destination: %w", err)
			}
			c.erased[e.Subject] = true
		}
		e.PII = erasedPlaceholder
	}
	n := size(e)
	joins := len(c.run) > 0 && r.Stream == c.stream && r.StreamVersion == c.first+int64(len(c.run)) &&
		len(c.run) < c.opts.BatchEvents && c.bytes+n <= c.opts.BatchBytes
	if !joins {
		if err := c.flush(ctx); err != nil {
			return err
		}
		c.stream, c.first = r.Stream, r.StreamVersion
	}
	c.run = append(c.run, e)
	c.at = append(c.at, r.RecordedAt)
	c.bytes += n
	c.last = r.Position
	c.res.Events++
	return nil
}

// expectation is the expected version of an append starting at version v.
func expectation(v int64) eventlog.ExpectedVersion {
	if v == 0 {
		return eventlog.ExpectNoStream
	}
	return eventlog.ExpectVersion(v - 1)
}

// flush appends the current run and saves the checkpoint.
func (c *copier) flush(ctx context.Context) error {
	if len(c.run) == 0 {
		return nil
	}
	run, first := c.run, c.first
	err := c.append(ctx, first, run)
	if errors.Is(err, eventlog.ErrConflict) {
		// Part of the run may be stored already (an interrupted copy that
		// cut its runs differently): skip what matches, append the rest.
		run, first, err = c.reconcile(ctx, run, first)
		c.res.Reconciled++
		if err == nil && len(run) > 0 {
			err = c.append(ctx, first, run)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("logcopy: append %d events to %q at version %d: %w", len(c.run), c.stream, c.first, err)
	}
	c.res.Appends++
	c.res.Position = c.last
	if c.opts.Checkpoint != nil {
		if err := c.opts.Checkpoint.Save(ctx, c.last); err != nil {
			return fmt.Errorf("logcopy: save checkpoint: %w", err)
		}
	}
	if c.opts.Progress != nil {
		c.opts.Progress(Progress{Copied: c.res.Events, Position: c.last})
	}
	c.run, c.at, c.bytes = c.run[:0], c.at[:0], 0
	return nil
}

// append appends run, the tail of c.run that starts at stream version
// first, keeping the source's recording times where dst can
// (eventlog.Copier).
func (c *copier) append(ctx context.Context, first int64, run []events.Event) error {
	if cp, ok := c.dst.(eventlog.Copier); ok {
		at := c.at[len(c.at)-len(run):]
		_, err := cp.AppendCopied(ctx, c.stream, expectation(first), at, run...)
		return err
	}
	_, err := c.dst.Append(ctx, c.stream, expectation(first), run...)
	return err
}

// reconcile compares the run with what dst already holds from version
// first on, and returns the part still to append.
func (c *copier) reconcile(ctx context.Context, run []events.Event, first int64) ([]events.Event, int64, error) {
	stored, err := c.dst.ReadStream(ctx, c.stream, first)
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		stored, err = nil, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("logcopy: read destination stream %q: %w", c.stream, err)
	}
	if first > 0 && len(stored) == 0 {
		// The destination stream ends before this run starts: an earlier
		// part of the stream is missing, or the stream is absent.
		return nil, 0, fmt.Errorf("%w: stream %q has fewer than %d events", ErrDiverged, c.stream, first)
	}
	i := 0
	for ; i < len(run) && i < len(stored); i++ {
		if stored[i].ID != run[i].ID {
			return nil, 0, fmt.Errorf("%w: stream %q version %d holds event %s, the source has %s",
				ErrDiverged, c.stream, first+int64(i), stored[i].ID, run[i].ID)
		}
	}
	if i == len(run) {
		return nil, first + int64(i), nil
	}
	if len(stored) > i {
		return nil, 0, fmt.Errorf("%w: stream %q has events past version %d that the source does not", ErrDiverged, c.stream, first+int64(i))
	}
	return run[i:], first + int64(i), nil
}
