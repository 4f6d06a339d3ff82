package ballot

import (
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"evote/crypto/elgamal"
	"evote/internal/wire"
)

// Errors callers branch on.
var (
	// ErrMalformedBallot: the bytes are not a canonical ballot.
	ErrMalformedBallot = errors.New("ballot: malformed ballot")
	// ErrInvalidBallot: the ballot decodes but breaks a rule of spec §9.5.
	ErrInvalidBallot = errors.New("ballot: invalid ballot")
	// ErrClearCiphertext: a ballot ciphertext whose first component is the
	// identity (randomness 0), so that its second is g^m·h^0 = g^m: the
	// vote in clear on the public board, a receipt for a vote buyer (spec
	// §9.3). Wrapped together with ErrInvalidBallot.
	ErrClearCiphertext = errors.New("ballot: ciphertext in clear (its first component is the identity)")
)

const (
	ballotFormat = 1
	// maxProofSize bounds one contest's proof encoding.
	maxProofSize = 64 << 10
)

// A ContestBallot is the encrypted part of one contest: one ciphertext for a
// single-choice contest, one per candidate for a multi-select contest, and
// the proof that they are well formed.
type ContestBallot struct {
	Ciphertexts []*elgamal.Ciphertext
	Proof       []byte
}

// An EncryptedBallot is what a voter's device casts (spec §9.3).
type EncryptedBallot struct {
	ElectionID    string
	Style         string
	CredentialKey [32]byte
	Contests      []ContestBallot
}

// Encode returns the canonical encoding of b.
func (b *EncryptedBallot) Encode() []byte {
	w := wire.NewWriter(256)
	w.U8(ballotFormat)
	w.String(b.ElectionID)
	w.String(b.Style)
	w.Fixed(b.CredentialKey[:])
	w.U32(uint32(len(b.Contests)))
	for _, c := range b.Contests {
		w.U32(uint32(len(c.Ciphertexts)))
		for _, ct := range c.Ciphertexts {
			w.Ciphertext(ct)
		}
		w.VarBytes(c.Proof)
	}
	return w.Bytes()
}

// DecodeBallot parses a canonical ballot. It checks the encoding only; use
// Verifier to check it against an election.
func DecodeBallot(p []byte) (*EncryptedBallot, error) {
	r := wire.NewReader(p)
	if v := r.U8("format"); r.Err() == nil && v != ballotFormat {
		return nil, fmt.Errorf("%w: format %d, want %d", ErrMalformedBallot, v, ballotFormat)
	}
	b := &EncryptedBallot{
		ElectionID: r.String(maxIDLen, "election id"),
		Style:      r.String(maxIDLen, "ballot style"),
	}
	copy(b.CredentialKey[:], r.Fixed(32, "credential key"))
	n := r.Count(maxItems, 8, "contests")
	for i := 0; i < n; i++ {
		k := r.Count(maxCandidates, elgamal.CiphertextSize, "ciphertexts")
		c := ContestBallot{}
		for j := 0; j < k; j++ {
			c.Ciphertexts = append(c.Ciphertexts, r.Ciphertext("ciphertext"))
		}
		c.Proof = r.VarBytes(maxProofSize, "proof")
		b.Contests = append(b.Contests, c)
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBallot, err)
	}
	return b, nil
}

// TrackingCodeTag is the domain tag of tracking codes.
const TrackingCodeTag = "evote-v1/tracking-code"

// A TrackingCode identifies a ballot on the board (spec §9.3).
type TrackingCode [32]byte

// TrackingCode returns SHA-256(frame(TrackingCodeTag) || frame(Encode())).
func (b *EncryptedBallot) TrackingCode() TrackingCode {
	return framedHash(TrackingCodeTag, b.Encode())
}

// TrackingCodeOf returns the tracking code of an encoded ballot.
func TrackingCodeOf(encoded []byte) TrackingCode {
	return framedHash(TrackingCodeTag, encoded)
}

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// String returns the code as shown to voters: the first 20 bytes in base32,
// in groups of four characters.
func (c TrackingCode) String() string { return c.Shown().String() }

// A ShownCode is the part of a tracking code shown to voters (spec §9.3):
// its first 20 bytes, which is what a voter can type on a second device.
type ShownCode [20]byte

// Shown returns the part of the code shown to voters.
func (c TrackingCode) Shown() ShownCode { return ShownCode(c[:20]) }

// String returns the code in base32, in groups of four characters.
func (s ShownCode) String() string {
	t := codeEncoding.EncodeToString(s[:])
	var parts []string
	for i := 0; i < len(t); i += 4 {
		parts = append(parts, t[i:min(i+4, len(t))])
	}
	return strings.Join(parts, "-")
}

// ErrBadCode is returned for text that is not a tracking code as shown.
var ErrBadCode = errors.New("ballot: not a tracking code")

// ParseShownCode reads a tracking code as shown: 32 base32 characters
// (RFC 4648 alphabet), any case, dashes and spaces ignored.
func ParseShownCode(text string) (ShownCode, error) {
	t := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(text))
	var s ShownCode
	if len(t) != 32 {
		return s, fmt.Errorf("%w: %d characters, want 32", ErrBadCode, len(t))
	}
	b, err := codeEncoding.DecodeString(t)
	if err != nil || len(b) != len(s) {
		return s, fmt.Errorf("%w: %q", ErrBadCode, text)
	}
	copy(s[:], b)
	return s, nil
}

// ContestContext returns the proof context of the contest at position i of
// the ballot style (spec §9.3): extended hash || credential key || u32(i) ||
// string(contest id).
func ContestContext(extendedHash [32]byte, credentialKey [32]byte, i int, contestID string) []byte {
	w := wire.NewWriter(32 + 32 + 4 + 4 + len(contestID))
	w.Fixed(extendedHash[:])
	w.Fixed(credentialKey[:])
	w.U32(uint32(i))
	w.String(contestID)
	return w.Bytes()
}

// Ciphertexts returns every ciphertext of the ballot, in order.
func (b *EncryptedBallot) Ciphertexts() []*elgamal.Ciphertext {
	var out []*elgamal.Ciphertext
	for _, c := range b.Contests {
		out = append(out, c.Ciphertexts...)
	}
	return out
}

// CheckShape checks the ballot against the manifest (election, style,
// contests, ciphertexts per contest) without its proofs: what a replay
// still checks of ballots whose proofs were verified when they were cast.
func (b *EncryptedBallot) CheckShape(m *Manifest) error {
	_, err := b.checkShape(m)
	return err
}

// checkShape checks the ballot against the manifest: election, style, the
// number of ciphertexts of each contest, and that no ciphertext is in
// clear (spec §9.3: A ≠ 1).
func (b *EncryptedBallot) checkShape(m *Manifest) (*BallotStyle, error) {
	if b.ElectionID != m.ElectionID {
		return nil, fmt.Errorf("%w: election %q, want %q", ErrInvalidBallot, b.ElectionID, m.ElectionID)
	}
	style, ok := m.Style(b.Style)
	if !ok {
		return nil, fmt.Errorf("%w: unknown ballot style %q", ErrInvalidBallot, b.Style)
	}
	if len(b.Contests) != len(style.Contests) {
		return nil, fmt.Errorf("%w: %d contests, style %s has %d", ErrInvalidBallot, len(b.Contests), style.ID, len(style.Contests))
	}
	for i, id := range style.Contests {
		c, _ := m.Contest(id)
		want := 1
		if c.Kind == MultiSelect {
			want = len(c.Candidates)
		}
		if got := len(b.Contests[i].Ciphertexts); got != want {
			return nil, fmt.Errorf("%w: contest %s has %d ciphertexts, want %d", ErrInvalidBallot, id, got, want)
		}
		for j, ct := range b.Contests[i].Ciphertexts {
			if ct.A.IsIdentity() == 1 {
				return nil, fmt.Errorf("%w: %w: contest %s ciphertext %d", ErrInvalidBallot, ErrClearCiphertext, id, j)
			}
		}
	}
	return style, nil
}
