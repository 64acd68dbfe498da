package httpapi

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateAPIDoc = flag.Bool("update-apidoc", false, "rewrite docs/api.md from the route table")

// TestAPIDocIsCurrent keeps docs/api.md equal to the route table.
func TestAPIDocIsCurrent(t *testing.T) {
	path := filepath.Join("..", "..", "..", "docs", "api.md")
	want := APIMarkdown()
	if *updateAPIDoc {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./adapters/driving/httpapi -run APIDoc -update-apidoc)", err)
	}
	if string(got) != want {
		t.Fatal("docs/api.md is stale: run go test ./adapters/driving/httpapi -run APIDoc -update-apidoc")
	}
}
