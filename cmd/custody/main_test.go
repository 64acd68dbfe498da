package main

import (
	"testing"

	"github.com/custody/custody/adapters/testkit/pgtest"
)

// TestMain stops the private PostgreSQL that pgtest starts for the tests
// that ask it for a database (TEST_DATABASE_URL names a server instead).
func TestMain(m *testing.M) { pgtest.Main(m) }
