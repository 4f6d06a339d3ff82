package ballot

import (
	"errors"
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	f := m.Fingerprint()
	if f != Fingerprint(m.Hash()) {
		t.Fatal("fingerprint is not the manifest hash")
	}
	short := f.String()
	if len(short) != 39 || strings.Count(short, "-") != 7 {
		t.Fatalf("short form %q", short)
	}
	for _, s := range []string{f.Hex(), short, strings.ToLower(short), strings.ReplaceAll(short, "-", ""), " " + short + "\n"} {
		e, err := ParseFingerprint(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if err := e.Check(m); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	// Another manifest (one witness fewer) has another fingerprint, in
	// either form.
	o := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	o.Board.Witnesses, o.Board.Quorum = o.Board.Witnesses[:1], 1
	for _, s := range []string{f.Hex(), short} {
		e, _ := ParseFingerprint(s)
		if err := e.Check(o); !errors.Is(err, ErrFingerprintMismatch) {
			t.Errorf("%q accepted another manifest: %v", s, err)
		}
	}
	for _, bad := range []string{"", "ABCD", strings.Repeat("z", 64), short[:len(short)-1], short + "-AAAA"} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if err := (ExpectedFingerprint{}).Check(m); !errors.Is(err, ErrFingerprintMismatch) {
		t.Errorf("no fingerprint accepted: %v", err)
	}
}
