package main

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
)

// TestSubcommandTable: every verb is listed once, in the alphabetical
// order usage prints, with a summary and a run function.
func TestSubcommandTable(t *testing.T) {
	var names []string
	seen := map[string]bool{}
	for _, sc := range subcommandTable() {
		if sc.name == "" || sc.summary == "" || sc.run == nil {
			t.Errorf("incomplete subcommand %+v", sc)
		}
		if seen[sc.name] {
			t.Errorf("subcommand %q listed twice", sc.name)
		}
		seen[sc.name] = true
		names = append(names, sc.name)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("subcommands not in alphabetical order: %v", names)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(out.String(), "\n  "+n+" ") {
			t.Errorf("usage does not list %q:\n%s", n, out.String())
		}
	}
	if err := run(context.Background(), []string{"no-such-verb"}, &out); !errors.Is(err, errUsage) {
		t.Errorf("unknown verb: got %v, want errUsage", err)
	}
}
