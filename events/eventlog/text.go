package eventlog

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// TextProblem reports why s is not acceptable text under the text rule, or
// "" when it is. It never quotes s (which may be personal data); it names a
// refused character by its code point.
func TextProblem(s string) string {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return "is not valid UTF-8"
			}
		}
		if p := runeProblem(r); p != "" {
			return p
		}
	}
	return ""
}

// runeProblem reports why r may not appear in text, or "".
func runeProblem(r rune) string {
	switch {
	case r == '\t' || r == '\n':
		return ""
	case unicode.IsControl(r):
		return fmt.Sprintf("holds the control character U+%04X", r)
	case 0xD800 <= r && r <= 0xDFFF:
		return fmt.Sprintf("holds the surrogate U+%04X", r)
	case 0xFDD0 <= r && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
		return fmt.Sprintf("holds the noncharacter U+%04X", r)
	}
	return ""
}
