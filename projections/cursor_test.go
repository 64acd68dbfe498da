package projections

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, keys := range [][]string{{"cu1"}, {"2026-03-02T09:00:00Z", "h1"}, {"", "x"}, {"客户", "a\"b"}} {
		got, err := decodeCursor(encodeCursor(keys))
		if err != nil || !slices.Equal(got, keys) {
			t.Errorf("round trip of %q: %q, %v", keys, got, err)
		}
	}
	for _, bad := range []string{"!", "bm90IGpzb24", encodeCursor(nil), strings.Repeat("A", maxCursorLen+1), "WyJcdTAwMDAiXQ"} {
		if _, err := decodeCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("decodeCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
	if _, _, err := (Page{After: encodeCursor([]string{"a"})}).keys(2); !errors.Is(err, ErrBadCursor) {
		t.Errorf("cursor of another listing: %v", err)
	}
}

// FuzzDecodeCursor feeds client-supplied page cursors to the decoder: it
// must never panic, and whatever it accepts must survive a round trip.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{"", "!", encodeCursor([]string{"cu1"}), encodeCursor([]string{"2026-03-02T09:00:00Z", "h1"}), "W10", "WyJcdTAwMDAiXQ", "bnVsbA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := decodeCursor(s)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("error %v is not ErrBadCursor", err)
			}
			return
		}
		again, err := decodeCursor(encodeCursor(keys))
		if err != nil || !slices.Equal(again, keys) {
			t.Fatalf("round trip of %q: %q, %v", keys, again, err)
		}
	})
}
