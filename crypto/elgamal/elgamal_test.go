package elgamal

import (
	"bytes"
	"testing"
	"testing/quick"

	"evote/crypto/group"
)

func mustKey(t testing.TB) *PrivateKey {
	sk, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func decryptInt(t *testing.T, sk *PrivateKey, c *Ciphertext, tab *DLogTable) uint64 {
	t.Helper()
	m, err := tab.Lookup(sk.Decrypt(c))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEncryptDecrypt(t *testing.T) {
	sk := mustKey(t)
	tab := NewDLogTable(1000)
	for _, m := range []uint64{0, 1, 2, 5, 999, 1000} {
		c, r, err := sk.Public().Encrypt(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := decryptInt(t, sk, c, tab); got != m {
			t.Errorf("decrypt(encrypt(%d)) = %d", m, got)
		}
		if !sk.Public().EncryptWithRandomness(new(group.Scalar).SetUint64(m), r).Equal(c) {
			t.Error("EncryptWithRandomness does not reproduce the ciphertext")
		}
	}
	c, _, _ := sk.Public().Encrypt(1001, nil)
	if _, err := tab.Lookup(sk.Decrypt(c)); err == nil {
		t.Error("message above the table's range recovered")
	}
}

// Property tests (testing/quick): decrypt(reencrypt(c)) = decrypt(c) and
// decrypt(c1·c2) = m1 + m2.
func TestHomomorphicProperties(t *testing.T) {
	sk := mustKey(t)
	pk := sk.Public()
	tab := NewDLogTable(1 << 17)
	reenc := func(m uint16) bool {
		c, _, _ := pk.Encrypt(uint64(m), nil)
		c2 := pk.ReEncrypt(c, group.RandomScalar())
		return !c2.Equal(c) && sk.Decrypt(c2).Equal(sk.Decrypt(c)) == 1
	}
	if err := quick.Check(reenc, &quick.Config{MaxCount: 30}); err != nil {
		t.Error(err)
	}
	add := func(a, b uint16) bool {
		c1, _, _ := pk.Encrypt(uint64(a), nil)
		c2, _, _ := pk.Encrypt(uint64(b), nil)
		m, err := tab.Lookup(sk.Decrypt(new(Ciphertext).Add(c1, c2)))
		return err == nil && m == uint64(a)+uint64(b)
	}
	if err := quick.Check(add, &quick.Config{MaxCount: 30}); err != nil {
		t.Error(err)
	}
}

func TestCiphertextEncoding(t *testing.T) {
	sk := mustKey(t)
	c, _, _ := sk.Public().Encrypt(3, nil)
	b := c.Bytes()
	d, err := new(Ciphertext).SetBytes(b)
	if err != nil || !d.Equal(c) || !bytes.Equal(d.Bytes(), b) {
		t.Fatal("round trip failed")
	}
	for _, bad := range [][]byte{b[:63], append(bytes.Clone(b), 0), bytes.Repeat([]byte{0xff}, 64)} {
		if _, err := new(Ciphertext).SetBytes(bad); err == nil {
			t.Errorf("bad ciphertext %x accepted", bad)
		}
	}
	if _, err := NewPublicKey(group.NewIdentityElement()); err == nil {
		t.Error("identity public key accepted")
	}
	if _, err := NewPrivateKey(group.NewScalar()); err == nil {
		t.Error("zero secret key accepted")
	}
}

func FuzzCiphertextDecode(f *testing.F) {
	sk := mustKey(f)
	c, _, _ := sk.Public().Encrypt(1, nil)
	f.Add(c.Bytes())
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := new(Ciphertext).SetBytes(b)
		if err == nil && !bytes.Equal(c.Bytes(), b) {
			t.Fatal("accepted ciphertext re-encodes differently")
		}
	})
}

// BenchmarkEncrypt measures one encryption of a small message (target:
// ≤ 1.2 SM, see crypto/group's BenchmarkScalarMult).
func BenchmarkEncrypt(b *testing.B) {
	sk := mustKey(b)
	pk := sk.Public()
	pk.Table()
	group.GeneratorTable()
	for b.Loop() {
		if _, _, err := pk.Encrypt(1, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScalarMult is crypto/group's unit SM, repeated here so that
// ratios can be read from one package's run.
func BenchmarkScalarMult(b *testing.B) {
	p := new(group.Element).ScalarBaseMult(group.RandomScalar())
	s := group.RandomScalar()
	e := new(group.Element)
	for b.Loop() {
		e.ScalarMult(s, p)
	}
}

// TestPublicKeyEncodingKept: a key's encoding is computed when it is made
// (the proofs hash it for every ballot), equals its element's, and a caller
// that modifies the returned bytes does not modify the key.
func TestPublicKeyEncodingKept(t *testing.T) {
	h := new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(12345))
	pk, err := NewPublicKey(h)
	if err != nil {
		t.Fatal(err)
	}
	want := h.Bytes()
	b := pk.Bytes()
	if !bytes.Equal(b, want) || !bytes.Equal(pk.AppendBytes([]byte{1})[1:], want) {
		t.Fatalf("Bytes %x, AppendBytes %x, want %x", b, pk.AppendBytes(nil), want)
	}
	b[0] ^= 1
	if !bytes.Equal(pk.Bytes(), want) {
		t.Fatal("modifying the result of Bytes modified the key")
	}
	parsed, err := ParsePublicKey(want)
	if err != nil || !bytes.Equal(parsed.Bytes(), want) || !parsed.Equal(pk) {
		t.Fatalf("ParsePublicKey: %v", err)
	}
}
