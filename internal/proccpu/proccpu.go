// Package proccpu reads the CPU time processes have used, for benchmarks
// that report CPU beside wall time (CPU time moves less with a shared
// machine's load than wall time does): this process's, and a process
// tree's from Linux's /proc — the PostgreSQL server a benchmark started,
// postmaster and backends. Where /proc cannot be read the trees read 0.
package proccpu

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Self is the CPU time (user and system) this process has used.
func Self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Tree is the CPU time used by process pid and its descendants: each live
// one's own, and what each has reaped of its exited children. 0 when pid
// is 0 or not found.
func Tree(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	procs := all()
	if _, ok := procs[pid]; !ok {
		return 0
	}
	return procs.tree(pid)
}

// Descendants is the time of the trees of pid's live children (Tree less
// pid's own and reaped time): e.g. of this process, the servers it
// started.
func Descendants(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	procs := all()
	var total time.Duration
	for child, p := range procs {
		if p.ppid == pid {
			total += procs.tree(child)
		}
	}
	return total
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

type proc struct {
	ppid int
	// reaped is the time of the exited children the process waited for.
	reaped time.Duration
}

type table map[int]proc

// tree sums pid's and its descendants' time.
func (t table) tree(pid int) time.Duration {
	total := own(pid) + t[pid].reaped
	for child, p := range t {
		if p.ppid == pid && child != pid {
			total += t.tree(child)
		}
	}
	return total
}

// own is the time on CPU of the live process pid: the sum over its
// threads of /proc/<pid>/task/<tid>/schedstat's first field, in
// nanoseconds (utime and stime count in clock ticks, which would round a
// short benchmark's backends to nothing). Threads that exited are not
// counted: PostgreSQL's processes have one, Go's keep theirs.
func own(pid int) time.Duration {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(dir + task.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

// all reads every process's /proc/<pid>/stat: fields after the command
// (which may hold spaces and parentheses) in parentheses, proc(5) field 4
// ppid, 16 and 17 cutime and cstime in clock ticks.
func all() table {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	t := table{}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 > len(s) {
			continue
		}
		f := strings.Fields(s[i+2:]) // from field 3, state
		if len(f) < 15 {
			continue
		}
		n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
		ticks := func(v int64) time.Duration { return time.Duration(v) * time.Second / clockTicks }
		t[pid] = proc{ppid: int(n(1)), reaped: ticks(n(13) + n(14))}
	}
	return t
}
