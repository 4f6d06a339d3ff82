// Package cpustat measures CPU time for benchmarks, which report per-item
// CPU as a ratio to a scalar multiplication (SM) measured in the same run
// rather than wall time, because the machine they run on is shared: the
// process's and the calling thread's CPU time, the CPU time of the
// PostgreSQL backends serving this process, the cost of one SM, and the
// CPU of a pprof profile attributed to named components (profile.go).
package cpustat

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"evote/crypto/group"
)

// Process is the process's user and system CPU time so far.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Thread is the calling thread's CPU time so far.
func Thread() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ScalarMult is the CPU time of one variable-base scalar multiplication,
// the unit the crypto benchmarks report in, measured now on one thread.
func ScalarMult() time.Duration {
	const n = 400
	s, p := group.RandomScalar(), group.NewGeneratorElement()
	var q group.Element
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := Thread()
	for range n {
		q.ScalarMult(s, p)
	}
	return (Thread() - t0) / n
}

// PostgresBackends returns the CPU time so far of each PostgreSQL backend
// serving one of this process's connections to a server on port 5432, by
// pid: the process's TCP sockets (its /proc/self/fd) give their local
// ports, and a backend's process title names its client's address and
// port. nil if /proc cannot tell (another system, another network
// namespace). Connections opened after the call are not in its answer:
// sum the difference of two calls over the pids of the second, counting a
// pid new in the second from zero.
func PostgresBackends() map[int]time.Duration {
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	ports := map[string]bool{}
	for _, tbl := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		raw, err := os.ReadFile(tbl)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] || !strings.HasSuffix(f[2], ":1538") { // remote port 5432
				continue
			}
			if i := strings.LastIndexByte(f[1], ':'); i >= 0 {
				if p, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil {
					ports[fmt.Sprintf("(%d)", p)] = true
				}
			}
		}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil || len(ports) == 0 {
		return nil
	}
	out := map[int]time.Duration{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		title, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if err != nil || !bytes.HasPrefix(title, []byte("postgres: ")) {
			continue
		}
		i := bytes.IndexByte(title, '(')
		j := bytes.IndexByte(title, ')')
		if i < 0 || j < i || !ports[string(title[i:j+1])] {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: utime and stime
		// are the 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

// Since sums, over the backends of now, their CPU time since then (a
// backend absent from then counts from zero).
func Since(then, now map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, c := range now {
		d += c - then[pid]
	}
	return d
}
