package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"evote/bulletin"
	"evote/bulletin/board"
	"evote/store/sqlite"
)

func signer(label string) *bulletin.Ed25519Signer {
	s := sha256.Sum256([]byte("evote witness test key: " + label))
	return bulletin.NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

func logKey(origin, label string) *bulletin.LogKey {
	s := signer(label)
	return &bulletin.LogKey{Origin: origin, Ed25519: s, Ed25519Public: s.Public()}
}

func newLog(t *testing.T, k *bulletin.LogKey) *board.Log {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := board.Open(context.Background(), board.Config{Key: k, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t *testing.T, l *board.Log, tag string, from, to int) *bulletin.SignedCheckpoint {
	a := signer("author")
	for i := from; i < to; i++ {
		e, err := bulletin.NewEntry(l.ID(), bulletin.TypeBallot, a.Public(), a, fmt.Appendf(nil, "%s %d", tag, i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

type fixture struct {
	w      *Witness
	srv    *httptest.Server
	client func() *Client
	state  string
	cfg    Config
}

func newFixture(t *testing.T, logs ...bulletin.LogVerifier) *fixture {
	ws := signer("witness")
	cfg := Config{Name: "witness.example/w1", Key: ws, Public: ws.Public(), Logs: logs, StatePath: filepath.Join(t.TempDir(), "state.json")}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	f := &fixture{w: w, srv: srv, state: cfg.StatePath, cfg: cfg}
	f.client = func() *Client { return &Client{URL: srv.URL, Key: w.Key()} }
	return f
}

func TestWitnessCosignsConsistentCheckpoints(t *testing.T) {
	ctx := context.Background()
	k := logKey("evote.example/w-test", "log")
	l := newLog(t, k)
	f := newFixture(t, k.Verifier())
	c := f.client()
	cp5 := appendN(t, l, "a", 0, 5)
	cosigned, err := Cosign(ctx, l, cp5, []*Client{c}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bulletin.VerifyCosigned(cosigned, l.Verifier(), []bulletin.CosignerKey{f.w.Key()}, 1); err != nil {
		t.Fatalf("receipt checkpoint: %v", err)
	}
	cp9 := appendN(t, l, "a", 5, 9)
	if _, err := c.Submit(ctx, l, cp9); err != nil {
		t.Fatal(err)
	}
	// A client that does not know the witness's size learns it from 409.
	if _, err := f.client().Submit(ctx, l, cp9); err != nil {
		t.Fatalf("fresh client: %v", err)
	}
	// Rolling the witness back is refused.
	if _, err := c.AddCheckpoint(ctx, 5, nil, cp5.Note); !errors.Is(err, ErrConflict) {
		t.Errorf("rollback to 5: %v", err)
	}
	// State survives a restart.
	w2, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if size, root, ok := w2.Latest(k.Origin); !ok || size != 9 || root != cp9.Root {
		t.Errorf("restarted witness state: %d %x %v", size, root, ok)
	}
}

// TestSplitViewCaught: the server keeps two different logs under the same
// key and shows one to each client. The witness cosigns the first view and
// refuses the second.
func TestSplitViewCaught(t *testing.T) {
	ctx := context.Background()
	k := logKey("evote.example/split", "log")
	honest, forked := newLog(t, k), newLog(t, k)
	f := newFixture(t, k.Verifier())
	c := f.client()
	cpA := appendN(t, honest, "shared", 0, 6)
	appendN(t, forked, "shared", 0, 4) // agree on the first 4 entries
	cpB := appendN(t, forked, "forked", 4, 6)
	if cpA.Size != cpB.Size || cpA.Root == cpB.Root {
		t.Fatal("fixture: expected two different views at one size")
	}
	if _, err := c.Submit(ctx, honest, cpA); err != nil {
		t.Fatal(err)
	}
	// Same size, different root: 409.
	if _, err := c.AddCheckpoint(ctx, cpA.Size, nil, cpB.Note); !errors.Is(err, ErrConflict) {
		t.Errorf("second view at the same size: %v, want conflict", err)
	}
	// The forked log grows; its consistency proof from the witnessed size
	// cannot match the witnessed root: 422.
	cpB2 := appendN(t, forked, "forked", 6, 11)
	if _, err := c.Submit(ctx, forked, cpB2); !errors.Is(err, ErrInconsistent) {
		t.Errorf("forked view: %v, want ErrInconsistent", err)
	}
	// Claiming the witness is fresh does not help either.
	if _, err := c.AddCheckpoint(ctx, 0, nil, cpB2.Note); !errors.Is(err, ErrConflict) {
		t.Errorf("forked view from 0: %v, want conflict", err)
	}
	if size, root, _ := f.w.Latest(k.Origin); size != cpA.Size || root != cpA.Root {
		t.Error("witness state moved to the forked view")
	}
	// The honest log still gets cosigned as it grows.
	cpA2 := appendN(t, honest, "shared", 6, 12)
	if _, err := c.Submit(ctx, honest, cpA2); err != nil {
		t.Errorf("honest growth: %v", err)
	}
}

func TestWitnessRefusals(t *testing.T) {
	ctx := context.Background()
	k := logKey("evote.example/r", "log")
	l := newLog(t, k)
	cp := appendN(t, l, "r", 0, 3)
	f := newFixture(t, k.Verifier())
	c := f.client()

	other := logKey("evote.example/unknown", "log")
	lo := newLog(t, other)
	if _, err := c.Submit(ctx, lo, appendN(t, lo, "o", 0, 1)); !errors.Is(err, ErrUnknownOrigin) {
		t.Errorf("unknown origin: %v", err)
	}
	impostor := logKey("evote.example/r", "impostor")
	li := newLog(t, impostor)
	if _, err := c.Submit(ctx, li, appendN(t, li, "i", 0, 2)); !errors.Is(err, ErrUntrusted) {
		t.Errorf("untrusted key: %v", err)
	}
	if _, err := c.AddCheckpoint(ctx, 0, [][32]byte{{1}}, cp.Note); !errors.Is(err, ErrInconsistent) {
		t.Errorf("non-empty proof from 0: %v", err)
	}
	if _, err := c.AddCheckpoint(ctx, 4, nil, cp.Note); !errors.Is(err, ErrBadRequest) {
		t.Errorf("old size above checkpoint: %v", err)
	}
	for _, body := range []string{"", "old 01\n\n", "old 1\nnot base64\n\n", "old x\n\n", "old 0\n"} {
		resp, err := http.Post(f.srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: status %d", body, resp.StatusCode)
		}
	}
	resp, err := http.Get(f.srv.URL + "/add-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if size, _, ok := f.w.Latest(k.Origin); ok {
		t.Errorf("witness recorded size %d after refusals only", size)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	proof := [][32]byte{{1}, {2}, {3}}
	b := EncodeRequest(17, proof, []byte("note\n\n— x AAAAAAA=\n"))
	old, p, n, err := ParseRequest(b)
	if err != nil || old != 17 || len(p) != 3 || p[2] != proof[2] || string(n) != "note\n\n— x AAAAAAA=\n" {
		t.Fatalf("round trip: %d %v %q %v", old, p, n, err)
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(EncodeRequest(3, [][32]byte{{9}}, []byte("n\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		old, p, n, err := ParseRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeRequest(old, p, n), b) {
			t.Fatal("request does not re-encode identically")
		}
	})
}

// TestConcurrentSubmissions: racing add-checkpoint requests never roll the
// witness back; the cosigned sizes form one increasing chain.
func TestConcurrentSubmissions(t *testing.T) {
	k := logKey("evote.example/race", "log")
	l := newLog(t, k)
	f := newFixture(t, k.Verifier())
	var cps []*bulletin.SignedCheckpoint
	for i := range 8 {
		cps = append(cps, appendN(t, l, "race", i*3, i*3+3))
	}
	type result struct {
		size uint64
		err  error
	}
	results := make(chan result, 64)
	var wg sync.WaitGroup
	for i := range cps {
		for _, old := range []int{-1, 0, i - 1} { // from scratch, from the first, from the previous
			wg.Add(1)
			go func() {
				defer wg.Done()
				var o uint64
				var proof [][32]byte
				if old >= 0 && old < i {
					o = cps[old].Size
					proof, _ = l.ConsistencyProof(o, cps[i].Size)
				}
				_, err := f.w.AddCheckpoint(o, proof, cps[i].Note)
				results <- result{cps[i].Size, err}
			}()
		}
	}
	wg.Wait()
	close(results)
	var max uint64
	for r := range results {
		if r.err == nil && r.size > max {
			max = r.size
		}
		if r.err != nil && !errors.Is(r.err, ErrConflict) {
			t.Errorf("size %d: unexpected error %v", r.size, r.err)
		}
	}
	size, root, ok := f.w.Latest(k.Origin)
	if !ok || size != max {
		t.Fatalf("witness at %d, largest cosigned %d", size, max)
	}
	for _, cp := range cps {
		if cp.Size == size && cp.Root != root {
			t.Fatal("recorded root does not match the checkpoint")
		}
	}
}

// TestClientFollowsSeveralLogs (issue 19, bug 7): one client of one
// witness submits checkpoints of two elections' logs, interleaved; it
// keeps each log's size apart (before, the second log's first checkpoint
// was sent with the first log's size, refused, and the election got 503s
// until a restart).
func TestClientFollowsSeveralLogs(t *testing.T) {
	ctx := context.Background()
	ka, kb := logKey("evote.example/election-a", "log"), logKey("evote.example/election-b", "log")
	la, lb := newLog(t, ka), newLog(t, kb)
	f := newFixture(t, ka.Verifier(), kb.Verifier())
	c := f.client()
	// Election b's log stays smaller than a's.
	for round, n := range []int{3, 7, 12} {
		for k, l := range []*board.Log{la, lb} {
			cp := appendN(t, l, fmt.Sprint("r", round), int(l.Size()), n/(k+1))
			if _, err := c.Submit(ctx, l, cp); err != nil {
				t.Fatalf("round %d, %s: %v", round, l.Origin(), err)
			}
		}
	}
	for _, l := range []*board.Log{la, lb} {
		if size, _, ok := f.w.Latest(l.Origin()); !ok || size != l.Size() {
			t.Errorf("%s: witness at %d, log at %d", l.Origin(), size, l.Size())
		}
	}
}
