// Package pglaunch starts a private PostgreSQL server from the machine's
// PostgreSQL binaries, for `custody serve` without DATABASE_URL and for
// tests. The server listens on 127.0.0.1 only, on a free port, with trust
// authentication, and no Unix socket; it runs as the `postgres` OS user when
// the caller is root, because PostgreSQL refuses to run as root.
//
// As root, the data directory is created owned by that user, and any
// existing ancestor directory the user cannot search gets the one bit it
// needs — search (x) for others — and nothing else; each such change is
// logged. Directories it can already reach are left as they are.
//
// An Ephemeral server (tests) is the caller's child: on Linux it gets
// SIGQUIT (PostgreSQL's immediate shutdown) when the caller dies, even by
// SIGKILL, so a crashed test binary leaves no server running.
package pglaunch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// ErrNoBinaries is returned when no PostgreSQL server binaries are found.
var ErrNoBinaries = errors.New("pglaunch: no PostgreSQL server binaries found (need initdb, pg_ctl, postgres); install them (Debian: apt-get install postgresql) or set DATABASE_URL")

// Options configure Start.
type Options struct {
	// Dir is the data directory. It is created and initialised on first use
	// and reused afterwards.
	Dir string
	// BinDir holds initdb, pg_ctl and postgres; when set, only it is tried.
	// Default: $PG_BINDIR, then `pg_config --bindir`, then the newest
	// /usr/lib/postgresql/*/bin.
	BinDir string
	// Port to listen on; 0 picks a free one.
	Port int
	// RunAs is the OS user that owns and runs the server when the caller is
	// root. Default "postgres".
	RunAs string
	// Ephemeral trades durability for speed (fsync off) and ties the
	// server's life to the calling process (see the package comment): for
	// tests only.
	Ephemeral bool
	// Logger receives start/stop lines. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.RunAs == "" {
		o.RunAs = "postgres"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("pglaunch: Dir is required"))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("pglaunch: invalid port %d", o.Port))
	}
	return errors.Join(errs...)
}

// Instance is a running private server.
type Instance struct {
	// shared is true when Start found the server already running in Dir
	// (another custody process started it): Stop then leaves it running.
	shared bool
	dir    string
	bin    string
	port   int
	cred   *syscall.Credential
	logger *slog.Logger
	// exited is closed when a server started as our child (Ephemeral)
	// has exited and been reaped.
	exited chan struct{}
}

// Start initialises Dir if needed and starts the server, waiting until it
// accepts connections.
func Start(ctx context.Context, o Options) (*Instance, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	bin, err := findBinDir(o.BinDir)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("pglaunch: data dir: %w", err)
	}
	in := &Instance{dir: dir, bin: bin, logger: o.Logger}
	if os.Geteuid() == 0 {
		cred, uid, gid, err := lookupUser(o.RunAs)
		if err != nil {
			return nil, err
		}
		in.cred = cred
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("pglaunch: create data dir: %w", err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("pglaunch: chown data dir to %s: %w", o.RunAs, err)
		}
		if err := makeTraversable(filepath.Dir(dir), uid, gid, o.Logger); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pglaunch: create data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pglaunch: chmod data dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := in.run(ctx, "initdb", "-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
			return nil, fmt.Errorf("pglaunch: initdb: %w", err)
		}
	}
	if port, ok := runningPort(dir); ok {
		in.port, in.shared = port, true
		o.Logger.Info("private PostgreSQL already running; sharing it", "dir", dir, "port", port)
		return in, nil
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := o.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		in.port = port
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300", port)
		if o.Ephemeral {
			opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		}
		if o.Ephemeral {
			lastErr = in.startChild(ctx, opts)
		} else {
			lastErr = in.run(ctx, "pg_ctl", "-D", dir, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start")
		}
		if lastErr == nil {
			o.Logger.Info("private PostgreSQL started", "dir", dir, "port", port)
			return in, nil
		}
		if o.Port != 0 {
			break
		}
	}
	return nil, fmt.Errorf("pglaunch: start server (log in %s): %w", filepath.Join(dir, "server.log"), lastErr)
}

// URL is a connection string for the `postgres` database as the `postgres`
// superuser.
func (in *Instance) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", in.port)
}

// Port is the port the server listens on.
func (in *Instance) Port() int { return in.port }

// Stop shuts the server down (fast mode: open transactions roll back). A
// server this Instance shares with the process that started it is left
// running.
func (in *Instance) Stop() error {
	if in.shared {
		return nil
	}
	if err := in.run(context.Background(), "pg_ctl", "-D", in.dir, "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("pglaunch: stop: %w", err)
	}
	if in.exited != nil {
		<-in.exited
	}
	in.logger.Info("private PostgreSQL stopped", "dir", in.dir)
	return nil
}

func (in *Instance) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(in.bin, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = "/"
	if in.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: in.cred}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// runningPort reports the port of a server already running in dir: its
// postmaster.pid names a live process and the port accepts connections.
func runningPort(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, false
	}
	c.Close()
	return port, true
}

func findBinDir(explicit string) (string, error) {
	var candidates []string
	if explicit != "" {
		candidates = append(candidates, explicit)
	} else if env := os.Getenv("PG_BINDIR"); env != "" {
		candidates = append(candidates, env)
	}
	if explicit == "" {
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			candidates = append(candidates, strings.TrimSpace(string(out)))
		}
		globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(globbed, func(i, j int) bool { return versionOf(globbed[i]) > versionOf(globbed[j]) })
		candidates = append(candidates, globbed...)
	}
	for _, c := range candidates {
		ok := true
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if _, err := os.Stat(filepath.Join(c, b)); err != nil {
				ok = false
				break
			}
		}
		if ok {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w (looked in %s)", ErrNoBinaries, strings.Join(candidates, ", "))
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func lookupUser(name string) (*syscall.Credential, int, int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("pglaunch: running as root needs the %q OS user to run PostgreSQL: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// makeTraversable lets the server's user (uid, gid) reach a data dir under
// dir: every ancestor that user cannot search gets o+x — search only, not
// read — and the change is logged. Ancestors it can search (as owner,
// group or other) are not touched.
func makeTraversable(dir string, uid, gid int, logger *slog.Logger) error {
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pglaunch: %w", err)
		}
		if canSearch(fi, uid, gid) {
			continue
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
			return fmt.Errorf("pglaunch: let the server's user search %s (o+x): %w", d, err)
		}
		logger.Warn("pglaunch: added o+x (search only) so the server's OS user can reach its data directory", "dir", d)
	}
	return nil
}

// canSearch reports whether the user uid (primary group gid) may search
// the directory fi by its mode bits.
func canSearch(fi os.FileInfo, uid, gid int) bool {
	perm := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return perm&0o001 != 0
	}
	switch {
	case int(st.Uid) == uid:
		return perm&0o100 != 0
	case int(st.Gid) == gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pglaunch: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StopAbandoned stops the server running in data directory dir, if any
// (immediate mode: it is abandoned, nothing of it is kept), for cleaning up
// after a process that died without stopping its server.
func StopAbandoned(ctx context.Context, dir string, o Options) error {
	o.Dir = dir
	o.setDefaults()
	if _, ok := runningPort(dir); !ok {
		return nil
	}
	bin, err := findBinDir(o.BinDir)
	if err != nil {
		return err
	}
	in := &Instance{dir: dir, bin: bin, logger: o.Logger}
	if os.Geteuid() == 0 {
		if in.cred, _, _, err = lookupUser(o.RunAs); err != nil {
			return err
		}
	}
	if err := in.run(ctx, "pg_ctl", "-D", dir, "-m", "immediate", "-w", "stop"); err != nil {
		return fmt.Errorf("pglaunch: stop the abandoned server in %s: %w", dir, err)
	}
	o.Logger.Info("stopped an abandoned private PostgreSQL", "dir", dir)
	return nil
}
