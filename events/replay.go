package events

import "fmt"

// Replay decodes recs in stream order and hands each to apply: the one
// loop behind every aggregate's Replay and Rehydrate. An event that does
// not decode, or that apply refuses, stops it with an error naming the
// aggregate (name) and the event's stream version.
func Replay(name string, recs []Recorded, apply func(Payload, Recorded) error) error {
	for _, r := range recs {
		p, err := DecodeRecorded(r)
		if err == nil {
			err = apply(p, r)
		}
		if err != nil {
			return fmt.Errorf("%s: event at version %d: %w", name, r.StreamVersion, err)
		}
	}
	return nil
}
