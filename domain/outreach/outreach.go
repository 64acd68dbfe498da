// Package outreach holds the rules of marketing outreach: whom a staff
// member may message through which channel (mass message 客户群发, group
// mass message 客户群群发, moments post), and the sending caps WeCom puts
// on how many mass messages one customer or customer group receives per
// day, week and month (corp.Settings' MassMessageCap* windows, in the
// corp's time zone).
//
// A recipient's deliveries are its Ledger (events.OutreachCustomerStream,
// events.OutreachGroupStream). The caps count the ledger's deliveries in
// each window; a send is decided against the ledger at one version and
// appended with that version expected, so concurrent sends never push a
// recipient over a cap.
package outreach

import (
	"errors"
	"fmt"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

// ErrInvalidArgument: a send names no message, channel or member, or an
// unknown channel.
var ErrInvalidArgument = errors.New("outreach: invalid argument")

// Channels lists the channels, in a fixed order.
var Channels = []string{events.ChannelMassMessage, events.ChannelGroupMassMessage, events.ChannelMoments}

// ValidChannel reports whether ch is one of Channels.
func ValidChannel(ch string) bool {
	for _, c := range Channels {
		if c == ch {
			return true
		}
	}
	return false
}

// ToGroups reports whether a channel's recipients are customer groups.
func ToGroups(channel string) bool { return channel == events.ChannelGroupMassMessage }

// Counted reports whether a channel's deliveries count toward the caps:
// WeCom's limit is on mass messages to customers and to customer groups.
func Counted(channel string) bool { return channel != events.ChannelMoments }

// Delivery is one message a recipient received.
type Delivery struct {
	MessageID string
	Channel   string
	StaffID   string
	// At is the business time of the send.
	At      time.Time
	Counted bool
	// CommandID is the command that recorded it.
	CommandID string
}

// Ledger is one recipient's outreach history: what the caps count.
type Ledger struct {
	version    int64
	deliveries []Delivery
	messages   map[string]bool
}

// NewLedger is a recipient that never received a message.
func NewLedger() *Ledger { return &Ledger{version: -1, messages: map[string]bool{}} }

// RehydrateLedger rebuilds a ledger from its stream, oldest first.
func RehydrateLedger(history []events.Recorded) (*Ledger, error) {
	l := NewLedger()
	if err := l.Replay(history...); err != nil {
		return nil, err
	}
	return l, nil
}

// Replay applies further events of the ledger's stream.
func (l *Ledger) Replay(recs ...events.Recorded) error {
	return events.Replay("outreach: ledger", recs, func(p events.Payload, r events.Recorded) error {
		switch e := p.(type) {
		case *events.OutreachDelivered:
			l.deliveries = append(l.deliveries, Delivery{MessageID: e.MessageID, Channel: e.Channel, StaffID: e.StaffID,
				At: r.OccurredAt, Counted: e.Counted, CommandID: r.CommandID})
			l.messages[e.MessageID] = true
		case *events.OutreachCapReached:
		default:
			return fmt.Errorf("%w: %s on an outreach ledger", ErrInvalidArgument, p.EventType())
		}
		l.version = r.StreamVersion
		return nil
	})
}

// Version is the stream version of the last event, -1 for none: the
// expected version of the next append.
func (l *Ledger) Version() int64 { return l.version }

// Received reports whether the recipient already received the message.
func (l *Ledger) Received(messageID string) bool { return l.messages[messageID] }

// ReceivedBy reports whether the recipient received the message by the
// command commandID (a retry of that command, not a second report).
func (l *Ledger) ReceivedBy(messageID, commandID string) bool {
	if commandID == "" {
		return false
	}
	for _, d := range l.deliveries {
		if d.MessageID == messageID && d.CommandID == commandID {
			return true
		}
	}
	return false
}

// Deliveries are the recipient's deliveries in stream order.
func (l *Ledger) Deliveries() []Delivery { return append([]Delivery(nil), l.deliveries...) }

// Count is the number of counted deliveries with from <= At < to.
func (l *Ledger) Count(from, to time.Time) int {
	n := 0
	for _, d := range l.deliveries {
		if d.Counted && !d.At.Before(from) && d.At.Before(to) {
			n++
		}
	}
	return n
}

// Windows are the cap windows, in a fixed order.
var Windows = []string{corp.WindowDay, corp.WindowWeek, corp.WindowMonth}

// Bounds is the window of the given kind holding at, in loc: a calendar
// day, an ISO week (Monday 00:00 to the next Monday) or a calendar month.
// End is exclusive.
func Bounds(window string, at time.Time, loc *time.Location) (start, end time.Time) {
	t := at.In(loc)
	y, m, d := t.Date()
	switch window {
	case corp.WindowDay:
		start = time.Date(y, m, d, 0, 0, 0, 0, loc)
		end = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	case corp.WindowWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, loc)
		end = time.Date(y, m, d-back+7, 0, 0, 0, 0, loc)
	default:
		start = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		end = time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	}
	return start, end
}

// Allowance is one cap window's state for a recipient at a time.
type Allowance struct {
	Window string
	// Cap is the window's limit at that time (the month's days for
	// days_in_month); Used the counted deliveries in the window.
	Cap, Used int
	// Start and End bound the window (End exclusive): the allowance comes
	// back at End.
	Start, End time.Time
}

// Remaining is what the window still allows, never below zero.
func (a Allowance) Remaining() int { return max(a.Cap-a.Used, 0) }

// Allowances are the recipient's windows that are on in set, at `at`. A
// cap changed mid-window applies to what remains: Used counts every
// delivery of the window, whatever the cap was when it was sent.
func (l *Ledger) Allowances(set corp.Settings, at time.Time) []Allowance {
	loc := set.Location()
	caps := set.Caps()
	var out []Allowance
	for _, w := range Windows {
		start, end := Bounds(w, at, loc)
		limit, on := caps[w].Limit(w, at.In(loc))
		if !on {
			continue
		}
		out = append(out, Allowance{Window: w, Cap: limit, Used: l.Count(start, end), Start: start, End: end})
	}
	return out
}

// Remaining is the fewest messages any window still allows, and false
// when no window is on (no limit).
func Remaining(as []Allowance) (int, bool) {
	n, limited := 0, false
	for _, a := range as {
		if r := a.Remaining(); !limited || r < n {
			n, limited = r, true
		}
	}
	return n, limited
}

// capReasons are the cap windows used up, as refusal reasons.
func capReasons(as []Allowance) []string {
	var out []string
	for _, a := range as {
		if a.Remaining() == 0 {
			out = append(out, capReason(a.Window))
		}
	}
	return out
}

func capReason(window string) string {
	switch window {
	case corp.WindowDay:
		return events.OutreachCapDay
	case corp.WindowWeek:
		return events.OutreachCapWeek
	}
	return events.OutreachCapMonth
}
