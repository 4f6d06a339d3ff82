package shuffle

import (
	"encoding/binary"
	"fmt"

	"evote/crypto/group"
)

// A Proof is a non-interactive Terelius-Wikström proof of shuffle for N
// rows of width w (spec §6.4), held in its canonical encoding:
//
//	Proof = u32(N) || u32(w)
//	     || Element[N] c        permutation commitments, by input row
//	     || Element[N] ĉ        commitment chain, by output row
//	     || Element[N] t̂        chain nonce commitments, by output row
//	     || Element t1 || Element t2 || Element t3
//	     || (Element t4A_k || Element t4B_k) for k = 0..w-1
//	     || Scalar s1 || Scalar s2 || Scalar s3 || Scalar[w] s4
//	     || Scalar[N] ŝ || Scalar[N] s'
//
// ParseProof checks every encoding; the elements are decoded again by
// Verify, a chunk at a time.
type Proof struct {
	n, w   int
	perm   []byte // c_j
	chain  []byte // ĉ_i
	nonce  []byte // t̂_i
	t      []byte // t1, t2, t3, t4A_0, t4B_0, …
	s      []byte // s1, s2, s3, s4_0, …
	shat   []byte // ŝ_i
	sprime []byte // s'_i
}

// ProofSize returns the length of the encoding of a proof for n rows of
// width w: 8 + 32·(5n + 6 + 3w).
func ProofSize(n, w int) int { return 8 + 32*(5*n+6+3*w) }

// newProof allocates a proof for n rows of width w, its fields slicing one
// buffer laid out as the encoding.
func newProof(n, w int) (*Proof, []byte) {
	buf := make([]byte, ProofSize(n, w))
	binary.BigEndian.PutUint32(buf, uint32(n))
	binary.BigEndian.PutUint32(buf[4:], uint32(w))
	return proofOver(n, w, buf), buf
}

// proofOver returns the proof whose fields slice buf, the encoding of a
// proof for n rows of width w (ProofSize(n, w) bytes).
func proofOver(n, w int, buf []byte) *Proof {
	p := &Proof{n: n, w: w}
	rest := buf[8:]
	take := func(k int) []byte {
		s := rest[: 32*k : 32*k]
		rest = rest[32*k:]
		return s
	}
	p.perm = take(n)
	p.chain = take(n)
	p.nonce = take(n)
	p.t = take(3 + 2*w)
	p.s = take(3 + w)
	p.shat = take(n)
	p.sprime = take(n)
	return p
}

// Rows returns N, the number of rows the proof is for.
func (p *Proof) Rows() int { return p.n }

// Width returns w.
func (p *Proof) Width() int { return p.w }

// Bytes returns the canonical encoding.
func (p *Proof) Bytes() []byte { return p.AppendBytes(make([]byte, 0, ProofSize(p.n, p.w))) }

// AppendBytes appends the canonical encoding to b.
func (p *Proof) AppendBytes(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(p.n))
	b = binary.BigEndian.AppendUint32(b, uint32(p.w))
	for _, f := range [][]byte{p.perm, p.chain, p.nonce, p.t, p.s, p.shat, p.sprime} {
		b = append(b, f...)
	}
	return b
}

// ParseProof decodes a proof. It rejects a wrong length, trailing bytes,
// counts outside the limits (1 ≤ N ≤ MaxRows, 1 ≤ w ≤ MaxWidth), any element
// that is not canonical and any scalar ≥ ℓ. Elements are checked on all
// cores.
func ParseProof(b []byte) (*Proof, error) { return parseProof(b, true) }

// ParseProofAliasing parses a proof as ParseProof does, but the proof
// holds b instead of a copy of it (a proof for a million rows is 160 MB):
// the caller must not modify b while the proof is in use.
func ParseProofAliasing(b []byte) (*Proof, error) { return parseProof(b, false) }

func parseProof(b []byte, clone bool) (*Proof, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: proof header is %d bytes", ErrMalformed, len(b))
	}
	n := int(binary.BigEndian.Uint32(b))
	w := int(binary.BigEndian.Uint32(b[4:]))
	if n < 1 || n > MaxRows || w < 1 || w > MaxWidth {
		return nil, fmt.Errorf("%w: proof for %d rows of width %d outside the limits", ErrMalformed, n, w)
	}
	if want := ProofSize(n, w); len(b) != want {
		return nil, fmt.Errorf("%w: proof is %d bytes, want %d", ErrMalformed, len(b), want)
	}
	var p *Proof
	buf := b
	if clone {
		p, buf = newProof(n, w)
		copy(buf, b)
	} else {
		p = proofOver(n, w, b)
	}
	elems := buf[8 : 8+32*(3*n+3+2*w)]
	if err := checkElements(elems, "proof"); err != nil {
		return nil, err
	}
	scalars := buf[8+len(elems):]
	var s group.Scalar
	for i := 0; i < len(scalars); i += 32 {
		if _, err := s.SetCanonicalBytes(scalars[i : i+32]); err != nil {
			return nil, fmt.Errorf("%w: proof scalar %d: %w", ErrMalformed, i/32, err)
		}
	}
	return p, nil
}

// elem returns the i-th 32-byte element or scalar of a field.
func elem(field []byte, i int) []byte { return field[32*i : 32*i+32 : 32*i+32] }
