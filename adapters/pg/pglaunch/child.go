package pglaunch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startChild runs postgres itself (not pg_ctl, whose server outlives it)
// as a child of this process that receives SIGQUIT when the thread that
// started it ends. The thread is locked by a goroutine that waits for the
// server for its whole life, so the thread ends only with the process —
// or after the server has exited. It returns once the server accepts
// connections.
func (in *Instance) startChild(ctx context.Context, opts string) error {
	logf, err := os.OpenFile(filepath.Join(in.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	if in.cred != nil {
		_ = logf.Chown(int(in.cred.Uid), int(in.cred.Gid))
	}
	args := append([]string{"-D", in.dir}, strings.Fields(strings.ReplaceAll(opts, "unix_socket_directories=''", "unix_socket_directories="))...)
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// Never unlocked: the goroutine's end ends the thread, and that
		// must happen only once the server is gone.
		runtime.LockOSThread()
		defer close(exited)
		defer logf.Close()
		cmd := exec.Command(filepath.Join(in.bin, "postgres"), args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT, Setpgid: true}
		if in.cred != nil {
			cmd.SysProcAttr.Credential = in.cred
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for {
		if ready(in.dir, in.port) {
			in.exited = exited
			return nil
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(in.dir, "server.log"))
			return fmt.Errorf("postgres exited: %s", lastLines(string(b), 5))
		case <-ctx.Done():
			return errors.Join(ctx.Err(), in.run(context.Background(), "pg_ctl", "-D", in.dir, "-m", "immediate", "-w", "stop"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ready: the postmaster.pid of dir says "ready" and port accepts.
func ready(dir string, port int) bool {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 || strings.TrimSpace(lines[7]) != "ready" || strings.TrimSpace(lines[3]) != strconv.Itoa(port) {
		return false
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
