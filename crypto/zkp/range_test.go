package zkp

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// ballotContext builds a context the way the ballot layer does (spec §4.5):
// extended election hash || voter credential key || u32(contest index).
func ballotContext(election, voter string, contest uint32) []byte {
	eh := make([]byte, 32)
	copy(eh, election)
	vk := group.HashToElement([]byte(voter), []byte(group.HashToElementDST)).Bytes()
	return binary.BigEndian.AppendUint32(append(eh, vk...), contest)
}

func mustKeyPair(t testing.TB) *elgamal.PrivateKey {
	t.Helper()
	sk, err := elgamal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// rangeFixture is an honest encryption of m with its proof.
type rangeFixture struct {
	ctx   []byte
	st    *RangeStatement
	r     *group.Scalar
	m     uint64
	proof *RangeProof
}

func newRangeFixture(t testing.TB, pk *elgamal.PublicKey, k int, m uint64, ctx []byte) *rangeFixture {
	t.Helper()
	ct, r, err := pk.Encrypt(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &RangeStatement{PK: pk, Ciphertext: ct, Max: k}
	p, err := ProveRange(ctx, st, m, r, nil)
	if err != nil {
		t.Fatalf("k=%d m=%d: %v", k, m, err)
	}
	return &rangeFixture{ctx: ctx, st: st, r: r, m: m, proof: p}
}

func TestRangeHonest(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("election", "voter", 0)
	for _, k := range []int{0, 1, 2, 5, 10} {
		b := NewBatch()
		g, h := b.Shared(GeneratorElement()), b.Shared(pk.Element())
		for m := 0; m <= k; m++ {
			f := newRangeFixture(t, pk, k, uint64(m), ctx)
			if err := f.proof.Verify(ctx, f.st); err != nil {
				t.Fatalf("k=%d m=%d: honest proof rejected: %v", k, m, err)
			}
			if !referenceVerifyRange(f.proof, ctx, f.st) {
				t.Fatalf("k=%d m=%d: reference verifier rejects", k, m)
			}
			enc := f.proof.Bytes()
			if len(enc) != RangeProofSize(k) {
				t.Fatalf("k=%d: encoding is %d bytes, want %d", k, len(enc), RangeProofSize(k))
			}
			q, err := ParseRangeProof(enc, k)
			if err != nil {
				t.Fatalf("k=%d m=%d: parse: %v", k, m, err)
			}
			if !bytes.Equal(q.Bytes(), enc) {
				t.Fatal("re-encoding differs")
			}
			if err := q.Verify(ctx, f.st); err != nil {
				t.Fatalf("k=%d m=%d: decoded proof rejected: %v", k, m, err)
			}
			if err := q.AddToBatch(b, fmt.Sprintf("m=%d", m), ctx, f.st, g, h); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Verify(); err != nil {
			t.Fatalf("k=%d: honest batch rejected: %v", k, err)
		}
	}
}

// TestRangeRejects alters each part of statement, context and proof in turn.
func TestRangeRejects(t *testing.T) {
	pk := mustKeyPair(t).Public()
	otherPK := mustKeyPair(t).Public()
	for _, k := range []int{1, 5} {
		ctx := ballotContext("election", "voter", 2)
		f := newRangeFixture(t, pk, k, 1, ctx)
		enc := f.proof.Bytes()
		other := newRangeFixture(t, pk, k, 1, ctx) // same m, other randomness
		type tc struct {
			name string
			ctx  []byte
			st   *RangeStatement
			enc  []byte
			want error
		}
		st := func(pk *elgamal.PublicKey, ct *elgamal.Ciphertext, k int) *RangeStatement {
			return &RangeStatement{PK: pk, Ciphertext: ct, Max: k}
		}
		swapped := elgamal.NewCiphertext(&f.st.Ciphertext.A, &other.st.Ciphertext.B)
		shifted := new(elgamal.Ciphertext).Add(f.st.Ciphertext, elgamal.Zero())
		shifted.B.Add(&shifted.B, GeneratorElement()) // encrypts m+1
		cases := []tc{
			{"other ciphertext", ctx, st(pk, other.st.Ciphertext, k), enc, ErrInvalidProof},
			{"mixed ciphertext", ctx, st(pk, swapped, k), enc, ErrInvalidProof},
			{"ciphertext of m+1", ctx, st(pk, shifted, k), enc, ErrInvalidProof},
			{"other key", ctx, st(otherPK, f.st.Ciphertext, k), enc, ErrInvalidProof},
			{"other election", ballotContext("election 2", "voter", 2), f.st, enc, ErrInvalidProof},
			{"other voter", ballotContext("election", "voter 2", 2), f.st, enc, ErrInvalidProof},
			{"other contest", ballotContext("election", "voter", 3), f.st, enc, ErrInvalidProof},
			{"empty context", nil, f.st, enc, ErrInvalidProof},
		}
		n := 2 * (k + 1)
		for i := 0; i < n; i++ {
			b := bytes.Clone(enc)
			e, _ := new(group.Element).SetCanonicalBytes(b[32*i : 32*i+32])
			copy(b[32*i:], e.Add(e, GeneratorElement()).Bytes())
			cases = append(cases, tc{fmt.Sprintf("altered commitment %d", i), ctx, f.st, b, ErrInvalidProof})
		}
		for i := 0; i < 2*k+1; i++ {
			b := bytes.Clone(enc)
			off := 32*n + 32*i
			s, _ := new(group.Scalar).SetCanonicalBytes(b[off : off+32])
			copy(b[off:], s.Add(s, new(group.Scalar).SetUint64(1)).Bytes())
			what := "response"
			if i < k {
				what = "challenge"
			}
			cases = append(cases, tc{fmt.Sprintf("altered %s %d", what, i), ctx, f.st, b, ErrInvalidProof})
		}
		// Moving weight between two challenges keeps their sum: still rejected.
		if k >= 2 {
			b := bytes.Clone(enc)
			off := 32 * n
			c0, _ := new(group.Scalar).SetCanonicalBytes(b[off : off+32])
			c1, _ := new(group.Scalar).SetCanonicalBytes(b[off+32 : off+64])
			one := new(group.Scalar).SetUint64(1)
			copy(b[off:], c0.Add(c0, one).Bytes())
			copy(b[off+32:], c1.Subtract(c1, one).Bytes())
			cases = append(cases, tc{"challenges shifted, same sum", ctx, f.st, b, ErrInvalidProof})
		}
		// Encoding errors.
		nonCanonScalar := bytes.Clone(enc)
		copy(nonCanonScalar[32*n:], addL(nonCanonScalar[32*n:32*n+32]))
		nonCanonElem := bytes.Clone(enc)
		copy(nonCanonElem, nonCanonicalElement())
		cases = append(cases,
			tc{"non-canonical challenge", ctx, f.st, nonCanonScalar, group.ErrNonCanonicalScalar},
			tc{"non-canonical commitment", ctx, f.st, nonCanonElem, group.ErrInvalidElement},
			tc{"trailing byte", ctx, f.st, append(bytes.Clone(enc), 0), ErrProofLength},
			tc{"truncated", ctx, f.st, enc[:len(enc)-1], ErrProofLength},
			tc{"empty", ctx, f.st, nil, ErrProofLength},
			tc{"proof of k-1", ctx, st(pk, f.st.Ciphertext, k-1), enc, ErrProofLength},
			tc{"proof of k+1", ctx, st(pk, f.st.Ciphertext, k+1), enc, ErrProofLength},
		)
		for _, c := range cases {
			t.Run(fmt.Sprintf("k=%d/%s", k, c.name), func(t *testing.T) {
				p, err := ParseRangeProof(c.enc, c.st.Max)
				if err == nil {
					err = p.Verify(c.ctx, c.st)
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
			})
		}
		// A decoded proof used with a statement of another bound.
		if err := f.proof.Verify(ctx, st(pk, f.st.Ciphertext, k+1)); !errors.Is(err, ErrStatement) {
			t.Errorf("k=%d: proof checked against k+1: %v", k, err)
		}
	}
}

// TestBatchHandles: handles that do not name the expected base (swapped, out
// of range, another element) are ignored, not trusted.
func TestBatchHandles(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("election", "voter", 0)
	f := newRangeFixture(t, pk, 3, 2, ctx)
	b := NewBatch()
	g, h := b.Shared(GeneratorElement()), b.Shared(pk.Element())
	other := b.Shared(new(group.Element).ScalarBaseMult(group.RandomScalar()))
	if b.Shared(GeneratorElement()) != g || b.Shared(pk.Element()) != h || len(b.sharedE) != 3 {
		t.Fatal("registering a base twice gives a new handle")
	}
	for _, hs := range [][2]int{{h, g}, {other, other}, {7, -3}, {g, h}} {
		if err := f.proof.AddToBatch(b, fmt.Sprint(hs), ctx, f.st, hs[0], hs[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Verify(); err != nil {
		t.Fatalf("honest proofs with odd handles rejected: %v", err)
	}
	if len(b.shortS) != 4*8 {
		t.Fatalf("%d short terms, want 32", len(b.shortS))
	}
	// Only the correct handles were merged: 3 batches' worth of g and h
	// terms are long terms.
	if got := len(b.longS); got != 4*2+3*2 {
		t.Fatalf("%d long terms, want %d", got, 4*2+3*2)
	}
}

// TestRangeTranscriptLayout recomputes the challenge from the byte layout
// written in spec §4.5, with nothing but SHA-512 and big integers.
func TestRangeTranscriptLayout(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("election", "voter", 9)
	f := newRangeFixture(t, pk, 2, 1, ctx)
	frame := func(label string, data []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(len(label)))
		b = append(b, label...)
		b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
		return append(b, data...)
	}
	var in []byte
	in = append(in, frame("evote-v1/transcript", []byte("evote-v1/range"))...)
	in = append(in, frame("context", ctx)...)
	in = append(in, frame("pk", pk.Bytes())...)
	in = append(in, frame("ciphertext", f.st.Ciphertext.Bytes())...)
	in = append(in, frame("k", binary.BigEndian.AppendUint64(nil, 2))...)
	enc := f.proof.Bytes()
	in = append(in, frame("commitments", append(binary.BigEndian.AppendUint32(nil, 6), enc[:6*32]...))...)
	in = append(in, frame("challenge", nil)...)
	d := sha512.Sum512(in)
	le := make([]byte, 64)
	for i := range d {
		le[63-i] = d[i]
	}
	c := new(big.Int).Mod(new(big.Int).SetBytes(le), groupOrder)
	got := rangeChallenge(ctx, f.st, f.proof.commitEnc)
	want := c.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatal("challenge differs from the spec's layout")
	}
}

// TestConcurrentKeys exercises the public-key encoding cache from several
// goroutines with two keys in turn (run with -race).
func TestConcurrentKeys(t *testing.T) {
	pks := []*elgamal.PublicKey{mustKeyPair(t).Public(), mustKeyPair(t).Public()}
	ctx := ballotContext("election", "voter", 0)
	fs := []*rangeFixture{newRangeFixture(t, pks[0], 2, 1, ctx), newRangeFixture(t, pks[1], 2, 2, ctx)}
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			var err error
			for i := 0; i < 10 && err == nil; i++ {
				f := fs[(w+i)%2]
				err = f.proof.Verify(ctx, f.st)
			}
			errs <- err
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchMerge merges per-proof batches, as the ballot box does with one
// batch per ballot: honest batches pass together; one false proof fails
// the merged batch, and each merged batch, still intact, tells alone which
// one it was.
func TestBatchMerge(t *testing.T) {
	pk := mustKeyPair(t).Public()
	var parts []*Batch
	for i := range 6 {
		ctx := ballotContext("election", fmt.Sprint("voter", i), 0)
		f := newRangeFixture(t, pk, 4, uint64(i%5), ctx)
		b := NewBatch()
		if i == 4 {
			// A proof made for another context: well formed, false here.
			ctx = ballotContext("election", "someone else", 0)
		}
		if err := f.proof.AddToBatch(b, fmt.Sprint("proof ", i), ctx, f.st, b.Shared(GeneratorElement()), b.Shared(pk.Element())); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	good := NewBatch()
	for i, p := range parts {
		if i != 4 {
			good.Merge(p)
		}
	}
	if err := good.Verify(); err != nil {
		t.Fatalf("merged honest batches rejected: %v", err)
	}
	if good.Len() != 5 || len(good.sharedE) != 2 {
		t.Fatalf("merged batch has %d items and %d shared bases, want 5 and 2", good.Len(), len(good.sharedE))
	}
	all := NewBatch()
	for _, p := range parts {
		all.Merge(p)
	}
	var be *BatchError
	if err := all.Verify(); !errors.As(err, &be) || be.Name != "proof 4" {
		t.Fatalf("merged batch with a false proof: %v, want it named", err)
	}
	for i, p := range parts {
		if err := p.Verify(); (err != nil) != (i == 4) {
			t.Fatalf("batch %d alone after merging: %v", i, err)
		}
	}
}
