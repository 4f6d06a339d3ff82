package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/client"
	"evote/official"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/verify"
)

// TestEvotedInstanceHelper is one evoted instance of
// TestInstancesBehindHAProxy, run in a child process (this test binary
// re-executed): evoted's own run, configured by the environment.
func TestEvotedInstanceHelper(t *testing.T) {
	if os.Getenv("EVOTE_INSTANCE_HELPER") != "1" {
		t.Skip("run by TestInstancesBehindHAProxy")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, nil, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "evoted:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// instance is a running evoted child process.
type instance struct {
	name string
	addr string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProcess starts a child whose output is kept, and stops it (by its
// process id) when the test ends.
func startProcess(t *testing.T, name string, cmd *exec.Cmd) *instance {
	t.Helper()
	in := &instance{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = in.out, in.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		select {
		case <-in.done:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-in.done
		}
	})
	return in
}

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, in *instance, url string) {
	t.Helper()
	for range 600 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-in.done:
			t.Fatalf("%s stopped:\n%s", in.name, in.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s not ready at %s:\n%s", in.name, url, in.out)
}

// multiVoters is the number of voters of TestInstancesBehindHAProxy:
// small under CI, EVOTE_MULTI_VOTERS for more.
func multiVoters(t *testing.T) int {
	if v := os.Getenv("EVOTE_MULTI_VOTERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			t.Fatalf("EVOTE_MULTI_VOTERS=%q: want a number ≥ 10", v)
		}
		return n
	}
	if testing.Short() {
		return 60
	}
	return 240
}

// TestInstancesBehindHAProxy is issue 15's acceptance test of several
// instances: three evoted processes on loopback on one PostgreSQL schema,
// behind HAProxy (Debian's package, configured as docs/operator.md says),
// take concurrent casts from many voters through HAProxy; one instance is
// killed with SIGKILL mid-load and the others go on. A voter whose request
// fails (the killed instance's connections) retries, as the voting page
// does, through HAProxy. At the end: every acknowledged ballot is on the
// board at its receipt's position (none lost), every voter has exactly one
// ballot (no duplicate), the survivors are healthy and a fresh replay of
// the board through the rules gives their state (no rule violated); then
// the election is closed and tallied and the record, fetched through
// HAProxy, verifies with the auditor's verifier.
func TestInstancesBehindHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy is not installed under CI (.ci/install installs it)")
		}
		t.Skip("haproxy is not installed (apt-get install haproxy)")
	}
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	pg, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	db := stdlib.OpenDBFromPool(pg.Pool())
	t.Cleanup(func() { db.Close() })
	dir := t.TempDir()
	e := startElection(t, pg, db, official.Postgres, filepath.Join(dir, "witnesses"))
	f := e.f
	t.Cleanup(func() { f.Registry.Close() })

	// The witnesses, reached by the instances over HTTP: the fixture's own,
	// so that every instance and the fixture's box advance one state each.
	cosigners, err := f.Cosigners()
	if err != nil {
		t.Fatal(err)
	}
	var witnesses []string
	for i, c := range cosigners {
		lw, ok := c.(*ballotbox.LocalWitness)
		if !ok {
			t.Fatalf("witness %d is a %T", i, c)
		}
		hs := httptest.NewServer(lw.W.Handler())
		t.Cleanup(hs.Close)
		k := lw.Key()
		witnesses = append(witnesses, k.Name+"|"+hs.URL+"|"+hex.EncodeToString(k.Public[:]))
	}

	// Three instances with the same keys and configuration, one database.
	sk := f.Server
	env := []string{
		"EVOTE_INSTANCE_HELPER=1",
		"EVOTE_DB=" + dsn,
		"EVOTE_ORIGIN_PREFIX=evote.test/board",
		"EVOTE_AUTHORITY_KEY=" + hex.EncodeToString(sk.Authority.Seed()),
		"EVOTE_LOG_KEY=" + hex.EncodeToString(sk.LogEd.Seed()),
		"EVOTE_IDENTITY_KEY=" + hex.EncodeToString(f.Identity.Public().(ed25519.PublicKey)),
		"EVOTE_AUDIENCE=" + boxtest.Audience,
		"EVOTE_WITNESSES=" + strings.Join(witnesses, ","),
		"EVOTE_ADMIN_USER=admin",
		"EVOTE_ADMIN_PASSWORD=a long admin password for the test",
		"EVOTE_ADMIN_TOTP=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
	}
	var insts []*instance
	for i := range 3 {
		addr := freeAddr(t)
		cmd := exec.Command(os.Args[0], "-test.run=^TestEvotedInstanceHelper$", "-test.count=1")
		cmd.Env = append(append(os.Environ(), env...), "EVOTE_LISTEN="+addr, "EVOTE_DATA="+filepath.Join(dir, fmt.Sprintf("evoted-%d", i+1)))
		in := startProcess(t, fmt.Sprintf("evoted-%d", i+1), cmd)
		in.addr = addr
		// One after the other: the first creates the bootstrap admin.
		waitHTTP(t, in, "http://"+addr+"/readyz")
		insts = append(insts, in)
	}

	// HAProxy in front of them, with the operator's guide configuration.
	front := freeAddr(t)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(haproxyConfig(front, []string{insts[0].addr, insts[1].addr, insts[2].addr})), 0o600); err != nil {
		t.Fatal(err)
	}
	hp := startProcess(t, "haproxy", exec.Command(haproxy, "-db", "-f", cfgPath))
	base := "http://" + front
	waitHTTP(t, hp, base+"/readyz")

	// The voters: a credential and a ballot each, prepared beforehand.
	n := multiVoters(t)
	vbs, err := f.PrepareVoters(ctx, n)
	if err != nil {
		t.Fatal(err)
	}

	// The load: concurrent voters through HAProxy; instance 2 is killed
	// once a third of them are acknowledged.
	type ack struct {
		r        *client.Receipt
		attempts int
		err      error
	}
	acks := make([]ack, n)
	var acked atomic.Int64
	killAt := int64(n / 3)
	killed := make(chan struct{})
	var killOnce sync.Once
	cl := client.New(base)
	cl.HTTP = &http.Client{Timeout: 2 * time.Minute}
	var next atomic.Int64
	var wg sync.WaitGroup
	survivors := []*instance{insts[0], insts[2]}
	cpuBefore := childrenCPU(survivors)
	began := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				vb := vbs[i]
				var a ack
				for a.attempts = 1; a.attempts <= 30; a.attempts++ {
					a.r, a.err = cl.Cast(ctx, f.ElectionID, vb.Voter.Token, vb.Entry)
					if a.err == nil || !retryable(a.err) {
						break
					}
					time.Sleep(time.Duration(a.attempts) * 20 * time.Millisecond)
				}
				acks[i] = a
				if a.err == nil && acked.Add(1) == killAt {
					killOnce.Do(func() {
						insts[1].cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(began)
	select {
	case <-killed:
	default:
		t.Fatal("the load ended before the kill")
	}
	<-insts[1].done
	cpuAfter := childrenCPU(survivors)
	retried := 0
	for i, a := range acks {
		if a.err != nil {
			t.Fatalf("voter %d: not acknowledged after %d attempts: %v", i, a.attempts, a.err)
		}
		if a.attempts > 1 {
			retried++
		}
	}
	t.Logf("%d ballots through HAProxy to 3 instances (one killed after %d): %v wall, %d voters retried; survivors' CPU %.1f ms/ballot",
		n, killAt, wall.Round(time.Millisecond), retried, float64(cpuAfter-cpuBefore)/float64(time.Millisecond)/float64(n))

	// None lost, no duplicate: the fixture's box (another instance) sees
	// every acknowledged ballot at its receipt's position, and exactly one
	// ballot per voter.
	box := f.Box
	if err := box.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, a := range acks {
		want := vbs[i].Entry.Hash()
		if base64.RawURLEncoding.EncodeToString(want[:]) != a.r.EntryHash {
			t.Fatalf("voter %d: receipt for entry %s, cast %x", i, a.r.EntryHash, want)
		}
		if at, ok := box.Log().IndexOf(want); !ok || at != a.r.Index {
			t.Fatalf("voter %d: acknowledged ballot at %d is not on the board there (found %v at %d)", i, a.r.Index, ok, at)
		}
		ve, _ := box.Voter(vbs[i].Voter.Pseudonym)
		if len(ve.Ballots) != 1 {
			t.Fatalf("voter %d has %d ballots on the board", i, len(ve.Ballots))
		}
	}
	if got := box.View().Ballots; got != n+e.ballots {
		t.Fatalf("%d ballots on the board, want %d", got, n+e.ballots)
	}

	// No rule violated: the survivors are healthy and agree with a fresh
	// replay of the board.
	for _, in := range survivors {
		resp, err := http.Get("http://" + in.addr + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s not ready after the load: %v %v\n%s", in.name, err, resp, in.out)
		}
		resp.Body.Close()
	}
	st2, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	reg2, replay, err := f.Instance(ctx, st2)
	if err != nil {
		t.Fatalf("replaying the board through the rules: %v", err)
	}
	defer reg2.Close()
	if got, want := replay.View(), box.View(); got.Size != want.Size || got.Ballots != want.Ballots {
		t.Fatalf("replay: %d entries, %d ballots; the fixture's instance %d, %d", got.Size, got.Ballots, want.Size, want.Ballots)
	}

	// The end of the election, then the record through HAProxy.
	if _, _, err := f.Tally(ctx, boxtest.Hooks{}); err != nil {
		t.Fatal(err)
	}
	fp := ballot.ExpectFingerprint(box.View().Manifest.Fingerprint())
	size := box.Log().Size()
	var rep *verify.Report
	for attempt := 0; ; attempt++ {
		// The surviving instances serve the board once they have followed
		// it to its end and had its checkpoint cosigned.
		board, err := verify.FindBoard(ctx, http.DefaultClient, base, fp)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := verify.Fetch(ctx, http.DefaultClient, board, nil)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(rec.Entries)) == size || attempt == 100 {
			rep = verify.Verify(rec, verify.Options{Fingerprint: fp})
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !rep.OK {
		first, _ := rep.First()
		t.Fatalf("the record fetched through HAProxy does not verify: %s", first)
	}
}

// retryable reports a cast failure a voter's device retries: the request
// did not reach a live instance, or the box asks to try again.
func retryable(err error) bool {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Code == "cast_in_progress"
	}
	return true // transport: the connection to a killed instance
}

// childrenCPU returns the CPU time (user + system) the running instances
// have used so far, from /proc (0 where unreadable).
func childrenCPU(insts []*instance) time.Duration {
	var total time.Duration
	for _, in := range insts {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", in.cmd.Process.Pid))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(fields) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(fields[11], 10, 64)
		st, _ := strconv.ParseInt(fields[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
	}
	return total
}

// haproxyConfig is the configuration docs/operator.md gives for several
// instances, on loopback and plain HTTP (TLS is terminated by HAProxy in
// production).
func haproxyConfig(listen string, servers []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 2m
    timeout server 2m
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout

frontend evote
    bind %s
    default_backend evoted

backend evoted
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
`, listen)
	for i, s := range servers {
		fmt.Fprintf(&b, "    server evoted-%d %s check\n", i+1, s)
	}
	return b.String()
}
