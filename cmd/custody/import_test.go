package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody/custody/projections"
)

// TestImportCommand: custody import --sample writes a file, custody import
// imports it (the domain's refusals listed), a second run writes nothing,
// and the projector custody serve runs projects every imported relation.
func TestImportCommand(t *testing.T) {
	env := newCLIEnv(t, "custody", 3)
	ctx := context.Background()
	var sample bytes.Buffer
	if err := importCmd(ctx, []string{"--sample", "600"}, &sample, os.Stderr); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "acme.jsonl")
	sample.WriteString(`{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"s00001"}` + "\n") // joined already
	if err := os.WriteFile(path, sample.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rejects := filepath.Join(t.TempDir(), "rejects.txt")
	if err := importCmd(ctx, []string{"--corp", "acme", "--file", path, "--chunk", "250", "--rejects", rejects}, &out, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "imported 23601 records as 24200 events") {
		t.Errorf("output: %s", out.String())
	}
	if b, err := os.ReadFile(rejects); err != nil || string(b) != "line 23601: staff: already joined\n" {
		t.Errorf("rejects file: %q, %v", b, err)
	}
	out.Reset()
	if err := importCmd(ctx, []string{"--corp", "acme", "--file", path}, &out, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "imported already") {
		t.Errorf("second run: %s", out.String())
	}

	r, err := projections.NewRunner(env.pool, env.log.(projections.Source), projections.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var staff, active, groups int
	if err := env.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM projections.staff WHERE corp_id = 'acme'),
		(SELECT count(*) FROM projections.relations WHERE corp_id = 'acme' AND status = 'active'),
		(SELECT count(*) FROM projections.group_chats WHERE corp_id = 'acme')`).Scan(&staff, &active, &groups); err != nil {
		t.Fatal(err)
	}
	if staff != 1000 || active < 590 || active > 600 || groups != 1000 {
		t.Errorf("projected %d staff, %d active relations, %d groups", staff, active, groups)
	}
}

// TestImportCommandRefusesBadFlags: bad flags and bad files change nothing.
func TestImportCommandRefusesBadFlags(t *testing.T) {
	env := newCLIEnv(t, "custody", 3)
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"kind":"staff","at":"2025-01-01T00:00:00Z","staff_id":"a","Name":"x"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{},
		{"--corp", "acme"},
		{"--file", bad},
		{"--corp", "ac-me", "--file", bad},
		{"--corp", "acme", "--file", bad, "--chunk", "0"},
		{"--corp", "acme", "--file", bad, "extra"},
	} {
		if err := importCmd(ctx, args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	if err := importCmd(ctx, []string{"--corp", "acme", "--file", filepath.Join(t.TempDir(), "missing.jsonl")}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("missing file accepted")
	}
	// Not regular files: a directory and an endless device are refused
	// before anything is read.
	for _, path := range []string{t.TempDir(), "/dev/zero"} {
		err := importCmd(ctx, []string{"--corp", "acme", "--file", path}, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("--file %s: %v, want a refusal", path, err)
		}
	}
	err := importCmd(ctx, []string{"--corp", "acme", "--file", bad}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "line 1: ") || !strings.Contains(err.Error(), "unknown field Name") {
		t.Errorf("bad file: %v", err)
	}
	var n int
	if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d events after refusals (%v)", n, err)
	}
}
