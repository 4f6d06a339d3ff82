package verify_test

import (
	"os"
	"strings"
	"testing"

	"evote/ballot"
	"evote/verify"
)

// TestWriteText: the text report ends VALID on the spec's example record
// and INVALID naming the failing check on a copy with one entry changed.
func TestWriteText(t *testing.T) {
	const dir = "../spec/vectors/record-example"
	rec, err := verify.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(dir + "/fingerprint")
	fp, err := ballot.ParseFingerprint(strings.SplitN(string(text), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	verify.Verify(rec, verify.Options{Fingerprint: fp, Workers: 1}).WriteText(&b)
	if out := b.String(); !strings.HasSuffix(out, "VALID: every check holds.\n") || !strings.Contains(out, "result (recomputed") {
		t.Fatalf("valid record:\n%s", out)
	}
	last := rec.Entries[len(rec.Entries)-1]
	last = append([]byte{}, last...)
	last[len(last)-1] ^= 1 // the signature's last byte
	rec.Entries[len(rec.Entries)-1] = last
	b.Reset()
	rep := verify.Verify(rec, verify.Options{Fingerprint: fp, Workers: 1})
	rep.WriteText(&b)
	f, _ := rep.First()
	if out := b.String(); rep.OK || !strings.Contains(out, "\nINVALID: ") || !strings.Contains(out, "FAIL  "+string(f.Check)) {
		t.Fatalf("tampered record:\n%s", out)
	}
}
