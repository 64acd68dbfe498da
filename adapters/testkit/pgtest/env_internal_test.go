package pgtest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/custody/custody/adapters/pg/pglaunch"
)

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

// TestAbandonedServersAreCleanedUp: a directory whose owner process is
// gone has its server stopped and is removed; one whose owner lives is
// left alone.
func TestAbandonedServersAreCleanedUp(t *testing.T) {
	tmp := t.TempDir()
	if err := os.Chmod(tmp, 0o711); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	abandoned := filepath.Join(tmp, tempPrefix+"abandoned")
	kept := filepath.Join(tmp, tempPrefix+"kept")
	for dir, owner := range map[string]int{abandoned: dead.ProcessState.Pid(), kept: os.Getpid()} {
		if err := os.Mkdir(dir, 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(owner)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A server as a crashed binary leaves it: started, never stopped (not
	// Ephemeral: not tied to this process).
	in, err := pglaunch.Start(context.Background(), pglaunch.Options{Dir: filepath.Join(abandoned, "data"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pglaunch.StopAbandoned(context.Background(), filepath.Join(abandoned, "data"), pglaunch.Options{})
	})
	cleanAbandoned(tmp)
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(in.Port()))); err == nil {
		c.Close()
		t.Fatal("the abandoned server still accepts connections")
	}
	if _, err := os.Stat(abandoned); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("abandoned directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(kept, ownerFile)); err != nil {
		t.Fatalf("a live owner's directory was touched: %v", err)
	}
}
