package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestPsqlPrivate: without DATABASE_URL, custody psql reaches the custody
// database of the private PostgreSQL as the postgres user, and passes its
// arguments to psql.
func TestPsqlPrivate(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("DATABASE_URL", "")
	var out, errOut bytes.Buffer
	saved := psqlStdio
	psqlStdio.in, psqlStdio.out, psqlStdio.err = strings.NewReader(""), &out, &errOut
	t.Cleanup(func() { psqlStdio = saved })
	err := runPsql(context.Background(), []string{"--", "-At", "-c", "SELECT current_database() || ' ' || current_user || ' ' || inet_server_addr()"})
	if err != nil {
		t.Fatalf("custody psql: %v (%s)", err, errOut.String())
	}
	if got, want := strings.TrimSpace(out.String()), "custody postgres 127.0.0.1/32"; got != want {
		t.Fatalf("custody psql answered %q, want %q", got, want)
	}
	if err := runPsql(context.Background(), []string{"--", "-c", "SELECT nonsense"}); err == nil || !strings.Contains(err.Error(), "status") {
		t.Fatalf("a failing psql gave %v, want its exit status", err)
	}
}
