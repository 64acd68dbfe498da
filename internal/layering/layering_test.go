package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestModuleFollowsTheRules checks every package of the module (`go list`
// of the real tree) against Rules.
func TestModuleFollowsTheRules(t *testing.T) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Error", Module+"/...")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Package
			Error *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Fatalf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p.Package)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; is the test running inside the module?", len(pkgs))
	}
	for _, v := range Check(Rules, pkgs) {
		t.Errorf("layering: %s", v)
	}
}

// TestCheckCatchesBadEdges: each rule reports an import it forbids, and
// allows the imports the layout relies on.
func TestCheckCatchesBadEdges(t *testing.T) {
	m := func(p string) string { return Module + "/" + p }
	for _, c := range []struct {
		from, imp string
		rule      string // "" for allowed
	}{
		{"domain/customer", "commands", "domain imports only events and domain"},
		{"domain/customer", "events/eventlog", "domain imports only events and domain"},
		{"domain/customer", "internal/pgmigrate", "domain imports only events and domain"},
		{"domain/customer", "domain/staff", ""},
		{"domain/customer", "events", ""},
		{"events", "domain/corp", "events imports nothing of custody"},
		{"events", "events/eventlog", "events imports nothing of custody"},
		{"events/eventlog", "domain/corp", "events/eventlog imports only events"},
		{"events/eventlog", "events", ""},
		{"commands", "projections", "commands imports no adapter and no projection"},
		{"commands", "adapters/eventlog/pgstore", "commands imports no adapter and no projection"},
		{"commands", "events/eventlog", ""},
		{"commands", "domain/customer", ""},
		{"projections", "adapters/eventlog/memlog", "projections imports no adapter"},
		{"projections/pending", "adapters/pg/pgcheckpoint", "projections imports no adapter"},
		{"projections/pending", "commands", ""},
		{"projections", "internal/pgmigrate", ""},
		{"adapters/eventlog/pgstore", "domain/customer", "event-log adapters import neither domain nor commands"},
		{"adapters/eventlog/kurrent", "commands", "event-log adapters import neither domain nor commands"},
		{"adapters/eventlog/pgstore", "adapters/eventlog/pii", ""},
		{"adapters/driving/httpapi", "cmd/custody", "nothing imports cmd"},
		{"adapters/driving/httpapi", "commands", ""},
		{"cmd/custody", "adapters/driving/httpapi", ""},
	} {
		vs := Check(Rules, []Package{{ImportPath: m(c.from), Imports: []string{m(c.imp), "context", "github.com/jackc/pgx/v5"}}})
		var got []string
		for _, v := range vs {
			got = append(got, v.Rule)
		}
		if want := c.rule; (want == "" && len(got) != 0) || (want != "" && (len(got) != 1 || got[0] != want)) {
			t.Errorf("%s -> %s: violations %q, want %q", c.from, c.imp, strings.Join(got, "; "), want)
		}
	}
	// Packages outside the module are not judged.
	if vs := Check(Rules, []Package{{ImportPath: "example.com/x", Imports: []string{m("cmd/custody")}}}); len(vs) != 0 {
		t.Errorf("outside package judged: %v", vs)
	}
}
