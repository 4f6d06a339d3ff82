package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/web"
)

// fakeBox serves an election whose board holds one signed manifest naming
// clientHash, and the embedded voting page.
func fakeBox(t *testing.T, clientHash [32]byte) *httptest.Server {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	_, wk, _ := ed25519.GenerateKey(rand.Reader)
	anchors := ballot.BoardAnchors{Origin: "evote.test/board/web-check", LogKey: [32]byte(pub), Quorum: 1,
		Witnesses: []ballot.Witness{{Name: "witness.evote.test", Key: [32]byte(wk.Public().(ed25519.PublicKey))}}}
	m := ballot.SampleManifest("web-check", []ballot.Trustee{{Index: 1, Name: "T1", SignKey: [32]byte(pub), HPKEKey: x25519Base()}}, 1, [32]byte(pub), anchors)
	m.Mixes = 1
	m.ClientHash = clientHash
	log := bulletin.LogIDFor("evote.test/board/web-check")
	e, err := bulletin.NewEntry(log, bulletin.TypeManifest, [32]byte(pub), bulletin.NewEd25519Signer(key), m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, err := web.New(web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logHex := hex.EncodeToString(log[:])
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/elections/web-check", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"election_id": "web-check", "log": logHex})
	})
	mux.HandleFunc("/api/v1/board/"+logHex+"/entries", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"start": 0, "size": 1, "entries": []map[string]any{{"index": 0, "canonical": base64.StdEncoding.EncodeToString(e.Encode())}}})
	})
	mux.Handle("/", page)
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// x25519Base returns the X25519 base point (u = 9), a valid HPKE key.
func x25519Base() []byte {
	k := make([]byte, 32)
	k[0] = 9
	return k
}

func TestCheckClient(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	s := fakeBox(t, web.ClientHash())
	if err := checkClientCmd(ctx, []string{"--server", s.URL, "--election", "web-check"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "is the one the manifest names") {
		t.Fatal(out.String())
	}
	other := web.ClientHash()
	other[0] ^= 1
	s = fakeBox(t, other)
	if err := checkClientCmd(ctx, []string{"--server", s.URL, "--election", "web-check"}, &out); err == nil || !strings.Contains(err.Error(), "another voting page") {
		t.Fatalf("a manifest naming another page passed: %v", err)
	}
	s = fakeBox(t, [32]byte{})
	if err := checkClientCmd(ctx, []string{"--server", s.URL, "--election", "web-check"}, &out); err == nil {
		t.Fatal("a manifest without a client hash passed")
	}
}
