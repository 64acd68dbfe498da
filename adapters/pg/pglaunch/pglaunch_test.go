package pglaunch_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/adapters/pg/pglaunch"
)

func TestStartKeepsDataAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")

	first, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	exec(t, first.URL(), "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	second, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	conn, err := pgx.Connect(ctx, second.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil {
		t.Fatal(err)
	}
	if x != 42 {
		t.Fatalf("got %d, want 42", x)
	}
}

func TestStartWithoutBinariesSaysHowToInstall(t *testing.T) {
	_, err := pglaunch.Start(context.Background(), pglaunch.Options{Dir: t.TempDir(), BinDir: t.TempDir()})
	if !errors.Is(err, pglaunch.ErrNoBinaries) {
		t.Fatalf("err = %v, want ErrNoBinaries", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	err := pglaunch.Options{Port: -1}.Validate()
	if err == nil {
		t.Fatal("want an error for missing dir and bad port")
	}
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func TestSecondStartSharesTheRunningServer(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")
	first, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop()
	second, err := pglaunch.Start(ctx, pglaunch.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.Port() != first.Port() {
		t.Fatalf("second start on port %d, want the running server's %d", second.Port(), first.Port())
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	// The sharer's Stop must leave the server running for its starter.
	exec(t, first.URL(), "SELECT 1")
}
