package projections

import (
	"strings"
	"unicode/utf8"
)

// PostgreSQL's text cannot hold every string an event can carry: it
// refuses the NUL character (U+0000) and byte sequences that are not UTF-8.
// A stored event must stay projectable whatever its text, so every value a
// projection sends to PostgreSQL — Writer.Queue's arguments, the rebuild's
// staging rows and the rows its folds copy — passes through storableValue
// on its way: NUL becomes U+FFFD (the replacement character, so that the
// reader sees that something was there) and every invalid UTF-8 sequence
// becomes one U+FFFD (strings.ToValidUTF8). Clean text, the common case,
// is returned as it is, without allocating.

// replacement stands for what text cannot hold.
const replacement = "\uFFFD"

// storable returns s as PostgreSQL text can store it.
func storable(s string) string {
	if textClean(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, replacement), "\x00", replacement)
}

func textClean(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

// storableValue returns v with its text made storable, and whether that
// changed it: a string, a *string, or a slice of either (text[] and unnest
// arguments). Any other value is returned as it is. v is never modified: a
// value that needs a change is copied, since slices may be shared by the
// projections applying one batch concurrently.
func storableValue(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		if !textClean(x) {
			return storable(x), true
		}
	case *string:
		if x != nil && !textClean(*x) {
			s := storable(*x)
			return &s, true
		}
	case []string:
		for i, s := range x {
			if !textClean(s) {
				c := make([]string, len(x))
				copy(c, x[:i])
				for j := i; j < len(x); j++ {
					c[j] = storable(x[j])
				}
				return c, true
			}
		}
	case []*string:
		for i, s := range x {
			if s != nil && !textClean(*s) {
				c := make([]*string, len(x))
				copy(c, x[:i])
				for j := i; j < len(x); j++ {
					c[j] = x[j]
					if x[j] != nil && !textClean(*x[j]) {
						t := storable(*x[j])
						c[j] = &t
					}
				}
				return c, true
			}
		}
	}
	return v, false
}

// storableArgs returns args with every value made storable: args itself
// when nothing needed a change, otherwise a copy.
func storableArgs(args []any) []any {
	for i, a := range args {
		if s, changed := storableValue(a); changed {
			c := make([]any, len(args))
			copy(c, args[:i])
			c[i] = s
			for j := i + 1; j < len(args); j++ {
				c[j], _ = storableValue(args[j])
			}
			return c
		}
	}
	return args
}

// storableRow makes a row's values storable in place: the row is the
// caller's own (a staged or folded row), its values may be shared.
func storableRow(row []any) {
	for i, v := range row {
		if s, changed := storableValue(v); changed {
			row[i] = s
		}
	}
}
