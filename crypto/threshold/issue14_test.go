package threshold

import (
	"encoding/binary"
	"errors"
	"testing"

	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/testrand"
)

// legacyShareBytes encodes s as the format before issue 14 did, with a
// batched proof and per-ciphertext proofs: u8(9) || ext || u16(j) ||
// list<Element>(D) || u8(1) || DLEQProof || u32(m) || DLEQProof × m.
func legacyShareBytes(s *DecryptionShare, perCiphertext []*zkp.DLEQProof) []byte {
	b := appendHeader(nil, kindDecryptionShare, s.Context)
	b = appendU16(b, s.Trustee)
	b = appendElements(b, s.D)
	b = append(b, 1)
	b = append(b, s.Proof.Bytes()...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(perCiphertext)))
	for _, p := range perCiphertext {
		b = append(b, p.Bytes()...)
	}
	return b
}

// TestShareWithUncheckedProofs (issue 14, case 1): a decryption share whose
// batched proof verifies while the per-ciphertext proofs it also carries
// are garbage. Those bytes are signed and published but nobody checked
// them; the format no longer has them, so such a share does not decode.
func TestShareWithUncheckedProofs(t *testing.T) {
	d := honestDKG(t)
	rnd := testrand.New("unchecked proofs")
	cts, _ := encryptTestVotes(t, d.res.JointKey, 4, rnd)
	s, err := d.shares[1].DecryptShares(testExt, cts, rnd)
	if err != nil {
		t.Fatal(err)
	}
	// Garbage that decodes: a proof of something else entirely, repeated.
	junk, err := zkp.ProveDLEQ([]byte("junk"), &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: group.NewGeneratorElement(), G2: group.NewGeneratorElement(), X2: group.NewGeneratorElement()}, new(group.Scalar).SetUint64(1), group.GeneratorTable(), rnd)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []*zkp.DLEQProof{junk, junk, junk, junk}
	b := legacyShareBytes(s, garbage)
	if _, err := ParseDecryptionShare(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("share with unchecked per-ciphertext proofs decodes: %v", err)
	}
	if _, err := VerifyDecryptionShareBytes(testExt, d.res.VerificationKeys, NewCiphertextList(cts), b); err == nil {
		t.Error("share with unchecked per-ciphertext proofs verifies")
	}
}

// TestTrusteeBound (issue 14): one bound on n everywhere, the manifest's
// (spec §9.1, §1.3): at most 32 trustees, so an index or count of 33 is
// refused by every decoder, not only by the manifest.
func TestTrusteeBound(t *testing.T) {
	if err := (Params{N: 33, T: 2}).Validate(); !errors.Is(err, ErrParams) {
		t.Errorf("n = 33: %v", err)
	}
	if err := (Params{N: 32, T: 32}).Validate(); err != nil {
		t.Errorf("n = 32: %v", err)
	}
	var base [32]byte
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"complainer 33", binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(append([]byte{3}, base[:]...), 33), 1)},
		{"accused 33", binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(append([]byte{3}, base[:]...), 1), 33)},
		{"33 dealers qualified", func() []byte {
			b := binary.BigEndian.AppendUint32(append([]byte{5}, base[:]...), 33)
			for i := 1; i <= 33; i++ {
				b = binary.BigEndian.AppendUint16(b, uint16(i))
			}
			return b
		}()},
	} {
		if _, err := ParseMessage(c.msg); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	ok := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(append([]byte{3}, base[:]...), 32), 1)
	if _, err := ParseMessage(ok); err != nil {
		t.Errorf("complainer 32: %v", err)
	}
}
