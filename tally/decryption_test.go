package tally

import (
	"crypto/sha256"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/wire"
)

// TargetDigest, which hashes the list a part at a time, is SHA-256 of the
// whole encoding (§5.10) at every length around a part's boundary.
func TestTargetDigestParts(t *testing.T) {
	gs := group.Generators([]byte("target-digest-test"), "rows", 2*targetPart+1)
	for _, n := range []int{0, 1, targetPart - 1, targetPart, targetPart + 1, 2*targetPart + 1} {
		cts := make([]*elgamal.Ciphertext, n)
		for i := range cts {
			cts[i] = elgamal.NewCiphertext(gs[i], gs[(i+1)%len(gs)])
		}
		w := wire.NewWriter(0)
		w.String(TargetDigestTag)
		w.U32(uint32(n))
		for _, c := range cts {
			w.Ciphertext(c)
		}
		if TargetDigest(cts) != sha256.Sum256(w.Bytes()) {
			t.Fatalf("%d ciphertexts: digest differs from SHA-256 of the encoding", n)
		}
	}
}
