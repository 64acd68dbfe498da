package payload

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length limits, in bytes, on text that goes into custody's commands.
const (
	// MaxIDLen bounds ids: corp, user, external user, chat, tag, strategy,
	// suite ids, member versions, member list items and State (WeCom
	// allows 30 characters of state).
	MaxIDLen = 128
	// MaxCodeLen bounds enumerations such as Event, ChangeType, Source.
	MaxCodeLen = 64
	// MaxWelcomeCodeLen bounds WelcomeCode.
	MaxWelcomeCodeLen = 256
	// MaxMembers bounds MemChangeList (internal groups hold 2,000).
	MaxMembers = 2000
)

// ErrInvalid is wrapped by every *ValidationError.
var ErrInvalid = errors.New("payload: invalid field text")

// Reason says what is wrong with a field, never what it contains.
type Reason string

// Reasons of a FieldError.
const (
	ReasonInvalidUTF8 Reason = "invalid UTF-8"
	ReasonControl     Reason = "control character"
	ReasonTooLong     Reason = "too long"
	ReasonNotInteger  Reason = "not an integer"
	ReasonEmpty       Reason = "empty"
	ReasonTooMany     Reason = "too many items"
)

// FieldError names one offending field: a canonical element name, or
// "MemChangeList[i]" for an item.
type FieldError struct {
	Field  string
	Reason Reason
}

// ValidationError lists every offending field, in canonical field order.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + " (" + string(f.Reason) + ")"
	}
	return fmt.Sprintf("payload: invalid fields: %s", strings.Join(parts, ", "))
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Validate checks the text custody's commands will carry: every known
// field must be valid UTF-8 without control characters other than tab and
// newline and within its length limit, every present integer must parse,
// MemChangeList items must be non-empty and at most MaxMembers. It returns
// nil or a *ValidationError listing every problem. Extra is not checked:
// it is stored and shown, never put into commands. Validate says nothing
// about whether the fields a Kind needs are present; that is the
// translator's call.
func (e Event) Validate() error {
	var bad []FieldError
	for i := range fields {
		f := fields[i]
		if f.num != nil {
			if n := f.num(&e); n.Set() && !n.Valid {
				bad = append(bad, FieldError{f.name, ReasonNotInteger})
			}
			continue
		}
		if r, ok := checkText(*f.str(&e), maxLen(f.name)); !ok {
			bad = append(bad, FieldError{f.name, r})
		}
	}
	if len(e.MemChangeList) > MaxMembers {
		bad = append(bad, FieldError{memChangeList, ReasonTooMany})
	}
	for i, m := range e.MemChangeList {
		r, ok := checkText(m, MaxIDLen)
		if ok && m == "" {
			r, ok = ReasonEmpty, false
		}
		if !ok {
			bad = append(bad, FieldError{fmt.Sprintf("%s[%d]", memChangeList, i), r})
		}
	}
	if len(bad) > 0 {
		return &ValidationError{Fields: bad}
	}
	return nil
}

func maxLen(name string) int {
	switch name {
	case "MsgType", "Event", "ChangeType", "Source", "FailReason", "UpdateDetail", "TagType", "InfoType":
		return MaxCodeLen
	case "WelcomeCode":
		return MaxWelcomeCodeLen
	}
	return MaxIDLen
}

// checkText reports why s cannot go into a command, if it cannot.
func checkText(s string, max int) (Reason, bool) {
	if !utf8.ValidString(s) {
		return ReasonInvalidUTF8, false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' && r != '\n' {
			return ReasonControl, false
		}
	}
	if len(s) > max {
		return ReasonTooLong, false
	}
	return "", true
}
