package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// Meta is what every command carries besides its own fields.
type Meta struct {
	// CorpID is the tenant. Required; its settings must be known.
	CorpID string
	// CommandID makes the command idempotent: carried out again with the
	// same id, it appends nothing new and returns the first outcome
	// (Replayed set). Optional; without it every call is a new command.
	CommandID string
	// Actor caused the command: "staff:<id>", "admin:<id>", "wecom",
	// "system" (the default).
	Actor string
	// CorrelationID and CausationID are copied onto the events.
	CorrelationID string
	CausationID   string
	// OccurredAt is the business time of the fact (e.g. WeCom's
	// CreateTime for facts ingested late). Zero: the handler's clock.
	// Rules that depend on time (24 h window, 90 days, 1 year) are decided
	// at this time. It must not be before MinOccurredAt nor more than
	// MaxClockSkew after the handler's clock (*FieldError "occurred_at").
	OccurredAt time.Time
}

// Result is what a single-stream command recorded.
type Result struct {
	// Events are the events appended, as stored. Empty when the command
	// changed nothing (e.g. opting out twice).
	Events []events.Recorded
	// Replayed reports that the command id had already been carried out:
	// Events are the ones recorded then, and nothing was appended now.
	Replayed bool
}

// idNamespace is the UUIDv5 namespace of event ids derived from command ids.
var idNamespace = uuid.MustParse("5c3b1e9a-6f0d-4c57-9d3e-2b8f71a4c0de")

// run is one command's execution context.
type run struct {
	h        *Handler
	meta     events.Meta
	settings corp.Settings
	now      time.Time
	// key derives event ids: the command id, or a key the handler chooses
	// for system work (settling a handover). Empty: random UUIDv7 ids.
	key string
}

// begin validates the common part of a command and loads its corp's
// settings. OccurredAt must lie in [MinOccurredAt, clock + MaxClockSkew]
// (checkMeta): every entry point gets the same time bounds.
func (h *Handler) begin(ctx context.Context, m Meta) (*run, error) {
	if m.CorpID == "" {
		return nil, invalid("corp_id", "required")
	}
	clockNow := h.clock.Now()
	if err := checkMeta(m, clockNow); err != nil {
		return nil, err
	}
	set, err := h.settings.Settings(ctx, m.CorpID)
	if err != nil {
		return nil, err
	}
	now := m.OccurredAt
	if now.IsZero() {
		now = clockNow
	}
	// Microseconds: what every log stores, so a rule decided now and the
	// same rule decided on reloaded events agree at the edges.
	now = now.UTC().Truncate(time.Microsecond)
	actor := m.Actor
	if actor == "" {
		actor = "system"
	}
	return &run{
		h:        h,
		settings: set,
		now:      now,
		key:      m.CommandID,
		meta: events.Meta{
			CorpID: m.CorpID, OccurredAt: now, Actor: actor, CommandID: m.CommandID,
			CorrelationID: m.CorrelationID, CausationID: m.CausationID,
		},
	}, nil
}

// derive returns a copy of r for system work a command triggers (failing a
// handover, settling one) with its own id key and time. The events it
// records carry no command id, so they never pass for the command's own
// (which would stop the next such step on the same stream as "already
// done"); the command id becomes their causation id instead.
func (r *run) derive(key string, at time.Time) *run {
	c := *r
	c.key = key
	c.meta.OccurredAt = at
	if c.meta.CausationID == "" {
		c.meta.CausationID = c.meta.CommandID
	}
	c.meta.CommandID = ""
	return &c
}

// timeZero is the zero time, for "no bound".
var timeZero time.Time

// eventID is UUIDv5(namespace, key, stream, expected version, index): the
// same decision retried (or raced by a second process with the same command
// id) produces the same ids, and the log stores them once.
func (r *run) eventID(stream string, expected int64, i int) (uuid.UUID, error) {
	if r.key == "" {
		return uuid.NewV7()
	}
	name := r.key + "\x00" + stream + "\x00" + strconv.FormatInt(expected, 10) + "\x00" + strconv.Itoa(i)
	return uuid.NewSHA1(idNamespace, []byte(name)), nil
}

// read returns a stream's events; a stream that does not exist is empty.
func (r *run) read(ctx context.Context, stream string, from int64) ([]events.Recorded, error) {
	recs, err := r.h.log.ReadStream(ctx, stream, from)
	if errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("commands: read %s: %w", stream, err)
	}
	return recs, nil
}

// append writes payloads after version (the aggregate's Version: -1 for a
// new stream).
func (r *run) append(ctx context.Context, stream string, version int64, pays []events.Payload) ([]events.Recorded, error) {
	res, err := r.appendResult(ctx, stream, version, pays)
	return res.Events, err
}

// appendResult is append answering the log's whole result: Replayed tells
// that the events were already stored (another process carried out the
// same decision with the same event ids first).
func (r *run) appendResult(ctx context.Context, stream string, version int64, pays []events.Payload) (eventlog.AppendResult, error) {
	evs := make([]events.Event, len(pays))
	for i, p := range pays {
		id, err := r.eventID(stream, version, i)
		if err != nil {
			return eventlog.AppendResult{}, fmt.Errorf("commands: event id: %w", err)
		}
		if evs[i], err = events.New(id, r.meta, p); err != nil {
			return eventlog.AppendResult{}, fmt.Errorf("commands: encode %s: %w", p.EventType(), err)
		}
	}
	expected := eventlog.ExpectVersion(version)
	if version < 0 {
		expected = eventlog.ExpectNoStream
	}
	res, err := r.h.log.Append(ctx, stream, expected, evs...)
	if err != nil {
		return eventlog.AppendResult{}, fmt.Errorf("commands: append to %s: %w", stream, err)
	}
	return res, nil
}

// decided returns the events an append recorded from pays, each carrying
// the payload it was made from (events.Decided), so that replaying them
// into the aggregate the command decided on decodes nothing. When the log
// answered events already stored (Replayed) or not one per payload, they
// are returned as recorded and are decoded.
func decided(res eventlog.AppendResult, pays []events.Payload) []events.Recorded {
	if res.Replayed || len(res.Events) != len(pays) {
		return res.Events
	}
	out := make([]events.Recorded, len(pays))
	for i, r := range res.Events {
		out[i] = events.Decided(r, pays[i])
	}
	return out
}

// retry reports whether err is a conflict worth another attempt.
func (r *run) retry(err error, attempt int) bool {
	return errors.Is(err, eventlog.ErrConflict) && attempt < r.h.maxRetries
}

// prior returns the events of history recorded by this command id.
func (r *run) prior(history []events.Recorded) []events.Recorded {
	if r.meta.CommandID == "" {
		return nil
	}
	var out []events.Recorded
	for _, e := range history {
		if e.CommandID == r.meta.CommandID {
			out = append(out, e)
		}
	}
	return out
}

func decodeAll(recs []events.Recorded) ([]events.Payload, error) {
	out := make([]events.Payload, len(recs))
	for i, e := range recs {
		p, err := events.DecodeRecorded(e)
		if err != nil {
			return nil, &StreamError{Stream: e.Stream, Err: err}
		}
		out[i] = p
	}
	return out, nil
}

// aggregate is what execute needs of an aggregate.
type aggregate interface {
	Version() int64
}

// step is one single-stream command: how to load the aggregate, decide,
// and what to do once its events are recorded (or found recorded by an
// earlier run of the same command id).
type step[A aggregate] struct {
	stream string
	load   func([]events.Recorded) (A, error)
	// fetch, when set, replaces reading the whole stream and load: it
	// returns the aggregate as the stream stands and the events of the
	// command already in it (see run.prior).
	fetch  func(context.Context) (A, []events.Recorded, error)
	decide func(A) ([]events.Payload, error)
	after  func(context.Context, A, []events.Payload) error
	// replay, when set, brings the aggregate up to the events just
	// appended before after runs, so that after sees the stream as this
	// command left it without reading it again; after is then told so.
	replay func(A, []events.Recorded) error
	// afterCurrent replaces after when replay is set: the aggregate is the
	// stream as read (a replayed command) or as appended by this command.
	afterCurrent func(context.Context, A, []events.Payload) error
}

// loaded returns the aggregate as its stream stands and the events of r's
// command already in it.
func (s step[A]) loaded(ctx context.Context, r *run) (A, []events.Recorded, error) {
	if s.fetch != nil {
		return s.fetch(ctx)
	}
	var zero A
	history, err := r.read(ctx, s.stream, 0)
	if err != nil {
		return zero, nil, err
	}
	agg, err := s.load(history)
	if err != nil {
		return zero, nil, &StreamError{Stream: s.stream, Err: err}
	}
	return agg, r.prior(history), nil
}

// execute loads, decides and appends with the version read, re-reading and
// deciding again on a conflict, at most MaxRetries times.
func execute[A aggregate](ctx context.Context, r *run, s step[A]) (Result, error) {
	for attempt := 0; ; attempt++ {
		agg, prior, err := s.loaded(ctx, r)
		if err != nil {
			return Result{}, err
		}
		if len(prior) > 0 {
			pays, err := decodeAll(prior)
			if err != nil {
				return Result{}, err
			}
			if s.afterCurrent != nil {
				if err := s.afterCurrent(ctx, agg, pays); err != nil {
					return Result{}, err
				}
				r.h.converged.add(prior)
			} else if s.after != nil {
				if err := s.after(ctx, agg, pays); err != nil {
					return Result{}, err
				}
			}
			return Result{Events: prior, Replayed: true}, nil
		}
		pays, err := s.decide(agg)
		if err != nil {
			return Result{}, err
		}
		if len(pays) == 0 {
			return Result{}, nil
		}
		res, err := r.appendResult(ctx, s.stream, agg.Version(), pays)
		if r.retry(err, attempt) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		// Replayed: another process made the same decision with the same
		// event ids first; its outcome is this one, and it is not new.
		recs, replayed := res.Events, res.Replayed
		if s.afterCurrent != nil && s.replay != nil {
			if err := s.replay(agg, decided(res, pays)); err == nil {
				if err := s.afterCurrent(ctx, agg, pays); err != nil {
					return Result{Events: recs, Replayed: replayed}, err
				}
				r.h.converged.add(recs)
				return Result{Events: recs, Replayed: replayed}, nil
			}
			// Not replayable here: reload before after (the aggregate may
			// be half-replayed).
			history, err := r.read(ctx, s.stream, 0)
			if err != nil {
				return Result{Events: recs, Replayed: replayed}, err
			}
			if agg, err = s.load(history); err != nil {
				return Result{Events: recs, Replayed: replayed}, &StreamError{Stream: s.stream, Err: err}
			}
		}
		if s.after != nil {
			if err := s.after(ctx, agg, pays); err != nil {
				return Result{Events: recs, Replayed: replayed}, err
			}
		}
		return Result{Events: recs, Replayed: replayed}, nil
	}
}
