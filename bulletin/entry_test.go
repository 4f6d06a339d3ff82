package bulletin

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

func TestEntryRoundTrip(t *testing.T) {
	log := LogIDFor("evote.example/test")
	e := testEntry(t, log, TypeBallot, "voter", 1)
	b := e.Encode()
	if len(b) != EntryOverhead+len(e.Payload) {
		t.Fatalf("encoded length %d", len(b))
	}
	d, err := DecodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Encode(), b) || d.Hash() != e.Hash() {
		t.Fatal("round trip changed the entry")
	}
	if err := d.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := VerifyEntries([]*Entry{d, e}); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeRejects(t *testing.T) {
	log := LogIDFor("evote.example/test")
	good := testEntry(t, log, TypeBallot, "voter", 1).Encode()
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"version 0", mut(func(b []byte) []byte { b[0] = 0; return b }), ErrVersion},
		{"version 2", mut(func(b []byte) []byte { b[0] = 2; return b }), ErrVersion},
		{"unknown type", mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[33:], 0x7777); return b }), ErrUnknownType},
		{"length over type limit", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[67:], 1<<20); return b }), ErrTooLarge},
		{"length 2^32-1", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[67:], 0xffffffff); return b }), ErrTooLarge},
		{"length one short", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[67:], binary.BigEndian.Uint32(b[67:])-1); return b }), ErrMalformed},
	}
	for _, c := range cases {
		if _, err := DecodeEntry(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Decodable but tampered: the signature check catches it.
	for _, off := range []int{1, 33, 40, 71, len(good) - 64, len(good) - 1} {
		b := bytes.Clone(good)
		if off == 33 {
			binary.BigEndian.PutUint16(b[33:], uint16(TypeAuditedBallot))
		} else {
			b[off] ^= 0x01
		}
		e, err := DecodeEntry(b)
		if err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		if err := e.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tamper at offset %d: %v, want ErrBadSignature", off, err)
		}
	}
	// Non-canonical S (S + ℓ) is refused by the strict rules.
	e, _ := DecodeEntry(good)
	s := e.Signature[32:]
	var c uint16
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	for i := range 32 {
		v := uint16(s[i]) + uint16(l[i]) + c
		s[i], c = byte(v), v>>8
	}
	if err := e.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("S + l: %v", err)
	}
}

func TestNewEntryChecks(t *testing.T) {
	s := seededEd25519("a")
	log := LogIDFor("x.example/log")
	if _, err := NewEntry(log, Type(0x9999), s.Public(), s, nil); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := NewEntry(log, TypeBallot, s.Public(), s, make([]byte, TypeBallot.MaxPayload()+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	other := seededEd25519("b")
	if _, err := NewEntry(log, TypeBallot, other.Public(), s, nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signer not matching author: %v", err)
	}
	// The signature binds the log and the type, not only the payload.
	e, _ := NewEntry(log, TypeBallot, s.Public(), s, []byte("p"))
	e2 := *e
	e2.Log = LogIDFor("y.example/log")
	if err := e2.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("moved to another log: %v", err)
	}
	e3 := *e
	e3.Type = TypeAuditedBallot
	if err := e3.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("retyped: %v", err)
	}
}

func TestValidOrigin(t *testing.T) {
	for _, o := range []string{"evote.kg/2026", "a", "выборы.kg/2026"} {
		if err := ValidOrigin(o); err != nil {
			t.Errorf("%q: %v", o, err)
		}
	}
	for _, o := range []string{"", "a b", "a+b", "a\nb", "a\u00a0b", "\xff"} {
		if err := ValidOrigin(o); err == nil {
			t.Errorf("%q accepted", o)
		}
	}
}

func TestTypes(t *testing.T) {
	for _, ty := range Types() {
		if got, ok := TypeByName(ty.String()); !ok || got != ty {
			t.Errorf("type %04x name %q does not round-trip", uint16(ty), ty)
		}
		if ty.MaxPayload() <= 0 || ty.MaxPayload() > MaxPayload {
			t.Errorf("type %s limit %d", ty, ty.MaxPayload())
		}
	}
	if Type(0).Registered() || Type(0).String() != "type-0x0000" {
		t.Error("type 0 registered")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	log := LogIDFor("fuzz.example/log")
	f.Add(testEntry(f, log, TypeBallot, "v", 0).Encode())
	f.Add(make([]byte, EntryOverhead))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Encode(), b) {
			t.Fatal("decoded entry does not re-encode to the same bytes")
		}
		_ = e.Verify()
	})
}

// TestVerifyEncoded: the in-place check agrees with DecodeEntry and
// Entry.Verify, and ParseHeader reads what the entry holds.
func TestVerifyEncoded(t *testing.T) {
	log := LogIDFor("evote.example/test")
	e := testEntry(t, log, TypeMixOutput, "trustee", 1)
	good := e.Encode()
	h, err := ParseHeader(good)
	if err != nil || h.Log != log || h.Type != TypeMixOutput || h.Author != e.Author || int(h.PayloadLen) != len(e.Payload) || h.EncodedSize() != len(good) {
		t.Fatalf("header %+v %v", h, err)
	}
	room := func(b []byte) []byte { return append(make([]byte, SigningRoom), b...) }
	if err := VerifyEncoded(room(good)); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(b []byte){
		"payload":   func(b []byte) { b[HeaderSize] ^= 1 },
		"signature": func(b []byte) { b[len(b)-1] ^= 1 },
		"author":    func(b []byte) { b[40] ^= 1 },
		"type":      func(b []byte) { binary.BigEndian.PutUint16(b[33:], uint16(TypeDecryptionShare)) },
	} {
		b := bytes.Clone(good)
		f(b)
		d, derr := DecodeEntry(b)
		if derr == nil {
			derr = d.Verify()
		}
		if err := VerifyEncoded(room(b)); err == nil || derr == nil || !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s tampered: VerifyEncoded %v, Decode+Verify %v", name, err, derr)
		}
	}
	for _, b := range [][]byte{good[:len(good)-1], append(bytes.Clone(good), 0), good[:HeaderSize-1]} {
		if err := VerifyEncoded(room(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	}
}

// WriteTo writes exactly the canonical bytes, and Hash hashes them.
func TestEntryWriteTo(t *testing.T) {
	log := LogIDFor("evote.example/test")
	for _, e := range []*Entry{testEntry(t, log, TypeBallot, "voter", 1), {Version: EntryVersion, Log: log, Type: TypeMixOutput, Payload: bytes.Repeat([]byte{7}, 1<<20)}} {
		var buf bytes.Buffer
		n, err := e.WriteTo(&buf)
		if err != nil || n != int64(buf.Len()) || !bytes.Equal(buf.Bytes(), e.Encode()) {
			t.Fatalf("WriteTo wrote %d bytes (%v), not the %d of Encode", n, err, len(e.Encode()))
		}
		if e.Hash() != sha256.Sum256(e.Encode()) {
			t.Fatal("Hash is not SHA-256 of the canonical bytes")
		}
	}
}
