package pgmigrate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/custody/custody/internal/pgmigrate"
)

// TestContributingExample: the component declaration CONTRIBUTING.md
// shows is valid Go, uses only fields Component has, and its Dir holds
// migrations Load accepts when laid out as the page says.
func TestContributingExample(t *testing.T) {
	b, err := os.ReadFile("../../CONTRIBUTING.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "```go\n")
	if start < 0 {
		t.Fatal("CONTRIBUTING.md has no Go example")
	}
	code, _, ok := strings.Cut(doc[start+len("```go\n"):], "```")
	if !ok {
		t.Fatal("unterminated Go example")
	}
	// The example is indented under a list item.
	var lines []string
	for _, l := range strings.Split(code, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "   "))
	}
	src := "package example\n" + strings.Join(lines, "\n")
	f, err := parser.ParseFile(token.NewFileSet(), "example.go", src, parser.ParseComments)
	if err != nil {
		t.Fatalf("CONTRIBUTING.md's example does not parse: %v\n%s", err, src)
	}
	typ := reflect.TypeOf(pgmigrate.Component{})
	var dir, embed string
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		if sel, ok := cl.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Component" {
			return true
		}
		found = true
		for _, e := range cl.Elts {
			kv := e.(*ast.KeyValueExpr)
			key := kv.Key.(*ast.Ident).Name
			if _, ok := typ.FieldByName(key); !ok {
				t.Errorf("the example sets Component.%s, which does not exist", key)
			}
			if lit, ok := kv.Value.(*ast.BasicLit); ok && key == "Dir" {
				dir = strings.Trim(lit.Value, `"`)
			}
		}
		return true
	})
	for _, c := range f.Comments {
		for _, l := range c.List {
			if p, ok := strings.CutPrefix(l.Text, "//go:embed "); ok {
				embed = p
			}
		}
	}
	if !found || dir == "" || (embed != dir && embed != dir+"/*.sql") {
		t.Fatalf("example: component found %v, Dir %q, go:embed %q; want Dir matching the embed pattern", found, dir, embed)
	}
	// Files named as the page says load in version order.
	ms, err := pgmigrate.Load(fstest.MapFS{
		dir + "/0001_create.sql": {Data: []byte("SELECT 1")},
		dir + "/0002_what.sql":   {Data: []byte("SELECT 2")},
	}, dir)
	if err != nil || len(ms) != 2 || ms[1].Name != "0002_what.sql" {
		t.Fatalf("loading files named as CONTRIBUTING.md says: %v, %v", ms, err)
	}
}
