package commands

import (
	"errors"
	"fmt"
)

// ErrInvalidCommand: the command itself is malformed (an empty id, an
// unknown kind, too many customers, an over-long message). Nothing was
// appended. Returned as a *FieldError.
var ErrInvalidCommand = errors.New("commands: invalid command")

// FieldError names the offending field of an invalid command. It wraps
// ErrInvalidCommand.
type FieldError struct {
	// Field is the command field, in snake_case as the HTTP API names it.
	Field   string
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("commands: invalid command: %s: %s", e.Field, e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalidCommand) true.
func (e *FieldError) Unwrap() error { return ErrInvalidCommand }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ErrUnreadableStream: a stream the command needs holds an event the
// catalog cannot decode (unknown type or version, malformed data) or one
// that belongs to another aggregate. Nothing was appended. Returned as a
// *StreamError.
var ErrUnreadableStream = errors.New("commands: unreadable stream")

// StreamError says which stream could not be read and why. errors.Is
// matches both ErrUnreadableStream and the cause (e.g.
// events.ErrUnknownType).
type StreamError struct {
	Stream string
	Err    error
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("commands: unreadable stream %q: %v", e.Stream, e.Err)
}

// Unwrap returns ErrUnreadableStream and the cause.
func (e *StreamError) Unwrap() []error { return []error{ErrUnreadableStream, e.Err} }
