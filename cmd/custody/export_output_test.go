package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// TestWriteOutputNeverReplacesSpecialFiles: `--out /dev/null` once replaced
// the machine's /dev/null with a regular file. Devices and pipes are written
// through, directories refused, regular files replaced only on success.
func TestWriteOutputNeverReplacesSpecialFiles(t *testing.T) {
	t.Run("dev null stays a device", func(t *testing.T) {
		before, err := os.Stat(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeOutput(os.DevNull, writeString("exported\n")); err != nil {
			t.Fatalf("writeOutput(/dev/null): %v", err)
		}
		after, err := os.Stat(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		if after.Mode() != before.Mode() || after.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("/dev/null mode changed: %v -> %v", before.Mode(), after.Mode())
		}
	})

	t.Run("named pipe is written through", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "pipe")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			f, err := os.Open(fifo)
			if err != nil {
				got <- "open: " + err.Error()
				return
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			got <- string(b)
		}()
		if err := writeOutput(fifo, writeString("line 1\nline 2\n")); err != nil {
			t.Fatalf("writeOutput(fifo): %v", err)
		}
		if s := <-got; s != "line 1\nline 2\n" {
			t.Fatalf("reader got %q", s)
		}
		fi, err := os.Lstat(fifo)
		if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("pipe replaced: %v %v", fi, err)
		}
	})

	t.Run("directory refused", func(t *testing.T) {
		dir := t.TempDir()
		err := writeOutput(dir, writeString("x"))
		if !errors.Is(err, errUsage) {
			t.Fatalf("writeOutput(dir) = %v, want a usage error", err)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("directory touched: %v %v", fi, err)
		}
	})

	t.Run("regular file replaced only on success", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "events.jsonl")
		if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		if err := writeOutput(path, func(w io.Writer) error { io.WriteString(w, "partial"); return boom }); !errors.Is(err, boom) {
			t.Fatalf("failed write = %v", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "old\n" {
			t.Fatalf("failed export changed the file: %q", b)
		}
		if err := writeOutput(path, writeString("new\n")); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != "new\n" {
			t.Fatalf("file holds %q", b)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Fatalf("temporary files left: %v", entries)
		}
	})

	t.Run("symlink followed, link kept", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "real.jsonl")
		link := filepath.Join(dir, "link.jsonl")
		if err := os.WriteFile(target, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := writeOutput(link, writeString("via link\n")); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("link replaced: %v %v", fi, err)
		}
		if b, _ := os.ReadFile(target); string(b) != "via link\n" {
			t.Fatalf("target holds %q", b)
		}
	})
}
