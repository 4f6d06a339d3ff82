package revote

import (
	"errors"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/internal/testrand"
)

// A tag key read back from its secret is the same key: the same Z_j and
// the same blinding, which verifies under the key drawn first. A zero
// secret is refused.
func TestTagKeyFromSecret(t *testing.T) {
	r := testrand.New("tag-key-from-secret")
	k, err := NewTagKey(2, r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := TagKeyFromSecret(2, k.Secret())
	if err != nil {
		t.Fatal(err)
	}
	if back.Public().Equal(k.Public()) != 1 || back.Trustee != 2 {
		t.Fatal("a tag key read back from its secret is another key")
	}
	var ext [32]byte
	g := group.NewGeneratorElement()
	in, err := shuffle.NewRows(1, []*elgamal.Ciphertext{{A: *g, B: *g}})
	if err != nil {
		t.Fatal(err)
	}
	step, err := back.Blind(ext, in, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBlind(ext, k.Public(), in, step); err != nil {
		t.Fatal(err)
	}
	if _, err := TagKeyFromSecret(2, new(group.Scalar)); !errors.Is(err, ErrTagKey) {
		t.Fatalf("zero secret: %v", err)
	}
	if _, err := TagKeyFromSecret(0, k.Secret()); !errors.Is(err, ErrParams) {
		t.Fatalf("trustee 0: %v", err)
	}
	// Secret returns a copy: changing it leaves the key as it was.
	s := k.Secret()
	s.Set(new(group.Scalar))
	if k.Secret().IsZero() == 1 {
		t.Fatal("Secret returned the key's own scalar")
	}
}
