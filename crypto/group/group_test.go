package group

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"crypto"

	"filippo.io/edwards25519/field"
	"github.com/cloudflare/circl/expander"
)

type rfc9496Vectors struct {
	SmallMultiples struct {
		Encodings []string `json:"encodings"`
	} `json:"small_multiples"`
	InvalidEncodings struct {
		Encodings []string `json:"encodings"`
	} `json:"invalid_encodings"`
	OneWayMap struct {
		Cases []struct {
			Label        string `json:"label"`
			UniformBytes string `json:"uniform_bytes"`
			Output       string `json:"element"`
		} `json:"cases"`
	} `json:"one_way_map"`
}

func loadRFC9496(t *testing.T) rfc9496Vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/ristretto255-rfc9496.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rfc9496Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.SmallMultiples.Encodings) != 16 || len(v.InvalidEncodings.Encodings) == 0 || len(v.OneWayMap.Cases) == 0 {
		t.Fatal("RFC 9496 vector file incomplete")
	}
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC9496SmallMultiples checks i·B for i = 0..15 (RFC 9496 Appendix A.1)
// through every way the package computes a multiple, and decoding.
func TestRFC9496SmallMultiples(t *testing.T) {
	v := loadRFC9496(t)
	g := NewGeneratorElement()
	acc := NewIdentityElement()
	table := GeneratorTable()
	for i, want := range v.SmallMultiples.Encodings {
		wantB := mustHex(t, want)
		s := new(Scalar).SetUint64(uint64(i))
		ways := map[string]*Element{
			"add":        acc,
			"ScalarBase": new(Element).ScalarBaseMult(s),
			"ScalarMult": new(Element).ScalarMult(s, g),
			"Fixed":      new(Element).ScalarMultFixed(s, table),
			"MSM":        new(Element).VarTimeMultiScalarMult([]*Scalar{s}, []*Element{g}),
		}
		for name, e := range ways {
			if got := e.Bytes(); !bytes.Equal(got, wantB) {
				t.Errorf("%d·B via %s = %x, want %s", i, name, got, want)
			}
		}
		d, err := new(Element).SetCanonicalBytes(wantB)
		if err != nil {
			t.Fatalf("decoding %d·B: %v", i, err)
		}
		if d.Equal(acc) != 1 || !bytes.Equal(d.Bytes(), wantB) {
			t.Errorf("decode/encode round trip of %d·B failed", i)
		}
		acc = new(Element).Add(acc, g)
	}
}

// TestRFC9496InvalidEncodings checks that every encoding of RFC 9496
// Appendix A.2 is rejected and leaves the receiver unchanged.
func TestRFC9496InvalidEncodings(t *testing.T) {
	v := loadRFC9496(t)
	for _, enc := range v.InvalidEncodings.Encodings {
		e := NewGeneratorElement()
		if _, err := e.SetCanonicalBytes(mustHex(t, enc)); err == nil {
			t.Errorf("invalid encoding %s accepted", enc)
		}
		if e.Equal(NewGeneratorElement()) != 1 {
			t.Errorf("rejected decode of %s modified the receiver", enc)
		}
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := new(Element).SetCanonicalBytes(make([]byte, n)); err == nil {
			t.Errorf("%d-byte encoding accepted", n)
		}
	}
}

// TestRFC9496OneWayMap checks element derivation from uniform bytes
// (RFC 9496 Appendix A.3), with the inputs recomputed as SHA-512(label).
func TestRFC9496OneWayMap(t *testing.T) {
	v := loadRFC9496(t)
	for _, c := range v.OneWayMap.Cases {
		in := mustHex(t, c.UniformBytes)
		if c.Label != "" {
			h := sha512.Sum512([]byte(c.Label))
			if !bytes.Equal(h[:], in) {
				t.Fatalf("uniform bytes of %q are not SHA-512(label)", c.Label)
			}
		}
		e, err := new(Element).SetUniformBytes(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(e.Bytes()); got != c.Output {
			t.Errorf("map(%q) = %s, want %s", c.Label, got, c.Output)
		}
	}
}

// TestRFC9380ExpandMessageXMD checks the expander HashToElement uses against
// RFC 9380 Appendix K.3, and against circl's for other lengths and DSTs.
func TestRFC9380ExpandMessageXMD(t *testing.T) {
	raw, err := os.ReadFile("testdata/rfc9380-expand-message-xmd-sha512.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		DST   string
		Cases []struct {
			Msg          string `json:"msg"`
			LenInBytes   uint   `json:"len_in_bytes"`
			UniformBytes string `json:"uniform_bytes"`
		}
	}
	if err := json.Unmarshal(raw, &v); err != nil || len(v.Cases) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	for _, c := range v.Cases {
		got := newXMD([]byte(v.DST)).expand([]byte(c.Msg), int(c.LenInBytes))
		if hex.EncodeToString(got) != c.UniformBytes {
			t.Errorf("expand(%q, %d) mismatch", c.Msg, c.LenInBytes)
		}
	}
	for _, dst := range []string{"x", GeneratorsDST, HashToElementDST, strings.Repeat("d", 255)} {
		x := newXMD([]byte(dst))
		for _, n := range []int{1, 32, 63, 64, 65, 128, 200, 255 * 64} {
			msg := []byte(fmt.Sprintf("message %d", n))
			want := expander.NewExpanderMD(crypto.SHA512, []byte(dst)).Expand(msg, uint(n))
			if got := x.expand(msg, n); !bytes.Equal(got, want) {
				t.Errorf("expand(dst %d bytes, n %d) differs from circl's", len(dst), n)
			}
		}
	}
}

func TestScalarCanonical(t *testing.T) {
	// ℓ itself, little-endian.
	l := mustHex(t, "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	if _, err := new(Scalar).SetCanonicalBytes(l); err == nil {
		t.Error("ℓ accepted as a scalar")
	}
	lm1 := bytes.Clone(l)
	lm1[0]--
	s, err := new(Scalar).SetCanonicalBytes(lm1)
	if err != nil {
		t.Fatalf("ℓ-1 rejected: %v", err)
	}
	if !bytes.Equal(s.Bytes(), lm1) {
		t.Error("ℓ-1 round trip failed")
	}
	high := make([]byte, 32)
	high[31] = 0x80
	if _, err := new(Scalar).SetCanonicalBytes(high); err == nil {
		t.Error("scalar with the top bit set accepted")
	}
	for _, n := range []int{0, 31, 33} {
		if _, err := new(Scalar).SetCanonicalBytes(make([]byte, n)); err == nil {
			t.Errorf("%d-byte scalar accepted", n)
		}
	}
	keep := new(Scalar).SetUint64(7)
	if _, err := keep.SetCanonicalBytes(l); err == nil || keep.Equal(new(Scalar).SetUint64(7)) != 1 {
		t.Error("rejected decode modified the receiver")
	}
}

func TestScalarArithmetic(t *testing.T) {
	a, b := RandomScalar(), RandomScalar()
	sum := new(Scalar).Add(a, b)
	if new(Scalar).Subtract(sum, b).Equal(a) != 1 {
		t.Error("(a+b)-b != a")
	}
	inv := new(Scalar).Invert(a)
	if new(Scalar).Multiply(a, inv).Equal(new(Scalar).SetUint64(1)) != 1 {
		t.Error("a·a⁻¹ != 1")
	}
	if new(Scalar).SetInt64(-5).Equal(new(Scalar).Negate(new(Scalar).SetUint64(5))) != 1 {
		t.Error("SetInt64(-5) != -5")
	}
	if new(Scalar).Select(a, b, 1).Equal(a) != 1 || new(Scalar).Select(a, b, 0).Equal(b) != 1 {
		t.Error("Select")
	}
	if NewScalar().IsZero() != 1 || a.IsZero() != 0 {
		t.Error("IsZero")
	}
}

func TestElementEqualRepresentations(t *testing.T) {
	// The four representatives P + T for T in the 4-torsion encode the same
	// ristretto255 element; Equal must agree with the encoding.
	a := RandomScalar()
	p := new(Element).ScalarBaseMult(a)
	q := new(Element).Add(new(Element).Subtract(p, NewGeneratorElement()), NewGeneratorElement())
	if p.Equal(q) != 1 || !bytes.Equal(p.Bytes(), q.Bytes()) {
		t.Error("equal elements differ")
	}
	if p.Equal(NewGeneratorElement()) != 0 {
		t.Error("different elements equal")
	}
	if NewIdentityElement().IsIdentity() == 0 || p.IsIdentity() == 1 {
		t.Error("IsIdentity")
	}
}

func TestFixedBaseMatchesScalarMult(t *testing.T) {
	b := HashToElement([]byte("fixed base test"), []byte(HashToElementDST))
	table := NewFixedBase(b)
	if table.Base().Equal(b) != 1 {
		t.Fatal("Base() differs")
	}
	cases := []*Scalar{NewScalar(), new(Scalar).SetUint64(1), new(Scalar).SetInt64(-1), new(Scalar).SetUint64(8), new(Scalar).SetUint64(0x8888888888888888)}
	for i := 0; i < 50; i++ {
		cases = append(cases, RandomScalar())
	}
	for _, s := range cases {
		want := new(Element).ScalarMult(s, b)
		if got := new(Element).ScalarMultFixed(s, table); got.Equal(want) != 1 {
			t.Fatalf("fixed-base mult of %v differs", s)
		}
	}
}

func randomTerms(r *rand.Rand, n int, short bool) ([]*Scalar, []*Element) {
	ss := make([]*Scalar, n)
	es := make([]*Element, n)
	var buf [64]byte
	for i := range ss {
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		if short {
			ss[i], _ = new(Scalar).SetShortBytes(buf[:16])
		} else {
			ss[i], _ = new(Scalar).SetUniformBytes(buf[:])
		}
		es[i] = new(Element).ScalarBaseMult(ss[i])
		es[i].Add(es[i], HashToElement(buf[:8], []byte(HashToElementDST)))
	}
	return ss, es
}

func naiveSum(ss []*Scalar, es []*Element) *Element {
	acc := NewIdentityElement()
	for i := range ss {
		acc.Add(acc, new(Element).ScalarMult(ss[i], es[i]))
	}
	return acc
}

// TestMSMAgainstNaive checks the bucket method against the plain sum of
// products, across the Straus/Pippenger and serial/parallel thresholds, with
// full and 128-bit scalars and degenerate terms.
func TestMSMAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, msmPippengerMinShort - 1, msmPippengerMinShort, msmPippengerMin - 1, msmPippengerMin, 1000, msmParallelMin + 3}
	for _, n := range sizes {
		for _, short := range []bool{false, true} {
			ss, es := randomTerms(r, n, short)
			if n > 5 {
				// Degenerate terms: zero scalar, identity element, ℓ-1, and a
				// repeated element.
				ss[0] = NewScalar()
				es[1] = NewIdentityElement()
				ss[2] = new(Scalar).SetInt64(-1)
				es[3] = es[4]
			}
			got := new(Element).VarTimeMultiScalarMult(ss, es)
			if want := naiveSum(ss, es); got.Equal(want) != 1 {
				t.Errorf("n=%d short=%v: MSM differs from naive sum", n, short)
			}
		}
	}
}

func TestMSMLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("mismatched lengths did not panic")
		}
	}()
	new(Element).VarTimeMultiScalarMult(make([]*Scalar, 2), make([]*Element, 1))
}

func TestGenerators(t *testing.T) {
	a := Generators([]byte("election-1"), "shuffle", 5)
	b := Generators([]byte("election-1"), "shuffle", 5)
	c := Generators([]byte("election-2"), "shuffle", 5)
	d := Generators([]byte("election-1"), "pedersen", 5)
	tail := GeneratorsFrom([]byte("election-1"), "shuffle", 3, 2)
	seen := map[string]bool{}
	for i := range a {
		if a[i].Equal(b[i]) != 1 {
			t.Fatal("generators not deterministic")
		}
		if a[i].Equal(c[i]) == 1 || a[i].Equal(d[i]) == 1 {
			t.Fatal("generators do not depend on seed and label")
		}
		if a[i].IsIdentity() == 1 || a[i].Equal(NewGeneratorElement()) == 1 {
			t.Fatal("degenerate generator")
		}
		seen[string(a[i].Bytes())] = true
	}
	if len(seen) != 5 {
		t.Fatal("repeated generator")
	}
	if tail[0].Equal(a[3]) != 1 || tail[1].Equal(a[4]) != 1 {
		t.Fatal("GeneratorsFrom disagrees with Generators")
	}
	// Seed/label framing: moving a byte from seed to label changes the output.
	x := Generators([]byte("ab"), "c", 1)[0]
	y := Generators([]byte("a"), "bc", 1)[0]
	if x.Equal(y) == 1 {
		t.Fatal("seed and label are not length-prefixed")
	}
}

func FuzzElementDecode(f *testing.F) {
	f.Add(NewGeneratorElement().Bytes())
	f.Add(make([]byte, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := new(Element).SetCanonicalBytes(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Bytes(), b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, e.Bytes())
		}
	})
}

func FuzzScalarDecode(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := new(Scalar).SetCanonicalBytes(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Bytes(), b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, s.Bytes())
		}
	})
}

// TestConstants: the field constants of RFC 9496 §4.1 and the curve's d,
// written in hex, are the RFC's decimal values.
func TestConstants(t *testing.T) {
	for dec, fe := range map[string]*field.Element{
		"19681161376707505956807079304988542015446066515923890162744021073123829784752": sqrtM1,
		"25063068953384623474111414158702152701244531502492656460079210482610430750235": sqrtADMinusOne,
		"54469307008909316920995813868745141605393597292927456921205312896311721017578": invsqrtAMinusD,
		"1159843021668779879193775521855586647937357759715417654439879720876111806838":  oneMinusDSq,
		"40440834346308536858101042469323190826248399146238708352240133220865137265952": dMinusOneSq,
		"37095705934669439343138083508754565189542113879843219016388785533085940283555": curveD,
	} {
		n, ok := new(big.Int).SetString(dec, 10)
		if !ok {
			t.Fatal(dec)
		}
		le := fe.Bytes()
		slices.Reverse(le)
		if new(big.Int).SetBytes(le).Cmp(n) != 0 {
			t.Errorf("constant %s: hex encodes %x", dec, fe.Bytes())
		}
	}
	d2 := new(field.Element).Add(curveD, curveD)
	if d2.Equal(curveD2) != 1 {
		t.Error("curveD2 is not 2d")
	}
}
