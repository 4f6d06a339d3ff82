package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/verify"
)

// The CLI's usage errors and what it does without a server are scripts,
// testdata/script/*.txtar (script_test.go); what needs servers, or
// checks a relation a script cannot compute, is here and in demo_test.go.

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), args, &out)
	return out.String(), err
}

// TestCLIWitnessInit: witness --init prints its key in hex for the
// manifest and the same key in base64 for the ballot box's
// EVOTE_WITNESSES (issue 19, finding 9).
func TestCLIWitnessInit(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "witness", "--init", "--name", "witness.example.org/w1", "--key", filepath.Join(dir, "w.key"))
	if err != nil || !strings.Contains(out, "cosigner key") {
		t.Fatalf("witness init: %v %s", err, out)
	}
	_, wit, _ := strings.Cut(out, "--witness ")
	wit, _, _ = strings.Cut(wit, "\n")
	_, hexKey, _ := strings.Cut(strings.TrimSpace(wit), ":")
	kb, err := hex.DecodeString(hexKey)
	if err != nil || len(kb) != 32 {
		t.Fatalf("witness key %q: %v", hexKey, err)
	}
	if !strings.Contains(out, "EVOTE_WITNESSES: witness.example.org/w1|https://<this witness's address>|"+base64.StdEncoding.EncodeToString(kb)+"\n") {
		t.Fatalf("witness init does not print the ballot box's form:\n%s", out)
	}
}

// TestCLICreatedDescription: official create prints what officials hand
// out (issue 19): the log's verifier key lines, exactly as --log-key
// reads them, and the manifest's fingerprint, short and hex.
func TestCLICreatedDescription(t *testing.T) {
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(nil)
	witness, _, _ := ed25519.GenerateKey(nil)
	logKey := filepath.Join(dir, "log.pub")
	os.WriteFile(logKey, []byte(verify.FormatLogKey(bulletin.LogVerifier{Origin: "box.example/board/pilot-2027", Ed25519: [32]byte(pub)})), 0o644)
	man := filepath.Join(dir, "manifest.bin")
	args := []string{"official", "sample-manifest", "--election", "pilot-2027", "--identity-key", strings.Repeat("11", 32), "--out", man, "--log-key", logKey,
		"--witness", "witness.example.org/w1:" + hex.EncodeToString(witness)}
	for i := 2; i <= 4; i++ {
		// Distinct signing keys; a valid X25519 key (the base point).
		args = append(args, "--trustee", strings.Repeat(string(rune('0'+i)), 64)+":09"+strings.Repeat("00", 31))
	}
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("sample-manifest: %v %s", err, out)
	}
	mb, _ := os.ReadFile(man)
	m, err := ballot.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	// sample-manifest prints the fingerprint the officials publish.
	if f := m.Fingerprint(); !strings.Contains(out, f.String()) || !strings.Contains(out, f.Hex()) {
		t.Fatalf("sample-manifest does not print the fingerprint %s: %s", f, out)
	}
	if m.Board.Quorum != 1 || len(m.Board.Witnesses) != 1 || m.Board.Witnesses[0].Name != "witness.example.org/w1" || m.Board.Origin != "box.example/board/pilot-2027" {
		t.Fatalf("anchors %+v", m.Board)
	}
	var created strings.Builder
	describeCreated(&created, "pilot-2027", "1", m)
	lk, _ := os.ReadFile(logKey)
	if c := created.String(); !strings.Contains(c, "\n"+string(lk)) || !strings.HasSuffix(c, string(lk)) || !strings.Contains(c, m.Fingerprint().String()) || !strings.Contains(c, m.Fingerprint().Hex()) {
		t.Fatalf("official create prints\n%s\nwithout the log key\n%s", c, lk)
	}
}
