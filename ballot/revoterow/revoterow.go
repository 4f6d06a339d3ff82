// Package revoterow is the voter's device's part of deniable re-voting
// (spec chapter 15): voter and dummy identifiers, the credential the
// identity service issues, the row a device signs and casts, its flag with
// its proof, the encrypted identifier with its proof of knowledge, and
// what a Benaloh audit opens in this mode. It depends on no part of the
// tally (the filter is package tally/revote, which re-exports these
// names), so that the voting page's WebAssembly module, which needs only
// this, stays small for cheap phones on slow networks.
package revoterow

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"evote/ballot"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

// Domain-separation tags of the device's part (spec §1.2, §15).
const (
	VoterIDTag   = "evote-v1/revote/voter-id"
	DummyIDTag   = "evote-v1/revote/dummy-id"
	DepthContext = "evote-v1/revote/depth"
	FlagContext  = "evote-v1/revote/flag"
	IDContext    = "evote-v1/revote/id-knowledge"
)

// Errors of the device's part; package tally/revote re-exports them, and
// every rejection wraps one of them.
var (
	ErrMalformed   = errors.New("revote: malformed")
	ErrParams      = errors.New("revote: invalid parameters")
	ErrFlag        = errors.New("revote: flag proof does not verify")
	ErrIDKnowledge = errors.New("revote: proof of knowledge of the identifier's randomness does not verify")
)

// VoterID is the identifier of the voter with the given pseudonym (spec
// §8.5.1) in an election (spec §15.2):
//
//	V = HashToElement(string("evote-v1/revote/voter-id") || string(election_id) || pseudonym[32])
//
// with the DST of §2.3. The voter's device recomputes it from the token's
// subject to check the encrypted identifier its credential carries.
func VoterID(electionID string, pseudonym [32]byte) *group.Element {
	msg := appendString(nil, VoterIDTag)
	msg = appendString(msg, electionID)
	msg = append(msg, pseudonym[:]...)
	return group.HashToElement(msg, []byte(group.HashToElementDST))
}

// DummyID is the identifier of dummy voter i ≥ 1 of a ballot style (spec
// §15.4; dummies, like slots and the filter, are per ballot style):
//
//	D_{s,i} = HashToElement(string("evote-v1/revote/dummy-id") || string(election_id)
//	                        || string(ballot_style) || u64(i))
func DummyID(electionID, style string, i uint64) *group.Element {
	msg := appendString(nil, DummyIDTag)
	msg = appendString(msg, electionID)
	msg = appendString(msg, style)
	msg = binary.BigEndian.AppendUint64(msg, i)
	return group.HashToElement(msg, []byte(group.HashToElementDST))
}

// Flags of rows (spec §15.3, §15.4): the device sets FlagBallot on an online
// ballot; dummy rows and in-person marks carry FlagNone (proven in {0, 1}
// like a ballot's, so they look alike); padding rows carry FlagPadding,
// opened in public in the padding entry.
const (
	FlagNone    = 0
	FlagBallot  = 1
	FlagPadding = 2
)

// PaddingFlag is the flag ciphertext of every padding row: FlagPadding in
// clear, (1, g^2), which anyone checks in the padding entry (spec §15.4).
// It is re-encrypted by the mixes like any other.
func PaddingFlag() *elgamal.Ciphertext {
	two := new(group.Scalar).SetUint64(FlagPadding)
	return elgamal.NewCiphertext(group.NewIdentityElement(), new(group.Element).ScalarBaseMult(two))
}

// DepthProofContext is the context of a row's depth proof (spec §15.3):
// string("evote-v1/revote/depth") || extended hash || credential key, so
// that a proof moved to another row or election fails.
func DepthProofContext(ext [32]byte, credentialKey [32]byte) []byte {
	b := appendString(nil, DepthContext)
	b = append(b, ext[:]...)
	return append(b, credentialKey[:]...)
}

// FlagProofContext is the context of a ballot's flag proof (spec §15.2,
// §15.3): string("evote-v1/revote/flag") || extended hash || credential key.
func FlagProofContext(ext [32]byte, credentialKey [32]byte) []byte {
	b := appendString(nil, FlagContext)
	b = append(b, ext[:]...)
	return append(b, credentialKey[:]...)
}

// EncryptFlag encrypts a row's flag f ∈ {0, 1} with its range proof
// (k = 1) under the row's context.
func EncryptFlag(pk *elgamal.PublicKey, ctx []byte, f uint64, rand io.Reader) (*elgamal.Ciphertext, *zkp.RangeProof, error) {
	c, _, p, err := EncryptFlagOpening(pk, ctx, f, rand)
	return c, p, err
}

// EncryptFlagOpening is EncryptFlag that also returns the flag's
// randomness r, which a device keeps until the row is cast or audited (an
// audit opens the flag, spec §15.9) and a station sends with a mark.
func EncryptFlagOpening(pk *elgamal.PublicKey, ctx []byte, f uint64, rand io.Reader) (*elgamal.Ciphertext, *group.Scalar, *zkp.RangeProof, error) {
	if f > 1 {
		return nil, nil, nil, fmt.Errorf("%w: flag %d", ErrParams, f)
	}
	c, r, err := pk.Encrypt(f, rand)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("revote: flag: %w", err)
	}
	p, err := zkp.ProveRange(ctx, &zkp.RangeStatement{PK: pk, Ciphertext: c, Max: 1}, f, r, rand)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("revote: flag proof: %w", err)
	}
	return c, r, p, nil
}

// VerifyFlag checks a row's flag proof.
func VerifyFlag(pk *elgamal.PublicKey, ctx []byte, flag *elgamal.Ciphertext, p *zkp.RangeProof) error {
	if err := p.Verify(ctx, &zkp.RangeStatement{PK: pk, Ciphertext: flag, Max: 1}); err != nil {
		return fmt.Errorf("%w: %w", ErrFlag, err)
	}
	return nil
}

// IDProofContext is the context of a credential's proof of knowledge of the
// randomness s of its encrypted identifier (spec §15.2):
// string("evote-v1/revote/id-knowledge") || extended hash || credential key.
func IDProofContext(ext [32]byte, credentialKey [32]byte) []byte {
	b := appendString(nil, IDContext)
	b = append(b, ext[:]...)
	return append(b, credentialKey[:]...)
}

// EncryptID encrypts identifier v as C_id = (g^s, h^s·v) and proves
// knowledge of s (a Schnorr proof on C_id's first component, spec §15.2).
// The proof makes C_id plaintext-aware: whoever makes it knows s, hence
// the plaintext, so a credential cannot carry a re-randomised copy of
// someone else's ciphertext (a vote) to have the filter's tags or the roll
// call decrypt or compare it.
func EncryptID(pk *elgamal.PublicKey, ctx []byte, v *group.Element, rand io.Reader) (*elgamal.Ciphertext, *group.Scalar, *zkp.SchnorrProof, error) {
	c, s, err := pk.Encrypt(0, rand)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("revote: identifier: %w", err)
	}
	c.B.Add(&c.B, v)
	p, err := zkp.ProveSchnorr(ctx, group.NewGeneratorElement(), &c.A, s, group.GeneratorTable(), rand)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("revote: identifier proof: %w", err)
	}
	return c, s, p, nil
}

// VerifyID checks a credential's proof of knowledge of s.
func VerifyID(ctx []byte, id *elgamal.Ciphertext, p *zkp.SchnorrProof) error {
	if err := p.Verify(ctx, group.NewGeneratorElement(), &id.A); err != nil {
		return fmt.Errorf("%w: %w", ErrIDKnowledge, err)
	}
	return nil
}

// OpensTo reports whether C_id = (g^s, h^s·v): the voter's device checks
// its credential with the s it was given and v = VoterID(election, sub).
func OpensTo(pk *elgamal.PublicKey, id *elgamal.Ciphertext, s *group.Scalar, v *group.Element) bool {
	want := pk.EncryptWithRandomness(new(group.Scalar), s)
	want.B.Add(&want.B, v)
	return want.Equal(id)
}

// CiphertextKey is the key of a ciphertext in the copy check (spec §15.2
// rule 4): SHA-256 of its encoding.
func CiphertextKey(c *elgamal.Ciphertext) [32]byte { return sha256.Sum256(c.Bytes()) }

// AuditedPrepared decodes what a Benaloh audit opens (spec §9.4, §15.9): a
// prepared ballot (canonical ballot.EncryptedBallot), or in deniable
// re-voting mode a prepared row (canonical SignedRow, never cast), whose
// ballot and flag the opening a must open. It returns the ballot (its
// credential key is the device's, its tracking code the one the voter was
// shown) and whether a opens it. The ballot box checks an audit with it
// before accepting it, and a voter's second device the audit the box
// serves by tracking code.
func AuditedPrepared(m *ballot.Manifest, a *ballot.AuditedBallot, prepared []byte) (*ballot.EncryptedBallot, bool, error) {
	if m.Coercion.Mode == ballot.DeniableRevoting {
		row, err := DecodeSignedRow(prepared)
		if err != nil {
			return nil, false, fmt.Errorf("prepared row: %w", err)
		}
		if row.B.CredentialKey != row.Cred.DeviceKey {
			return nil, false, errors.New("the prepared row's ballot is not of its credential's device")
		}
		return row.B, a.OpensRow(row.B, row.Flag), nil
	}
	b, err := ballot.DecodeBallot(prepared)
	if err != nil {
		return nil, false, fmt.Errorf("prepared ballot: %w", err)
	}
	return b, a.Opens(b), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
