package station

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"evote/ballot"
	"evote/bulletin"
	"evote/client"
	"evote/crypto/group"
	"evote/tally/revote"
	"evote/trustee"
)

// The checks a device makes of what the servers answer it in deniable
// re-voting mode: a voter's device and the station's device alike (the
// demo's voters use them too).

var b64url = base64.RawURLEncoding

// Credential is a credential as the identity service answered it with a
// token (spec §15.16.1), decoded and checked by CheckCredential: its
// canonical encoding, its signature as a revote-credential entry, and
// the decoded credential.
type Credential struct {
	Raw  []byte
	Sig  [64]byte
	Cred *revote.Credential
}

// CheckCredential decodes the credential of a token answer t and checks
// it as the device must before it casts (spec §15.16.1): it names the
// device's key and the ballot style, and its encrypted identifier opens,
// with the answer's s, to the identifier of the voter with that
// pseudonym in the election el. The identity service's signature is
// checked with the whole row (election.RowChecker), before the cast.
func CheckCredential(el *ballot.Election, t *client.VoterToken, pseudonym [32]byte, style string, device [32]byte) (*Credential, error) {
	raw, err := b64url.DecodeString(t.RevoteCredential)
	if err != nil || len(raw) == 0 {
		return nil, errors.New("station: the identity service answered no credential")
	}
	cred, err := revote.DecodeCredential(raw)
	if err != nil {
		return nil, fmt.Errorf("station: the identity service's credential: %w", err)
	}
	s, err := b64url.DecodeString(t.RevoteCredentialSig)
	if err != nil || len(s) != 64 {
		return nil, errors.New("station: the identity service answered a malformed credential signature")
	}
	if cred.DeviceKey != device || cred.Style != style || cred.ElectionID != el.Manifest.ElectionID || cred.Context != el.ExtendedHash {
		return nil, errors.New("station: the credential names another device key, ballot style or election")
	}
	sb, err := b64url.DecodeString(t.RevoteS)
	var sc group.Scalar
	if err != nil {
		return nil, errors.New("station: the identity service answered a malformed s")
	}
	if _, err := sc.SetCanonicalBytes(sb); err != nil {
		return nil, fmt.Errorf("station: the identity service's s: %w", err)
	}
	if !revote.OpensTo(el.PublicKey, cred.ID, &sc, revote.VoterID(el.Manifest.ElectionID, pseudonym)) {
		return nil, errors.New("station: the credential does not open to the voter's identifier")
	}
	return &Credential{Raw: raw, Sig: [64]byte(s), Cred: cred}, nil
}

// ParsePseudonym decodes a pseudonym as the services write it: 64 hex
// digits.
func ParsePseudonym(s string) ([32]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("station: pseudonym %q is not 64 hex digits", s)
	}
	return [32]byte(b), nil
}

// CheckRowReceipt is the device's check of a published row's receipt
// against its own replay f of the board (spec §15.16.3): the hash the box
// answered is the row's, and CheckRowPublished, whose checked slot it
// returns. f must already hold the entry (sync it first).
func CheckRowReceipt(f *trustee.Follower, row []byte, rc *client.RowReceipt) (*revote.Slot, error) {
	h := sha256.Sum256(row)
	if b64url.EncodeToString(h[:]) != rc.RowHash {
		return nil, fmt.Errorf("station: receipt: the box answered row hash %s, not the row's", rc.RowHash)
	}
	return CheckRowPublished(f, h, rc)
}

// CheckRowPublished checks the ballot box's receipt of the row with hash
// rowHash (a voter's receipt number, spec §15.9) against the replay f of
// the board: the slot entry at the receipt's index carries, at the
// receipt's position, a row with that hash, and the receipt's
// checkpoint, signed by the manifest's log key, includes that entry. It
// returns the slot. f must already hold the entry (sync it first).
func CheckRowPublished(f *trustee.Follower, rowHash [32]byte, rc *client.RowReceipt) (*revote.Slot, error) {
	name := b64url.EncodeToString(rowHash[:])
	if rc.Index == nil || rc.Position == nil || *rc.Index >= uint64(len(f.Entries)) {
		return nil, fmt.Errorf("station: receipt of row %s: no slot entry the device's replay has", name)
	}
	e := f.Entries[*rc.Index]
	if e.Type != bulletin.TypeRevoteSlot {
		return nil, fmt.Errorf("station: receipt of row %s: entry %d is a %s, not a slot", name, *rc.Index, e.Type)
	}
	sl, err := revote.DecodeSlot(e.Payload)
	if err != nil {
		return nil, err
	}
	if *rc.Position < 0 || *rc.Position >= len(sl.Rows) || sha256.Sum256(sl.Rows[*rc.Position].Encode()) != rowHash {
		return nil, fmt.Errorf("station: receipt of row %s: slot %d of style %s does not carry the row at position %d", name, sl.Slot, sl.Style, *rc.Position)
	}
	if err := CheckIncluded(&f.State.Manifest.Board, e, *rc.Index, rc.Checkpoint, rc.InclusionProof); err != nil {
		return nil, fmt.Errorf("station: receipt of row %s: %w", name, err)
	}
	return sl, nil
}

// CheckIncluded checks that the checkpoint note is signed by the log's
// key (the manifest's anchors) and that the inclusion proof (hashes in
// base64url, or standard base64) puts entry e at index in its tree.
func CheckIncluded(anchors *ballot.BoardAnchors, e *bulletin.Entry, index uint64, note string, path []string) error {
	cp, err := anchors.VerifyCheckpoint([]byte(note))
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var proof [][32]byte
	for _, h := range path {
		enc := b64url
		if strings.ContainsAny(h, "+/=") {
			enc = base64.StdEncoding
		}
		b, err := enc.DecodeString(h)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("bad proof hash %q", h)
		}
		proof = append(proof, [32]byte(b))
	}
	if err := bulletin.VerifyInclusion(index, cp.Size, bulletin.LeafHash(e.Encode()), proof, cp.Root); err != nil {
		return fmt.Errorf("entry not in the checkpoint's tree: %w", err)
	}
	return nil
}
