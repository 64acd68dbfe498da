package events

import "fmt"

// Replay decodes recs in stream order and hands each to apply: the one
// loop behind every aggregate's Replay and Rehydrate. An event that does
// not decode, or that apply refuses, stops it with an error naming the
// aggregate (name) and the event's stream version.
func Replay(name string, recs []Recorded, apply func(Payload, Recorded) error) error {
	for _, r := range recs {
		p, err := r.decided, error(nil)
		if p == nil || p.EventType() != r.Type {
			p, err = DecodeRecorded(r)
		}
		if err == nil {
			err = apply(p, r)
		}
		if err != nil {
			return fmt.Errorf("%s: event at version %d: %w", name, r.StreamVersion, err)
		}
	}
	return nil
}

// Decided returns r carrying p, the payload New encoded r from, so that
// Replay hands p to the aggregate instead of decoding r's data again: for
// a writer that applies what it just decided to the aggregate it decided
// on (the bulk import). p must be the very payload r was made from;
// Replay decodes r as usual when p's type is not r's.
func Decided(r Recorded, p Payload) Recorded {
	r.decided = p
	return r
}
