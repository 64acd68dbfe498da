package main

import (
	"os"
	"strings"
	"testing"

	"github.com/custody/custody/domain/corp"
)

// TestREADMECorpSettingsTable: the README's table of corp settings names
// every setting once, with WeCom's default as the code has it.
func TestREADMECorpSettingsTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Corp settings\n")
	if !ok {
		t.Fatal("README.md has no Corp settings section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 4 {
			continue
		}
		names := strings.Split(cells[1], ",")
		defs := strings.Split(cells[2], ",")
		if len(names) != len(defs) {
			t.Fatalf("row %q: %d names, %d defaults", line, len(names), len(defs))
		}
		for i, n := range names {
			documented[strings.Trim(n, " `")] = strings.Trim(defs[i], " `")
		}
	}
	for _, f := range corp.Fields {
		def, ok := documented[f.Name]
		if !ok {
			t.Errorf("README's Corp settings table lacks %s", f.Name)
			continue
		}
		if want := f.Get(corp.Defaults()); def != want {
			t.Errorf("README: %s defaults to %q, the code to %q", f.Name, def, want)
		}
		delete(documented, f.Name)
	}
	for n := range documented {
		t.Errorf("README's Corp settings table names %s, which is no setting", n)
	}
}
