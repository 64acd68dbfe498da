package httpapi

import (
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// CommandResult is the answer of a single-stream command.
type CommandResult struct {
	// CommandID is derived from the Idempotency-Key (empty without one).
	CommandID string `json:"command_id,omitempty"`
	// Replayed: the command id had already been carried out; nothing new was
	// recorded and Events are the ones recorded then.
	Replayed bool `json:"replayed"`
	// Events are the events recorded; empty when nothing changed (e.g. an
	// opt-out of a customer already opted out).
	Events []EventRef `json:"events"`
}

// EventRef identifies a recorded event, without its payload.
type EventRef struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Stream     string    `json:"stream"`
	Version    int64     `json:"version"`
	Position   string    `json:"position"`
	OccurredAt time.Time `json:"occurred_at"`
}

func eventRefs(recs []events.Recorded) []EventRef {
	out := make([]EventRef, 0, len(recs))
	for _, r := range recs {
		out = append(out, EventRef{
			ID: r.ID.String(), Type: r.Type, Stream: r.Stream, Version: r.StreamVersion,
			Position: r.Position.String(), OccurredAt: r.OccurredAt.UTC(),
		})
	}
	return out
}

func commandResult(c *call, r commands.Result) CommandResult {
	return CommandResult{CommandID: c.commandID, Replayed: r.Replayed, Events: eventRefs(r.Events)}
}

// HandoverOutcome is what became of one customer's handover.
type HandoverOutcome struct {
	CustomerID string `json:"customer_id"`
	// HandoverID is absent when the handover was rejected: no handover
	// with an id exists then.
	HandoverID string `json:"handover_id,omitempty"`
	// Status is pending, completed, failed, refused, cancelled, rejected (a
	// rule refused it: nothing recorded, see error) or skipped (settle found
	// nothing to do).
	Status     string     `json:"status"`
	FailReason string     `json:"fail_reason,omitempty"`
	Deadline   *time.Time `json:"deadline,omitempty"`
	// Error says which rule rejected or skipped the handover.
	Error    *errorDetail `json:"error,omitempty"`
	Replayed bool         `json:"replayed"`
	Events   []EventRef   `json:"events"`
}

func outcomes(os []commands.HandoverOutcome) []HandoverOutcome {
	out := make([]HandoverOutcome, 0, len(os))
	for _, o := range os {
		h := HandoverOutcome{
			CustomerID: o.CustomerID, HandoverID: o.HandoverID, Status: o.Status, FailReason: o.FailReason,
			Replayed: o.Replayed, Events: eventRefs(o.Events),
		}
		if o.Status == commands.OutcomeRejected {
			h.HandoverID = "" // the id it would have had: never recorded
		}
		if !o.Deadline.IsZero() {
			d := o.Deadline.UTC()
			h.Deadline = &d
		}
		if o.Err != nil {
			e := errorOf(o.Err)
			h.Error = &errorDetail{Code: e.code, Message: e.message}
		}
		out = append(out, h)
	}
	return out
}

// HandoverBatchResult is the answer of a handover request: one outcome per
// customer, in the order asked. It is a 201 when at least one handover was
// recorded (pending, or failed at once for the target's capacity), and a
// 200 when every customer was rejected by a rule and nothing was recorded.
type HandoverBatchResult struct {
	CommandID string            `json:"command_id,omitempty"`
	BatchID   string            `json:"batch_id"`
	Outcomes  []HandoverOutcome `json:"outcomes"`
}

// createdAny reports whether any handover of the batch was recorded.
func (b HandoverBatchResult) createdAny() bool {
	for _, o := range b.Outcomes {
		if len(o.Events) > 0 {
			return true
		}
	}
	return false
}

// DepartResult is the answer of a departure.
type DepartResult struct {
	CommandResult
	// FailedHandovers are pending handovers to the member that failed:
	// departed members receive nothing.
	FailedHandovers []HandoverOutcome `json:"failed_handovers"`
}

// SettleResult is the answer of a settle run.
type SettleResult struct {
	AsOf     time.Time         `json:"as_of"`
	Outcomes []HandoverOutcome `json:"outcomes"`
}
