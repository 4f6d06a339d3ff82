package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/bulletin"
	"evote/bulletin/witness"
	"evote/verify"
)

// syncBuffer is a buffer safe for a writer and a reader in two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWitnessFollowsNewElections (issue 19, finding 9): a witness started
// with --log-keys-dir cosigns the checkpoints of a log whose key file is
// dropped in the directory while it runs (a new election), without a
// restart; before, it refuses that log; a second key for the same log is
// refused and the first kept.
func TestWitnessFollowsNewElections(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "logs")
	os.MkdirAll(keys, 0o700)
	wkey := filepath.Join(dir, "w.key")
	if _, err := runCLI(t, "witness", "--init", "--name", "witness.example.org/w1", "--key", wkey); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"witness", "--name", "witness.example.org/w1", "--key", wkey, "--state", filepath.Join(dir, "w.json"),
			"--log-keys-dir", keys, "--log-keys-every", "50ms", "--listen", addr}, out)
	}()
	defer func() {
		cancel()
		<-done
	}()

	origin := "box.example/board/second-election"
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := bulletin.NewEd25519Signer(priv)
	lk := &bulletin.LogKey{Origin: origin, Ed25519: s, Ed25519Public: s.Public()}
	note, err := bulletin.SignCheckpoint(bulletin.Checkpoint{Origin: origin, Size: 1, Root: [32]byte{1}, Time: time.Now().UTC().Truncate(time.Second)}, lk)
	if err != nil {
		t.Fatal(err)
	}
	post := func() int {
		resp, err := http.Post("http://"+addr+"/add-checkpoint", "text/plain", bytes.NewReader(witness.EncodeRequest(0, nil, note)))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var st int
	for range 100 {
		if st = post(); st != 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st == http.StatusOK || st == 0 {
		t.Fatalf("a log the witness does not follow: %d", st)
	}
	os.WriteFile(filepath.Join(keys, "second-election.pub"), []byte(verify.FormatLogKey(bulletin.LogVerifier{Origin: origin, Ed25519: [32]byte(pub)})), 0o644)
	for range 100 {
		if st = post(); st == http.StatusOK {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st != http.StatusOK {
		t.Fatalf("the new election's log is not cosigned: %d\n%s", st, out.String())
	}
	if !strings.Contains(out.String(), "following the new log "+origin) {
		t.Errorf("the witness did not say it follows the new log:\n%s", out.String())
	}
	// Another key for the same log: refused, the first kept.
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	os.WriteFile(filepath.Join(keys, "z-other.pub"), []byte(verify.FormatLogKey(bulletin.LogVerifier{Origin: origin, Ed25519: [32]byte(other)})), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "followed under another key") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "followed under another key") {
		t.Fatalf("a second key for a followed log was not refused:\n%s", out.String())
	}
}
