package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// captureOutput runs f with os.Stdout and os.Stderr going to a file and
// returns what was written.
func captureOutput(t *testing.T, f func(stderr io.Writer) error) (string, error) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = out, out
	var buf bytes.Buffer
	ferr := func() error {
		defer func() { os.Stdout, os.Stderr = stdout, stderr }()
		return f(&buf)
	}()
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + buf.String(), ferr
}

// TestHelpOfEverySubcommand: `custody X -h`, `-help` and `--help` print
// X's usage and exit 0, for every subcommand; so do `custody -h` and
// `custody help`. Nothing is opened (no database is configured here, and
// the private server's directory would appear in the working directory).
func TestHelpOfEverySubcommand(t *testing.T) {
	t.Chdir(t.TempDir())
	table := subcommandTable()
	if len(table) < 10 {
		t.Fatalf("only %d subcommands listed", len(table))
	}
	for _, sc := range table {
		name := sc.name
		for _, h := range []string{"-h", "-help", "--help"} {
			t.Run(name+" "+h, func(t *testing.T) {
				out, err := captureOutput(t, func(stderr io.Writer) error {
					return run(context.Background(), []string{name, h}, stderr)
				})
				if code := exitCode(err); code != 0 {
					t.Fatalf("exit %d (err %v), want 0; output:\n%s", code, err, out)
				}
				if !strings.Contains(strings.ToLower(out), "usage") || !strings.Contains(out, name) {
					t.Fatalf("output does not show %s's usage:\n%s", name, out)
				}
			})
		}
	}
	if _, err := os.Stat(".data"); err == nil {
		t.Fatal("a help request created ./.data")
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		out, err := captureOutput(t, func(stderr io.Writer) error { return run(context.Background(), args, stderr) })
		if exitCode(err) != 0 || !strings.Contains(out, "commands:") {
			t.Fatalf("custody %v: exit %d, output %q", args, exitCode(err), out)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{{nil, 0}, {errUsage, 2}, {errors.New("boom"), 1}} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
	// A bare `custody` or an unknown action is a usage mistake.
	out, err := captureOutput(t, func(stderr io.Writer) error {
		return run(context.Background(), []string{"tokens", "frobnicate"}, stderr)
	})
	if exitCode(err) != 2 || !strings.Contains(out, `unknown action "frobnicate"`) {
		t.Fatalf("tokens frobnicate: exit %d, output %q", exitCode(err), out)
	}
}
