package sig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"filippo.io/edwards25519"

	"evote/crypto/group"
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

// sharedKeyItems returns n valid items all signed by one key.
func sharedKeyItems(label string, n int) []Item {
	k := seedKey(label)
	items := make([]Item, n)
	for i := range items {
		m := []byte(fmt.Sprint("shared-key message ", i))
		items[i] = Item{k.Public().(ed25519.PublicKey), m, ed25519.Sign(k, m)}
	}
	return items
}

// TestBatchSharedKey checks a batch under one key: its items share one
// decoded key, the merged combination accepts it without bisecting, and
// invalid items among them are each named.
func TestBatchSharedKey(t *testing.T) {
	items := sharedKeyItems("shared", 32)
	if err := VerifyBatch(items); err != nil {
		t.Fatalf("valid shared-key batch: %v", err)
	}
	errs := make([]error, len(items))
	preps, idx := prepareBatch(items, errs)
	if len(preps) != len(items) || len(idx) != len(items) {
		t.Fatalf("prepared %d of %d valid items", len(preps), len(items))
	}
	for i, p := range preps {
		if p.A != preps[0].A {
			t.Fatalf("item %d has its own decoded key, want the shared one", i)
		}
	}
	// The merged check itself must accept (not only the bisection's single
	// checks), and must refuse once any one item is broken.
	if good, err := batchCheck(preps); err != nil || !good {
		t.Fatalf("merged combination refuses a valid shared-key batch (%v)", err)
	}
	for _, i := range []int{0, 13, 31} {
		s := bytes.Clone(items[i].Signature)
		s[40] ^= 4
		items[i].Signature = s
		p, err := prepare(items[i].PublicKey, items[i].Message, s)
		if err != nil {
			t.Fatal(err)
		}
		saved := preps[i]
		p.A = saved.A
		preps[i] = p
		if good, _ := batchCheck(preps); good {
			t.Fatalf("merged combination accepts a batch with item %d broken", i)
		}
		preps[i] = saved
	}
	err := VerifyBatch(items)
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want *BatchError", err)
	}
	for i, e := range be.Errs {
		want := i == 0 || i == 13 || i == 31
		if want != (e != nil) || (want && !errors.Is(e, ErrInvalidSignature)) {
			t.Errorf("item %d: error %v, want invalid=%v", i, e, want)
		}
	}
}

// TestBatchMixedKeys interleaves valid and invalid items under several
// keys, including keys that break a key rule and repeat, and checks that
// the batch gives every item exactly Verify's answer.
func TestBatchMixedKeys(t *testing.T) {
	var items []Item
	a, b := sharedKeyItems("mixed a", 20), sharedKeyItems("mixed b", 20)
	for i := range a {
		items = append(items, a[i], b[i])
	}
	for i := 0; i < 20; i++ {
		k := seedKey(fmt.Sprint("mixed single ", i))
		m := []byte(fmt.Sprint("m", i))
		items = append(items, Item{k.Public().(ed25519.PublicKey), m, ed25519.Sign(k, m)})
	}
	if err := VerifyBatch(items); err != nil {
		t.Fatalf("valid mixed batch: %v", err)
	}
	// Every test vector twice, so invalid and cofactored-only items share
	// keys with each other and with the valid items above.
	for _, v := range generateVectors().Vectors {
		p, _ := hex.DecodeString(v.Pub)
		m, _ := hex.DecodeString(v.Msg)
		s, _ := hex.DecodeString(v.Sig)
		items = append(items, Item{p, m, s}, Item{p, m, s})
	}
	// A key of small order and a non-curve key, each under several items.
	small := order8().Bytes()
	for _, it := range a[:3] {
		items = append(items, Item{small, it.Message, it.Signature}, Item{smallY(false), it.Message, it.Signature})
	}
	// Broken signatures under the shared keys.
	for _, i := range []int{1, 6, 17} {
		s := bytes.Clone(items[i].Signature)
		s[2] ^= 0x80
		items[i].Signature = s
	}
	err := VerifyBatch(items)
	var be *BatchError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want *BatchError", err)
	}
	for i, it := range items {
		if got, want := reasonOf(be.Errs[i]), reasonOf(Verify(it.PublicKey, it.Message, it.Signature)); got != want {
			t.Errorf("item %d: batch says %q, Verify %q", i, got, want)
		}
	}
	for _, i := range []int{1, 6, 17} {
		if be.Errs[i] == nil {
			t.Errorf("broken item %d not named", i)
		}
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

func BenchmarkVerifyBatch64(b *testing.B) { benchVerifyBatch(b, distinctKeyItems(64)) }

// distinctKeyItems returns n valid items, each under its own key.
func distinctKeyItems(n int) []Item {
	var items []Item
	for i := 0; i < n; i++ {
		k := seedKey(fmt.Sprint("bench", i))
		m := []byte(fmt.Sprint("m", i))
		items = append(items, Item{k.Public().(ed25519.PublicKey), m, ed25519.Sign(k, m)})
	}
	return items
}

// benchVerifyBatch verifies items as one batch and reports the cost per
// signature.
func benchVerifyBatch(b *testing.B, items []Item) {
	for b.Loop() {
		if VerifyBatch(items) != nil {
			b.Fatal("invalid")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/sig")
}

// BenchmarkScalarMult is crypto/group's unit SM, repeated here so that the
// ratios of the signature benchmarks can be read from one run.
func BenchmarkScalarMult(b *testing.B) {
	p := new(group.Element).ScalarBaseMult(group.RandomScalar())
	s := group.RandomScalar()
	e := new(group.Element)
	for b.Loop() {
		e.ScalarMult(s, p)
	}
}

// BenchmarkVerifyBatchSameKey is a batch of 32 signatures by one key, as the
// ballot box sees voting tokens from the identity service; it reports the
// cost per signature.
func BenchmarkVerifyBatchSameKey(b *testing.B) { benchVerifyBatch(b, sharedKeyItems("bench", 32)) }

// BenchmarkVerifyBatch32 is the distinct-key counterpart of
// BenchmarkVerifyBatchSameKey.
func BenchmarkVerifyBatch32(b *testing.B) { benchVerifyBatch(b, distinctKeyItems(32)) }

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

// TestVerifyEach: one error per item, nil exactly for the items Verify
// accepts.
func TestVerifyEach(t *testing.T) {
	items := sharedKeyItems("each", 8)
	items[2].Signature = append([]byte(nil), items[2].Signature...)
	items[2].Signature[0] ^= 1
	items[5].PublicKey = make([]byte, 31)
	errs := VerifyEach(items)
	if len(errs) != len(items) {
		t.Fatalf("%d errors for %d items", len(errs), len(items))
	}
	for i, err := range errs {
		if want := Verify(items[i].PublicKey, items[i].Message, items[i].Signature); (err == nil) != (want == nil) || (err != nil && !errors.Is(err, want)) {
			t.Errorf("item %d: %v, Verify says %v", i, err, want)
		}
	}
	if errs := VerifyEach(nil); len(errs) != 0 {
		t.Fatal("errors for no items")
	}
}
