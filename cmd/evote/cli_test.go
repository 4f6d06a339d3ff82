package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/verify"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), args, &out)
	return out.String(), err
}

// The trustee's key file life cycle through the command line: init,
// show, backup under another passphrase, loss, restore; a wrong
// passphrase is refused.
func TestCLITrusteeKeyFile(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	bpass := filepath.Join(dir, "bpass")
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(pass, []byte("correct horse\n"), 0o600)
	os.WriteFile(bpass, []byte("battery staple\n"), 0o600)
	os.WriteFile(wrong, []byte("correct horse battery\n"), 0o600)
	key := filepath.Join(dir, "trustee.key")
	out, err := runCLI(t, "trustee", "init", "--key", key, "--passphrase-file", pass)
	if err != nil || !strings.Contains(out, "signing key:") || !strings.Contains(out, "hpke key:") {
		t.Fatalf("init: %v\n%s", err, out)
	}
	pubs := out[:strings.Index(out, "Give")]
	if _, err := runCLI(t, "trustee", "init", "--key", key, "--passphrase-file", pass); err == nil {
		t.Fatal("init overwrote an existing key file")
	}
	if _, err := runCLI(t, "trustee", "show", "--key", key, "--passphrase-file", wrong); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	backup := filepath.Join(dir, "usb.key")
	if _, err := runCLI(t, "trustee", "backup", "--key", key, "--passphrase-file", pass, "--to", backup, "--backup-passphrase-file", bpass); err != nil {
		t.Fatal(err)
	}
	os.Remove(key)
	out, err = runCLI(t, "trustee", "restore", "--from", backup, "--backup-passphrase-file", bpass, "--key", key, "--passphrase-file", pass)
	if err != nil || !strings.HasPrefix(out, pubs) {
		t.Fatalf("restore: %v\n%s\nwant keys\n%s", err, out, pubs)
	}
	out, err = runCLI(t, "trustee", "show", "--key", key, "--passphrase-file", pass)
	if err != nil || out != pubs {
		t.Fatalf("show after restore: %v\n%q\nwant %q", err, out, pubs)
	}
	// A flipped byte in the file is refused.
	b, _ := os.ReadFile(key)
	b[len(b)-5] ^= 1
	os.WriteFile(key, b, 0o600)
	if _, err := runCLI(t, "trustee", "show", "--key", key, "--passphrase-file", pass); err == nil {
		t.Fatal("tampered key file opened")
	}
}

func TestCLIWitnessInitAndManifest(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "witness", "--init", "--name", "witness.example.org/w1", "--key", filepath.Join(dir, "w.key"))
	if err != nil || !strings.Contains(out, "cosigner key") {
		t.Fatalf("witness init: %v %s", err, out)
	}
	_, wit, _ := strings.Cut(out, "--witness ")
	wit, _, _ = strings.Cut(wit, "\n")
	wit = strings.TrimSpace(wit)
	// The same key in base64 for the ballot box's EVOTE_WITNESSES
	// (issue 19, finding 9).
	_, hexKey, _ := strings.Cut(wit, ":")
	kb, _ := hex.DecodeString(hexKey)
	if !strings.Contains(out, "EVOTE_WITNESSES: witness.example.org/w1|https://<this witness's address>|"+base64.StdEncoding.EncodeToString(kb)+"\n") {
		t.Fatalf("witness init does not print the ballot box's form:\n%s", out)
	}
	// The log's verifier key, as the ballot box's operator gives it.
	pub, _, _ := ed25519.GenerateKey(nil)
	logKey := filepath.Join(dir, "log.pub")
	os.WriteFile(logKey, []byte(verify.FormatLogKey(bulletin.LogVerifier{Origin: "box.example/board/pilot-2027", Ed25519: [32]byte(pub)})), 0o644)
	man := filepath.Join(dir, "manifest.bin")
	k := strings.Repeat("11", 32)
	args := []string{"official", "sample-manifest", "--election", "pilot-2027", "--identity-key", k, "--out", man, "--log-key", logKey, "--witness", wit}
	for i := 2; i <= 4; i++ {
		// Distinct signing keys; a valid X25519 key (the base point).
		args = append(args, "--trustee", strings.Repeat(string(rune('0'+i)), 64)+":09"+strings.Repeat("00", 31))
	}
	out, err = runCLI(t, args...)
	if err != nil || !strings.Contains(out, "pilot-2027") {
		t.Fatalf("sample-manifest: %v %s", err, out)
	}
	// It prints the fingerprint the officials publish: the manifest's.
	mb, _ := os.ReadFile(man)
	m, err := ballot.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	if f := m.Fingerprint(); !strings.Contains(out, f.String()) || !strings.Contains(out, f.Hex()) {
		t.Fatalf("sample-manifest does not print the fingerprint %s: %s", f, out)
	}
	if m.Board.Quorum != 1 || len(m.Board.Witnesses) != 1 || m.Board.Witnesses[0].Name != "witness.example.org/w1" || m.Board.Origin != "box.example/board/pilot-2027" {
		t.Fatalf("anchors %+v", m.Board)
	}
	// official create prints what officials hand out (issue 19): the
	// log's verifier key lines, exactly as --log-key reads them, and the
	// fingerprint, short and hex.
	var created strings.Builder
	describeCreated(&created, "pilot-2027", "1", m)
	lk, _ := os.ReadFile(logKey)
	if c := created.String(); !strings.Contains(c, "\n"+string(lk)) || !strings.HasSuffix(c, string(lk)) || !strings.Contains(c, m.Fingerprint().String()) || !strings.Contains(c, m.Fingerprint().Hex()) {
		t.Fatalf("official create prints\n%s\nwithout the log key\n%s", c, lk)
	}
	// The same keys in base64 and base64url (issue 19, finding 2) make
	// the same manifest.
	b64 := func(h string, url bool) string {
		b, _ := hex.DecodeString(h)
		if url {
			return base64.RawURLEncoding.EncodeToString(b)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	start := fmt.Sprint(m.VotingStart)
	for _, url := range []bool{false, true} {
		man2 := filepath.Join(dir, fmt.Sprint("manifest-", url, ".bin"))
		alt := []string{"official", "sample-manifest", "--election", "pilot-2027", "--identity-key", b64(k, url), "--out", man2, "--log-key", logKey, "--start", start,
			"--witness", "witness.example.org/w1:" + b64(hexKey, url)}
		for _, a := range args[len(args)-6:] {
			if a == "--trustee" {
				continue
			}
			sk, hk, _ := strings.Cut(a, ":")
			alt = append(alt, "--trustee", b64(sk, url)+":"+b64(hk, !url))
		}
		if out, err := runCLI(t, alt...); err != nil {
			t.Fatalf("sample-manifest in base64 (url %v): %v %s", url, err, out)
		}
		m1, _ := os.ReadFile(man)
		m2, _ := os.ReadFile(man2)
		if !bytes.Equal(m1, m2) {
			t.Fatalf("keys in base64 (url %v) make another manifest", url)
		}
	}
	if _, err := runCLI(t, "official", "sample-manifest", "--election", "x", "--identity-key", k[:62], "--log-key", logKey); err == nil || !strings.Contains(err.Error(), "64 hex digits or 44 (unpadded 43) base64") {
		t.Fatalf("short identity key: %v", err)
	}
	show, err := runCLI(t, "official", "show-manifest", "--manifest", man, "--lang", "ru")
	if err != nil || !strings.Contains(show, m.Fingerprint().String()) || !strings.Contains(show, "contest council-ala-archa") || !strings.Contains(show, "0  Асанов Бакыт") || !strings.Contains(show, "authority: Центральная комиссия") || !strings.Contains(show, "emblem image/svg+xml") {
		t.Fatalf("show-manifest: %v\n%s", err, show)
	}
	if _, err := runCLI(t, append(args[:len(args)-2:len(args)-2], "--witness", "w:zz")...); err == nil {
		t.Fatal("bad witness accepted")
	}
	if _, err := runCLI(t, "official", "sample-manifest", "--election", "x", "--identity-key", "zz"); err == nil {
		t.Fatal("bad identity key accepted")
	}
	if _, err := runCLI(t, "no-such-command"); err == nil {
		t.Fatal("unknown command accepted")
	}
}
