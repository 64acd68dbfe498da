package main

import (
	"errors"
	"flag"
	"slices"
	"testing"
	"time"
)

func TestParseWhenFlag(t *testing.T) {
	for in, want := range map[string]time.Time{
		"":                          {},
		"2026-03-01":                time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		"2026-03-01T09:30":          time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC),
		"2026-03-01 09:30:05":       time.Date(2026, 3, 1, 9, 30, 5, 0, time.UTC),
		"2026-03-01T09:30:05+08:00": time.Date(2026, 3, 1, 1, 30, 5, 0, time.UTC),
		"2026-03-01T09:30:05.25Z":   time.Date(2026, 3, 1, 9, 30, 5, 250_000_000, time.UTC),
	} {
		got, err := parseWhenFlag("at", in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhenFlag(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "2026-13-01", "01/03/2026", "2026-03-01T25:00"} {
		if _, err := parseWhenFlag("at", bad); !errors.Is(err, errUsage) {
			t.Errorf("parseWhenFlag(%q) = %v, want a usage error", bad, err)
		}
	}
}

// FuzzParseWhenFlag: any text an analyst types either parses to a time that
// formats back and parses to the same instant, or is a usage error.
func FuzzParseWhenFlag(f *testing.F) {
	for _, s := range []string{"2026-03-01", "2026-03-01T09:30", "2026-03-01T09:30:05.123456789-07:00", "", " 2026-01-01 ", "9999-12-31T23:59:59Z", "0000-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhenFlag("at", s)
		if err != nil {
			if !errors.Is(err, errUsage) {
				t.Fatalf("error %v is not a usage error", err)
			}
			return
		}
		if got.IsZero() {
			return
		}
		again, err := parseWhenFlag("at", got.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(got) {
			t.Fatalf("%q -> %v -> %v (%v)", s, got, again, err)
		}
	})
}

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	corp := fs.String("corp", "", "")
	js := fs.Bool("json", false, "")
	pos, err := parseInterspersed(fs, []string{"c1", "--corp", "acme", "c2", "--json"})
	if err != nil || !slices.Equal(pos, []string{"c1", "c2"}) || *corp != "acme" || !*js {
		t.Fatalf("pos %v corp %q json %v err %v", pos, *corp, *js, err)
	}
}

func TestSplitFlagList(t *testing.T) {
	if got := splitFlagList(" a, ,b ,"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("splitFlagList = %q", got)
	}
	if got := splitFlagList(""); got != nil {
		t.Fatalf("splitFlagList(\"\") = %q", got)
	}
}
