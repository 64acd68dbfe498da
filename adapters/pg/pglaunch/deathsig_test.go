package pglaunch_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custody/custody/adapters/pg/pglaunch"
)

// In the child process of TestKilledParentLeavesNoServer: start an
// ephemeral server, say its postmaster's pid and port, and wait to be
// killed.
func init() {
	dir := os.Getenv("PGLAUNCH_TEST_CHILD_DIR")
	if dir == "" {
		return
	}
	in, err := pglaunch.Start(context.Background(), pglaunch.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	pid, _, _ := strings.Cut(string(b), "\n")
	fmt.Println("server", pid, in.Port())
	select {}
}

// TestKilledParentLeavesNoServer: a test binary killed with SIGKILL (no
// cleanup runs) takes its ephemeral server with it.
func TestKilledParentLeavesNoServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pg")
	child := osexec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "PGLAUNCH_TEST_CHILD_DIR="+dir)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		child.Process.Kill()
		t.Fatalf("child: %v", err)
	}
	var pid, port int
	if _, err := fmt.Sscanf(line, "server %d %d", &pid, &port); err != nil {
		child.Process.Kill()
		t.Fatalf("child said %q", line)
	}
	if !alive(pid) {
		t.Fatalf("postmaster %d not running while its parent lives", pid)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	// The postmaster gets SIGQUIT; wait (bounded by go test's -timeout)
	// until it and its port are gone.
	for alive(pid) || accepts(port) {
		time.Sleep(20 * time.Millisecond)
	}
}

// alive: pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func accepts(port int) bool {
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestOnlyBlockingAncestorsChange: as root, an ancestor of the data
// directory the server's user cannot search gets o+x and nothing else;
// one it can search is left as it was. As another user nothing changes.
func TestOnlyBlockingAncestorsChange(t *testing.T) {
	top := t.TempDir()
	closed := filepath.Join(top, "closed")  // owner and group only: blocks
	open := filepath.Join(closed, "open")   // searchable by others already
	groupOnly := filepath.Join(open, "grp") // owner and group only: blocks
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{closed, 0o750}, {open, 0o755}, {groupOnly, 0o770}} {
		if err := os.Mkdir(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(top, 0o700); err != nil {
		t.Fatal(err)
	}
	before := map[string]os.FileMode{}
	for _, d := range []string{top, closed, open, groupOnly} {
		before[d] = mode(t, d)
	}
	in, err := pglaunch.Start(context.Background(), pglaunch.Options{Dir: filepath.Join(groupOnly, "pg"), Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Stop(); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{}
	for d, m := range before {
		want[d] = m
	}
	if os.Geteuid() == 0 {
		// The postgres user is neither owner nor in root's group.
		want[top] = 0o701
		want[closed] = 0o751
		want[groupOnly] = 0o771
	}
	for d, w := range want {
		if got := mode(t, d); got != w {
			t.Errorf("%s: mode %v, want %v (was %v)", d, got, w, before[d])
		}
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
