//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"evote/api"
	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/bulletin/witness"
	"evote/official"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/verify"
)

// standbyVoters is how many voters cast during TestStandbyTakesOver,
// standbyWorkers how many at once.
const (
	standbyVoters  = 240
	standbyWorkers = 12
)

// TestStandbyTakesOver (issue 15, "a standby that takes over"): evoted
// (the binary) runs on a primary PostgreSQL with a synchronous standby,
// given both hosts in its DSN; voters cast over HTTP, concurrently; the
// primary's postmaster is killed with SIGKILL under that load and the
// standby promoted. Then: every voter gets a receipt (retrying, as the
// voting page does, the ballot it was refused with a server error); every
// acknowledged ballot is on the promoted log at its receipt's index, each
// once; every checkpoint seen anywhere (receipts, the witnesses, the
// store) is of the promoted log's tree, and none is signed twice at one
// size; the witnesses, served over HTTP, cosign the continuation after
// the failover; and the election is closed and tallied on the promoted
// database, and its record verifies.
func TestStandbyTakesOver(t *testing.T) {
	if testing.Short() {
		t.Skip("makes two PostgreSQL clusters and builds evoted")
	}
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go command is not on PATH under CI")
		}
		t.Skip("the go command is not on PATH (the test builds evoted)")
	}
	gin.SetMode(gin.TestMode)
	began := time.Now()
	pair := pgtest.NewPair(t)
	ctx := context.Background()
	dir := t.TempDir()
	wdir := filepath.Join(dir, "witnesses")
	dsn := pair.DSN()

	// 1. The election on the primary, set up in-process (keys, trustees,
	// identity service, voting open) with every voter's credential.
	f, voters := standbyElection(t, dsn, wdir)
	t.Logf("clusters made, election set up with %d voters in %v", len(voters), time.Since(began).Round(time.Second))
	origin := "evote.test/board/" + f.ElectionID
	lk, err := f.Server.LogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	lv := lk.Verifier()

	// 2. The witnesses over HTTP, going on from their in-process state;
	// every checkpoint they cosign is recorded.
	ws := startWitnesses(t, f, wdir, origin, lv)

	// 3. evoted on both hosts.
	ev := startEvoted(t, dir, dsn, f, ws)
	t.Logf("evoted built and started at %v", time.Since(began).Round(time.Second))

	// 4. Cast load; the primary killed and the standby promoted once a
	// third of the voters have their receipts.
	receipts, failover := castThroughFailover(t, ev, f.ElectionID, voters, pair)
	t.Logf("failover at %d receipts; %d casts in flight across it, %d attempts failed during it", failover.at, failover.spanned.Load(), failover.failed.Load())
	if failover.failed.Load() == 0 && failover.spanned.Load() == 0 {
		t.Error("no cast was in flight across the failover: the primary was not killed under load")
	}
	t.Logf("every voter has a receipt at %v", time.Since(began).Round(time.Second))
	ev.stop(t)
	for _, w := range ws {
		w.srv.Close()
	}

	// 5. The promoted log holds every acknowledged ballot once, and every
	// checkpoint is of its tree.
	pg, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open the promoted database: %v", err)
	}
	defer pg.Close()
	l, err := board.Open(ctx, board.Config{Key: &bulletin.LogKey{Origin: origin, Ed25519: lk.Ed25519, Ed25519Public: lk.Ed25519Public}, Store: pg})
	if err != nil {
		t.Fatalf("the promoted log does not open: %v", err)
	}
	checkReceipts(t, l, receipts)
	notes := map[string][][]byte{}
	for i, r := range receipts {
		notes[fmt.Sprintf("receipt %d", i)] = [][]byte{r.note}
	}
	for i, w := range ws {
		notes[fmt.Sprintf("witness %d", i)] = w.cosigned()
		if len(w.cosigned()) == 0 || checkpointSize(t, lv, w.cosigned()[len(w.cosigned())-1]) <= failover.size {
			t.Errorf("witness %d cosigned nothing after the failover (at size %d)", i, failover.size)
		}
	}
	notes["store"] = storedCheckpoints(t, pair, l.ID())
	checkOneCheckpointPerSize(t, l, lv, notes)
	l.Close()

	// 6. The old primary rebuilt as the promoted one's synchronous
	// standby (docs/operator.md, step 5): the rest of the election
	// commits through it.
	pair.Rebuild(t)
	t.Logf("old primary rebuilt as the synchronous standby at %v", time.Since(began).Round(time.Second))

	// 7. Closed, tallied on the promoted database; the record verifies,
	// and the rebuilt standby holds the whole log.
	size := finishOnPromoted(t, f, pg, wdir, standbyVoters)
	t.Logf("tallied and verified at %v", time.Since(began).Round(time.Second))
	standbyHolds(t, pair, lv, size)
}

// standbyVoter is a voter with the ballot it casts.
type standbyVoter struct {
	token string
	entry []byte
	hash  [32]byte
}

func standbyElection(t *testing.T, dsn, wdir string) (*boxtest.Fixture, []standbyVoter) {
	t.Helper()
	ctx := context.Background()
	pg, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	db := stdlib.OpenDBFromPool(pg.Pool())
	defer db.Close()
	offs, err := official.Open(ctx, official.Config{DB: db, Dialect: official.Postgres, Argon2: official.Argon2Params{Time: 1, Memory: 1024, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(wdir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := boxtest.New(ctx, boxtest.Options{Dir: wdir, Store: pg, Catalog: offs, Witnesses: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Registry.Close()
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	pvs, err := f.PrepareVoters(ctx, standbyVoters)
	if err != nil {
		t.Fatal(err)
	}
	voters := make([]standbyVoter, len(pvs))
	for i, pv := range pvs {
		voters[i] = standbyVoter{token: pv.Voter.Token, entry: pv.Raw, hash: pv.Entry.Hash()}
	}
	return f, voters
}

// httpWitness is a witness served over HTTP that records the checkpoints
// it cosigned, in order.
type httpWitness struct {
	name string
	pub  [32]byte
	srv  *httptest.Server
	mu   sync.Mutex
	log  [][]byte
}

func (w *httpWitness) cosigned() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log
}

func startWitnesses(t *testing.T, f *boxtest.Fixture, wdir, origin string, lv bulletin.LogVerifier) []*httpWitness {
	t.Helper()
	var out []*httpWitness
	for i, k := range f.Server.Witnesses {
		s := bulletin.NewEd25519Signer(k)
		w, err := witness.New(witness.Config{Name: boxtest.WitnessName(i), Key: s, Public: s.Public(), Logs: []bulletin.LogVerifier{lv},
			StatePath: boxtest.WitnessStatePath(wdir, origin, i)})
		if err != nil {
			t.Fatal(err)
		}
		if old, _, _ := w.Latest(origin); old == 0 {
			t.Fatalf("witness %d does not go on from its in-process state", i)
		}
		hw := &httpWitness{name: boxtest.WitnessName(i), pub: [32]byte(s.Public())}
		h := w.Handler()
		hw.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if _, _, note, err := witness.ParseRequest(body); err == nil && rec.Code == http.StatusOK {
				hw.mu.Lock()
				hw.log = append(hw.log, note)
				hw.mu.Unlock()
			}
			for k, v := range rec.Header() {
				rw.Header()[k] = v
			}
			rw.WriteHeader(rec.Code)
			rw.Write(rec.Body.Bytes())
		}))
		out = append(out, hw)
	}
	return out
}

// evotedProc is a running evoted.
type evotedProc struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan struct{}
}

func startEvoted(t *testing.T, dir, dsn string, f *boxtest.Fixture, ws []*httpWitness) *evotedProc {
	t.Helper()
	bin := filepath.Join(dir, "evoted")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build evoted: %v\n%s", err, out)
	}
	b64 := base64.StdEncoding.EncodeToString
	var witnesses []string
	for _, w := range ws {
		witnesses = append(witnesses, w.name+"|"+w.srv.URL+"|"+b64(w.pub[:]))
	}
	totp, _ := official.NewTOTPSecret()
	addr := freeAddr(t)
	identity := f.Identity.Public().(ed25519.PublicKey)
	env := []string{"EVOTE_DB=" + dsn, "EVOTE_LISTEN=" + addr, "EVOTE_DATA=" + filepath.Join(dir, "data"),
		"EVOTE_ORIGIN_PREFIX=evote.test/board", "EVOTE_AUDIENCE=" + boxtest.Audience,
		"EVOTE_AUTHORITY_KEY=" + b64(f.Server.Authority.Seed()), "EVOTE_LOG_KEY=" + b64(f.Server.LogEd.Seed()),
		"EVOTE_IDENTITY_KEY=" + b64(identity), "EVOTE_WITNESSES=" + strings.Join(witnesses, ","),
		"EVOTE_ADMIN_USER=admin", "EVOTE_ADMIN_PASSWORD=a long admin password", "EVOTE_ADMIN_TOTP=" + totp}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVOTE_") {
			env = append(env, kv)
		}
	}
	p := &evotedProc{cmd: exec.Command(bin), url: "http://" + addr, logs: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	// evoted dies with the test binary, even one killed by a timeout.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = &syncWriter{w: p.logs}, &syncWriter{w: p.logs}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("evoted's log:\n%s", p.logs.String())
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("evoted exited: %v", p.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if i > 600 {
			t.Fatal("evoted not ready after a minute")
		}
	}
}

// stop stops evoted as systemd does (SIGTERM) and waits for it.
func (p *evotedProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatal("evoted did not stop within a minute of SIGTERM")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// standbyReceipt is what a voter kept of its receipt.
type standbyReceipt struct {
	index uint64
	hash  [32]byte
	note  []byte
	size  uint64
}

type failoverInfo struct {
	at     int    // receipts when the primary was killed
	size   uint64 // the largest checkpoint size a receipt had then
	failed atomic.Int64
	// killedAt is when the primary was killed (Unix ns, 0 before);
	// spanned counts the casts sent before it and answered after it:
	// the board settles an append whose commit the kill cut off by
	// reading the promoted store, so such a cast need not fail.
	killedAt atomic.Int64
	spanned  atomic.Int64
}

func castThroughFailover(t *testing.T, ev *evotedProc, electionID string, voters []standbyVoter, pair *pgtest.Pair) ([]standbyReceipt, *failoverInfo) {
	t.Helper()
	receipts := make([]standbyReceipt, len(voters))
	var got atomic.Int64
	var mu sync.Mutex
	var maxSize uint64
	fo := &failoverInfo{}
	kill := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		select {
		case <-kill:
		case <-time.After(3 * time.Minute):
			return
		}
		mu.Lock()
		fo.at, fo.size = int(got.Load()), maxSize
		mu.Unlock()
		fo.killedAt.Store(time.Now().UnixNano())
		pair.KillPrimary(t)
		// The operator (or the cluster manager) promotes the standby.
		time.Sleep(500 * time.Millisecond)
		pair.Promote(t)
	}()
	client := &http.Client{Timeout: 2 * time.Minute}
	deadline := time.Now().Add(4 * time.Minute)
	var next atomic.Int64
	var wg sync.WaitGroup
	fail := make(chan string, standbyWorkers)
	for range standbyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(voters) {
					return
				}
				sent := time.Now().UnixNano()
				r, err := castRetrying(client, ev.url, electionID, voters[i], deadline, &fo.failed)
				if k := fo.killedAt.Load(); k != 0 && sent < k {
					fo.spanned.Add(1)
				}
				if err != nil {
					fail <- fmt.Sprintf("voter %d: %v", i, err)
					return
				}
				mu.Lock()
				receipts[i] = r
				maxSize = max(maxSize, r.size)
				mu.Unlock()
				if got.Add(1) == int64(len(voters)/3) {
					close(kill)
				}
			}
		}()
	}
	wg.Wait()
	close(fail)
	for msg := range fail {
		t.Error(msg)
	}
	<-killed
	if t.Failed() {
		t.FailNow()
	}
	return receipts, fo
}

// castRetrying casts a voter's ballot, retrying the same entry after a
// server error or a lost connection, until a receipt (the original one
// for a ballot that got in before) or the deadline.
func castRetrying(client *http.Client, base, electionID string, v standbyVoter, deadline time.Time, failed *atomic.Int64) (standbyReceipt, error) {
	body, _ := json.Marshal(api.EntryRequest{Entry: base64.RawURLEncoding.EncodeToString(v.entry)})
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("POST", base+"/api/v1/elections/"+electionID+"/ballots", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+v.token)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			failed.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
			var rv api.ReceiptView
			if err := json.Unmarshal(out, &rv); err != nil {
				return standbyReceipt{}, fmt.Errorf("receipt %s: %w", out, err)
			}
			h, err := decodeB64(rv.EntryHash)
			if err != nil || len(h) != 32 || [32]byte(h) != v.hash {
				return standbyReceipt{}, fmt.Errorf("receipt for another entry, or unreadable: %s", out)
			}
			return standbyReceipt{index: rv.Index, hash: v.hash, note: []byte(rv.Checkpoint), size: rv.CheckpointSize}, nil
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusConflict:
			// A server error, or this voter's earlier attempt still in
			// flight: the voting page retries the same entry.
			last = fmt.Sprintf("%d %s", resp.StatusCode, out)
			failed.Add(1)
			time.Sleep(100 * time.Millisecond)
		default:
			return standbyReceipt{}, fmt.Errorf("refused: %d %s", resp.StatusCode, out)
		}
	}
	return standbyReceipt{}, fmt.Errorf("no receipt before the deadline; last answer %s", last)
}

func decodeB64(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// checkReceipts: each receipt's ballot is on the log at its index, and no
// ballot is there twice (the store refuses a repeated entry hash; the
// ballots on the log are exactly the voters').
func checkReceipts(t *testing.T, l *board.Log, receipts []standbyReceipt) {
	t.Helper()
	ctx := context.Background()
	for i, r := range receipts {
		rec, err := l.Entries(ctx, r.index, r.index+1)
		if err != nil || len(rec) != 1 || rec[0].Hash != r.hash {
			t.Fatalf("voter %d's acknowledged ballot is not at index %d of the promoted log (%v)", i, r.index, err)
		}
	}
	ballots := 0
	for start := uint64(0); start < l.Size(); start += 1000 {
		recs, err := l.Entries(ctx, start, start+1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if bulletin.Type(r.Type) == bulletin.TypeBallot {
				ballots++
			}
		}
	}
	if ballots != len(receipts) {
		t.Fatalf("the promoted log holds %d ballots, %d were acknowledged", ballots, len(receipts))
	}
}

func checkpointSize(t *testing.T, lv bulletin.LogVerifier, note []byte) uint64 {
	t.Helper()
	c, _, err := bulletin.VerifyCheckpoint(note, lv)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return c.Size
}

// storedCheckpoints returns every checkpoint note the promoted database
// holds for the log.
func storedCheckpoints(t *testing.T, pair *pgtest.Pair, id bulletin.LogID) [][]byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pair.Standby.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT note FROM bulletin_checkpoints WHERE log_id = $1 ORDER BY size`, id[:])
	if err != nil {
		t.Fatal(err)
	}
	notes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	return notes
}

// checkOneCheckpointPerSize: every note is signed by the log and is of
// the promoted log's tree, and all notes at one size are one checkpoint
// (cosignatures aside): the log never signed two at one size.
func checkOneCheckpointPerSize(t *testing.T, l *board.Log, lv bulletin.LogVerifier, notes map[string][][]byte) {
	t.Helper()
	type seen struct {
		c    bulletin.Checkpoint
		from string
	}
	bySize := map[uint64]seen{}
	n := 0
	for from, ns := range notes {
		for _, note := range ns {
			c, _, err := bulletin.VerifyCheckpoint(note, lv)
			if err != nil {
				t.Fatalf("%s: checkpoint: %v", from, err)
			}
			root, err := l.Tree().RootAt(c.Size)
			if err != nil || root != c.Root {
				t.Fatalf("%s: checkpoint at size %d is not of the promoted log's tree", from, c.Size)
			}
			if s, ok := bySize[c.Size]; ok && (s.c.Root != c.Root || !s.c.Time.Equal(c.Time)) {
				t.Fatalf("two checkpoints signed at size %d: %s's (%v) and %s's (%v)", c.Size, s.from, s.c.Time, from, c.Time)
			}
			bySize[c.Size] = seen{c, from}
			n++
		}
	}
	t.Logf("%d checkpoint notes at %d sizes, each of the promoted log's tree", n, len(bySize))
}

// finishOnPromoted reopens the election on the promoted database, closes
// and tallies it (officials' actions and trustees' entries through the
// box), and verifies its whole record, fetched over the API.
func finishOnPromoted(t *testing.T, f *boxtest.Fixture, pg *postgres.Store, wdir string, ballots int) uint64 {
	t.Helper()
	ctx := context.Background()
	db := stdlib.OpenDBFromPool(pg.Pool())
	defer db.Close()
	offs, err := official.Open(ctx, official.Config{DB: db, Dialect: official.Postgres})
	if err != nil {
		t.Fatal(err)
	}
	sk := f.Server
	reg, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: pg, Catalog: offs, OriginPrefix: "evote.test/board",
		LogKey: sk.LogKey, Authority: sk.Authority, Audience: boxtest.Audience, Witnesses: boxtest.LocalWitnesses(wdir, sk.Witnesses)})
	if err != nil {
		t.Fatalf("reopen on the promoted database: %v", err)
	}
	defer reg.Close()
	box, err := reg.Get(f.ElectionID)
	if err != nil {
		t.Fatal(err)
	}
	if n := box.View().Ballots; n != ballots {
		t.Fatalf("the promoted box counts %d ballots, want %d", n, ballots)
	}
	f.Registry, f.Box = reg, box
	res, _, err := f.Tally(ctx, boxtest.Hooks{})
	if err != nil || res == nil {
		t.Fatalf("tally on the promoted database: %v", err)
	}
	if _, _, err := box.Checkpoint(ctx); err != nil {
		t.Fatalf("witnessed checkpoint of the result: %v", err)
	}
	srv := api.NewServer()
	srv.Registry = reg
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	fp := ballot.ExpectFingerprint(box.View().Manifest.Fingerprint())
	boardURL, err := verify.FindBoard(ctx, hs.Client(), hs.URL, fp)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := verify.Fetch(ctx, hs.Client(), boardURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := verify.Verify(rec, verify.Options{Fingerprint: fp})
	if !rep.OK {
		first, _ := rep.First()
		t.Fatalf("the record does not verify: %s", first)
	}
	counted := uint64(0)
	for _, c := range rep.Result {
		counted = max(counted, c.Ballots)
	}
	if counted != uint64(ballots) {
		t.Fatalf("the verified result counts %d ballots, want %d", counted, ballots)
	}
	t.Logf("record of %d entries verified; the result counts %d ballots", len(rec.Entries), counted)
	return uint64(len(rec.Entries))
}

// standbyHolds waits until the rebuilt standby has applied the whole log
// (it has flushed every commit already: the commits waited for it).
func standbyHolds(t *testing.T, pair *pgtest.Pair, lv bulletin.LogVerifier, size uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := bulletin.LogIDFor(lv.Origin)
	var n int64
	for {
		conn, err := pgx.Connect(ctx, pair.Standby.DSN())
		if err == nil {
			err = conn.QueryRow(ctx, `SELECT count(*) FROM bulletin_entries WHERE log_id = $1`, id[:]).Scan(&n)
			conn.Close(ctx)
		}
		if err == nil && uint64(n) == size {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the rebuilt standby holds %d entries of %d after a minute (%v)", n, size, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
