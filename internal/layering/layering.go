// Package layering states custody's dependency rules and checks packages'
// imports against them. Its test runs the check over `go list` of the
// whole module (`make lint` runs it); see CONTRIBUTING.md for the layout
// the rules protect.
package layering

import (
	"fmt"
	"sort"
	"strings"
)

// Module is custody's module path.
const Module = "github.com/custody/custody"

// Package is one package and the packages its non-test files import.
type Package struct {
	ImportPath string
	Imports    []string
}

// Rule forbids packages matching From to import packages matching Forbid.
// Paths are relative to the module ("domain/customer"); imports from
// outside the module are never passed to Forbid.
type Rule struct {
	Name   string
	From   func(pkg string) bool
	Forbid func(imp string) bool
}

// under reports whether p is dir or a package below it.
func under(dir string) func(string) bool {
	return func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
}

func not(f func(string) bool) func(string) bool { return func(p string) bool { return !f(p) } }

func anyOf(fs ...func(string) bool) func(string) bool {
	return func(p string) bool {
		for _, f := range fs {
			if f(p) {
				return true
			}
		}
		return false
	}
}

func everything(string) bool { return true }

func is(path string) func(string) bool { return func(p string) bool { return p == path } }

// Rules are custody's layering rules. Test files are not checked: tests of
// projections and commands use the test kits under adapters/testkit and
// the in-memory log (adapters/eventlog/memlog).
var Rules = []Rule{
	{"domain imports only events and domain", under("domain"), not(anyOf(is("events"), under("domain")))},
	{"events imports nothing of custody", is("events"), everything},
	{"events/eventlog imports only events", is("events/eventlog"), not(is("events"))},
	{"commands imports no adapter and no projection", under("commands"), anyOf(under("adapters"), under("projections"))},
	{"projections imports no adapter", under("projections"), under("adapters")},
	{"event-log adapters import neither domain nor commands", under("adapters/eventlog"), anyOf(under("domain"), under("commands"))},
	{"nothing imports cmd", everything, under("cmd")},
}

// Violation is one import a rule forbids.
type Violation struct {
	Rule, Package, Import string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s imports %s: %s", v.Package, v.Import, v.Rule)
}

// Check returns every import of pkgs that a rule forbids, sorted.
func Check(rules []Rule, pkgs []Package) []Violation {
	var out []Violation
	for _, p := range pkgs {
		from, ok := inModule(p.ImportPath)
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			to, ok := inModule(imp)
			if !ok {
				continue
			}
			for _, r := range rules {
				if r.From(from) && r.Forbid(to) {
					out = append(out, Violation{Rule: r.Name, Package: from, Import: to})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// inModule returns path relative to Module, and whether it is in it.
func inModule(path string) (string, bool) {
	if path == Module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, Module+"/")
	return rel, ok
}
