package commands

import (
	"context"
	"errors"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

// RecordUnmatchedFact records a fact WeCom reported that custody's state
// contradicts (events.WeComFactUnmatched), so it is kept instead of
// dropped.
type RecordUnmatchedFact struct {
	Meta
	Fact events.WeComFactUnmatched
}

// noAggregate is the state of a stream that only records facts.
type noAggregate struct{ version int64 }

func (n noAggregate) Version() int64 { return n.version }

// RecordUnmatchedFact appends the fact to its own stream
// (events.CorpWeComStream of its callback key): once recorded, recording
// it again changes nothing, on every event log.
func (h *Handler) RecordUnmatchedFact(ctx context.Context, cmd RecordUnmatchedFact) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	switch {
	case cmd.Fact.CallbackKey == "" || len(cmd.Fact.CallbackKey) > 100:
		return Result{}, invalid("callback_key", "required, at most 100 bytes")
	case cmd.Fact.Kind == "":
		return Result{}, invalid("kind", "required")
	case cmd.Fact.Reason == "":
		return Result{}, invalid("reason", "required")
	}
	fact := cmd.Fact
	res, err := execute(ctx, r, step[noAggregate]{
		stream: events.CorpWeComStream(r.meta.CorpID, fact.CallbackKey),
		load:   func(h []events.Recorded) (noAggregate, error) { return noAggregate{version: int64(len(h)) - 1}, nil },
		decide: func(n noAggregate) ([]events.Payload, error) {
			if n.version >= 0 {
				return nil, nil // recorded before (by another command id)
			}
			return []events.Payload{&fact}, nil
		},
	})
	if errors.Is(err, eventlog.ErrConflict) {
		return Result{}, nil // recorded concurrently
	}
	return res, err
}
