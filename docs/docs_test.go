// Package docs holds the documentation's tests: every file a document
// names must be in the repository. (The DuckDB examples of analysts.md run
// in the module docs/duckdbtest.)
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// mdLink is a Markdown link's target.
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// pathLike is a file name or path with an extension of a file the
	// repository would hold, e.g. DESIGN.md, docs/schema.md, events/*.go.
	pathLike = regexp.MustCompile(`[A-Za-z0-9_.*/-]*[A-Za-z0-9_*]\.(md|go|sh|png|sql|mod)\b`)
)

// documents are the README, BENCHMARKS.md, CONTRIBUTING.md and every
// Markdown file under docs/.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md", "../BENCHMARKS.md", "../CONTRIBUTING.md"}, docs...)
}

// exists reports whether ref names a file or directory relative to the
// document's directory or to the repository root (a glob matches at least
// one file).
func exists(docDir, ref string) bool {
	for _, base := range []string{docDir, ".."} {
		if m, _ := filepath.Glob(filepath.Join(base, ref)); len(m) > 0 {
			return true
		}
	}
	return false
}

func TestDocumentsNameOnlyFilesTheRepositoryHas(t *testing.T) {
	for _, doc := range documents(t) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Dir(doc)
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				target, _, _ = strings.Cut(target, "#")
				if !exists(dir, target) {
					t.Errorf("%s:%d links to %s, which the repository does not contain", doc, i+1, m[1])
				}
			}
			for _, loc := range pathLike.FindAllStringIndex(line, -1) {
				ref := line[loc[0]:loc[1]]
				before := line[:loc[0]]
				if strings.HasSuffix(before, "://") || strings.HasSuffix(before, "/") || strings.Contains(ref, "://") ||
					strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") && !strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, ".ci") {
					continue // a URL, an absolute path on a server, or a file the user makes
				}
				if urlAround(line, loc[0]) || userFile(ref) {
					continue
				}
				if !exists(dir, ref) {
					t.Errorf("%s:%d names %s, which the repository does not contain", doc, i+1, ref)
				}
			}
		}
	}
}

// urlAround reports whether position i of line is inside a URL.
func urlAround(line string, i int) bool {
	start := strings.LastIndexAny(line[:i], " (`<\"'") + 1
	return strings.Contains(line[start:i], "://")
}

// userFile reports whether ref is a file the reader makes, not one of the
// repository's: the examples' outputs.
func userFile(ref string) bool {
	switch filepath.Base(ref) {
	case "x.go", "main.go":
		return !strings.Contains(ref, "/")
	}
	return false
}
