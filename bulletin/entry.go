// Package bulletin implements evote's public bulletin board: typed, signed
// entries (§7.2), an RFC 6962 Merkle log over them (§7.4), signed
// checkpoints in the C2SP signed-note/checkpoint format with an additional
// ML-DSA-65 signature (§7.5), witness cosignatures (§7.6), and the offline
// record export (§7.8). Section numbers refer to spec/07-bulletin.md.
//
// Most callers build entries with NewEntry, append them through a
// board.Log (package bulletin/board, over a store.Store), and hand out
// checkpoints and proofs from it;
// verifiers use DecodeEntry, VerifyCheckpoint, VerifyInclusion,
// VerifyConsistency, and package bulletin/recordfile for an exported
// record.
package bulletin

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"evote/crypto/sig"
)

// Domain-separation tags (spec/01-encoding.md §1.2).
const (
	TagEntry      = "evote-v1/bulletin/entry"
	TagLogID      = "evote-v1/bulletin/log-id"
	TagCheckpoint = "evote-v1/bulletin/checkpoint" // ML-DSA-65 context string
)

// EntryVersion is the only entry format version.
const EntryVersion = 1

// EntryOverhead is the encoded size of an entry with an empty payload:
// version, log id, type, author, payload length, signature.
const EntryOverhead = 1 + 32 + 2 + 32 + 4 + 64

// Sentinel errors for refused entries; every write path wraps one of them.
var (
	ErrMalformed     = errors.New("bulletin: malformed entry encoding")
	ErrVersion       = errors.New("bulletin: unsupported entry version")
	ErrUnknownType   = errors.New("bulletin: unregistered entry type")
	ErrTooLarge      = errors.New("bulletin: payload exceeds the type's limit")
	ErrWrongLog      = errors.New("bulletin: entry belongs to another log")
	ErrBadSignature  = errors.New("bulletin: entry signature invalid")
	ErrDuplicate     = errors.New("bulletin: duplicate entry")
	ErrUnauthorized  = errors.New("bulletin: author not authorised for this entry type")
	ErrInvalidOrigin = errors.New("bulletin: invalid log origin")
)

// LogID identifies one election's log; entries carry it so they cannot be
// replayed into another election's log. (The store's LogID has the same
// bytes; package bulletin/board converts.)
type LogID [32]byte

// LogIDFor derives the log id from the log's origin (the checkpoint's first
// line): SHA-256(string(TagLogID) || string(origin)).
func LogIDFor(origin string) LogID {
	h := sha256.New()
	writeBytes(h, []byte(TagLogID))
	writeBytes(h, []byte(origin))
	var id LogID
	h.Sum(id[:0])
	return id
}

// ValidOrigin checks that origin can be a signed-note key name and
// checkpoint origin: non-empty UTF-8, at most 256 bytes, no space, plus sign
// or control character.
func ValidOrigin(origin string) error {
	if origin == "" || len(origin) > 256 || !utf8.ValidString(origin) {
		return fmt.Errorf("%w: %q", ErrInvalidOrigin, origin)
	}
	for _, r := range origin {
		if r <= 0x20 || r == 0x7f || r == '+' || r == 0xa0 || r == 0x2028 || r == 0x2029 || r == 0x3000 || (r >= 0x2000 && r <= 0x200a) || r == 0x1680 || r == 0x85 || r == 0x202f || r == 0x205f {
			return fmt.Errorf("%w: %q contains a space, plus or control character", ErrInvalidOrigin, origin)
		}
	}
	return nil
}

// Entry is one bulletin-board entry (spec/07-bulletin.md §7.2). Its
// canonical encoding is
//
//	u8(version) || LogID[32] || u16(type) || Author[32] || bytes(payload) || Signature[64]
//
// and the signature is strict Ed25519 (§7.3) by Author over SigningMessage.
type Entry struct {
	Version   uint8
	Log       LogID
	Type      Type
	Author    [32]byte // Ed25519 public key of the author
	Payload   []byte   // canonical bytes defined by the type's owner
	Signature [64]byte
}

type byteWriter interface{ Write([]byte) (int, error) }

func writeBytes(w byteWriter, b []byte) {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(b)))
	w.Write(l[:])
	w.Write(b)
}

// SigningMessage returns the bytes the author signs:
//
//	string(TagEntry) || u8(version) || LogID || u16(type) || Author || bytes(payload)
func (e *Entry) SigningMessage() []byte {
	var b bytes.Buffer
	b.Grow(4 + len(TagEntry) + 1 + 32 + 2 + 32 + 4 + len(e.Payload))
	writeBytes(&b, []byte(TagEntry))
	b.WriteByte(e.Version)
	b.Write(e.Log[:])
	var t [2]byte
	binary.BigEndian.PutUint16(t[:], uint16(e.Type))
	b.Write(t[:])
	b.Write(e.Author[:])
	writeBytes(&b, e.Payload)
	return b.Bytes()
}

// Encode returns the canonical bytes.
func (e *Entry) Encode() []byte {
	out := make([]byte, 0, EntryOverhead+len(e.Payload))
	out = append(out, e.Version)
	out = append(out, e.Log[:]...)
	out = binary.BigEndian.AppendUint16(out, uint16(e.Type))
	out = append(out, e.Author[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(e.Payload)))
	out = append(out, e.Payload...)
	out = append(out, e.Signature[:]...)
	return out
}

// WriteTo writes the canonical bytes, as Encode returns them, to w
// without building them in memory: an entry holding a mix of a million
// ciphertexts is sent or hashed without a copy. It implements io.WriterTo.
func (e *Entry) WriteTo(w io.Writer) (int64, error) {
	head := make([]byte, 0, EntryOverhead-64)
	head = append(head, e.Version)
	head = append(head, e.Log[:]...)
	head = binary.BigEndian.AppendUint16(head, uint16(e.Type))
	head = append(head, e.Author[:]...)
	head = binary.BigEndian.AppendUint32(head, uint32(len(e.Payload)))
	var n int64
	for _, b := range [][]byte{head, e.Payload, e.Signature[:]} {
		k, err := w.Write(b)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Hash returns the entry hash SHA-256(canonical bytes), used for lookup and
// references (and as a ballot's tracking code).
func (e *Entry) Hash() [32]byte {
	h := sha256.New()
	e.WriteTo(h)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// LeafHash returns the RFC 6962 leaf hash SHA-256(0x00 || canonical bytes).
func LeafHash(canonical []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(canonical)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// DecodeEntry parses canonical bytes strictly: exact length, version 1, a
// registered type, a payload within the type's limit, no trailing bytes. It
// does not check the signature (see Entry.Verify), so a verifier can batch
// signature checks. It never panics.
func DecodeEntry(b []byte) (*Entry, error) {
	if len(b) < EntryOverhead {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte minimum", ErrMalformed, len(b), EntryOverhead)
	}
	h, err := ParseHeader(b[:HeaderSize])
	if err != nil {
		return nil, err
	}
	if want := uint64(h.EncodedSize()); uint64(len(b)) != want {
		if uint64(len(b)) < want {
			return nil, fmt.Errorf("%w: truncated: %d bytes, payload length says %d", ErrMalformed, len(b), want)
		}
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, uint64(len(b))-want)
	}
	n := int(h.PayloadLen)
	e := &Entry{Version: h.Version, Log: h.Log, Type: h.Type, Author: h.Author}
	e.Payload = bytes.Clone(b[HeaderSize : HeaderSize+n])
	copy(e.Signature[:], b[HeaderSize+n:])
	return e, nil
}

// HeaderSize is the size of an encoded entry's header: version, log id,
// type, author and payload length, at fixed offsets.
const HeaderSize = 1 + 32 + 2 + 32 + 4

// Header is the fixed-size start of an encoded entry. A server that must
// refuse an entry by its author or type reads the header first, and the
// rest (up to EncodedSize) only if it accepts them.
type Header struct {
	Version    uint8
	Log        LogID
	Type       Type
	Author     [32]byte
	PayloadLen uint32
}

// ParseHeader parses the first HeaderSize bytes of an encoded entry (b may
// be longer) with DecodeEntry's rules: version 1, a registered type, a
// payload length within the type's limit.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(b), HeaderSize)
	}
	h.Version = b[0]
	if h.Version != EntryVersion {
		return h, fmt.Errorf("%w: %d", ErrVersion, h.Version)
	}
	copy(h.Log[:], b[1:33])
	h.Type = Type(binary.BigEndian.Uint16(b[33:35]))
	if !h.Type.Registered() {
		return h, fmt.Errorf("%w: 0x%04x", ErrUnknownType, uint16(h.Type))
	}
	copy(h.Author[:], b[35:67])
	h.PayloadLen = binary.BigEndian.Uint32(b[67:71])
	if uint64(h.PayloadLen) > uint64(h.Type.MaxPayload()) {
		return h, fmt.Errorf("%w: %s payload of %d bytes, limit %d", ErrTooLarge, h.Type, h.PayloadLen, h.Type.MaxPayload())
	}
	return h, nil
}

// EncodedSize is the size of the whole encoded entry the header starts.
func (h Header) EncodedSize() int { return EntryOverhead + int(h.PayloadLen) }

// SigningRoom is the scratch space VerifyEncoded needs before an entry.
const SigningRoom = 4 + len(TagEntry)

// VerifyEncoded checks an encoded entry's structure and strict Ed25519
// signature without copying it: buf is SigningRoom bytes of scratch
// followed by the encoded entry (a server decodes a large body into such a
// buffer). The signed message, SigningMessage, is the tag's length and the
// tag followed by the encoding up to the signature, so VerifyEncoded writes
// the former into the scratch bytes and verifies in place. Verifying a
// large entry this way costs no second copy of its payload.
func VerifyEncoded(buf []byte) error {
	if len(buf) < SigningRoom {
		return fmt.Errorf("%w: no room before the entry", ErrMalformed)
	}
	b := buf[SigningRoom:]
	if len(b) < EntryOverhead {
		return fmt.Errorf("%w: %d bytes, shorter than the %d-byte minimum", ErrMalformed, len(b), EntryOverhead)
	}
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if len(b) != h.EncodedSize() {
		return fmt.Errorf("%w: %d bytes, payload length says %d", ErrMalformed, len(b), h.EncodedSize())
	}
	binary.BigEndian.PutUint32(buf[:4], uint32(len(TagEntry)))
	copy(buf[4:SigningRoom], TagEntry)
	end := SigningRoom + len(b) - 64
	if err := sig.Verify(h.Author[:], buf[:end], buf[end:]); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// check applies the structural rules DecodeEntry applies, to an Entry built
// in memory.
func (e *Entry) check() error {
	if e.Version != EntryVersion {
		return fmt.Errorf("%w: %d", ErrVersion, e.Version)
	}
	if !e.Type.Registered() {
		return fmt.Errorf("%w: 0x%04x", ErrUnknownType, uint16(e.Type))
	}
	if len(e.Payload) > e.Type.MaxPayload() {
		return fmt.Errorf("%w: %s payload of %d bytes, limit %d", ErrTooLarge, e.Type, len(e.Payload), e.Type.MaxPayload())
	}
	return nil
}

// Check applies the structural rules of DecodeEntry (version, registered
// type, payload limit) to an entry built in memory; a log calls it before
// accepting an entry.
func (e *Entry) Check() error { return e.check() }

// Verify checks the structure and the author's strict Ed25519 signature.
func (e *Entry) Verify() error {
	if err := e.check(); err != nil {
		return err
	}
	if err := sig.Verify(e.Author[:], e.SigningMessage(), e.Signature[:]); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// VerifyEntries checks the structure of every entry and all signatures as
// one batch; the error names the first failing entry by position.
func VerifyEntries(es []*Entry) error {
	items := make([]sig.Item, len(es))
	for i, e := range es {
		if err := e.check(); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		items[i] = sig.Item{PublicKey: e.Author[:], Message: e.SigningMessage(), Signature: e.Signature[:]}
	}
	for i, err := range sig.VerifyEach(items) {
		if err != nil {
			return fmt.Errorf("entry %d: %w: %w", i, ErrBadSignature, err)
		}
	}
	return nil
}

// Signer produces a signature over a message. It is the one extension point
// for keys, so they can live in files, memory or an HSM; the same interface
// serves Ed25519 (entries, checkpoints, cosignatures) and ML-DSA-65
// (checkpoints) signers.
type Signer interface {
	Sign(message []byte) ([]byte, error)
}

// Ed25519Signer signs with an in-memory crypto/ed25519 key.
type Ed25519Signer struct{ key ed25519.PrivateKey }

// NewEd25519Signer wraps a private key.
func NewEd25519Signer(k ed25519.PrivateKey) *Ed25519Signer { return &Ed25519Signer{key: k} }

// Sign implements Signer.
func (s *Ed25519Signer) Sign(m []byte) ([]byte, error) { return ed25519.Sign(s.key, m), nil }

// Public returns the public key.
func (s *Ed25519Signer) Public() [32]byte {
	var p [32]byte
	copy(p[:], s.key.Public().(ed25519.PublicKey))
	return p
}

// NewEntry builds and signs an entry, then verifies the signature under the
// strict rules so a faulty signer cannot produce an entry the board would
// refuse.
func NewEntry(log LogID, t Type, author [32]byte, s Signer, payload []byte) (*Entry, error) {
	e := &Entry{Version: EntryVersion, Log: log, Type: t, Author: author, Payload: bytes.Clone(payload)}
	if err := e.check(); err != nil {
		return nil, err
	}
	// One signing message for the signature and its check (a mix's is as
	// large as the mix).
	msg := e.SigningMessage()
	sg, err := s.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("bulletin: sign entry: %w", err)
	}
	if len(sg) != 64 {
		return nil, fmt.Errorf("%w: signer returned %d bytes", ErrBadSignature, len(sg))
	}
	copy(e.Signature[:], sg)
	if err := sig.Verify(e.Author[:], msg, e.Signature[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return e, nil
}
