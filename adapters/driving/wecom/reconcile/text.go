package reconcile

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalize makes WeCom text acceptable to custody's text rule
// (eventlog.TextProblem): "\r\n" and lone "\r" become "\n"; other control
// characters but tab and newline, surrogates, noncharacters and invalid
// UTF-8 are dropped; then it is cut to max characters (max <= 0: no cut).
func Normalize(s string, max int) string {
	if s == "" {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var b strings.Builder
	b.Grow(len(s))
	n := 0
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				continue
			}
		}
		if !keep(r) {
			continue
		}
		if max > 0 && n == max {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func keep(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return true
	case unicode.Is(unicode.Cc, r):
		return false
	case r >= 0xD800 && r <= 0xDFFF:
		return false
	case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
		return false
	}
	return true
}

// normalizeList normalises each element, drops empty ones and
// duplicates, sorts, and keeps at most maxItems.
func normalizeList(in []string, maxLen, maxItems int) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = Normalize(s, maxLen); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if maxItems > 0 && len(out) > maxItems {
		out = out[:maxItems]
	}
	return out
}

// plainID is an id custody can store: non-empty, at most 128 bytes, no
// control characters. WeCom's ids always are; anything else is skipped
// rather than mangled.
func plainID(s string) bool {
	if s == "" || len(s) > 128 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !keep(r) || r == '\t' || r == '\n' {
			return false
		}
	}
	return true
}
