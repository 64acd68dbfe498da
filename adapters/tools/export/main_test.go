package export_test

import (
	"testing"

	"github.com/custody/custody/adapters/testkit/pgtest"
)

// TestMain gives the benchmarks a private PostgreSQL (started only when a
// benchmark asks for a database).
func TestMain(m *testing.M) { pgtest.Main(m) }
