package sig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
)

func TestOrder8Point(t *testing.T) {
	T := order8()
	p := new(edwards25519.Point).Set(T)
	id := edwards25519.NewIdentityPoint()
	for i := 1; i < 8; i++ {
		if p.Equal(id) == 1 {
			t.Fatalf("torsion point has order %d, want 8", i)
		}
		p.Add(p, T)
	}
	if p.Equal(id) != 1 {
		t.Fatal("torsion point does not have order 8")
	}
}

func TestBatchNamesBadItems(t *testing.T) {
	var items []Item
	for i := 0; i < 64; i++ {
		k := seedKey(fmt.Sprint("batch", i))
		m := []byte(fmt.Sprint("message ", i))
		items = append(items, Item{k.Public().(ed25519.PublicKey), m, ed25519.Sign(k, m)})
	}
	if err := VerifyBatch(items); err != nil {
		t.Fatalf("valid batch: %v", err)
	}
	if err := VerifyBatch(nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	bad := map[int]bool{3: true, 40: true, 41: true, 63: true}
	for i := range bad {
		s := bytes.Clone(items[i].Signature)
		s[5] ^= 1
		items[i].Signature = s
	}
	err := VerifyBatch(items)
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want *BatchError", err)
	}
	for i, e := range be.Errs {
		if bad[i] != (e != nil) {
			t.Errorf("item %d: error %v, bad=%v", i, e, bad[i])
		}
		if e != nil && Verify(items[i].PublicKey, items[i].Message, items[i].Signature) == nil {
			t.Errorf("item %d: batch rejects what single accepts", i)
		}
	}
	if !errors.Is(err, ErrInvalidSignature) && !errors.Is(err, ErrInvalidR) && !errors.Is(err, ErrNonCanonicalR) {
		t.Errorf("batch error does not unwrap to a sentinel: %v", err)
	}
}

func TestMLDSA(t *testing.T) {
	k, err := NewMLDSAKeyFromSeed(bytes.Repeat([]byte{7}, MLDSASeedSize))
	if err != nil {
		t.Fatal(err)
	}
	msg, ctx := []byte("checkpoint"), []byte("evote-v1/bulletin/checkpoint")
	s, err := k.Sign(msg, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyMLDSA(k.PublicKey(), msg, ctx, s); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := VerifyMLDSA(k.PublicKey(), msg, []byte("other"), s); !errors.Is(err, ErrMLDSA) {
		t.Errorf("wrong context: %v", err)
	}
	s[10] ^= 1
	if err := VerifyMLDSA(k.PublicKey(), msg, ctx, s); !errors.Is(err, ErrMLDSA) {
		t.Errorf("tampered: %v", err)
	}
	if err := VerifyMLDSA(k.PublicKey()[:5], msg, ctx, s); !errors.Is(err, ErrMLDSA) {
		t.Errorf("short key: %v", err)
	}
	if err := VerifyMLDSA(k.PublicKey(), msg, ctx, s[:7]); !errors.Is(err, ErrMLDSA) {
		t.Errorf("short sig: %v", err)
	}
	if _, err := NewMLDSAKeyFromSeed([]byte{1}); err == nil {
		t.Error("short seed accepted")
	}
}

// FuzzVerify checks that single and batch verification agree on arbitrary
// input and that neither panics.
func FuzzVerify(f *testing.F) {
	k := seedKey("fuzz")
	m := []byte("m")
	f.Add([]byte(k.Public().(ed25519.PublicKey)), m, ed25519.Sign(k, m))
	f.Add(make([]byte, 32), m, make([]byte, 64))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		e1 := Verify(pub, msg, sig)
		e2 := batchOne(pub, msg, sig)
		if reasonOf(e1) != reasonOf(e2) {
			t.Fatalf("single %v, batch %v", e1, e2)
		}
		if e1 == nil && !ed25519.Verify(pub, msg, sig) {
			// Allowed only for the cofactored-only cases; check those are
			// exactly the torsion ones.
			A, _ := new(edwards25519.Point).SetBytes(pub)
			R, _ := new(edwards25519.Point).SetBytes(sig[:32])
			id := edwards25519.NewIdentityPoint()
			lA := new(edwards25519.Point).ScalarMult(lMinus1(), A)
			lR := new(edwards25519.Point).ScalarMult(lMinus1(), R)
			lA.Add(lA, A)
			lR.Add(lR, R)
			if lA.Equal(id) == 1 && lR.Equal(id) == 1 {
				t.Fatal("accepted a torsion-free signature the stdlib rejects")
			}
		}
	})
}

// lMinus1 returns ℓ − 1 as a scalar, so [ℓ−1]P + P = [ℓ]P kills the
// prime-order part and leaves the torsion component.
func lMinus1() *edwards25519.Scalar {
	one := make([]byte, 32)
	one[0] = 1
	s, _ := new(edwards25519.Scalar).SetCanonicalBytes(one)
	return new(edwards25519.Scalar).Negate(s)
}

func BenchmarkVerify(b *testing.B) {
	k := seedKey("bench")
	m := []byte("message")
	s := ed25519.Sign(k, m)
	p := k.Public().(ed25519.PublicKey)
	for b.Loop() {
		if Verify(p, m, s) != nil {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkVerifyBatch64(b *testing.B) {
	var items []Item
	for i := 0; i < 64; i++ {
		k := seedKey(fmt.Sprint("bench", i))
		m := []byte(fmt.Sprint("m", i))
		items = append(items, Item{k.Public().(ed25519.PublicKey), m, ed25519.Sign(k, m)})
	}
	for b.Loop() {
		if VerifyBatch(items) != nil {
			b.Fatal("invalid")
		}
	}
}

// TestCanonicalEncoding checks the byte test against re-encoding on every
// encoding near the special values and on random ones.
func TestCanonicalEncoding(t *testing.T) {
	check := func(b []byte) {
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil {
			return
		}
		if got, want := canonicalEncoding(b), bytes.Equal(p.Bytes(), b); got != want {
			t.Fatalf("%x: canonicalEncoding %v, re-encoding says %v", b, got, want)
		}
	}
	for low := 0; low < 256; low++ {
		for _, top := range []byte{0x00, 0x7f, 0x80, 0xff} {
			for _, mid := range []byte{0x00, 0xff} {
				b := bytes.Repeat([]byte{mid}, 32)
				b[0], b[31] = byte(low), top
				check(b)
			}
		}
	}
	for i := range 2000 {
		h := sha512.Sum512([]byte(fmt.Sprint("canonical ", i)))
		check(h[:32])
		b := h[:32]
		b[31] |= 0x80
		check(b)
	}
}
