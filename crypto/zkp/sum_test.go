package zkp

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

type sumFixture struct {
	ctx   []byte
	st    *SumStatement
	ms    []uint64
	rs    []*group.Scalar
	proof *SumProof
}

func newSumFixture(t testing.TB, pk *elgamal.PublicKey, ms []uint64, min, max int, ctx []byte) *sumFixture {
	t.Helper()
	st := &SumStatement{PK: pk, Min: min, Max: max}
	var rs []*group.Scalar
	for _, m := range ms {
		c, r, err := pk.Encrypt(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		st.Ciphertexts = append(st.Ciphertexts, c)
		rs = append(rs, r)
	}
	p, err := ProveSum(ctx, st, ms, rs, nil)
	if err != nil {
		t.Fatalf("ms=%v [%d,%d]: %v", ms, min, max, err)
	}
	return &sumFixture{ctx: ctx, st: st, ms: ms, rs: rs, proof: p}
}

// selections returns every 0/1 vector of length n.
func selections(n int) [][]uint64 {
	var out [][]uint64
	for bits := 0; bits < 1<<n; bits++ {
		v := make([]uint64, n)
		for i := range v {
			v[i] = uint64(bits >> i & 1)
		}
		out = append(out, v)
	}
	return out
}

func popcount(v []uint64) int {
	s := 0
	for _, x := range v {
		s += int(x)
	}
	return s
}

func TestSumHonest(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("election", "voter", 1)
	b := NewBatch()
	g, h := b.Shared(GeneratorElement()), b.Shared(pk.Element())
	for _, c := range []struct{ n, min, max int }{{1, 0, 1}, {3, 0, 2}, {3, 1, 1}, {4, 2, 3}, {4, 4, 4}} {
		for _, ms := range selections(c.n) {
			s := popcount(ms)
			if s < c.min || s > c.max {
				st := &SumStatement{PK: pk, Ciphertexts: make([]*elgamal.Ciphertext, c.n), Min: c.min, Max: c.max}
				rs := make([]*group.Scalar, c.n)
				for i := range ms {
					st.Ciphertexts[i], rs[i], _ = pk.Encrypt(ms[i], nil)
				}
				if _, err := ProveSum(ctx, st, ms, rs, nil); !errors.Is(err, ErrOutOfRange) {
					t.Fatalf("%v in [%d,%d]: prover did not refuse: %v", ms, c.min, c.max, err)
				}
				continue
			}
			f := newSumFixture(t, pk, ms, c.min, c.max, ctx)
			if err := f.proof.Verify(ctx, f.st); err != nil {
				t.Fatalf("%v in [%d,%d]: honest proof rejected: %v", ms, c.min, c.max, err)
			}
			enc := f.proof.Bytes()
			if len(enc) != SumProofSize(c.n, c.min, c.max) {
				t.Fatal("wrong encoded size")
			}
			q, err := ParseSumProof(enc, c.n, c.min, c.max)
			if err != nil || !bytes.Equal(q.Bytes(), enc) {
				t.Fatalf("round trip: %v", err)
			}
			if err := q.AddToBatch(b, fmt.Sprint(ms), ctx, f.st, g, h); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Verify(); err != nil {
		t.Fatalf("honest batch rejected: %v", err)
	}
}

func TestSumRejects(t *testing.T) {
	pk := mustKeyPair(t).Public()
	otherPK := mustKeyPair(t).Public()
	ctx := ballotContext("election", "voter", 1)
	f := newSumFixture(t, pk, []uint64{1, 0, 1}, 0, 2, ctx)
	g := newSumFixture(t, pk, []uint64{0, 1, 1}, 0, 2, ctx)
	enc := f.proof.Bytes()
	cts := f.st.Ciphertexts
	st := func(pk *elgamal.PublicKey, cts []*elgamal.Ciphertext, min, max int) *SumStatement {
		return &SumStatement{PK: pk, Ciphertexts: cts, Min: min, Max: max}
	}
	type tc struct {
		name string
		ctx  []byte
		st   *SumStatement
		enc  []byte
		want error
	}
	cases := []tc{
		{"other ciphertext", ctx, st(pk, []*elgamal.Ciphertext{cts[0], g.st.Ciphertexts[1], cts[2]}, 0, 2), enc, ErrInvalidProof},
		{"reordered ciphertexts", ctx, st(pk, []*elgamal.Ciphertext{cts[2], cts[1], cts[0]}, 0, 2), enc, ErrInvalidProof},
		{"other key", ctx, st(otherPK, cts, 0, 2), enc, ErrInvalidProof},
		{"min raised", ctx, st(pk, cts, 1, 3), enc, ErrInvalidProof}, // same sum bound k=2, other statement
		{"other election", ballotContext("election 2", "voter", 1), f.st, enc, ErrInvalidProof},
		{"other voter", ballotContext("election", "voter 2", 1), f.st, enc, ErrInvalidProof},
		{"other contest", ballotContext("election", "voter", 2), f.st, enc, ErrInvalidProof},
		{"max lowered", ctx, st(pk, cts, 0, 1), enc, ErrProofLength},
		{"fewer ciphertexts", ctx, st(pk, cts[:2], 0, 2), enc, ErrProofLength},
		{"trailing byte", ctx, f.st, append(bytes.Clone(enc), 0), ErrProofLength},
		{"truncated", ctx, f.st, enc[:len(enc)-32], ErrProofLength},
	}
	// Swap item proofs 0 and 2 (each proves a 1): the index in the context
	// catches it.
	item := RangeProofSize(1)
	sw := bytes.Clone(enc)
	copy(sw[:item], enc[2*item:3*item])
	copy(sw[2*item:3*item], enc[:item])
	cases = append(cases, tc{"item proofs swapped", ctx, f.st, sw, ErrInvalidProof})
	// Alter every 32-byte field in turn: commitments, challenges, responses
	// of every item and of the sum.
	for off := 0; off < len(enc); off += 32 {
		b := bytes.Clone(enc)
		var name string
		if isCommitment(off, item, len(f.st.Ciphertexts)) {
			e, err := new(group.Element).SetCanonicalBytes(b[off : off+32])
			if err != nil {
				t.Fatalf("commitment at %d: %v", off, err)
			}
			copy(b[off:], e.Add(e, generator).Bytes())
			name = "commitment at " + fmt.Sprint(off)
		} else {
			s, err := new(group.Scalar).SetCanonicalBytes(b[off : off+32])
			if err != nil {
				t.Fatalf("scalar at %d: %v", off, err)
			}
			copy(b[off:], s.Add(s, new(group.Scalar).SetUint64(1)).Bytes())
			name = "scalar at " + fmt.Sprint(off)
		}
		cases = append(cases, tc{name, ctx, f.st, b, ErrInvalidProof})
	}
	ncs := bytes.Clone(enc)
	copy(ncs[128:], addL(ncs[128:160])) // item 0's challenge c_0
	nce := bytes.Clone(enc)
	copy(nce[3*item:], nonCanonicalElement()) // the sum proof's a_0
	cases = append(cases,
		tc{"non-canonical scalar", ctx, f.st, ncs, group.ErrNonCanonicalScalar},
		tc{"non-canonical element", ctx, f.st, nce, group.ErrInvalidElement})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseSumProof(c.enc, len(c.st.Ciphertexts), c.st.Min, c.st.Max)
			if err == nil {
				err = p.Verify(c.ctx, c.st)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// isCommitment reports whether byte offset off of a sum proof encoding for
// n items falls on a commitment: the first 128 bytes of each 224-byte item
// proof, and the commitments of the sum proof (k = 2 here: 6 elements).
func isCommitment(off, item, n int) bool {
	if off < n*item {
		return off%item < 128
	}
	return off-n*item < 6*32
}

// TestSumCheatingProvers: a voter who selects too many options, or puts
// weight 2 or −1 on one option, cannot produce a verifying proof.
func TestSumCheatingProvers(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("election", "voter", 1)
	minusOne := new(group.Scalar).SetInt64(-1)
	for _, c := range []struct {
		name string
		ms   []*group.Scalar
	}{
		{"too many", []*group.Scalar{scalar(1), scalar(1), scalar(1)}},
		{"double weight", []*group.Scalar{scalar(2), scalar(0), scalar(0)}},
		{"negative weight", []*group.Scalar{scalar(1), minusOne, scalar(1)}},
	} {
		st := &SumStatement{PK: pk, Min: 0, Max: 2}
		var rs []*group.Scalar
		for _, m := range c.ms {
			r := group.RandomScalar()
			st.Ciphertexts = append(st.Ciphertexts, pk.EncryptWithRandomness(m, r))
			rs = append(rs, r)
		}
		// The cheater runs the honest algorithm with claimed values that
		// pass its precondition checks.
		for _, claim := range [][]uint64{{1, 1, 0}, {1, 0, 1}, {0, 1, 1}, {1, 0, 0}, {0, 0, 0}} {
			p, err := ProveSum(ctx, st, claim, rs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(ctx, st); !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("%s, claiming %v: %v", c.name, claim, err)
			}
		}
	}
}

func scalar(v uint64) *group.Scalar { return new(group.Scalar).SetUint64(v) }

// TestSumBindingLayout recomputes the binding digest D and the part
// contexts from the layout of spec §4.6.
func TestSumBindingLayout(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("election", "voter", 4)
	f := newSumFixture(t, pk, []uint64{0, 1}, 1, 2, ctx)
	frame := func(label string, data []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(len(label)))
		b = append(b, label...)
		b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
		return append(b, data...)
	}
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	var in []byte
	in = append(in, frame("evote-v1/transcript", []byte("evote-v1/sum"))...)
	in = append(in, frame("context", ctx)...)
	in = append(in, frame("pk", pk.Bytes())...)
	in = append(in, frame("n", u64(2))...)
	in = append(in, frame("min", u64(1))...)
	in = append(in, frame("max", u64(2))...)
	cts := binary.BigEndian.AppendUint32(nil, 2)
	cts = append(append(cts, f.st.Ciphertexts[0].Bytes()...), f.st.Ciphertexts[1].Bytes()...)
	in = append(in, frame("ciphertexts", cts)...)
	in = append(in, frame("binding", nil)...)
	d := sha512.Sum512(in)
	sp := f.st.prepare(ctx)
	if !bytes.Equal(sp.binding, d[:]) {
		t.Fatal("binding digest differs from the spec's layout")
	}
	if !bytes.Equal(sp.itemContext(1), append(append(d[:], "item"...), 0, 0, 0, 1)) ||
		!bytes.Equal(sp.sumContext(), append(d[:], "sum"...)) {
		t.Fatal("part contexts differ from the spec")
	}
	// The total encrypts Σm − min = 0 under the shifted ciphertext.
	want := new(elgamal.Ciphertext).Add(f.st.Ciphertexts[0], f.st.Ciphertexts[1])
	want.B.Subtract(&want.B, generator)
	if !sp.total.Equal(want) {
		t.Fatal("total ciphertext differs from the spec")
	}
}

// TestStatementChecks: malformed statements are refused by provers,
// verifiers and decoders alike, without panicking.
func TestStatementChecks(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ct, r, _ := pk.Encrypt(1, nil)
	var nilProof *RangeProof
	rangeCases := map[string]*RangeStatement{
		"nil statement":  nil,
		"nil key":        {Ciphertext: ct, Max: 1},
		"nil ciphertext": {PK: pk, Max: 1},
		"negative bound": {PK: pk, Ciphertext: ct, Max: -1},
		"bound too big":  {PK: pk, Ciphertext: ct, Max: MaxRange + 1},
	}
	for name, st := range rangeCases {
		if _, err := ProveRange(nil, st, 1, r, nil); !errors.Is(err, ErrStatement) {
			t.Errorf("range %s: prover: %v", name, err)
		}
		if err := nilProof.Verify(nil, st); !errors.Is(err, ErrStatement) {
			t.Errorf("range %s: verifier: %v", name, err)
		}
	}
	if err := nilProof.Verify(nil, &RangeStatement{PK: pk, Ciphertext: ct, Max: 1}); !errors.Is(err, ErrStatement) {
		t.Errorf("nil proof: %v", err)
	}
	if err := new(RangeProof).Verify(nil, &RangeStatement{PK: pk, Ciphertext: ct, Max: 0}); !errors.Is(err, ErrStatement) {
		t.Errorf("zero proof: %v", err)
	}
	two := []*elgamal.Ciphertext{ct, ct}
	sumCases := map[string]*SumStatement{
		"nil statement":  nil,
		"nil key":        {Ciphertexts: two, Max: 1},
		"no ciphertexts": {PK: pk},
		"nil ciphertext": {PK: pk, Ciphertexts: []*elgamal.Ciphertext{ct, nil}, Max: 1},
		"min > max":      {PK: pk, Ciphertexts: two, Min: 2, Max: 1},
		"max > n":        {PK: pk, Ciphertexts: two, Max: 3},
		"negative min":   {PK: pk, Ciphertexts: two, Min: -1, Max: 1},
		"too many items": {PK: pk, Ciphertexts: make([]*elgamal.Ciphertext, MaxSumItems+1), Max: 1},
	}
	var nilSum *SumProof
	for name, st := range sumCases {
		if _, err := ProveSum(nil, st, []uint64{1, 0}, []*group.Scalar{r, r}, nil); !errors.Is(err, ErrStatement) {
			t.Errorf("sum %s: prover: %v", name, err)
		}
		if err := nilSum.Verify(nil, st); !errors.Is(err, ErrStatement) {
			t.Errorf("sum %s: verifier: %v", name, err)
		}
		if err := nilSum.AddToBatch(NewBatch(), name, nil, st, -1, -1); !errors.Is(err, ErrStatement) {
			t.Errorf("sum %s: batch: %v", name, err)
		}
	}
	if _, err := ProveSum(nil, &SumStatement{PK: pk, Ciphertexts: two, Max: 1}, []uint64{1}, []*group.Scalar{r, r}, nil); !errors.Is(err, ErrStatement) {
		t.Errorf("sum with too few values: %v", err)
	}
	if err := nilSum.Verify(nil, &SumStatement{PK: pk, Ciphertexts: two, Max: 1}); !errors.Is(err, ErrStatement) {
		t.Errorf("nil sum proof: %v", err)
	}
}
