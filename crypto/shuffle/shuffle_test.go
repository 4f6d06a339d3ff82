package shuffle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/testrand"
)

type fixture struct {
	sk  *elgamal.PrivateKey
	p   *Params
	in  *Rows
	msg []uint64 // plaintext of ciphertext k of row i at i·w+k
}

// newFixture encrypts n rows of width w with distinct plaintexts
// 1000·i + k.
func newFixture(t testing.TB, n, w int) *fixture {
	t.Helper()
	sk, err := elgamal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sk: sk, p: &Params{ElectionID: []byte("test-election"), Context: []byte("extended hash"), Mixer: 2, PublicKey: sk.Public()}}
	cts := make([]*elgamal.Ciphertext, n*w)
	f.msg = make([]uint64, n*w)
	for i := range cts {
		f.msg[i] = uint64(1000*(i/w) + i%w)
	}
	if n*w > 1000 {
		// Large lists are only shuffled and verified, never decrypted:
		// encrypt the first ciphertext and step the others by (g, y·g), so
		// ciphertext i encrypts msg[0] + i with randomness r + i.
		c0, _, err := sk.Public().Encrypt(f.msg[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		stepB := new(group.Element).Add(sk.Public().Element(), group.NewGeneratorElement())
		cts[0] = c0
		for i := 1; i < len(cts); i++ {
			cts[i] = new(elgamal.Ciphertext)
			cts[i].A.Add(&cts[i-1].A, group.NewGeneratorElement())
			cts[i].B.Add(&cts[i-1].B, stepB)
		}
		f.msg = nil
		if f.in, err = NewRows(w, cts); err != nil {
			t.Fatal(err)
		}
		return f
	}
	err = forChunks(len(cts), 256, nil, func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			var err error
			if cts[i], _, err = sk.Public().Encrypt(f.msg[i], nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.in, err = NewRows(w, cts); err != nil {
		t.Fatal(err)
	}
	return f
}

// plaintextRows decrypts rows to the sorted list of row plaintext tuples,
// checking that each element g^m is one of the fixture's messages.
func (f *fixture) plaintextRows(t *testing.T, r *Rows) []string {
	t.Helper()
	byElem := map[string]uint64{}
	for _, m := range f.msg {
		byElem[string(new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(m)).Bytes())] = m
	}
	var rows []string
	for i := 0; i < r.n; i++ {
		var row []uint64
		for k := 0; k < r.w; k++ {
			c, err := r.Ciphertext(i, k)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := byElem[string(f.sk.Decrypt(c).Bytes())]
			if !ok {
				t.Fatalf("row %d column %d decrypts to an unknown plaintext", i, k)
			}
			row = append(row, m)
		}
		rows = append(rows, fmt.Sprint(row))
	}
	slices.Sort(rows)
	return rows
}

func TestHonestShuffles(t *testing.T) {
	for _, w := range []int{1, 2, 5} {
		for _, n := range []int{1, 2, 3, 100, 10000} {
			if n == 10000 && (w == 5 || testing.Short()) {
				continue // TestLargeWide covers w = 5 without -short
			}
			t.Run(fmt.Sprintf("n=%d/w=%d", n, w), func(t *testing.T) {
				f := newFixture(t, n, w)
				f.p.Generators = DeriveGenerators(f.p.ElectionID, n, nil)
				out, proof, err := Shuffle(f.p, f.in, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := Verify(f.p, f.in, out, proof); err != nil {
					t.Fatalf("honest shuffle rejected: %v", err)
				}
				if n <= 100 {
					if !slices.Equal(f.plaintextRows(t, f.in), f.plaintextRows(t, out)) {
						t.Fatal("output rows are not a permutation of the input rows")
					}
					for i := 0; i < n; i++ {
						if bytes.Equal(out.Row(i), f.in.Row(i)) {
							t.Fatalf("row %d not re-encrypted", i)
						}
					}
				}
				if n > 100 {
					return
				}
				p2, err := ParseProof(proof.Bytes())
				if err != nil || !bytes.Equal(p2.Bytes(), proof.Bytes()) {
					t.Fatalf("proof round trip: %v", err)
				}
				o2, err := ParseRows(out.Bytes())
				if err != nil || !bytes.Equal(o2.Bytes(), out.Bytes()) {
					t.Fatalf("rows round trip: %v", err)
				}
				if err := Verify(f.p, f.in, o2, p2); err != nil {
					t.Fatalf("parsed proof rejected: %v", err)
				}
			})
		}
	}
}

// TestLargeWide is the N = 10,000, w = 5 case, too slow for -short.
func TestLargeWide(t *testing.T) {
	if testing.Short() {
		t.Skip("N=10000, w=5 in -short mode")
	}
	f := newFixture(t, 10000, 5)
	f.p.Generators = DeriveGenerators(f.p.ElectionID, 10000, nil)
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(f.p, f.in, out, proof); err != nil {
		t.Fatalf("honest shuffle rejected: %v", err)
	}
}

// alterElement returns a copy of the 32-byte element b plus g.
func alterElement(t *testing.T, b []byte) []byte {
	e, err := new(group.Element).SetCanonicalBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return e.Add(e, group.NewGeneratorElement()).Bytes()
}

func alterScalar(t *testing.T, b []byte) []byte {
	s, err := new(group.Scalar).SetCanonicalBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return s.Add(s, new(group.Scalar).SetUint64(1)).Bytes()
}

func cloneRows(r *Rows) *Rows { return &Rows{n: r.n, w: r.w, data: bytes.Clone(r.data)} }

func cloneProof(t *testing.T, p *Proof) *Proof {
	q, err := ParseProof(p.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestRejections is SECURITY.md #9: every kind of tampering fails with a
// named reason.
func TestRejections(t *testing.T) {
	for _, w := range []int{1, 2} {
		t.Run(fmt.Sprintf("w=%d", w), func(t *testing.T) { testRejections(t, w) })
	}
}

func testRejections(t *testing.T, w int) {
	const n = 12
	f := newFixture(t, n, w)
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(f.p, f.in, out, proof); err != nil {
		t.Fatal(err)
	}
	type tc struct {
		name string
		want error
		run  func() error
	}
	withParams := func(mod func(p *Params)) func() error {
		return func() error {
			p := *f.p
			mod(&p)
			return Verify(&p, f.in, out, proof)
		}
	}
	cases := []tc{
		{"output ciphertext altered", ErrInvalidProof, func() error {
			o := cloneRows(out)
			copy(o.element(4, 1), alterElement(t, o.element(4, 1)))
			return Verify(f.p, f.in, o, proof)
		}},
		{"output row dropped", ErrRowCount, func() error {
			o := &Rows{n: n - 1, w: w, data: bytes.Clone(out.data[:len(out.data)-w*64])}
			return Verify(f.p, f.in, o, proof)
		}},
		{"output row duplicated over another", ErrDuplicateRow, func() error {
			o := cloneRows(out)
			copy(o.Row(7), o.Row(3))
			return Verify(f.p, f.in, o, proof)
		}},
		{"output row replaced by a re-encryption of another input", ErrInvalidProof, func() error {
			o := cloneRows(out)
			// Row 5 of the output decrypts to some input row; replace it by a
			// re-encryption of a different input row.
			c0, _ := out.Ciphertext(5, 0)
			src := 0
			if f.sk.Decrypt(c0).Equal(new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(f.msg[0]))) == 1 {
				src = 1
			}
			for k := 0; k < w; k++ {
				c, _ := f.in.Ciphertext(src, k)
				re := f.p.PublicKey.ReEncrypt(c, group.RandomScalar())
				copy(o.data[(5*w+k)*64:], re.Bytes())
			}
			return Verify(f.p, f.in, o, proof)
		}},
		{"input list altered after proving", ErrInvalidProof, func() error {
			in := cloneRows(f.in)
			c, _ := in.Ciphertext(0, 0)
			copy(in.data, f.p.PublicKey.ReEncrypt(c, group.RandomScalar()).Bytes())
			return Verify(f.p, in, out, proof)
		}},
		{"proof moved to another election", ErrInvalidProof, withParams(func(p *Params) { p.ElectionID = []byte("other-election") })},
		{"proof moved to another context", ErrInvalidProof, withParams(func(p *Params) { p.Context = []byte("other") })},
		{"proof moved to another mixer", ErrInvalidProof, withParams(func(p *Params) { p.Mixer = 3 })},
		{"proof under another public key", ErrInvalidProof, withParams(func(p *Params) {
			sk, _ := elgamal.GenerateKey(nil)
			p.PublicKey = sk.Public()
		})},
		{"input element not canonical", ErrMalformed, func() error {
			in := cloneRows(f.in)
			copy(in.element(2, 0), bytes.Repeat([]byte{0xff}, 32))
			return Verify(f.p, in, out, proof)
		}},
	}
	// Every commitment and every response altered, one at a time.
	fields := []struct {
		name   string
		get    func(*Proof) []byte
		scalar bool
	}{
		{"permutation commitment", func(p *Proof) []byte { return p.perm }, false},
		{"chain commitment", func(p *Proof) []byte { return p.chain }, false},
		{"chain nonce commitment", func(p *Proof) []byte { return p.nonce }, false},
		{"commitment t", func(p *Proof) []byte { return p.t }, false},
		{"response s", func(p *Proof) []byte { return p.s }, true},
		{"response ŝ", func(p *Proof) []byte { return p.shat }, true},
		{"response s'", func(p *Proof) []byte { return p.sprime }, true},
	}
	for _, fd := range fields {
		count := len(fd.get(proof)) / 32
		for i := 0; i < count; i++ {
			if count > 6 && i != 0 && i != count/2 && i != count-1 {
				continue
			}
			cases = append(cases, tc{fmt.Sprintf("%s %d altered", fd.name, i), ErrInvalidProof, func() error {
				q := cloneProof(t, proof)
				b := elem(fd.get(q), i)
				if fd.scalar {
					copy(b, alterScalar(t, b))
				} else {
					copy(b, alterElement(t, b))
				}
				return Verify(f.p, f.in, out, q)
			}})
		}
	}
	for _, c := range cases {
		err := c.run()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		if c.want == ErrInvalidProof {
			var ee *EquationError
			if !errors.As(err, &ee) || ee.Equation == EqBatchUnexplained {
				t.Errorf("%s: failure not attributed to an equation: %v", c.name, err)
			}
		}
	}
}

// TestResponsesNameTheirEquation: responses are not hashed into the
// challenge, so altering one breaks exactly the equations it appears in,
// and the verifier names the first of them.
func TestResponsesNameTheirEquation(t *testing.T) {
	const n, w = 9, 2
	f := newFixture(t, n, w)
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field []byte
		i     int
		eq    string
		index int
	}{
		{proof.s, 0, EqPermutationSum, -1},
		{proof.s, 1, EqChainEnd, -1},
		{proof.s, 2, EqBatchedCommit, -1},
		{proof.s, 3, EqReencryptionA, 0},
		{proof.s, 4, EqReencryptionA, 1},
		{proof.shat, 6, EqChainLink, 6},
		{proof.sprime, 4, EqBatchedCommit, -1},
	}
	for _, c := range cases {
		old := bytes.Clone(elem(c.field, c.i))
		copy(elem(c.field, c.i), alterScalar(t, old))
		err := Verify(f.p, f.in, out, proof)
		copy(elem(c.field, c.i), old)
		var ee *EquationError
		if !errors.As(err, &ee) || ee.Equation != c.eq || ee.Index != c.index {
			t.Errorf("altered response: got %v, want equation %s [%d]", err, c.eq, c.index)
		}
	}
	if err := Verify(f.p, f.in, out, proof); err != nil {
		t.Fatalf("restored proof rejected: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	f := newFixture(t, 3, 2)
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, rb := proof.Bytes(), out.Bytes()
	bad := map[string][]byte{
		"trailing byte":      append(bytes.Clone(pb), 0),
		"truncated":          pb[:len(pb)-1],
		"zero rows":          append([]byte{0, 0, 0, 0}, pb[4:]...),
		"count too large":    append([]byte{0xff, 0xff, 0xff, 0xff}, pb[4:]...),
		"non-canonical elem": func() []byte { b := bytes.Clone(pb); copy(b[8:], bytes.Repeat([]byte{0xff}, 32)); return b }(),
		"scalar ≥ ℓ":         func() []byte { b := bytes.Clone(pb); copy(b[len(b)-32:], bytes.Repeat([]byte{0xff}, 32)); return b }(),
	}
	if err := Verify(f.p, f.in, out, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil proof: got %v", err)
	}
	if err := Verify(f.p, nil, out, proof); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil input: got %v", err)
	}
	if _, _, err := Shuffle(f.p, nil, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil input to Shuffle: got %v", err)
	}
	for name, b := range bad {
		if _, err := ParseProof(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("proof %s: got %v", name, err)
		}
	}
	badRows := map[string][]byte{
		"trailing byte":      append(bytes.Clone(rb), 0),
		"truncated":          rb[:len(rb)-1],
		"width zero":         append(append(bytes.Clone(rb[:4]), 0, 0, 0, 0), rb[8:]...),
		"non-canonical elem": func() []byte { b := bytes.Clone(rb); copy(b[8+32:], bytes.Repeat([]byte{0xff}, 32)); return b }(),
	}
	for name, b := range badRows {
		if _, err := ParseRows(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("rows %s: got %v", name, err)
		}
		if _, err := ParseRowsAliasing(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("rows %s, aliasing: got %v", name, err)
		}
	}
	if r, err := ParseRowsAliasing(bytes.Clone(rb)); err != nil || !bytes.Equal(r.Bytes(), rb) {
		t.Errorf("ParseRowsAliasing of good rows: %v", err)
	}
}

func FuzzParseProof(f *testing.F) {
	fx := newFixture(f, 2, 1)
	_, proof, err := Shuffle(fx.p, fx.in, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(proof.Bytes())
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		if err == nil && !bytes.Equal(p.Bytes(), b) {
			t.Fatal("accepted proof re-encodes differently")
		}
	})
}

func FuzzParseRows(f *testing.F) {
	fx := newFixture(f, 2, 2)
	f.Add(fx.in.Bytes())
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRows(b)
		if err == nil && !bytes.Equal(r.Bytes(), b) {
			t.Fatal("accepted rows re-encode differently")
		}
	})
}

// TestRandomBitFlips flips one random bit of the proof, the output or the
// input, many times: every flip is refused (by the decoder or the
// verifier), never accepted.
func TestRandomBitFlips(t *testing.T) {
	f := newFixture(t, 4, 2)
	f.p.Generators = DeriveGenerators(f.p.ElectionID, 4, nil)
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, ob, ib := proof.Bytes(), out.Bytes(), f.in.Bytes()
	rnd := testrand.New("bit flips")
	var buf [4]byte
	for iter := 0; iter < 300; iter++ {
		rnd.Read(buf[:])
		which := int(buf[0]) % 3
		target := [][]byte{pb, ob, ib}[which]
		pos := int(binary.BigEndian.Uint16(buf[1:3])) % (8 * len(target))
		b := bytes.Clone(target)
		b[pos/8] ^= 1 << (pos % 8)
		in, out2, pr := f.in, out, proof
		switch which {
		case 0:
			pr, err = ParseProof(b)
		case 1:
			out2, err = ParseRows(b)
		case 2:
			in, err = ParseRows(b)
		}
		if err == nil {
			err = Verify(f.p, in, out2, pr)
		}
		if err == nil {
			t.Fatalf("flip of bit %d of %s accepted", pos, []string{"proof", "output", "input"}[which])
		}
	}
}

// TestParseProofAliasing: ParseProofAliasing accepts and refuses exactly
// what ParseProof does, and its proof verifies (or not) as the copy does.
func TestParseProofAliasing(t *testing.T) {
	f := newFixture(t, 5, 2)
	p, in := f.p, f.in
	out, proof, err := Shuffle(p, in, testrand.New("aliasing"))
	if err != nil {
		t.Fatal(err)
	}
	enc := proof.Bytes()
	for i := -1; i < len(enc); i += 97 {
		b := bytes.Clone(enc)
		if i >= 0 {
			b[i] ^= 0x40
		}
		a, errA := ParseProofAliasing(bytes.Clone(b))
		c, errC := ParseProof(b)
		if (errA == nil) != (errC == nil) {
			t.Fatalf("byte %d: aliasing %v, copying %v", i, errA, errC)
		}
		if errA != nil {
			continue
		}
		if !bytes.Equal(a.Bytes(), c.Bytes()) {
			t.Fatalf("byte %d: the proofs differ", i)
		}
		vA, vC := Verify(p, in, out, a), Verify(p, in, out, c)
		if (vA == nil) != (vC == nil) || (i < 0) != (vA == nil) {
			t.Fatalf("byte %d: aliasing verifies %v, copying %v", i, vA, vC)
		}
	}
	if _, err := ParseProofAliasing(enc[:len(enc)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
}
