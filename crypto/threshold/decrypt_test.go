package threshold

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/testrand"
)

var (
	sharedDKGOnce sync.Once
	sharedDKG     *dkg
)

// honestDKG returns one n=5, t=3 key generation shared by the tests that
// only need keys.
func honestDKG(t testing.TB) *dkg {
	sharedDKGOnce.Do(func() {
		d := newDKG(t, Params{N: 5, T: 3}, "shared")
		if err := d.run(hooks{}); err != nil {
			t.Fatal(err)
		}
		sharedDKG = d
	})
	if sharedDKG == nil {
		t.Fatal("shared key generation failed")
	}
	return sharedDKG
}

func TestBadDecryptionShareNamed(t *testing.T) {
	d := honestDKG(t)
	rnd := testrand.New("bad decryption")
	cts, ms := encryptTestVotes(t, d.res.JointKey, 20, rnd)
	table := elgamal.NewDLogTable(100)
	var shares []*DecryptionShare
	for j := 1; j <= 5; j++ {
		s, err := d.shares[j-1].DecryptShares(testExt, cts, rnd)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, roundTrip(t, s, ParseDecryptionShare))
	}
	// Trustee 2 cheats on ciphertext 13.
	shares[1].D[13] = new(group.Element).Add(shares[1].D[13], group.NewGeneratorElement())
	err := VerifyDecryptionShare(testExt, d.res.VerificationKeys, cts, shares[1])
	var se *ShareError
	if !errors.As(err, &se) || se.Trustee != 2 || !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("bad share not named: %v", err)
	}
	// The board path (bytes, shared list) gives the same verdict.
	list := NewCiphertextList(cts)
	var se2 *ShareError
	if _, err := VerifyDecryptionShareBytes(testExt, d.res.VerificationKeys, list, shares[1].Bytes()); !errors.As(err, &se2) || se2.Trustee != se.Trustee {
		t.Fatalf("bytes path: %v", err)
	}
	if _, err := VerifyDecryptionShareBytes(testExt, d.res.VerificationKeys, list, shares[0].Bytes()); err != nil {
		t.Fatalf("bytes path rejects an honest share: %v", err)
	}
	// Decrypt sets the bad share aside and uses the next t valid.
	got, bad, err := Decrypt(d.p, testExt, d.res.VerificationKeys, cts, shares, table)
	if err != nil || !slices.Equal(got, ms) || len(bad) != 1 || bad[0].Trustee != 2 {
		t.Fatalf("Decrypt: %v %v %v", got, bad, err)
	}
	// Trustees 2 and 4 now cheat: of 2, 3, 4 only one share is valid.
	shares[3].D[0] = shares[4].D[0]
	if _, bad, err := Decrypt(d.p, testExt, d.res.VerificationKeys, cts, shares[1:4], table); !errors.Is(err, ErrTooFewShares) || len(bad) != 2 {
		t.Fatalf("too few valid shares: %v %v", bad, err)
	}
}

func TestBatchedProofBound(t *testing.T) {
	d := honestDKG(t)
	rnd := testrand.New("batched")
	cts, _ := encryptTestVotes(t, d.res.JointKey, 5, rnd)
	s, err := d.shares[0].DecryptShares(testExt, cts, rnd)
	if err != nil {
		t.Fatal(err)
	}
	vks := d.res.VerificationKeys
	if err := VerifyDecryptionShare(testExt, vks, cts, s); err != nil {
		t.Fatal(err)
	}
	// Swapping two shares keeps the multiset of D but not their positions.
	swapped := *s
	swapped.D = slices.Clone(s.D)
	swapped.D[0], swapped.D[1] = swapped.D[1], swapped.D[0]
	reordered := slices.Clone(cts)
	reordered[3], reordered[4] = cts[4], cts[3]
	other := testExt
	other[0] ^= 1
	wrongTrustee := *s
	wrongTrustee.Trustee = 2
	for name, err := range map[string]error{
		"swapped shares":       VerifyDecryptionShare(testExt, vks, cts, &swapped),
		"reordered ciphertext": VerifyDecryptionShare(testExt, vks, reordered, s),
		"other context":        VerifyDecryptionShare(other, vks, cts, s),
		"claims trustee 2":     VerifyDecryptionShare(testExt, vks, cts, &wrongTrustee),
		"fewer ciphertexts":    VerifyDecryptionShare(testExt, vks, cts[:4], s),
	} {
		if !errors.Is(err, ErrInvalidShare) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCombineRefusals(t *testing.T) {
	d := honestDKG(t)
	rnd := testrand.New("combine")
	cts, _ := encryptTestVotes(t, d.res.JointKey, 1, rnd)
	sh := d.decryptWith(t, []int{1, 2, 3}, cts, rnd)
	if _, err := Combine(d.p, cts, []*DecryptionShare{sh[0], sh[1], sh[0]}); err == nil {
		t.Error("repeated trustee accepted")
	}
	if _, err := Combine(d.p, cts, sh[:2]); !errors.Is(err, ErrTooFewShares) {
		t.Errorf("two shares: %v", err)
	}
	if _, err := LagrangeAtZero([]int{1, 0}); err == nil {
		t.Error("index 0 accepted")
	}
}

func TestLagrangeAndInterpolate(t *testing.T) {
	rnd := testrand.New("poly")
	coeffs := make([]group.Scalar, 4)
	for k := range coeffs {
		coeffs[k].SetRandom(rnd)
	}
	xs := []int{2, 5, 7, 11}
	ys := make([]*group.Scalar, len(xs))
	for k, x := range xs {
		ys[k] = evalPoly(coeffs, x)
	}
	got := interpolate(xs, ys)
	for k := range coeffs {
		if got[k].Equal(&coeffs[k]) != 1 {
			t.Fatalf("coefficient %d not recovered", k)
		}
	}
	lambda, err := LagrangeAtZero(xs)
	if err != nil {
		t.Fatal(err)
	}
	sum := group.NewScalar()
	for k := range xs {
		sum.MultiplyAdd(lambda[k], ys[k], sum)
	}
	if sum.Equal(&coeffs[0]) != 1 {
		t.Fatal("Lagrange at zero wrong")
	}
}

func TestContextHashes(t *testing.T) {
	d := honestDKG(t)
	var vl [32]byte
	e1 := ExtendedHash(d.base, d.res.JointKey, d.res.VerificationKeys, vl)
	vl[0] = 1
	e2 := ExtendedHash(d.base, d.res.JointKey, d.res.VerificationKeys, vl)
	e3 := ExtendedHash(d.base, d.res.JointKey, d.res.VerificationKeys[:4], vl)
	if e1 == e2 || e2 == e3 || e1 == d.base {
		t.Fatal("extended hash ignores an input")
	}
	if _, err := BaseHash([32]byte{}, Params{N: 2, T: 3}, nil); !errors.Is(err, ErrParams) {
		t.Fatal("t > n accepted")
	}
}

func TestTranscriptAdd(t *testing.T) {
	d := honestDKG(t)
	tr := &Transcript{Params: d.p, BaseHash: d.base}
	if err := tr.Add(d.tr.Qualified.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := tr.Add(d.tr.Qualified.Bytes()); !errors.Is(err, ErrMalformed) {
		t.Errorf("second Qualified: %v", err)
	}
	cts, _ := encryptTestVotes(t, d.res.JointKey, 1, nil)
	s := d.decryptWith(t, []int{1}, cts, nil)[0]
	if err := tr.Add(s.Bytes()); !errors.Is(err, ErrMalformed) {
		t.Errorf("decryption share added to a key-generation transcript: %v", err)
	}
	if _, err := ParseMessage([]byte{0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("kind 0: %v", err)
	}
	if m, err := ParseMessage(s.Bytes()); err != nil || !bytes.Equal(m.Bytes(), s.Bytes()) {
		t.Errorf("decryption share via ParseMessage: %v", err)
	}
}

// TestBadProofNamed: correct shares with a tampered proof are rejected and
// the trustee named.
func TestBadProofNamed(t *testing.T) {
	d := honestDKG(t)
	rnd := testrand.New("bad proof")
	cts, _ := encryptTestVotes(t, d.res.JointKey, 6, rnd)
	one := new(group.Scalar).SetUint64(1)

	s, err := d.shares[3].DecryptShares(testExt, cts, rnd)
	if err != nil {
		t.Fatal(err)
	}
	s.Proof.Z.Add(&s.Proof.Z, one)
	var se *ShareError
	if err := VerifyDecryptionShare(testExt, d.res.VerificationKeys, cts, s); !errors.As(err, &se) || se.Trustee != 4 {
		t.Fatalf("bad batched proof: %v", err)
	}
	s.Proof = nil
	if err := VerifyDecryptionShare(testExt, d.res.VerificationKeys, cts, s); !errors.As(err, &se) || se.Trustee != 4 {
		t.Fatalf("no proof: %v", err)
	}
}
