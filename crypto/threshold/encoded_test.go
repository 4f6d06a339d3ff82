package threshold

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/testrand"
)

// TestEncodedListAgrees: a list held encoded (NewEncodedCiphertextList,
// CombineEncoded, decoding a chunk at a time) gives the verdicts and the
// plaintexts the decoded list gives: honest shares pass, a share with one
// D changed fails naming its trustee, whichever chunk it is in.
func TestEncodedListAgrees(t *testing.T) {
	defer func(c int) { chunkSize = c }(chunkSize)
	chunkSize = 7
	d := honestDKG(t)
	rnd := testrand.New("encoded list")
	cts, ms := encryptTestVotes(t, d.res.JointKey, 20, rnd)
	var enc []byte
	for _, c := range cts {
		enc = c.AppendBytes(enc)
	}
	list, err := NewEncodedCiphertextList(enc)
	if err != nil || list.Len() != len(cts) {
		t.Fatal(list, err)
	}
	vks := d.res.VerificationKeys
	var shares [][]byte
	for j := 1; j <= 5; j++ {
		s, err := d.shares[j-1].DecryptShares(testExt, cts, rnd)
		if err != nil {
			t.Fatal(err)
		}
		b := s.Bytes()
		if err := list.VerifyShare(testExt, vks, s, b); err != nil {
			t.Fatalf("trustee %d: honest share refused: %v", j, err)
		}
		if err := list.VerifyShare(testExt, vks, s, nil); err != nil {
			t.Fatalf("trustee %d: honest share refused without its encoding: %v", j, err)
		}
		shares = append(shares, b)
	}
	for _, at := range []int{0, 6, 7, 13, 19} {
		s, err := ParseDecryptionShare(shares[1])
		if err != nil {
			t.Fatal(err)
		}
		s.D[at] = new(group.Element).Add(s.D[at], group.NewGeneratorElement())
		want := VerifyDecryptionShare(testExt, vks, cts, s)
		got := list.VerifyShare(testExt, vks, s, s.Bytes())
		var se *ShareError
		if want == nil || !errors.As(got, &se) || se.Trustee != 2 || !errors.Is(got, ErrInvalidShare) {
			t.Errorf("D[%d] changed: encoded list says %v, decoded %v", at, got, want)
		}
	}
	// Combining: the first t shares given, as Combine does.
	table := elgamal.NewDLogTable(100)
	for _, use := range [][]int{{0, 1, 2}, {4, 2, 0}, {1, 3, 4, 0}} {
		var bs [][]byte
		var parsed []*DecryptionShare
		for _, k := range use {
			bs = append(bs, shares[k])
			s, _ := ParseDecryptionShare(shares[k])
			parsed = append(parsed, s)
		}
		want, err := Combine(d.p, cts, parsed)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		var gotM []*group.Element
		err = CombineEncoded(d.p, enc, bs, func(lo int, m []*group.Element) error {
			if lo != len(gotM) || len(m) > chunkSize {
				t.Errorf("chunk at %d of %d after %d", lo, len(m), len(gotM))
			}
			for _, x := range m {
				v, err := table.Lookup(x)
				if err != nil {
					return err
				}
				got = append(got, v)
				gotM = append(gotM, x)
			}
			return nil
		})
		if err != nil || !slices.Equal(got, ms) {
			t.Fatalf("shares %v: %v %v, want %v", use, got, err, ms)
		}
		for i := range want {
			if want[i].Equal(gotM[i]) != 1 {
				t.Fatalf("shares %v: M[%d] differs from Combine's", use, i)
			}
		}
	}
	if err := CombineEncoded(d.p, enc, shares[:2], func(int, []*group.Element) error { return nil }); !errors.Is(err, ErrTooFewShares) {
		t.Errorf("two shares for t=3: %v", err)
	}
	if err := CombineEncoded(d.p, enc[:64*19], shares, func(int, []*group.Element) error { return nil }); !errors.Is(err, ErrParams) {
		t.Errorf("shares of 20 for a list of 19: %v", err)
	}
	if _, err := NewEncodedCiphertextList(enc[:100]); !errors.Is(err, ErrMalformed) {
		t.Errorf("100 bytes: %v", err)
	}
}

// TestDecryptSharesEncoded: a share made from the encoded list is the
// share DecryptShares makes (same D, a proof that verifies), and
// VerifyEncodedShare gives the verdicts VerifyDecryptionShare gives:
// honest shares pass, a changed D in any chunk, another context or a
// share of another length fail naming the trustee, a D that does not
// decode is malformed.
func TestDecryptSharesEncoded(t *testing.T) {
	defer func(c int) { chunkSize = c }(chunkSize)
	chunkSize = 7
	d := honestDKG(t)
	rnd := testrand.New("encoded shares")
	cts, _ := encryptTestVotes(t, d.res.JointKey, 20, rnd)
	var enc []byte
	for _, c := range cts {
		enc = c.AppendBytes(enc)
	}
	list, err := NewEncodedCiphertextList(enc)
	if err != nil {
		t.Fatal(err)
	}
	vks := d.res.VerificationKeys
	b, err := d.shares[1].DecryptSharesEncoded(testExt, enc, rnd)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseDecryptionShare(b)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := d.shares[1].DecryptShares(testExt, cts, rnd)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref.D {
		if ref.D[i].Equal(s.D[i]) != 1 {
			t.Fatalf("D[%d] differs from DecryptShares'", i)
		}
	}
	if err := VerifyDecryptionShare(testExt, vks, cts, s); err != nil {
		t.Fatalf("the decoded verifier refuses it: %v", err)
	}
	if j, err := list.VerifyEncodedShare(testExt, vks, b); err != nil || j != 2 {
		t.Fatalf("honest share: trustee %d, %v", j, err)
	}
	if j, err := list.VerifyEncodedShare(testExt, vks, ref.Bytes()); err != nil || j != 2 {
		t.Fatalf("DecryptShares' share: trustee %d, %v", j, err)
	}
	refused := func(name string, b []byte) {
		t.Helper()
		var se *ShareError
		if _, err := list.VerifyEncodedShare(testExt, vks, b); !errors.As(err, &se) || se.Trustee != 2 || !errors.Is(err, ErrInvalidShare) {
			t.Errorf("%s: %v", name, err)
		}
	}
	const dAt = 1 + 32 + 2 + 4 // D[0]'s offset
	for _, at := range []int{0, 6, 7, 19} {
		x, _ := ParseDecryptionShare(b)
		x.D[at] = new(group.Element).Add(x.D[at], group.NewGeneratorElement())
		refused(fmt.Sprintf("D[%d] changed", at), x.Bytes())
	}
	other := slices.Clone(b)
	other[1] ^= 1
	refused("other context", other)
	short, err := d.shares[1].DecryptSharesEncoded(testExt, enc[:64*19], rnd)
	if err != nil {
		t.Fatal(err)
	}
	refused("share of 19 ciphertexts", short)
	bad := slices.Clone(b)
	copy(bad[dAt+5*32:], slices.Repeat([]byte{0xff}, 32))
	if _, err := list.VerifyEncodedShare(testExt, vks, bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("D[5] not an element: %v", err)
	}
	if _, err := list.VerifyEncodedShare(testExt, vks, b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := d.shares[1].DecryptSharesEncoded(testExt, enc[:100], rnd); !errors.Is(err, ErrMalformed) {
		t.Errorf("100 bytes: %v", err)
	}
}
