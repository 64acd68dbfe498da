package outreach

import (
	"errors"
	"fmt"

	"github.com/custody/custody/events"
)

// Message is one outreach message's stream (events.OutreachMessageStream):
// its plan, if any, and the sends recorded for it.
type Message struct {
	id      string
	version int64
	planned *events.OutreachPlanned
	sends   int
}

// NewMessage is a message with no history.
func NewMessage(id string) *Message { return &Message{id: id, version: -1} }

// RehydrateMessage rebuilds a message from its stream, oldest first.
func RehydrateMessage(id string, history []events.Recorded) (*Message, error) {
	m := NewMessage(id)
	err := events.Replay("outreach: message", history, func(p events.Payload, r events.Recorded) error {
		switch e := p.(type) {
		case *events.OutreachPlanned:
			m.planned = e
		case *events.OutreachSent:
			m.sends++
		case *events.OutreachRefused:
		default:
			return fmt.Errorf("%w: %s on an outreach message", ErrInvalidArgument, p.EventType())
		}
		m.version = r.StreamVersion
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Version is the stream version of the last event, -1 for none.
func (m *Message) Version() int64 { return m.version }

// Planned is the message's plan, nil when it was never planned.
func (m *Message) Planned() *events.OutreachPlanned { return m.planned }

// Sends counts the recorded sends that reached someone.
func (m *Message) Sends() int { return m.sends }

// Mismatch names the field of a send that contradicts the plan (channel
// or staff_id), "" when it agrees or there is no plan: a message goes
// through one channel and one member.
func (m *Message) Mismatch(channel, staffID string) string {
	switch {
	case m.planned == nil:
		return ""
	case m.planned.Channel != channel:
		return "channel"
	case m.planned.StaffID != staffID:
		return "staff_id"
	}
	return ""
}

// Plan decides a plan: outreach.planned, or ErrAlreadyPlanned when the
// message has a plan or was sent already.
func (m *Message) Plan(p events.OutreachPlanned) ([]events.Payload, error) {
	if m.version >= 0 {
		return nil, fmt.Errorf("%w: message %q", ErrAlreadyPlanned, m.id)
	}
	p.MessageID = m.id
	return []events.Payload{&p}, nil
}

// ErrAlreadyPlanned: a message is planned once, before any send.
var ErrAlreadyPlanned = errors.New("outreach: message already planned or sent")
