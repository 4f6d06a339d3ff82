package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/term"
)

// A progress shows one phase's advance on a writer: on a terminal a line
// redrawn in place, elsewhere (a dumb terminal, a CI log) a plain line
// every few seconds; both give the count, the rate and the time left.
type progress struct {
	w     io.Writer
	tty   bool
	name  string
	total atomic.Int64
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// isTerminal reports whether w is a terminal that redraws a line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// startProgress starts showing a phase of total items (0: unknown).
func startProgress(w io.Writer, name string, total int64) *progress {
	p := &progress{w: w, tty: isTerminal(w), name: name, start: time.Now(), stop: make(chan struct{})}
	p.total.Store(total)
	every := 5 * time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.show(false)
			}
		}
	}()
	return p
}

// Add counts n more items done.
func (p *progress) Add(n int64) { p.done.Add(n) }

// set sets the items done and the total.
func (p *progress) set(done, total int64) {
	p.total.Store(total)
	p.done.Store(done)
}

// Finish stops the display and prints the phase's last line.
func (p *progress) Finish() {
	close(p.stop)
	p.wg.Wait()
	p.show(true)
}

func (p *progress) show(last bool) {
	done, total := p.done.Load(), p.total.Load()
	el := time.Since(p.start)
	rate := float64(done) / el.Seconds()
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s ", p.name)
	if total > 0 {
		frac := min(1, float64(done)/float64(total))
		const width = 30
		bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
		fmt.Fprintf(&b, "[%s] %d/%d %5.1f%%  %.0f/s", bar, done, total, 100*frac, rate)
		switch {
		case last:
			fmt.Fprintf(&b, "  done in %s", el.Round(100*time.Millisecond))
		case done > 0:
			eta := time.Duration(float64(total-done) / rate * float64(time.Second))
			fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
		}
	} else {
		fmt.Fprintf(&b, "%s elapsed", el.Round(time.Second))
		if last {
			b.WriteString(", done")
		}
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", b.String())
		if last {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, b.String())
}

// A phaseStat is what one phase of the bench cost.
type phaseStat struct {
	Name  string        `json:"name"`
	Items int64         `json:"items"` // ballots, credentials or rows handled (0: not counted)
	Wall  time.Duration `json:"wall_ns"`
	// CPU is this process's (user + system), from getrusage.
	CPU time.Duration `json:"cpu_ns"`
	// PeakRSS is this process's peak resident set in the phase (the
	// kernel's high-water mark, reset at the phase's start), in bytes.
	PeakRSS int64 `json:"peak_rss"`
	// ChildCPU and ChildRSS are the phase's child processes' (trustee
	// tools, verifier): CPU summed, the largest peak RSS.
	ChildCPU time.Duration `json:"child_cpu_ns"`
	ChildRSS int64         `json:"child_rss"`
	Children int           `json:"children"`
	// PGCPU is the CPU of the PostgreSQL backends serving this run,
	// sampled from /proc (-1: not measured).
	PGCPU time.Duration `json:"pg_cpu_ns"`
}

// A meter measures the bench's phases: wall time, this process's CPU and
// peak RSS, its children's, and the PostgreSQL backends'.
type meter struct {
	out    io.Writer // progress
	pg     *pgSampler
	phases []*phaseStat
	cur    *phaseStat
	t0     time.Time
	cpu0   time.Duration
	pg0    time.Duration
}

// begin starts a phase. The heap is returned to the kernel and the
// kernel's high-water mark of the resident set reset first, so the
// phase's peak is its own.
// A phase begun again (the bench casts in parts) adds to its figures.
func (m *meter) begin(name string) *phaseStat {
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	m.cur = nil
	for _, p := range m.phases {
		if p.Name == name {
			m.cur = p
		}
	}
	if m.cur == nil {
		m.cur = &phaseStat{Name: name, PGCPU: -1}
		m.phases = append(m.phases, m.cur)
	}
	m.t0, m.cpu0 = time.Now(), selfCPU()
	if m.pg != nil {
		m.pg0 = m.pg.sample()
	}
	return m.cur
}

// end closes the current phase.
func (m *meter) end() {
	p := m.cur
	p.Wall += time.Since(m.t0)
	p.CPU += selfCPU() - m.cpu0
	p.PeakRSS = max(p.PeakRSS, peakRSS())
	if m.pg != nil {
		p.PGCPU = max(p.PGCPU, 0) + m.pg.sample() - m.pg0
	}
	m.cur = nil
}

// child records a finished child process of the current phase: its CPU
// from the kernel, and its peak RSS as the child reported it (childPeak),
// or, if it did not, the kernel's figure, which may be the parent's.
func (m *meter) child(ps *os.ProcessState, peak int64) {
	if ps == nil || m.cur == nil {
		return
	}
	m.cur.Children++
	m.cur.ChildCPU += ps.UserTime() + ps.SystemTime()
	if peak == 0 {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			peak = int64(ru.Maxrss) * 1024
		}
	}
	m.cur.ChildRSS = max(m.cur.ChildRSS, peak)
}

// writeSummary prints the phases as a table.
func writeSummary(w io.Writer, phases []*phaseStat) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\titems\twall s\tevote CPU s\tevote peak RSS MB\tchild CPU s\tchild peak RSS MB\tPostgreSQL CPU s\t")
	var tot phaseStat
	for _, p := range phases {
		pg := "-"
		if p.PGCPU >= 0 {
			pg = fmt.Sprintf("%.1f", p.PGCPU.Seconds())
			tot.PGCPU += p.PGCPU
		}
		ccpu, crss := "-", "-"
		if p.Children > 0 {
			ccpu, crss = fmt.Sprintf("%.1f", p.ChildCPU.Seconds()), fmt.Sprintf("%d", p.ChildRSS>>20)
		}
		items := "-"
		if p.Items > 0 {
			items = strconv.FormatInt(p.Items, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%d\t%s\t%s\t%s\t\n", p.Name, items, p.Wall.Seconds(), p.CPU.Seconds(), p.PeakRSS>>20, ccpu, crss, pg)
		tot.Wall += p.Wall
		tot.CPU += p.CPU
		tot.ChildCPU += p.ChildCPU
		tot.PeakRSS = max(tot.PeakRSS, p.PeakRSS)
		tot.ChildRSS = max(tot.ChildRSS, p.ChildRSS)
	}
	pg := "-"
	if len(phases) > 0 && phases[0].PGCPU >= 0 {
		pg = fmt.Sprintf("%.1f", tot.PGCPU.Seconds())
	}
	fmt.Fprintf(tw, "total\t\t%.1f\t%.1f\t%d\t%.1f\t%d\t%s\t\n", tot.Wall.Seconds(), tot.CPU.Seconds(), tot.PeakRSS>>20, tot.ChildCPU.Seconds(), tot.ChildRSS>>20, pg)
	tw.Flush()
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's high-water mark of this process's
// resident set (Linux: "5" to /proc/self/clear_refs); where it cannot,
// peakRSS reports the peak since the process started.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is this process's resident-set high-water mark in bytes.
func peakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return int64(ru.Maxrss) * 1024
}

// A pgSampler sums the CPU of the PostgreSQL backends whose connections
// carry the run's application name, read from /proc (the server is on
// this machine). A backend's last reading is kept after it exits, so the
// sum only grows.
type pgSampler struct {
	dsn, app string
	mu       sync.Mutex
	conn     *pgx.Conn
	last     map[int]time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
}

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat's times
// (100 on every Linux this runs on).
const clockTick = 10 * time.Millisecond

func newPGSampler(ctx context.Context, dsn, app string) (*pgSampler, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	s := &pgSampler{dsn: dsn, app: app, conn: conn, last: map[int]time.Duration{}, stop: make(chan struct{})}
	// Backends are sampled every second too, so that one that exits
	// between phase boundaries is counted up to its last second.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s, nil
}

// sample reads every backend of the run and returns their CPU so far.
func (s *pgSampler) sample() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := s.conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, s.app)
	if err == nil {
		var pids []int
		for rows.Next() {
			var pid int
			if rows.Scan(&pid) == nil {
				pids = append(pids, pid)
			}
		}
		rows.Close()
		for _, pid := range pids {
			if t, ok := procCPU(pid); ok && t >= s.last[pid] {
				s.last[pid] = t
			}
		}
	}
	var sum time.Duration
	for _, t := range s.last {
		sum += t
	}
	return sum
}

func (s *pgSampler) Close() {
	close(s.stop)
	s.wg.Wait()
	s.conn.Close(context.Background())
}

// procCPU reads a process's user and system time from /proc/PID/stat.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces: the fields
	// counted from 3 start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * clockTick, true
}
