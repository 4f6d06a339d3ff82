package revoterow

import (
	"fmt"

	"evote/ballot"
	"evote/crypto/elgamal"
	"evote/crypto/sig"
	"evote/crypto/zkp"
	"evote/internal/wire"
	"evote/record"
)

const (
	// MaxCredentialSize and MaxBallotSize bound a row's credential and
	// ballot (ReadSignedRow).
	MaxCredentialSize = 4096
	MaxBallotSize     = 60000
	// RowSignatureTag opens the message the device signs over its row.
	RowSignatureTag = "evote-v1/revote/row"
	// MarkSignatureTag opens the statement a station and an official sign
	// over an in-person mark's row (spec §15.3).
	MarkSignatureTag = "evote-v1/revote/mark"
)

// FlagProofSize is the length of a row's flag proof (a range proof, k = 1).
var FlagProofSize = zkp.RangeProofSize(1)

// A Credential is the payload of a revote-credential (spec §15.2): the
// identity service's credential in this mode, with the voter's encrypted
// identifier and no pseudonym and no time:
//
//	string(election_id) || ext[32] || Ciphertext(C_id) || string(ballot_style)
//	|| device_key[32] || token_id[16] || string(kid) || SchnorrProof(π_id)
//
// It is published inside its row, signed by the identity service as an
// entry of type revote-credential of the election's log (SignedRow).
type Credential struct {
	ElectionID string
	Context    [32]byte
	ID         *elgamal.Ciphertext
	Style      string
	DeviceKey  [32]byte
	TokenID    [16]byte
	KeyID      string
	Proof      *zkp.SchnorrProof
}

// Encode returns the canonical encoding.
func (c *Credential) Encode() []byte {
	w := wire.NewWriter(256)
	w.String(c.ElectionID)
	w.Fixed(c.Context[:])
	w.Ciphertext(c.ID)
	w.String(c.Style)
	w.Fixed(c.DeviceKey[:])
	w.Fixed(c.TokenID[:])
	w.String(c.KeyID)
	w.Fixed(c.Proof.Bytes())
	return w.Bytes()
}

// DecodeCredential decodes a canonical credential: identifiers of the form
// of §8.8.1, a valid Ed25519 device key, a canonical ciphertext and proof.
func DecodeCredential(b []byte) (*Credential, error) {
	r := wire.NewReader(b)
	c := &Credential{}
	c.ElectionID = r.String(record.MaxIDLen, "election id")
	copy(c.Context[:], r.Fixed(32, "context"))
	c.ID = r.Ciphertext("encrypted identifier")
	c.Style = r.String(record.MaxIDLen, "ballot style")
	copy(c.DeviceKey[:], r.Fixed(32, "device key"))
	copy(c.TokenID[:], r.Fixed(16, "token id"))
	c.KeyID = r.String(record.MaxIDLen, "key id")
	c.Proof = ReadSchnorr(r, "identifier proof")
	if err := Finish(r, "credential"); err != nil {
		return nil, err
	}
	if !record.ValidID(c.ElectionID) || !record.ValidID(c.Style) || !record.ValidID(c.KeyID) {
		return nil, fmt.Errorf("%w: credential: identifier", ErrMalformed)
	}
	if err := sig.CheckPublicKey(c.DeviceKey[:]); err != nil {
		return nil, fmt.Errorf("%w: credential: device key: %w", ErrMalformed, err)
	}
	return c, nil
}

// A SignedRow is one row as the board publishes it (spec §15.3), in a slot
// or a padding entry:
//
//	bytes(credential) || sig_idp[64] || bytes(ballot) || Ciphertext(C_f)
//	|| bytes(flag proof) || sig_device[64]
//
// sig_idp is the identity service's signature of the credential as an
// entry of type revote-credential in the election's log (§7.2.2);
// ballot is a ballot of §9.3 whose credential key is the credential's
// device key; the flag proof is a range proof (k = 1) under FlagProofContext
// in a slot row, and empty in a padding row (whose flag is (1, g^2) in
// clear); sig_device is the device key's Ed25519 signature over
// RowMessage.
type SignedRow struct {
	Credential    []byte
	CredentialSig [64]byte
	Ballot        []byte
	Flag          *elgamal.Ciphertext
	FlagProof     []byte
	DeviceSig     [64]byte

	// Decoded by DecodeSignedRow (not encoded).
	Cred *Credential
	B    *ballot.EncryptedBallot
}

// EncodeTo appends the row's canonical encoding to w (a slot or padding
// entry holds a list of them).
func (s *SignedRow) EncodeTo(w *wire.Writer) {
	w.VarBytes(s.Credential)
	w.Fixed(s.CredentialSig[:])
	w.VarBytes(s.Ballot)
	w.Ciphertext(s.Flag)
	w.VarBytes(s.FlagProof)
	w.Fixed(s.DeviceSig[:])
}

// Encode returns the row's canonical encoding (spec §15.14.1, Row): what
// a device sends the ballot box (§15.16.3) and a slot holds.
func (s *SignedRow) Encode() []byte {
	w := wire.NewWriter(len(s.Credential) + len(s.Ballot) + len(s.FlagProof) + 256)
	s.EncodeTo(w)
	return w.Bytes()
}

// DecodeSignedRow decodes one canonical row, with its credential and
// ballot, refusing trailing bytes.
func DecodeSignedRow(b []byte) (*SignedRow, error) {
	r := wire.NewReader(b)
	s := ReadSignedRow(r)
	if err := Finish(r, "row"); err != nil {
		return nil, err
	}
	return s, nil
}

// MinRowSize is the smallest encoded row (for count checks).
const MinRowSize = 4 + 64 + 4 + 64 + 4 + 64

// ReadSignedRow reads one canonical row from r, with its credential and
// ballot; on failure r holds the error and it returns nil.
func ReadSignedRow(r *wire.Reader) *SignedRow {
	s := &SignedRow{}
	s.Credential = r.VarBytes(MaxCredentialSize, "credential")
	copy(s.CredentialSig[:], r.Fixed(64, "credential signature"))
	s.Ballot = r.VarBytes(MaxBallotSize, "ballot")
	s.Flag = r.Ciphertext("flag")
	s.FlagProof = r.VarBytes(FlagProofSize, "flag proof")
	copy(s.DeviceSig[:], r.Fixed(64, "device signature"))
	if r.Err() != nil {
		return nil
	}
	var err error
	if s.Cred, err = DecodeCredential(s.Credential); err != nil {
		r.Fail("row credential: %v", err)
		return nil
	}
	if s.B, err = ballot.DecodeBallot(s.Ballot); err != nil {
		r.Fail("row ballot: %v", err)
		return nil
	}
	if len(s.FlagProof) != 0 {
		if _, err := zkp.ParseRangeProof(s.FlagProof, 1); err != nil {
			r.Fail("row flag proof: %v", err)
			return nil
		}
	}
	return s
}

// RowMessage is what the device signs over its row:
//
//	string("evote-v1/revote/row") || LogID[32] || bytes(credential)
//	|| bytes(ballot) || Ciphertext(C_f) || bytes(flag proof)
func RowMessage(log [32]byte, s *SignedRow) []byte {
	w := wire.NewWriter(len(s.Credential) + len(s.Ballot) + 512)
	w.String(RowSignatureTag)
	w.Fixed(log[:])
	w.VarBytes(s.Credential)
	w.VarBytes(s.Ballot)
	w.Ciphertext(s.Flag)
	w.VarBytes(s.FlagProof)
	return w.Bytes()
}

// MarkStatement is what the station and the official sign for a mark row:
//
//	string("evote-v1/revote/mark") || ext[32] || string(ballot_style)
//	|| device_key[32] || string(station_id) || string(official_id)
//
// where device_key is the mark row's credential key.
func MarkStatement(ext [32]byte, style string, deviceKey [32]byte, stationID, officialID string) []byte {
	w := wire.NewWriter(160)
	w.String(MarkSignatureTag)
	w.Fixed(ext[:])
	w.String(style)
	w.Fixed(deviceKey[:])
	w.String(stationID)
	w.String(officialID)
	return w.Bytes()
}

// ReadSchnorr reads a canonical Schnorr proof (π_id, a tag key's proof)
// from r; on failure r holds the error and it returns nil.
func ReadSchnorr(r *wire.Reader, what string) *zkp.SchnorrProof {
	b := r.Fixed(zkp.SchnorrProofSize, what)
	if r.Err() != nil {
		return nil
	}
	p, err := zkp.ParseSchnorrProof(b)
	if err != nil {
		r.Fail("%s: %v", what, err)
		return nil
	}
	return p
}

// Finish ends a canonical read of what: trailing bytes or an earlier
// failure give an error wrapping ErrMalformed.
func Finish(r *wire.Reader, what string) error {
	if err := r.Finish(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return nil
}
