// Package pgtest gives tests a fresh PostgreSQL database each: on the server
// named by TEST_DATABASE_URL when set, otherwise on a private
// server started once per test binary from the machine's PostgreSQL
// binaries (see pglaunch) in a temporary directory.
//
// The application's DATABASE_URL is never used: tests create and drop
// databases, which they must not do on the server custody itself runs on
// just because the variable is exported in the developer's shell.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/pg/pglaunch"
)

var (
	mainCalled bool
	once       sync.Once
	baseURL    string
	startErr   error
	instance   *pglaunch.Instance
	tempDir    string
)

// Main runs the tests and stops the private server afterwards.
func Main(m *testing.M) {
	mainCalled = true
	code := m.Run()
	if instance != nil {
		if err := instance.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	if tempDir != "" {
		os.RemoveAll(tempDir)
	}
	os.Exit(code)
}

// ServerURL is the URL of the server tests run on, starting the private one
// when needed.
func ServerURL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if v := serverFromEnv(); v != "" {
			baseURL = v
			return
		}
		if !mainCalled {
			startErr = fmt.Errorf("pgtest: call pgtest.Main(m) from TestMain so the private PostgreSQL is stopped")
			return
		}
		cleanAbandoned(os.TempDir())
		dir, err := os.MkdirTemp("", tempPrefix)
		if err != nil {
			startErr = err
			return
		}
		tempDir = dir
		// Who owns the directory: a later test binary removes it (and
		// stops its server) once this process is gone.
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			startErr = err
			return
		}
		// As root the server runs as the postgres user (pglaunch), which
		// must be able to search this directory; it is ours, so say so
		// here rather than have pglaunch change it.
		if err := os.Chmod(dir, 0o711); err != nil {
			startErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		instance, startErr = pglaunch.Start(ctx, pglaunch.Options{Dir: dir + "/data", Ephemeral: true})
		if startErr == nil {
			baseURL = instance.URL()
		}
	})
	if startErr != nil {
		t.Fatalf("pgtest: no PostgreSQL for tests: %v", startErr)
	}
	return baseURL
}

// tempPrefix names the temporary directories of private servers; each
// holds ownerFile, the pid of the test binary that made it.
const (
	tempPrefix = "custody-pgtest-"
	ownerFile  = "owner.pid"
)

// cleanAbandoned stops the servers and removes the directories of test
// binaries that died without cleaning up (killed, crashed, or
// interrupted before Main's end). On Linux a killed binary's server stops
// by itself (pglaunch: Pdeathsig); this also covers other systems and
// directories left behind. Problems are reported, never fatal.
func cleanAbandoned(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, tempPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = pglaunch.StopAbandoned(ctx, filepath.Join(dir, "data"), pglaunch.Options{Logger: slog.New(slog.DiscardHandler)})
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: abandoned server:", err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: remove abandoned directory:", err)
		}
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// serverFromEnv is the server tests are told to use: TEST_DATABASE_URL,
// and only it.
func serverFromEnv() string { return os.Getenv("TEST_DATABASE_URL") }

// NewDatabase creates a fresh, empty database and returns its URL. It is
// dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", redact(base), err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "custody_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: parse server URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewPool creates a fresh database and a pool connected to it; both go away
// when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), NewDatabase(t))
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
