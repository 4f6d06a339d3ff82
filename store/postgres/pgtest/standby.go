//go:build linux

package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StandbyName is the application name the standby of a Pair connects
// with, the one the primary's synchronous_standby_names names.
const StandbyName = "evote_standby"

// Pair is a primary PostgreSQL cluster with a synchronous streaming
// standby, both on this machine, made with Debian's cluster tools
// (pg_createcluster, pg_basebackup, pg_ctlcluster) as an operator would
// (docs/operator.md, "A synchronous standby"). The test must run as root;
// the clusters run as the postgres user, listen on 127.0.0.1 on free ports
// with trust authentication, and are dropped when the test ends, whatever
// its outcome. Without the tools (or not as root) NewPair skips the test,
// except under CI (CI=true), where it fails it.
type Pair struct {
	Version          string // PostgreSQL major version, e.g. "15"
	Primary, Standby Cluster

	killed int // the postmaster KillPrimary killed, 0 before
}

// Cluster is one of a Pair's clusters.
type Cluster struct {
	Name string
	Port int
	Data string // data directory
	Conf string // configuration directory
}

// NewPair creates, configures and starts the two clusters, and returns
// once the standby streams from the primary as its synchronous standby.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: cannot make PostgreSQL clusters under CI: "+format, args...)
		}
		t.Skipf("pgtest: cannot make PostgreSQL clusters: "+format, args...)
	}
	for _, tool := range []string{"pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "runuser"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		missing("the test does not run as root")
	}
	version, err := serverVersion()
	if err != nil {
		missing("%v", err)
	}
	var id [4]byte
	rand.Read(id[:])
	base := "evstby" + hex.EncodeToString(id[:])
	p := &Pair{Version: version}
	// Both at once: initdb is most of the time this takes.
	var errs [2]error
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Standby, errs[1] = p.create(t, base+"s")
	}()
	p.Primary, errs[0] = p.create(t, base+"p")
	<-done
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// The primary: streams its WAL and waits, at each commit, for the
	// standby to have flushed it.
	p.Primary.configure(t, fmt.Sprintf(`listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 4
synchronous_standby_names = '%s'
synchronous_commit = on
`, StandbyName))
	p.run(t, "pg_ctlcluster", "--skip-systemctl-redirect", version, p.Primary.Name, "start")

	p.makeStandby(t)
	return p
}

// makeStandby makes p.Standby a base backup of p.Primary following it,
// starts it and waits until the primary sees it as its streaming
// synchronous standby. Once promoted it has no standby of its own, so it
// does not wait for one (Rebuild gives it one).
func (p *Pair) makeStandby(t testing.TB) {
	t.Helper()
	olds, err := os.ReadDir(p.Standby.Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range olds { // the directory stays, the postgres user's
		if err := os.RemoveAll(filepath.Join(p.Standby.Data, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	p.run(t, "runuser", "-u", "postgres", "--", "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Primary.Port),
		"-U", "postgres", "-D", p.Standby.Data, "--wal-method=stream", "--checkpoint=fast")
	p.Standby.configure(t, fmt.Sprintf(`listen_addresses = '127.0.0.1'
primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'
synchronous_standby_names = ''
`, p.Primary.Port, StandbyName))
	p.run(t, "runuser", "-u", "postgres", "--", "touch", filepath.Join(p.Standby.Data, "standby.signal"))
	p.run(t, "pg_ctlcluster", "--skip-systemctl-redirect", p.Version, p.Standby.Name, "start")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		var state string
		err := p.query(ctx, p.Primary, `SELECT sync_state FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`, []any{StandbyName}, &state)
		if err == nil && state == "sync" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pgtest: the standby is not a streaming synchronous standby after a minute (%q, %v)", state, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Rebuild makes the killed old primary the synchronous standby of the
// promoted one, as the operator's guide says (step 5): a fresh base
// backup of the promoted server, following it; the promoted server's
// synchronous_standby_names then names it again and is reloaded. The
// roles in p are swapped: p.Primary is the promoted server.
func (p *Pair) Rebuild(t testing.TB) {
	t.Helper()
	p.Primary, p.Standby = p.Standby, p.Primary
	if p.killed != 0 {
		if err := clearCrashed(p.killed, socketDir, p.Standby.Port, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	p.Primary.configure(t, fmt.Sprintf(`listen_addresses = '127.0.0.1'
synchronous_standby_names = '%s'
synchronous_commit = on
`, StandbyName))
	p.run(t, "pg_ctlcluster", "--skip-systemctl-redirect", p.Version, p.Primary.Name, "reload")
	p.makeStandby(t)
}

// serverVersion returns the newest PostgreSQL major version whose server
// is installed under /usr/lib/postgresql.
func serverVersion() (string, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		return "", fmt.Errorf("no PostgreSQL server under /usr/lib/postgresql")
	}
	var vs []int
	for _, b := range bins {
		if v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b)))); err == nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return "", fmt.Errorf("no numbered PostgreSQL version under /usr/lib/postgresql")
	}
	sort.Ints(vs)
	return strconv.Itoa(vs[len(vs)-1]), nil
}

// create makes a stopped cluster on a free port with trust authentication
// on loopback, dropped when the test ends. (initdb does not sync its files:
// this machine does not crash during the test.)
func (p *Pair) create(t testing.TB, name string) (Cluster, error) {
	c := Cluster{Name: name, Data: filepath.Join("/var/lib/postgresql", p.Version, name), Conf: filepath.Join("/etc/postgresql", p.Version, name)}
	var err error
	if c.Port, err = freePort(); err != nil {
		return c, err
	}
	args := []string{"--port", strconv.Itoa(c.Port), "--start-conf", "manual", p.Version, name, "--", "--no-sync"}
	if out, err := exec.Command("pg_createcluster", args...).CombinedOutput(); err != nil {
		return c, fmt.Errorf("pgtest: pg_createcluster %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Cleanup(func() { p.drop(t, c) })
	hba := "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"
	return c, os.WriteFile(filepath.Join(c.Conf, "pg_hba.conf"), []byte(hba), 0o640)
}

// configure adds settings in the cluster's conf.d (Debian's
// postgresql.conf includes it).
func (c Cluster) configure(t testing.TB, settings string) {
	t.Helper()
	dir := filepath.Join(c.Conf, "conf.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "evote-standby.conf"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
}

// drop stops (if need be) and removes a cluster; a killed primary's
// leftover processes are killed first.
func (p *Pair) drop(t testing.TB, c Cluster) {
	if pid, err := c.postmasterPID(); err == nil && syscall.Kill(pid, 0) == nil {
		exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", p.Version, c.Name, "stop", "--mode=immediate").Run()
	}
	if out, err := exec.Command("pg_dropcluster", p.Version, c.Name).CombinedOutput(); err != nil {
		t.Logf("pgtest: pg_dropcluster %s: %v: %s; removing its directories", c.Name, err, out)
	}
	// pg_dropcluster leaves a configuration directory holding files it
	// did not make (conf.d/evote-standby.conf).
	os.RemoveAll(c.Data)
	os.RemoveAll(c.Conf)
}

func (p *Pair) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func (p *Pair) query(ctx context.Context, c Cluster, sql string, args []any, dest ...any) error {
	conn, err := pgx.Connect(ctx, c.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql, args...).Scan(dest...)
}

// DSN is the URL of one cluster's postgres database.
func (c Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", c.Port)
}

// DSN is what the ballot box is given: both hosts, of which it uses the
// one that accepts writes (pgx tries them in order), so that after a
// failover it reconnects to the promoted standby by itself; a host that
// does not answer is given up after 5 s.
func (p *Pair) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?target_session_attrs=read-write&connect_timeout=5", p.Primary.Port, p.Standby.Port)
}

func (c Cluster) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.Data, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// KillPrimary kills the primary's postmaster with SIGKILL, as a crash of
// its machine would stop it, and waits until it no longer accepts
// connections. Its backends notice their postmaster's death and exit.
func (p *Pair) KillPrimary(t testing.TB) {
	t.Helper()
	pid, err := p.Primary.postmasterPID()
	if err != nil {
		t.Fatalf("pgtest: primary's postmaster: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("pgtest: kill the primary: %v", err)
	}
	p.killed = pid
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.Primary.Port), time.Second)
		if err != nil {
			return
		}
		c.Close()
		if i > 100 {
			t.Fatal("pgtest: the killed primary still accepts connections")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopStandby stops the standby: the primary's commits then wait for it.
func (p *Pair) StopStandby(t testing.TB) {
	t.Helper()
	p.run(t, "pg_ctlcluster", "--skip-systemctl-redirect", p.Version, p.Standby.Name, "stop")
}

// Promote promotes the standby (pg_ctlcluster … promote, which waits
// until it accepts writes).
func (p *Pair) Promote(t testing.TB) {
	t.Helper()
	p.run(t, "pg_ctlcluster", "--skip-systemctl-redirect", p.Version, p.Standby.Name, "promote")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		var recovery bool
		if err := p.query(ctx, p.Standby, `SELECT pg_is_in_recovery()`, nil, &recovery); err == nil && !recovery {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("pgtest: the promoted standby still in recovery after a minute")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// socketDir is where Debian's clusters put their Unix sockets and the
// sockets' lock files.
const socketDir = "/var/run/postgresql"

// clearCrashed waits until the killed postmaster pid has exited, then
// removes the Unix socket and its lock file it left in dir for port, as the
// reboot of a crashed machine empties /run. A killed process stays a
// zombie until its parent (here the machine's init, the postmaster being
// a daemon) reaps it, which can take seconds, and PostgreSQL refuses to
// start while the lock file names a process that exists, zombie or not.
func clearCrashed(pid int, dir string, port int, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		state, err := procState(pid)
		if err != nil {
			return err
		}
		if state == 0 || state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: the killed postmaster %d still runs after %v (state %c)", pid, wait, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sock := filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", port))
	for _, f := range []string{sock + ".lock", sock} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("pgtest: remove the killed postmaster's %s: %v", f, err)
		}
	}
	return nil
}

// procState is the state letter of process pid (R, S, D, Z…), or 0 if
// there is no such process.
func procState(pid int) (byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pgtest: state of process %d: %v", pid, err)
	}
	// pid (comm) state …: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("pgtest: state of process %d: malformed %q", pid, b)
	}
	return b[i+2], nil
}
