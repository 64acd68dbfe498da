package proccpu_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/custody/custody/internal/proccpu"
)

// A child shell runs a grandchild that burns CPU and exits, then waits:
// the grandchild's time, reaped by the child, is in the child's tree and
// among this process's descendants; this process's own time is not.
// Pids that are not processes read 0.
func TestTreeCountsReapedDescendants(t *testing.T) {
	done := filepath.Join(t.TempDir(), "done")
	burn := `i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done`
	cmd := exec.Command("sh", "-c", `sh -c '`+burn+`'; : > "$1"; sleep 60`, "sh", done)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for {
		if _, err := os.Stat(done); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tree := proccpu.Tree(cmd.Process.Pid)
	if tree < 50*time.Millisecond {
		t.Errorf("the child's tree used %v, want the grandchild's burn (≥ 50ms)", tree)
	}
	if d := proccpu.Descendants(os.Getpid()); d < tree {
		t.Errorf("this process's descendants used %v, less than one child's tree (%v)", d, tree)
	}
	if self := proccpu.Self(); self <= 0 {
		t.Errorf("Self = %v", self)
	}
	for _, pid := range []int{0, -1, 1 << 30} {
		if got := proccpu.Tree(pid); got != 0 {
			t.Errorf("Tree(%d) = %v, want 0", pid, got)
		}
	}
}
