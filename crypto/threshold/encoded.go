package threshold

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/parallel"
)

// A long list of ciphertexts (a contest's last mix, a million rows) is
// 64 bytes a ciphertext encoded but about 330 decoded, and a share's D
// list 32 bytes a point encoded but about 170 decoded. The functions here
// verify shares of, and combine shares for, a list held encoded, decoding
// chunkSize rows at a time, so that memory stays that of the encodings
// (spec §11.7).
var chunkSize = 8192 // tests make it small

// NewEncodedCiphertextList prepares, as NewCiphertextList does, the list
// of ciphertexts whose canonical encodings (64 bytes each, A || B) are
// concatenated in enc. It keeps only a copy of the A components' encoding
// (what every batched proof hashes) and decodes them a chunk at a time
// when a share is verified. The encodings must be canonical (as those of a
// shuffle.Rows are): a component that does not decode makes
// VerifyShare fail with an error wrapping ErrMalformed.
func NewEncodedCiphertextList(enc []byte) (*CiphertextList, error) {
	if len(enc) == 0 || len(enc)%elgamal.CiphertextSize != 0 || len(enc)/elgamal.CiphertextSize > MaxShareCiphertexts {
		return nil, fmt.Errorf("%w: %d bytes are not a list of ciphertexts", ErrMalformed, len(enc))
	}
	n := len(enc) / elgamal.CiphertextSize
	a := make([]byte, 0, 4+n*group.ElementSize)
	a = append(a, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	for i := range n {
		a = append(a, enc[i*elgamal.CiphertextSize:i*elgamal.CiphertextSize+group.ElementSize]...)
	}
	return &CiphertextList{n: n, aEnc: a}, nil
}

// VerifyShare checks s as VerifyDecryptionShare does, against the list l.
// enc, if not nil, is the encoding s was parsed from (its D list is then
// hashed as received rather than encoded again).
func (l *CiphertextList) VerifyShare(ext [32]byte, vks []*group.Element, s *DecryptionShare, enc []byte) error {
	var dEnc []byte
	if enc != nil {
		_, d, err := shareElements(enc)
		if err != nil {
			return &ShareError{Err: fmt.Errorf("%w: %w", ErrInvalidShare, err)}
		}
		dEnc = d
	}
	return verifyShare(ext, vks, l, s, dEnc)
}

// weightedA returns Σ w_l·A_l, decoding the A components a chunk at a
// time if the list is held encoded.
func (l *CiphertextList) weightedA(w []*group.Scalar) (*group.Element, error) {
	if l.as != nil {
		return msmChunked(w, l.as), nil
	}
	sum, err := msmEncoded(w, l.aEnc[4:])
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext %w", ErrMalformed, err)
	}
	return sum, nil
}

// msmEncoded returns Σ w_l·e_l for the elements whose canonical encodings
// are concatenated in enc, decoding a chunk at a time. An error names the
// position of an element that does not decode.
func msmEncoded(w []*group.Scalar, enc []byte) (*group.Element, error) {
	n := len(enc) / group.ElementSize
	sum := group.NewIdentityElement()
	buf := make([]group.Element, min(chunkSize, n))
	ptr := make([]*group.Element, len(buf))
	for lo := 0; lo < n; lo += chunkSize {
		hi := min(lo+chunkSize, n)
		for i := lo; i < hi; i++ {
			off := i * group.ElementSize
			if _, err := buf[i-lo].SetCanonicalBytes(enc[off : off+group.ElementSize]); err != nil {
				return nil, fmt.Errorf("%d: %w", i, err)
			}
			ptr[i-lo] = &buf[i-lo]
		}
		sum.Add(sum, new(group.Element).VarTimeMultiScalarMult(w[lo:hi], ptr[:hi-lo]))
	}
	return sum, nil
}

// DecryptSharesEncoded is DecryptShares for a list held encoded (enc: the
// ciphertexts' canonical encodings, 64 bytes each, concatenated, as
// shuffle.Rows.Encoding gives them): it returns the share's encoding
// (DecryptionShare.Bytes), computing D a chunk at a time on all cores, so
// that neither the list nor D is ever held decoded. The encodings must be
// canonical; one that is not is an error wrapping ErrMalformed.
func (k *KeyShare) DecryptSharesEncoded(ext [32]byte, enc []byte, rand io.Reader) ([]byte, error) {
	list, err := NewEncodedCiphertextList(enc)
	if err != nil {
		return nil, err
	}
	n := list.n
	b := appendHeader(make([]byte, 0, 1+32+2+4+n*group.ElementSize+zkp.DLEQProofSize), kindDecryptionShare, ext)
	b = appendU16(b, k.Index)
	at := len(b)
	b = b[:at+4+n*group.ElementSize]
	dEnc := b[at:]
	binary.BigEndian.PutUint32(dEnc, uint32(n))
	errs := make([]error, n/chunkSize+1)
	parallel.Chunks(n, chunkSize, func(c, lo, hi int) {
		var a, d group.Element
		for i := lo; i < hi; i++ {
			if _, err := a.SetCanonicalBytes(list.aEnc[4+i*group.ElementSize : 4+(i+1)*group.ElementSize]); err != nil {
				errs[c] = fmt.Errorf("%w: ciphertext %d: %w", ErrMalformed, i, err)
				return
			}
			d.ScalarMult(&k.x, &a)
			d.AppendBytes(dEnc[4+i*group.ElementSize : 4+i*group.ElementSize])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	w := batchWeights(ext, k.Index, &k.vk, n, list.aEnc, dEnc)
	aStar, err := list.weightedA(w)
	if err != nil {
		return nil, err
	}
	// D* = A*^x exactly, as in DecryptShares.
	dStar := new(group.Element).ScalarMult(&k.x, aStar)
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: &k.vk, G2: aStar, X2: dStar}
	p, err := zkp.ProveDLEQ(batchContext(ext, k.Index, n), st, &k.x, group.GeneratorTable(), rand)
	if err != nil {
		return nil, err
	}
	return append(b, p.Bytes()...), nil
}

// VerifyEncodedShare checks the share encoded in b (DecryptionShare.Bytes)
// as VerifyDecryptionShareBytes does, against the list l, without holding
// its D list decoded (it is decoded a chunk at a time). It returns the
// share's trustee. A decoding failure is returned as is (wrapping
// ErrMalformed), every other rejection as a *ShareError wrapping
// ErrInvalidShare.
func (l *CiphertextList) VerifyEncodedShare(ext [32]byte, vks []*group.Element, b []byte) (int, error) {
	ctx, trustee, dEnc, proof, err := parseShareEncoded(b)
	if err != nil {
		return 0, err
	}
	n := (len(dEnc) - 4) / group.ElementSize
	fail := func(format string, args ...any) error {
		return &ShareError{Trustee: trustee, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidShare}, args...)...)}
	}
	if trustee < 1 || trustee > len(vks) || vks[trustee-1] == nil {
		return 0, fail("no verification key for trustee %d", trustee)
	}
	vk := vks[trustee-1]
	if ctx != ext {
		return 0, fail("other election context")
	}
	if n != l.n {
		return 0, fail("%d shares for %d ciphertexts", n, l.n)
	}
	w := batchWeights(ext, trustee, vk, n, l.aEnc, dEnc)
	aStar, err := l.weightedA(w)
	if err != nil {
		return 0, fail("%w", err)
	}
	dStar, err := msmEncoded(w, dEnc[4:])
	if err != nil {
		return 0, fmt.Errorf("%w: share %w", ErrMalformed, err)
	}
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: vk, G2: aStar, X2: dStar}
	if err := proof.Verify(batchContext(ext, trustee, n), st); err != nil {
		return 0, fail("batched proof: %w", err)
	}
	return trustee, nil
}

// msmChunked is Σ w_l·e_l computed a chunk at a time (a multi-scalar
// multiplication's buffers grow with its length).
func msmChunked(w []*group.Scalar, es []*group.Element) *group.Element {
	if len(es) <= chunkSize {
		return new(group.Element).VarTimeMultiScalarMult(w, es)
	}
	sum := group.NewIdentityElement()
	for lo := 0; lo < len(es); lo += chunkSize {
		hi := min(lo+chunkSize, len(es))
		sum.Add(sum, new(group.Element).VarTimeMultiScalarMult(w[lo:hi], es[lo:hi]))
	}
	return sum
}

// shareElements parses the encoding of a DecryptionShare as
// ParseDecryptionShare does, except that the D list is not decoded: it
// returns the trustee and the list<Element> encoding of D (u32(n) ||
// Element…, aliasing b).
func shareElements(b []byte) (int, []byte, error) {
	_, trustee, dEnc, _, err := parseShareEncoded(b)
	return trustee, dEnc, err
}

// parseShareEncoded parses the encoding of a DecryptionShare as
// ParseDecryptionShare does, except that the D list is not decoded: it
// returns the context, the trustee, the list<Element> encoding of D (u32(n)
// || Element…, n ≥ 1, aliasing b) and the proof.
func parseShareEncoded(b []byte) (ctx [32]byte, trustee int, dEnc []byte, proof *zkp.DLEQProof, err error) {
	r := &reader{b: b}
	ctx = r.header(kindDecryptionShare, "decryption share")
	trustee = r.index("trustee")
	before := r.b
	n := r.count("shares", group.ElementSize, MaxShareCiphertexts)
	r.take(n*group.ElementSize, "shares")
	dEnc = before[:len(before)-len(r.b)]
	if r.err == nil && n == 0 {
		r.fail("no shares")
	}
	proof = r.dleq("proof")
	if err := r.done(); err != nil {
		return ctx, 0, nil, nil, err
	}
	return ctx, trustee, dEnc, proof, nil
}

// CombineEncoded is Combine for a list held encoded: enc holds the
// ciphertexts' canonical encodings (64 bytes each, concatenated) and
// shares the encodings (DecryptionShare.Bytes) of verified shares, of
// which the first p.T are used. It decodes a chunk of rows at a time
// (only the B components, and the shares' D) and calls each with the
// chunk's first index and its M_l = g^{m_l}, in order; an error from each
// stops it and is returned.
func CombineEncoded(p Params, enc []byte, shares [][]byte, each func(lo int, ms []*group.Element) error) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if len(enc)%elgamal.CiphertextSize != 0 {
		return fmt.Errorf("%w: %d bytes are not a list of ciphertexts", ErrMalformed, len(enc))
	}
	n := len(enc) / elgamal.CiphertextSize
	if len(shares) < p.T {
		return fmt.Errorf("%w: %d shares, t=%d", ErrTooFewShares, len(shares), p.T)
	}
	idx := make([]int, p.T)
	ds := make([][]byte, p.T)
	for k, b := range shares[:p.T] {
		t, d, err := shareElements(b)
		if err != nil {
			return err
		}
		if !p.validIndex(t) {
			return fmt.Errorf("%w: trustee %d out of range", ErrParams, t)
		}
		if got := (len(d) - 4) / group.ElementSize; got != n {
			return fmt.Errorf("%w: trustee %d gave %d shares for %d ciphertexts", ErrParams, t, got, n)
		}
		idx[k], ds[k] = t, d[4:]
	}
	lambda, err := LagrangeAtZero(idx)
	if err != nil {
		return err
	}
	m := min(chunkSize, n)
	dbuf := make([]group.Element, m*p.T)
	cts := make([]*elgamal.Ciphertext, m)
	cbuf := make([]elgamal.Ciphertext, m)
	use := make([]*DecryptionShare, p.T)
	for k := range use {
		use[k] = &DecryptionShare{Trustee: idx[k], D: make([]*group.Element, m)}
	}
	for lo := 0; lo < n; lo += chunkSize {
		hi := min(lo+chunkSize, n)
		for i := lo; i < hi; i++ {
			off := i*elgamal.CiphertextSize + group.ElementSize
			if _, err := cbuf[i-lo].B.SetCanonicalBytes(enc[off : off+group.ElementSize]); err != nil {
				return fmt.Errorf("%w: ciphertext %d: %w", ErrMalformed, i, err)
			}
			cts[i-lo] = &cbuf[i-lo]
			for k := range use {
				e := &dbuf[k*m+i-lo]
				if _, err := e.SetCanonicalBytes(ds[k][i*group.ElementSize : (i+1)*group.ElementSize]); err != nil {
					return fmt.Errorf("%w: trustee %d's share %d: %w", ErrMalformed, idx[k], i, err)
				}
				use[k].D[i-lo] = e
			}
		}
		for k := range use {
			use[k].D = use[k].D[:hi-lo]
		}
		if err := each(lo, combineWith(lambda, cts[:hi-lo], use)); err != nil {
			return err
		}
		for k := range use {
			use[k].D = use[k].D[:m]
		}
	}
	return nil
}
