package eventlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
)

// ValidateAppend checks an append against the EventLog contract before an
// adapter writes anything: a named stream, a valid expectation, at least one
// event, and well-formed events with distinct ids, whose envelope strings
// and every string of whose data and personal data (member names included)
// follow the text rule of TextProblem. Every problem is
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
	if p := TextProblem(stream); p != "" {
		errs = append(errs, fmt.Errorf("stream name %s", p))
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
	for _, f := range []struct{ name, value string }{
		{"type", e.Type}, {"corp id", e.CorpID}, {"actor", e.Actor}, {"command id", e.CommandID},
		{"correlation id", e.CorrelationID}, {"causation id", e.CausationID}, {"subject", e.Subject},
	} {
		if p := TextProblem(f.value); p != "" {
			errs = append(errs, fmt.Errorf("%s %s", f.name, p))
		}
	}
	if !json.Valid(e.Data) {
		errs = append(errs, errors.New("data is not valid JSON"))
	} else if err := jsonTextProblem(e.Data); err != nil {
		errs = append(errs, fmt.Errorf("data: %w", err))
	}
	if len(e.PII) > 0 {
		if e.Subject == "" {
			errs = append(errs, errors.New("personal data without a subject"))
		}
		if !json.Valid(e.PII) {
			errs = append(errs, errors.New("personal data is not valid JSON"))
		} else if err := jsonTextProblem(e.PII); err != nil {
			errs = append(errs, fmt.Errorf("personal data: %w", err))
		}
	}
	return errors.Join(errs...)
}

// jsonTextProblem applies the text rule (TextProblem) to every string of a
// valid JSON document, member names included, as the document spells it:
// escapes are decoded (so "\u0000" and a lone "\ud800" are caught, which a
// decode into Go strings would silently turn into U+FFFD) and raw bytes
// must be valid UTF-8. It walks the bytes once, whatever the payload type,
// so every event of every log is held to the same rule. The error names the
// byte offset and the code point, never the text.
func jsonTextProblem(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("not valid UTF-8")
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		// A string: b is valid JSON, so it ends with an unescaped '"'.
		for i++; i < len(b) && b[i] != '"'; {
			at := i
			var r rune
			if b[i] == '\\' {
				r, i = jsonEscape(b, i)
			} else {
				var size int
				r, size = utf8.DecodeRune(b[i:])
				i += size
			}
			if p := runeProblem(r); p != "" {
				return fmt.Errorf("string at byte %d %s", at, p)
			}
		}
	}
	return nil
}

// jsonEscape decodes the escape sequence at b[i] (a backslash) of a valid
// JSON string and returns its rune and the index after it. A surrogate
// that is not part of a valid pair is returned as itself, for runeProblem
// to refuse.
func jsonEscape(b []byte, i int) (rune, int) {
	switch b[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
	default: // '"', '\\', '/'
		return rune(b[i+1]), i + 2
	}
	r := hex4(b[i+2 : i+6])
	i += 6
	if !utf16.IsSurrogate(r) {
		return r, i
	}
	if 0xD800 <= r && r < 0xDC00 && i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
		if lo := hex4(b[i+2 : i+6]); 0xDC00 <= lo && lo <= 0xDFFF {
			return utf16.DecodeRune(r, lo), i + 6
		}
	}
	return r, i
}

// hex4 decodes four hex digits (valid JSON guarantees them).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}
