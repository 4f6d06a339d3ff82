package ballot

import (
	"errors"
	"io"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

// inClear re-encrypts ciphertext j of contest i of the prepared ballot
// with randomness 0 and proves the contest again: every proof verifies,
// but that ciphertext is (1, g^m), its vote readable by anyone (issue 14,
// case 5).
func inClear(t *testing.T, e *Election, p *PreparedBallot, i, j int, rand io.Reader) {
	t.Helper()
	b := p.Ballot
	st, _ := e.Manifest.Style(b.Style)
	c, _ := e.Manifest.Contest(st.Contests[i])
	ctx := ContestContext(e.ExtendedHash, b.CredentialKey, i, c.ID)
	rs := append([]*group.Scalar{}, p.Randomness[i]...)
	rs[j] = group.NewScalar()
	cts := make([]*elgamal.Ciphertext, len(rs))
	ms := make([]uint64, len(rs))
	for k, r := range rs {
		ms[k] = uint64(p.Plaintexts[i][k])
		cts[k] = e.PublicKey.EncryptWithRandomness(new(group.Scalar).SetUint64(ms[k]), r)
	}
	var proof []byte
	if c.Kind == SingleChoice {
		pr, err := zkp.ProveRange(ctx, &zkp.RangeStatement{PK: e.PublicKey, Ciphertext: cts[0], Max: len(c.Candidates)}, ms[0], rs[0], rand)
		if err != nil {
			t.Fatal(err)
		}
		proof = pr.Bytes()
	} else {
		pr, err := zkp.ProveSum(ctx, multiSelectStatement(e.PublicKey, c, cts), ms, rs, rand)
		if err != nil {
			t.Fatal(err)
		}
		proof = pr.Bytes()
	}
	b.Contests[i] = ContestBallot{Ciphertexts: cts, Proof: proof}
	p.Randomness[i] = rs
}

// TestCiphertextInClearRefused (issue 14, case 5): a ballot one of whose
// ciphertexts has first component the identity (randomness 0) shows its
// vote to anyone, a receipt for a vote buyer; its proofs verify, but
// Verify and AddToBatch refuse it, naming the contest. An audit of such a
// ballot is accepted: it is opened anyway.
func TestCiphertextInClearRefused(t *testing.T) {
	e, _ := testElection(t)
	for _, tc := range []struct {
		name string
		i, j int
	}{{"single choice", 0, 0}, {"multi-select", 1, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.Encrypt("style-kara-suu", credA, Selection{"council-kara-suu": {2}, "priorities": {0, 2}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			inClear(t, e, p, tc.i, tc.j, nil)
			err = e.Verify(p.Ballot)
			if !errors.Is(err, ErrClearCiphertext) || !errors.Is(err, ErrInvalidBallot) {
				t.Fatalf("ballot with a ciphertext in clear: Verify = %v", err)
			}
			if err := e.AddToBatch(zkp.NewBatch(), p.Ballot, "ballot"); !errors.Is(err, ErrClearCiphertext) {
				t.Errorf("AddToBatch = %v", err)
			}
			if err := p.Audit().Verify(e.Manifest, e.PublicKey); err != nil {
				t.Errorf("its audit is refused: %v", err)
			}
		})
	}
}

// zeroReader yields zero bytes: every scalar drawn from it is 0.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestEncryptNeverInClear: a device whose randomness gives r = 0 (an all
// zero source here) does not produce a ballot the box would refuse.
func TestEncryptNeverInClear(t *testing.T) {
	e, _ := testElection(t)
	p, err := e.Encrypt("style-kara-suu", credA, Selection{"council-kara-suu": {1}}, zeroReader{})
	if err == nil {
		err = e.Verify(p.Ballot)
	}
	if err == nil {
		t.Fatal("a ballot with r = 0 everywhere was made and verifies")
	}
	if !errors.Is(err, ErrEntropy) {
		t.Errorf("Encrypt with no entropy: %v, want ErrEntropy", err)
	}
}
