package revote

import (
	"io"

	"evote/ballot"
	"evote/ballot/revoterow"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

// The voter's device's part of deniable re-voting lives in package
// ballot/revoterow, which depends on no part of the tally, so that the
// voting page's WebAssembly module stays small; these names keep this
// package's API whole for the filter, the rules, the ballot box and the
// tools.

// Domain-separation tags of the device's part (revoterow).
const (
	VoterIDTag       = revoterow.VoterIDTag
	DummyIDTag       = revoterow.DummyIDTag
	DepthContext     = revoterow.DepthContext
	FlagContext      = revoterow.FlagContext
	IDContext        = revoterow.IDContext
	RowSignatureTag  = revoterow.RowSignatureTag
	MarkSignatureTag = revoterow.MarkSignatureTag
)

// Flags of rows (revoterow).
const (
	FlagNone    = revoterow.FlagNone
	FlagBallot  = revoterow.FlagBallot
	FlagPadding = revoterow.FlagPadding
)

// Errors of the device's part (revoterow): the same values, so errors.Is
// holds across both packages.
var (
	ErrMalformed   = revoterow.ErrMalformed
	ErrParams      = revoterow.ErrParams
	ErrFlag        = revoterow.ErrFlag
	ErrIDKnowledge = revoterow.ErrIDKnowledge
)

// FlagProofSize is revoterow.FlagProofSize.
var FlagProofSize = revoterow.FlagProofSize

// Credential is revoterow.Credential.
type Credential = revoterow.Credential

// SignedRow is revoterow.SignedRow.
type SignedRow = revoterow.SignedRow

// VoterID is revoterow.VoterID.
func VoterID(electionID string, pseudonym [32]byte) *group.Element {
	return revoterow.VoterID(electionID, pseudonym)
}

// DummyID is revoterow.DummyID.
func DummyID(electionID, style string, i uint64) *group.Element {
	return revoterow.DummyID(electionID, style, i)
}

// PaddingFlag is revoterow.PaddingFlag.
func PaddingFlag() *elgamal.Ciphertext { return revoterow.PaddingFlag() }

// DepthProofContext is revoterow.DepthProofContext.
func DepthProofContext(ext, credentialKey [32]byte) []byte {
	return revoterow.DepthProofContext(ext, credentialKey)
}

// FlagProofContext is revoterow.FlagProofContext.
func FlagProofContext(ext, credentialKey [32]byte) []byte {
	return revoterow.FlagProofContext(ext, credentialKey)
}

// IDProofContext is revoterow.IDProofContext.
func IDProofContext(ext, credentialKey [32]byte) []byte {
	return revoterow.IDProofContext(ext, credentialKey)
}

// EncryptFlag is revoterow.EncryptFlag.
func EncryptFlag(pk *elgamal.PublicKey, ctx []byte, f uint64, rand io.Reader) (*elgamal.Ciphertext, *zkp.RangeProof, error) {
	return revoterow.EncryptFlag(pk, ctx, f, rand)
}

// EncryptFlagOpening is revoterow.EncryptFlagOpening.
func EncryptFlagOpening(pk *elgamal.PublicKey, ctx []byte, f uint64, rand io.Reader) (*elgamal.Ciphertext, *group.Scalar, *zkp.RangeProof, error) {
	return revoterow.EncryptFlagOpening(pk, ctx, f, rand)
}

// VerifyFlag is revoterow.VerifyFlag.
func VerifyFlag(pk *elgamal.PublicKey, ctx []byte, flag *elgamal.Ciphertext, p *zkp.RangeProof) error {
	return revoterow.VerifyFlag(pk, ctx, flag, p)
}

// EncryptID is revoterow.EncryptID.
func EncryptID(pk *elgamal.PublicKey, ctx []byte, v *group.Element, rand io.Reader) (*elgamal.Ciphertext, *group.Scalar, *zkp.SchnorrProof, error) {
	return revoterow.EncryptID(pk, ctx, v, rand)
}

// VerifyID is revoterow.VerifyID.
func VerifyID(ctx []byte, id *elgamal.Ciphertext, p *zkp.SchnorrProof) error {
	return revoterow.VerifyID(ctx, id, p)
}

// OpensTo is revoterow.OpensTo.
func OpensTo(pk *elgamal.PublicKey, id *elgamal.Ciphertext, s *group.Scalar, v *group.Element) bool {
	return revoterow.OpensTo(pk, id, s, v)
}

// CiphertextKey is revoterow.CiphertextKey.
func CiphertextKey(c *elgamal.Ciphertext) [32]byte { return revoterow.CiphertextKey(c) }

// AuditedPrepared is revoterow.AuditedPrepared.
func AuditedPrepared(m *ballot.Manifest, a *ballot.AuditedBallot, prepared []byte) (*ballot.EncryptedBallot, bool, error) {
	return revoterow.AuditedPrepared(m, a, prepared)
}

// DecodeCredential is revoterow.DecodeCredential.
func DecodeCredential(b []byte) (*Credential, error) { return revoterow.DecodeCredential(b) }

// DecodeSignedRow is revoterow.DecodeSignedRow.
func DecodeSignedRow(b []byte) (*SignedRow, error) { return revoterow.DecodeSignedRow(b) }

// RowMessage is revoterow.RowMessage.
func RowMessage(log [32]byte, s *SignedRow) []byte { return revoterow.RowMessage(log, s) }

// MarkStatement is revoterow.MarkStatement.
func MarkStatement(ext [32]byte, style string, deviceKey [32]byte, stationID, officialID string) []byte {
	return revoterow.MarkStatement(ext, style, deviceKey, stationID, officialID)
}
