package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"evote/ballot"
	"evote/official"
)

// TestKeysCommand: evote keys writes every key file (0600) in the forms
// the servers read, and prints the public forms where they go and no
// secret. (testdata/script/keys.txtar: the happy path and no overwrite.)
func TestKeysCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "credentials")
	var out strings.Builder
	if err := run(t.Context(), []string{"keys", "--out", dir, "--admin", "alice"}, &out); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, err, st.Mode())
		}
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	for _, name := range []string{"authority-key", "log-key"} {
		if b, err := base64.StdEncoding.DecodeString(read(name)); err != nil || len(b) != 32 {
			t.Errorf("%s is not a base64 seed: %v", name, err)
		}
	}
	for _, name := range []string{"idp-board-key", "idp-signing-keys", "idp-pseudonym-key", "list-official.key"} {
		if b, err := hex.DecodeString(read(name)); err != nil || len(b) != 32 {
			t.Errorf("%s is not 32 bytes in hex: %v", name, err)
		}
	}
	if _, err := official.TOTPCode(read("admin-totp"), time.Now()); err != nil {
		t.Errorf("admin-totp: %v", err)
	}
	if !strings.HasPrefix(read("admin-totp.uri"), "otpauth://totp/") || !strings.Contains(read("admin-totp.uri"), "alice") {
		t.Errorf("admin-totp.uri: %s", read("admin-totp.uri"))
	}
	pngBytes, _ := os.ReadFile(filepath.Join(dir, "admin-totp.png"))
	if _, err := png.Decode(bytes.NewReader(pngBytes)); err != nil {
		t.Errorf("admin-totp.png: %v", err)
	}
	seed, _ := hex.DecodeString(read("idp-board-key"))
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	list, _ := hex.DecodeString(read("list-official.key"))
	lpub := ed25519.NewKeyFromSeed(list).Public().(ed25519.PublicKey)
	for _, want := range []string{"EVOTE_IDENTITY_KEY=" + base64.StdEncoding.EncodeToString(pub), "--identity-key " + hex.EncodeToString(pub),
		"EVOTE_IDP_LIST_OFFICIALS=list-official-1=" + hex.EncodeToString(lpub), "EVOTE_ADMIN_USER=alice"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, secret := range []string{"authority-key", "log-key", "admin-password", "admin-totp", "idp-board-key", "idp-pseudonym-key"} {
		if strings.Contains(out.String(), read(secret)) {
			t.Errorf("the output shows the secret %s", secret)
		}
	}
}

// TestShowManifestCoercion: show-manifest describes the deniable
// re-voting option of a format-4 manifest (the valid one of
// spec/vectors/ballot-examples.json) with its three numbers.
func TestShowManifestCoercion(t *testing.T) {
	raw, err := os.ReadFile("../../spec/vectors/ballot-examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Vectors []struct {
			Comment string `json:"comment"`
			Bytes   string `json:"bytes"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var m *ballot.Manifest
	for _, x := range v.Vectors {
		if strings.HasPrefix(x.Comment, "format 4: deniable re-voting") {
			b, _ := hex.DecodeString(x.Bytes)
			if m, err = ballot.DecodeManifest(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if m == nil {
		t.Fatal("no format-4 manifest in the vectors")
	}
	var out bytes.Buffer
	describeManifest(&out, m, "en")
	want := "coercion resistance: deniable re-voting: slots of 60 s, 128 rows a slot, 8 rows a voter (at most 7 ballots online); not run by this server yet\n"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("show-manifest:\n%s\nwant the line %q", out.String(), want)
	}
}
