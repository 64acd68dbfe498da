package commands

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
)

// ValidateAppend checks an append against the EventLog contract before an
// adapter writes anything: a named stream, a valid expectation, at least one
// event, and well-formed events with distinct ids. Every problem is
// reported, joined, wrapped in ErrInvalidEvent. Adapters call it first so
// that every log refuses the same bad input the same way.
func ValidateAppend(stream string, expected ExpectedVersion, evs []events.Event) error {
	var errs []error
	if stream == "" {
		errs = append(errs, errors.New("empty stream name"))
	}
	if !expected.Valid() {
		errs = append(errs, fmt.Errorf("invalid expected version %s", expected))
	}
	if len(evs) == 0 {
		errs = append(errs, errors.New("no events"))
	}
	seen := make(map[uuid.UUID]bool, len(evs))
	for i, e := range evs {
		if err := validateEvent(e); err != nil {
			errs = append(errs, fmt.Errorf("event %d: %w", i, err))
		}
		if seen[e.ID] {
			errs = append(errs, fmt.Errorf("event %d: duplicate id %s in one append", i, e.ID))
		}
		seen[e.ID] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, errors.Join(errs...))
	}
	return nil
}

func validateEvent(e events.Event) error {
	var errs []error
	if e.ID == uuid.Nil {
		errs = append(errs, errors.New("nil id"))
	}
	if e.Type == "" {
		errs = append(errs, errors.New("empty type"))
	}
	// The upper bound keeps the version within a 32-bit column.
	if e.SchemaVersion < 1 || e.SchemaVersion > 1<<30 {
		errs = append(errs, fmt.Errorf("schema version %d out of range", e.SchemaVersion))
	}
	if e.CorpID == "" {
		errs = append(errs, errors.New("empty corp id"))
	}
	if !json.Valid(e.Data) {
		errs = append(errs, errors.New("data is not valid JSON"))
	}
	if len(e.PII) > 0 {
		if e.Subject == "" {
			errs = append(errs, errors.New("personal data without a subject"))
		}
		if !json.Valid(e.PII) {
			errs = append(errs, errors.New("personal data is not valid JSON"))
		}
	}
	return errors.Join(errs...)
}
