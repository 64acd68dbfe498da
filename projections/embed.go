package projections

import (
	"embed"
	"fmt"
	"strings"

	"github.com/custody/custody/internal/pgmigrate"
)

// sqlFS holds the migrations: sql/NNNN_*.sql are the package's own tables
// (checkpoints, parked corps), sql/<projection>/NNN_*.sql each projection's
// (see Migrations in migrate.go).
//
//go:embed sql
var sqlFS embed.FS

// projectionFiles returns the migration files of sql/<name>, in version
// order, checked by pgmigrate (versions 1, 2, … without gaps).
func projectionFiles(name string) ([]pgmigrate.Migration, error) {
	return pgmigrate.Load(sqlFS, "sql/"+name)
}

// migrations returns the ordered SQL steps in sql/<name>/*.sql (a
// projection's Migrations). A released file is never edited.
func migrations(name string) []string {
	files, err := projectionFiles(name)
	if err != nil {
		panic(fmt.Sprintf("projections: migrations of %s: %v", name, err))
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.SQL
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
