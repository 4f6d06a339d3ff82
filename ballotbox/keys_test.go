package ballotbox

import (
	"testing"

	"evote/ballot"
	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// TestCiphertextKeysOf: hashing the encodings in the payload gives the
// same keys as re-encoding the decoded ciphertexts (the keys the election
// rules use).
func TestCiphertextKeysOf(t *testing.T) {
	b := &ballot.EncryptedBallot{ElectionID: "e", Style: "s"}
	for c := 0; c < 3; c++ {
		cb := ballot.ContestBallot{Proof: []byte{byte(c), 1, 2}}
		for i := 0; i <= c; i++ {
			g := group.NewGeneratorElement()
			x := new(group.Element).ScalarMult(group.RandomScalar(), g)
			y := new(group.Element).ScalarMult(group.RandomScalar(), g)
			cb.Ciphertexts = append(cb.Ciphertexts, &elgamal.Ciphertext{A: *x, B: *y})
		}
		b.Contests = append(b.Contests, cb)
	}
	payload := b.Encode()
	dec, err := ballot.DecodeBallot(payload)
	if err != nil {
		t.Fatal(err)
	}
	got, want := ciphertextKeysOf(payload, dec), ciphertextKeys(dec)
	if len(got) != 6 || len(got) != len(want) {
		t.Fatalf("%d keys, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("key %d differs", i)
		}
	}
}
