package threshold

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"evote/crypto/group"
)

// stateVersion is the first byte of a saved Trustee state.
const stateVersion = 1

// MaxStateSize bounds the length of MarshalState's output for any valid
// parameters (n = t = MaxTrustees, a share from every dealer), so that a
// caller storing the state can size its container.
const MaxStateSize = 1 + 2 + 2 + 32 + 2 + 1 + MaxTrustees*2*group.ScalarSize + 4 + MaxTrustees*(2+2*group.ScalarSize)

// MarshalState returns the trustee's secret state between rounds (its
// polynomials and the verified shares it received), so that a ceremony
// spread over days survives restarts. It is secret: the caller stores it
// encrypted. Layout:
//
//	u8(1) || u16(n) || u16(t) || base || u16(index) || u8(dealt)
//	|| [if dealt = 1: (Scalar(a_k) || Scalar(b_k)) for k = 0..t-1]
//	|| u32(count) || (u16(dealer) || Scalar(s) || Scalar(s'))…   (dealers increasing)
func (t *Trustee) MarshalState() []byte {
	b := []byte{stateVersion}
	b = appendU16(b, t.p.N)
	b = appendU16(b, t.p.T)
	b = append(b, t.base[:]...)
	b = appendU16(b, t.index)
	if t.a == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		for k := range t.a {
			b = append(b, t.a[k].Bytes()...)
			b = append(b, t.b[k].Bytes()...)
		}
	}
	dealers := slices.Sorted(func(yield func(int) bool) {
		for i := range t.got {
			if !yield(i) {
				return
			}
		}
	})
	b = binary.BigEndian.AppendUint32(b, uint32(len(dealers)))
	for _, i := range dealers {
		b = appendU16(b, i)
		b = append(b, t.got[i][0].Bytes()...)
		b = append(b, t.got[i][1].Bytes()...)
	}
	return b
}

// RestoreTrustee rebuilds a Trustee from MarshalState's output and the
// same key and peer keys NewTrustee was given. It decodes strictly.
func RestoreTrustee(state []byte, key *HPKEPrivateKey, peers []HPKEPublicKey, rand io.Reader) (*Trustee, error) {
	r := &reader{b: state}
	if v := r.u8("version"); r.err == nil && v != stateVersion {
		r.fail("state version %d", v)
	}
	p := Params{N: r.u16("n"), T: r.u16("t")}
	base := r.hash("base hash")
	index := r.index("index")
	if r.err != nil {
		return nil, r.err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	t, err := NewTrustee(p, base, index, key, peers, rand)
	if err != nil {
		return nil, err
	}
	switch r.u8("dealt") {
	case 0:
	case 1:
		t.a = make([]group.Scalar, p.T)
		t.b = make([]group.Scalar, p.T)
		for k := 0; k < p.T && r.err == nil; k++ {
			if s := r.scalar("a"); s != nil {
				t.a[k].Set(s)
			}
			if s := r.scalar("b"); s != nil {
				t.b[k].Set(s)
			}
		}
	default:
		r.fail("dealt flag not 0 or 1")
	}
	n := r.count("shares", 2+2*group.ScalarSize, p.N)
	prev := 0
	for k := 0; k < n && r.err == nil; k++ {
		i := r.index("dealer")
		s, s2 := r.scalar("share"), r.scalar("blinding share")
		if r.err == nil && (i <= prev || i > p.N) {
			r.fail("dealers not increasing or out of range")
		}
		prev = i
		if r.err == nil {
			t.got[i] = [2]*group.Scalar{s, s2}
		}
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	if t.a != nil {
		t.commits = make([]*group.Element, p.T)
		for k := range t.a {
			t.commits[k] = pedersenCommit(&t.a[k], &t.b[k])
		}
		// Our own share must be the one our polynomials give.
		own, ok := t.got[index]
		if !ok || own[0].Equal(evalPoly(t.a, index)) != 1 || own[1].Equal(evalPoly(t.b, index)) != 1 {
			return nil, fmt.Errorf("%w: own share does not match the polynomials", ErrMalformed)
		}
	}
	return t, nil
}

// KeyShareSize is the length of an encoded KeyShare.
const KeyShareSize = 2 + group.ScalarSize

// Bytes returns u16(index) || Scalar(x_j). It is secret.
func (k *KeyShare) Bytes() []byte {
	return append(appendU16(nil, k.Index), k.x.Bytes()...)
}

// ParseKeyShare decodes a KeyShare strictly and recomputes its
// verification key.
func ParseKeyShare(b []byte) (*KeyShare, error) {
	r := &reader{b: b}
	i := r.index("index")
	x := r.scalar("secret")
	if err := r.done(); err != nil {
		return nil, err
	}
	return NewKeyShare(i, x)
}
