package api_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"evote/bulletin"
	"evote/internal/loadtest"
)

// entryBody streams {"entry":"<base64url of an entry>"} for an entry of
// type typ by author whose payload is n zero bytes and whose signature is
// zero, without holding it in memory: after the header (and one zero
// byte), the base64 of zero bytes is "A"s.
func entryBody(log bulletin.LogID, typ bulletin.Type, author [32]byte, n int) (io.Reader, int64) {
	hdr := []byte{bulletin.EntryVersion}
	hdr = append(hdr, log[:]...)
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(typ))
	hdr = append(hdr, author[:]...)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(n))
	head := `{"entry":"` + base64.RawURLEncoding.EncodeToString(append(hdr, 0))
	rest := base64.RawURLEncoding.EncodedLen(len(hdr)+n+64) - (len(head) - len(`{"entry":"`))
	return io.MultiReader(strings.NewReader(head), io.LimitReader(as{}, int64(rest)), strings.NewReader(`"}`)), int64(len(head) + rest + 2)
}

type as struct{}

func (as) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	return len(p), nil
}

// TestTrusteeEntryFlood (issue 16, finding 2): strangers post 60 MB
// bodies to the trustee-entry route, 8 at a time for 3 s (at most 400).
// Before the fix each was read, copied and decoded (about 125 MB) before
// its author was checked: 16 bodies, 8 at a time, took the process to
// 1.4 GiB and public reads to 313 ms at p99. The author is at a fixed
// offset of the entry: a body whose author is no trustee of the election
// must be refused before the rest is read.
func TestTrusteeEntryFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test")
	}
	e := newEnvWith(t, envOptions{})
	read := e.srv.URL + "/api/v1/elections/" + e.f.ElectionID + "/checkpoint"
	var stranger [32]byte
	rand.Read(stranger[:])
	const payload = 45 << 20 // 60 MB of base64
	lid := e.f.Box.Log().ID()
	r := flood(t, read, loadtest.Plan{Kind: "trustee-entry", URL: e.srv.URL + "/api/v1/elections/" + e.f.ElectionID + "/trustee/entries",
		Workers: 8, Count: 400, Duration: 3 * time.Second,
		Params: map[string]string{"log": hex.EncodeToString(lid[:]), "author": hex.EncodeToString(stranger[:]), "type": strconv.Itoa(int(bulletin.TypeMixOutput)), "payload": strconv.Itoa(payload)}})
	r.check(t)
	if len(r.statuses) != 1 || r.statuses[http.StatusForbidden] == 0 {
		t.Errorf("answers %v, want only 403 wrong_author", r.statuses)
	}
}

// TestTrusteeEntryStream: the trustee route's streaming reader gives each
// body the answer the whole-body decoder gave, and checks the header
// (log, type, author, phase) before reading the rest.
func TestTrusteeEntryStream(t *testing.T) {
	e := newEnv(t)
	id := e.f.ElectionID
	path := "/elections/" + id + "/trustee/entries"
	lid := e.f.Box.Log().ID()
	trustee := e.f.Trustees[0]
	entry := func(typ bulletin.Type, log bulletin.LogID, payload []byte) []byte {
		en, err := bulletin.NewEntry(log, typ, [32]byte(trustee.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(trustee), payload)
		if err != nil {
			t.Fatal(err)
		}
		return en.Encode()
	}
	body := func(raw []byte) []byte { return []byte(`{"entry":"` + b64(raw) + `"}`) }
	post := func(b []byte) (int, string) {
		st, out := e.do(t, "POST", path, "", "application/json", b)
		code := ""
		if eo, ok := out["error"].(map[string]any); ok {
			code, _ = eo["code"].(string)
		}
		return st, code
	}
	mix := entry(bulletin.TypeMixOutput, lid, bytes.Repeat([]byte{7}, 300<<10))
	stranger := ed25519.NewKeyFromSeed(make([]byte, 32))
	strangers, _ := bulletin.NewEntry(lid, bulletin.TypeMixOutput, [32]byte(stranger.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(stranger), []byte{1})
	for _, c := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"mix while voting is open", body(mix), 422, "entry_invalid"},
		{"keygen message after setup", body(entry(bulletin.TypeKeygenCommitment, lid, []byte{1})), 422, "entry_invalid"},
		{"a stranger's entry", body(strangers.Encode()), 403, "wrong_author"},
		{"another log", body(entry(bulletin.TypeMixOutput, bulletin.LogIDFor("other/log"), []byte{1})), 400, "wrong_log"},
		{"not a trustee's type", body(entry(bulletin.TypeBallot, lid, []byte{1})), 400, "bad_entry"},
	} {
		if st, code := post(c.body); st != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, code, c.status, c.code)
		}
	}
	// In the mixing phase a trustee's mix is read whole and checked.
	for _, a := range []string{"close", "cleanse", "start-mixing"} {
		if st, out := e.do(t, "POST", "/elections/"+id+"/actions/"+a, e.session, "", nil); st != 201 {
			t.Fatalf("%s: %d %v", a, st, out)
		}
	}
	// (135 + 300 KiB + 1 bytes: the last base64 character has unused bits.)
	mix = entry(bulletin.TypeMixOutput, lid, bytes.Repeat([]byte{7}, 300<<10+1))
	forged := bytes.Clone(mix)
	forged[len(forged)-1] ^= 1
	text := b64(mix)
	for _, c := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"the rules refuse a malformed mix", body(mix), 422, "entry_invalid"},
		{"with JSON whitespace", []byte(" {\n \"entry\" :\t\"" + text + "\" \n} \n"), 422, "entry_invalid"},
		{"forged signature", body(forged), 400, "bad_signature"},
		{"truncated", body(mix[:len(mix)-3]), 400, "bad_entry"},
		{"longer than announced", body(append(bytes.Clone(mix), 0, 0, 0)), 400, "bad_entry"},
		{"a newline inside", []byte(`{"entry":"` + text[:200] + `\n` + text[200:] + `"}`), 400, "bad_base64"},
		{"padding", []byte(`{"entry":"` + text[:len(text)-(len(text)%4)] + `===="}`), 400, "bad_base64"},
		{"non-canonical last character", []byte(`{"entry":"` + text[:len(text)-1] + nonCanonical(text) + `"}`), 400, "bad_base64"},
		{"a second field", []byte(`{"entry":"` + text + `","x":1}`), 400, "bad_json"},
		{"trailing data", []byte(`{"entry":"` + text + `"} {}`), 400, "bad_json"},
		{"unterminated", []byte(`{"entry":"` + text), 400, "bad_json"},
		{"escaped key", []byte(`{"\u0065ntry":"` + text + `"}`), 400, "bad_json"},
		{"empty entry", []byte(`{"entry":""}`), 400, "bad_request"},
	} {
		if st, code := post(c.body); st != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, code, c.status, c.code)
		}
	}
}

// nonCanonical returns the last base64url character of text with a
// nonzero unused bit, when it has unused bits.
func nonCanonical(text string) string {
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", text[len(text)-1])
	return string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
}
