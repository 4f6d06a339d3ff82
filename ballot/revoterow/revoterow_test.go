package revoterow

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/wire"
)

// vectorPayload returns the payload of the entry of type typ in
// spec/vectors/revote-entries.json (from the example record).
func vectorPayload(t *testing.T, typ string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../spec/vectors/revote-entries.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Entries []struct{ Type, Payload string }
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Entries {
		if e.Type == typ {
			b, err := hex.DecodeString(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no %s vector", typ)
	return nil
}

// TestCredentialVector: the credential of the example record decodes and
// re-encodes to the same bytes; every truncation and a trailing byte are
// refused as malformed.
func TestCredentialVector(t *testing.T) {
	b := vectorPayload(t, "revote-credential")
	c, err := DecodeCredential(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Encode(), b) {
		t.Fatal("decode then encode changed the credential")
	}
	if err := VerifyID(IDProofContext(c.Context, c.DeviceKey), c.ID, c.Proof); err != nil {
		t.Fatalf("π_id of the vector: %v", err)
	}
	if err := VerifyID(IDProofContext(c.Context, [32]byte{1}), c.ID, c.Proof); !errors.Is(err, ErrIDKnowledge) {
		t.Fatalf("π_id under another device key: %v", err)
	}
	for i := range b {
		if _, err := DecodeCredential(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d bytes: %v", i, err)
		}
	}
	if _, err := DecodeCredential(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatal("a trailing byte accepted")
	}
}

// TestSlotRowsVector: the rows of the example record's slot read one by
// one (ReadSignedRow) and re-encode to the same bytes (EncodeTo).
func TestSlotRowsVector(t *testing.T) {
	p := vectorPayload(t, "revote-slot")
	r := wire.NewReader(p)
	r.U8("format")
	r.Fixed(32, "context")
	r.U32("slot")
	r.String(64, "style")
	n := int(r.U32("rows"))
	w := wire.NewWriter(len(p))
	start := len(p) - r.Remaining()
	for range n {
		s := ReadSignedRow(r)
		if s == nil {
			t.Fatal(r.Err())
		}
		s.EncodeTo(w)
	}
	if err := Finish(r, "slot"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), p[start:]) {
		t.Fatal("the rows re-encode differently")
	}
}

// TestFlagAndIdentifier: a flag of 0 or 1 proves and verifies under its
// context only, 2 cannot be proven; an identifier opens with its s to its
// voter only.
func TestFlagAndIdentifier(t *testing.T) {
	sk, err := elgamal.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk := sk.Public()
	ctx := FlagProofContext([32]byte{7}, [32]byte{8})
	for _, f := range []uint64{FlagNone, FlagBallot} {
		c, r, p, err := EncryptFlagOpening(pk, ctx, f, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyFlag(pk, ctx, c, p); err != nil {
			t.Fatalf("flag %d: %v", f, err)
		}
		if err := VerifyFlag(pk, FlagProofContext([32]byte{7}, [32]byte{9}), c, p); !errors.Is(err, ErrFlag) {
			t.Fatalf("flag %d under another device key: %v", f, err)
		}
		if !pk.EncryptWithRandomness(new(group.Scalar).SetUint64(f), r).Equal(c) {
			t.Fatalf("flag %d: the opening does not open it", f)
		}
	}
	if _, _, err := EncryptFlag(pk, ctx, FlagPadding, rand.Reader); !errors.Is(err, ErrParams) {
		t.Fatalf("a flag of 2 proven: %v", err)
	}
	v := VoterID("e-1", [32]byte{1})
	id, s, _, err := EncryptID(pk, IDProofContext([32]byte{7}, [32]byte{8}), v, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !OpensTo(pk, id, s, v) || OpensTo(pk, id, s, VoterID("e-1", [32]byte{2})) || OpensTo(pk, id, group.RandomScalar(), v) {
		t.Fatal("OpensTo")
	}
	if VoterID("e-1", [32]byte{1}).Equal(VoterID("e-2", [32]byte{1})) == 1 || DummyID("e-1", "s", 1).Equal(DummyID("e-1", "s", 2)) == 1 {
		t.Fatal("identifiers of another election or dummy index coincide")
	}
}
