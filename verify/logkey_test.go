package verify

import (
	"strings"
	"testing"

	"evote/bulletin"
	"evote/crypto/sig"
)

func TestLogKeyRoundTrip(t *testing.T) {
	m, err := sig.NewMLDSAKeyFromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []bulletin.LogVerifier{
		{Origin: "evote.example/a", Ed25519: [32]byte{1, 2, 3}},
		{Origin: "evote.example/b", Ed25519: [32]byte{4}, MLDSA: m.PublicKey()},
	} {
		text := FormatLogKey(v)
		got, err := ParseLogKey(text)
		if err != nil {
			t.Fatal(err)
		}
		if got.Origin != v.Origin || got.Ed25519 != v.Ed25519 || string(got.MLDSA) != string(v.MLDSA) {
			t.Errorf("round trip of %q", text)
		}
	}
	good := FormatLogKey(bulletin.LogVerifier{Origin: "evote.example/a", Ed25519: [32]byte{1}})
	for name, bad := range map[string]string{
		"empty":        "",
		"no key id":    "evote.example/a+AQ==",
		"wrong key id": strings.Replace(good, "+", "+0", 1)[:len(good)-0],
		"two ed25519":  good + good,
		"bad base64":   "evote.example/a+00000000+!!!",
		"other origin": good + strings.Replace(FormatLogKey(bulletin.LogVerifier{Origin: "evote.example/b", MLDSA: m.PublicKey()}), "", "", 1),
	} {
		if _, err := ParseLogKey(bad); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
}

// FuzzParseLogKey checks that the parser never panics and that what it
// accepts formats back to an equivalent key.
func FuzzParseLogKey(f *testing.F) {
	f.Add(FormatLogKey(bulletin.LogVerifier{Origin: "evote.example/a", Ed25519: [32]byte{1}}))
	f.Add("a+00000000+AQ==\n")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseLogKey(s)
		if err != nil {
			return
		}
		w, err := ParseLogKey(FormatLogKey(v))
		if err != nil || w.Origin != v.Origin || w.Ed25519 != v.Ed25519 {
			t.Fatalf("re-parse of %q: %v", s, err)
		}
	})
}

// FuzzReadEntries checks that the entries-file reader never panics and
// that what it reads encodes back to the same bytes.
func FuzzReadEntries(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 7})
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ReadEntries(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if got := (&Record{Entries: es}).EncodeEntries(); string(got) != string(b) {
			t.Fatalf("round trip differs")
		}
	})
}
