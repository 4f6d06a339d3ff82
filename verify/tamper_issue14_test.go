package verify

import (
	"testing"

	"evote/bulletin"
	"evote/internal/wire"
	"evote/tally"
)

// Issue 14 ("the record is the contract"): records a second verifier,
// written from the spec alone, must refuse and evote-verify accepted.
// Each is an insider's record, re-signed with the authors' and the log's
// keys.

// legacyShareEntry encodes a decryption entry whose share is in the format
// before issue 14: the batched proof followed by per-ciphertext proofs,
// here the batched proof repeated (garbage nobody checked).
func legacyShareEntry(d *tally.DecryptionEntry) []byte {
	s := d.Share
	sw := wire.NewWriter(1024)
	sw.U8(9)
	sw.Fixed(s.Context[:])
	sw.U16(uint16(s.Trustee))
	sw.U32(uint32(len(s.D)))
	for _, x := range s.D {
		sw.Element(x)
	}
	sw.U8(1)
	sw.Fixed(s.Proof.Bytes())
	sw.U32(uint32(len(s.D)))
	for range s.D {
		sw.Fixed(s.Proof.Bytes())
	}
	w := wire.NewWriter(1024)
	w.U8(1)
	w.String(d.ElectionID)
	w.String(d.ContestID)
	w.U8(d.Kind)
	w.Fixed(d.Target[:])
	w.VarBytes(sw.Bytes())
	return w.Bytes()
}

func issue14Tamperings() []tampering {
	in := func(name string, want Check, build func(*testing.T, *fixture, [][]byte) [][]byte) tampering {
		return tampering{name: name, want: want, build: build, resign: true}
	}
	return []tampering{
		// Case 1: signed bytes nobody checks. The format has one proof
		// per share, the batched one; anything after it is refused.
		in("decryption share carrying per-ciphertext proofs nobody checks", CheckDecryption, edit(bulletin.TypeDecryptionShare, 1, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			d, err := tally.DecodeDecryptionEntry(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			e.Payload = legacyShareEntry(d)
		})),
	}
}
