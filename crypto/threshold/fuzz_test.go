package threshold

import (
	"bytes"
	"testing"

	"evote/internal/testrand"
)

// seedMessages returns one encoding of every message kind from a small
// honest run (with one complaint and one reconstruction so that every kind
// occurs).
func seedMessages(f *testing.F) [][]byte {
	d := newDKG(f, Params{N: 3, T: 2}, "fuzz seeds")
	err := d.run(hooks{
		deal: badShareTo(d, 1, 2),
		extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
			if i == 3 {
				return nil
			}
			return e
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	tr := d.tr
	for _, m := range tr.Commitments {
		out = append(out, m.Bytes())
	}
	for _, m := range tr.EncryptedShares {
		out = append(out, m.Bytes())
	}
	for _, m := range tr.Complaints {
		out = append(out, m.Bytes())
	}
	for _, m := range tr.Answers {
		out = append(out, m.Bytes())
	}
	out = append(out, tr.Qualified.Bytes())
	for _, m := range tr.Extraction {
		out = append(out, m.Bytes())
	}
	for _, m := range tr.ExtractionComplaints {
		out = append(out, m.Bytes())
	}
	for _, m := range tr.Reveals {
		out = append(out, m.Bytes())
	}
	cts, _ := encryptTestVotes(f, d.res.JointKey, 2, testrand.New("fuzz"))
	s, err := d.shares[0].DecryptShares(testExt, cts, nil)
	if err != nil {
		f.Fatal(err)
	}
	out = append(out, s.Bytes())
	return out
}

// fuzzDecoder checks that parse never panics and that whatever it accepts
// re-encodes to exactly the input (one encoding per value).
func fuzzDecoder[M interface{ Bytes() []byte }](f *testing.F, parse func([]byte) (M, error)) {
	for _, s := range seedMessages(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Bytes(), b) {
			t.Fatalf("accepted a non-canonical encoding: %x", b)
		}
	})
}

func FuzzParseCommitments(f *testing.F)     { fuzzDecoder(f, ParseCommitments) }
func FuzzParseEncryptedShares(f *testing.F) { fuzzDecoder(f, ParseEncryptedShares) }
func FuzzParseComplaint(f *testing.F)       { fuzzDecoder(f, ParseComplaint) }
func FuzzParseComplaintAnswer(f *testing.F) { fuzzDecoder(f, ParseComplaintAnswer) }
func FuzzParseQualified(f *testing.F)       { fuzzDecoder(f, ParseQualified) }
func FuzzParseExtractionCommitments(f *testing.F) {
	fuzzDecoder(f, ParseExtractionCommitments)
}
func FuzzParseExtractionComplaint(f *testing.F) { fuzzDecoder(f, ParseExtractionComplaint) }
func FuzzParseExtractionReveal(f *testing.F)    { fuzzDecoder(f, ParseExtractionReveal) }
func FuzzParseDecryptionShare(f *testing.F)     { fuzzDecoder(f, ParseDecryptionShare) }

func FuzzParseMessage(f *testing.F) { fuzzDecoder(f, ParseMessage) }
