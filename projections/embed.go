package projections

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed sql
var sqlFS embed.FS

// migrations returns the ordered SQL steps in sql/<name>/*.sql. The files
// are numbered (001_init.sql, 002_...); a released file is never edited.
func migrations(name string) []string {
	dir := "sql/" + name
	entries, err := fs.ReadDir(sqlFS, dir)
	if err != nil {
		panic(fmt.Sprintf("projections: migrations of %s: %v", name, err))
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	sort.Strings(files)
	out := make([]string, 0, len(files))
	for _, f := range files {
		b, err := fs.ReadFile(sqlFS, dir+"/"+f)
		if err != nil {
			panic(fmt.Sprintf("projections: migration %s/%s: %v", name, f, err))
		}
		out = append(out, string(b))
	}
	return out
}

// readIndexesMarker starts the part of a migration holding indexes that
// only readers use. A rebuild applies that part after loading the shadow
// tables, so that the load does not maintain them row by row; statements
// there must be idempotent (IF NOT EXISTS) and touch only those indexes.
const readIndexesMarker = "-- +read-indexes"

// splitReadIndexes splits a migration at readIndexesMarker.
func splitReadIndexes(sql string) (load, read string) {
	i := strings.Index(sql, readIndexesMarker)
	if i < 0 {
		return sql, ""
	}
	return sql[:i], sql[i:]
}
