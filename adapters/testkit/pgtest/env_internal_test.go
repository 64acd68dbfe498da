package pgtest

import "testing"

// TestApplicationDatabaseIsNotUsed: an exported DATABASE_URL (the
// application's) does not become the tests' server; TEST_DATABASE_URL does.
func TestApplicationDatabaseIsNotUsed(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://app@127.0.0.1:5432/production")
	t.Setenv("TEST_DATABASE_URL", "")
	if got := serverFromEnv(); got != "" {
		t.Fatalf("tests would run on %q, the application's database", got)
	}
	t.Setenv("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
	if got := serverFromEnv(); got != "postgres://postgres@127.0.0.1:5432/postgres" {
		t.Fatalf("TEST_DATABASE_URL not used: %q", got)
	}
}
