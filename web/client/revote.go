package webclient

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"evote/ballot"
	"evote/ballot/revoterow"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/wire"
	"evote/record"
)

// Deniable re-voting mode (spec chapter 15, §15.16.1, §15.16.3): the
// device checks the credential the identity service answered with the
// token, casts a row instead of a ballot entry, and checks the row's
// receipt once its slot is on the board. The formats are package
// ballot/revoterow's, which links no part of the tally (the trustees'
// filter, threshold decryption and HPKE), which the page must not
// download (TestModuleLinksNoTrusteeCode).

// ErrBadCredential: the credential the identity service answered is not
// one this device may cast with (spec §15.16.1). The page must not cast.
var ErrBadCredential = errors.New("webclient: credential does not check")

// revoteFormat is the format byte of the revote entries (spec §15.14.1).
const revoteFormat = 1

// TokenCredential is what the identity service's token response carries
// in this mode (spec §15.16.1): the token's subject and ballot style, and
// the members revote_credential, revote_credential_sig and revote_s.
type TokenCredential struct {
	Pseudonym     [32]byte
	Style         string
	Credential    []byte
	CredentialSig [64]byte
	S             []byte // Scalar(s), 32 bytes
}

// revoteState is what a device holds in this mode between the check of
// its credential and its cast.
type revoteState struct {
	credential    []byte
	credentialSig [64]byte
	cred          *revoterow.Credential // credential, decoded
	// prepared is the row of the prepared ballot, made by Prepare so that
	// the tracking code the voter sees is the one cast or audited, and
	// flagRand its flag's randomness, which only an audit opens.
	prepared *revoterow.SignedRow
	flagRand *group.Scalar
	row      []byte // the row cast (a retry sends it again)
}

// prepareRow makes the row of the prepared ballot (spec §15.3,
// §15.14.1): the checked credential with its signature, the ballot, the
// flag f = 1 encrypted under the election key with its range proof
// (k = 1) under string("evote-v1/revote/flag") || ext || device key, and
// the device's signature over string("evote-v1/revote/row") || LogID ||
// credential || ballot || C_f || flag proof. It keeps the flag's
// randomness for an audit; a row made before is replaced and its flag's
// randomness wiped.
func (d *Device) prepareRow(rnd io.Reader) error {
	if d.key == nil {
		return errors.New("webclient: the device has cast its row and forgotten its key")
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	pk := d.el.Ballot.PublicKey
	flag, r, proof, err := revoterow.EncryptFlagOpening(pk, revoterow.FlagProofContext(d.el.Ballot.ExtendedHash, d.Public()), revoterow.FlagBallot, rnd)
	if err != nil {
		return fmt.Errorf("webclient: %w", err)
	}
	row := &revoterow.SignedRow{Credential: d.rv.credential, CredentialSig: d.rv.credentialSig, Cred: d.rv.cred,
		Ballot: d.prepared.Ballot.Encode(), B: d.prepared.Ballot, Flag: flag, FlagProof: proof.Bytes()}
	copy(row.DeviceSig[:], ed25519.Sign(d.key, revoterow.RowMessage(d.el.Log, row)))
	d.forgetRow()
	d.rv.prepared, d.rv.flagRand = row, r
	return nil
}

// forgetRow drops the prepared row and wipes its flag's randomness.
func (d *Device) forgetRow() {
	if d.rv.flagRand != nil {
		d.rv.flagRand.Set(group.NewScalar())
	}
	d.rv.prepared, d.rv.flagRand = nil, nil
}

// auditRow is Audit in this mode (spec §15.9): the opening of the
// prepared row's ballot with, after the style's contests, its flag's
// (ballot.AuditedBallot.WithFlag), checked with Verify and OpensRow as
// the box and the second device check it, and the prepared row, which
// the page sends as the audit's ballot. The row is given up; the
// credential and the device key stay for the fresh row the device
// prepares next (an audit spends no credential).
func (d *Device) auditRow(lang string) (audited, shown []byte, described []string, err error) {
	if d.rv == nil {
		return nil, nil, nil, fmt.Errorf("%w: no checked credential", ErrBadCredential)
	}
	if d.prepared == nil || d.rv.prepared == nil {
		return nil, nil, nil, ErrNoBallot
	}
	row := d.rv.prepared
	a := d.prepared.Audit().WithFlag(row.Flag, d.rv.flagRand)
	if err := a.Verify(d.el.Manifest, d.el.Ballot.PublicKey); err != nil {
		return nil, nil, nil, fmt.Errorf("webclient: own opening: %w", err)
	}
	if !a.OpensRow(row.B, row.Flag) {
		return nil, nil, nil, errors.New("webclient: own opening is not of the prepared row")
	}
	if described, err = a.Describe(d.el.Manifest, lang); err != nil {
		return nil, nil, nil, err
	}
	audited, shown = a.Encode(), row.Encode()
	d.prepared = nil
	d.forgetRow()
	return audited, shown, described, nil
}

// CheckCredential checks the credential answered with the token before
// the device casts anything (spec §15.2, §15.16.1), against the election
// the page loaded (the manifest's identity key, its election key), never
// against keys the server lists beside it: the election is in deniable
// re-voting mode; the credential decodes strictly; it names this
// election, its extended hash, the token's ballot style and this device's
// key; its signature, as a revote-credential entry of the election's log,
// is the manifest's identity key's; its proof of knowledge π_id verifies;
// and C_id opens with s to V = VoterID(election, pseudonym). On success the
// device keeps the credential for its row and sets the ballot style; s is
// wiped in every case (the device needs it for this check only).
func (d *Device) CheckCredential(tc TokenCredential) error {
	defer clear(tc.S)
	if d.el.Manifest.Coercion.Mode != ballot.DeniableRevoting {
		return fmt.Errorf("%w: the election is not in deniable re-voting mode", ErrBadCredential)
	}
	c, err := revoterow.DecodeCredential(tc.Credential)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	if c.ElectionID != d.el.Manifest.ElectionID || c.Context != d.el.Ballot.ExtendedHash {
		return fmt.Errorf("%w: credential of another election", ErrBadCredential)
	}
	if c.DeviceKey != d.Public() {
		return fmt.Errorf("%w: credential for another device key", ErrBadCredential)
	}
	if c.Style != tc.Style {
		return fmt.Errorf("%w: credential for ballot style %q, the token names %q", ErrBadCredential, c.Style, tc.Style)
	}
	e := &bulletin.Entry{Version: bulletin.EntryVersion, Log: d.el.Log, Type: bulletin.TypeRevoteCredential,
		Author: d.el.Manifest.IdentityKey, Payload: tc.Credential, Signature: tc.CredentialSig}
	if err := e.Verify(); err != nil {
		return fmt.Errorf("%w: not signed by the manifest's identity key: %w", ErrBadCredential, err)
	}
	if err := revoterow.VerifyID(revoterow.IDProofContext(c.Context, c.DeviceKey), c.ID, c.Proof); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	var s group.Scalar
	if len(tc.S) != group.ScalarSize {
		return fmt.Errorf("%w: s is not %d bytes", ErrBadCredential, group.ScalarSize)
	}
	if _, err := s.SetCanonicalBytes(tc.S); err != nil {
		return fmt.Errorf("%w: s: %w", ErrBadCredential, err)
	}
	opens := revoterow.OpensTo(d.el.Ballot.PublicKey, c.ID, &s, revoterow.VoterID(c.ElectionID, tc.Pseudonym))
	s.Set(group.NewScalar())
	if !opens {
		return fmt.Errorf("%w: it does not open to the voter's identifier", ErrBadCredential)
	}
	if err := d.SetStyle(c.Style); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	d.rv = &revoteState{credential: tc.Credential, credentialSig: tc.CredentialSig, cred: c}
	return nil
}

// CastRow casts the row Prepare made of the prepared ballot (spec
// §15.3, §15.14.1; prepareRow): it returns the row's canonical encoding
// and its hash (the box's row_hash, SHA-256 of the row). The ballot's and
// the flag's randomness and the device's private key are wiped: the
// device can cast nothing else; calling CastRow again returns the same
// row (a retry). rnd (nil: crypto/rand) makes the row if the ballot was
// prepared before the credential was checked.
func (d *Device) CastRow(rnd io.Reader) ([]byte, [32]byte, error) {
	if d.rv == nil {
		return nil, [32]byte{}, fmt.Errorf("%w: no checked credential", ErrBadCredential)
	}
	if d.rv.row != nil {
		return d.rv.row, sha256.Sum256(d.rv.row), nil
	}
	if d.prepared == nil || d.key == nil {
		return nil, [32]byte{}, ErrNoBallot
	}
	if d.rv.prepared == nil {
		if err := d.prepareRow(rnd); err != nil {
			return nil, [32]byte{}, err
		}
	}
	row := d.rv.prepared.Encode()
	for _, rs := range d.prepared.Randomness {
		for _, x := range rs {
			x.Set(group.NewScalar())
		}
	}
	d.prepared = nil
	d.forgetRow()
	d.forgetKey()
	d.rv.row = row
	return d.rv.row, sha256.Sum256(d.rv.row), nil
}

// RowReceipt is the ballot box's receipt of a published row (spec
// §15.16.3, GET …/revote/rows/{row_hash}), decoded: the slot entry's
// board index, checkpoint and inclusion proof (Receipt; no tracking
// code), the slot number, the ballot style and the row's position in
// the slot.
type RowReceipt struct {
	Receipt
	RowHash  [32]byte
	Slot     uint32
	Style    string
	Position int
}

// RowPlace is where a checked receipt puts a row: on the board, in the
// slot entry at Index, slot Slot of its ballot style, at Position; Code is
// the tracking code of the row's ballot and Size the checkpoint's tree
// size. It says nothing of whether the row is counted (spec §15.9).
type RowPlace struct {
	Index    uint64
	Slot     uint32
	Style    string
	Position int
	Code     ballot.TrackingCode
	Size     uint64
}

// CheckRowReceipt checks the receipt of the row this device cast against
// the slot entry the page fetched from the board at the receipt's index
// (canonical): CheckRowOnBoard with the hash of the device's own row.
func (d *Device) CheckRowReceipt(r RowReceipt, slotEntry []byte, t Trust) (*RowPlace, error) {
	if d.rv == nil || d.rv.row == nil {
		return nil, ErrNoBallot
	}
	h := sha256.Sum256(d.rv.row)
	if r.RowHash != h {
		return nil, fmt.Errorf("%w: the receipt is for another row", ErrBadReceipt)
	}
	return d.el.CheckRowOnBoard(h, r, slotEntry, t)
}

// CheckRowOnBoard is the check of a row's receipt (the device's, and
// "check my ballot" by row hash; spec §15.9): the slot entry, fetched from
// the board, is in the tree of r's checkpoint at r.Index (signed by the
// manifest's log key and cosigned as t requires, CheckIncluded); it is a
// revote-slot entry of this election's log signed by the election
// authority (the manifest's author), for this election's extended hash;
// its slot number and style are the receipt's; and its row at r.Position
// has hash rowHash. It returns the row's place on the board and its
// ballot's tracking code, and nothing else: whether the row was
// superseded or counted is not, by design, for a receipt to show.
func (el *Election) CheckRowOnBoard(rowHash [32]byte, r RowReceipt, slotEntry []byte, t Trust) (*RowPlace, error) {
	r.TrackingCode = nil
	cp, err := CheckIncluded(slotEntry, r.Receipt, t)
	if err != nil {
		return nil, err
	}
	e, err := bulletin.DecodeEntry(slotEntry)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if e.Log != el.Log || e.Type != bulletin.TypeRevoteSlot || e.Author != el.Authority {
		return nil, fmt.Errorf("%w: entry %d is not a slot of this election signed by its authority", ErrBadReceipt, r.Index)
	}
	if err := e.Verify(); err != nil {
		return nil, fmt.Errorf("%w: slot entry: %w", ErrBadReceipt, err)
	}
	sl, err := slotRow(e.Payload, r.Position)
	if err != nil {
		return nil, fmt.Errorf("%w: slot entry %d: %w", ErrBadReceipt, r.Index, err)
	}
	if sl.ext != el.Ballot.ExtendedHash {
		return nil, fmt.Errorf("%w: slot of another election context", ErrBadReceipt)
	}
	if sl.slot != r.Slot || sl.style != r.Style {
		return nil, fmt.Errorf("%w: the receipt names slot %d of style %q, the entry is slot %d of style %q", ErrBadReceipt, r.Slot, r.Style, sl.slot, sl.style)
	}
	if sha256.Sum256(sl.row) != rowHash {
		return nil, fmt.Errorf("%w: slot %d does not carry the row at position %d", ErrBadReceipt, sl.slot, r.Position)
	}
	return &RowPlace{Index: r.Index, Slot: sl.slot, Style: sl.style, Position: r.Position, Code: ballot.TrackingCodeOf(sl.ballot), Size: cp.Size}, nil
}

// slotAt is a slot entry's header and one of its rows, raw.
type slotAt struct {
	ext    [32]byte
	slot   uint32
	style  string
	row    []byte // the row's canonical encoding
	ballot []byte // its ballot's
}

// slotRow reads a revote-slot payload (spec §15.14.1: u8(1) || ext[32] ||
// u32(slot) || string(ballot_style) || u32(n) || Row[n]) and returns row
// pos as it lies in the entry, without decoding the rows' elements and
// proofs: the page only locates its row (the rules checked the rest; its
// hash is compared by the caller). The whole payload must parse.
func slotRow(p []byte, pos int) (*slotAt, error) {
	r := wire.NewReader(p)
	if v := r.U8("format"); r.Err() == nil && v != revoteFormat {
		return nil, fmt.Errorf("slot format %d", v)
	}
	out := &slotAt{}
	copy(out.ext[:], r.Fixed(32, "context"))
	out.slot = r.U32("slot")
	out.style = r.String(record.MaxIDLen, "ballot style")
	n := int(r.U32("rows"))
	if r.Err() != nil {
		return nil, r.Err()
	}
	if pos < 0 || pos >= n {
		return nil, fmt.Errorf("position %d outside the slot's %d rows", pos, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		start := len(p) - r.Remaining()
		r.VarBytes(revoterow.MaxCredentialSize, "credential")
		r.Fixed(64, "credential signature")
		b := r.VarBytes(revoterow.MaxBallotSize, "ballot")
		r.Fixed(elgamal.CiphertextSize, "flag")
		r.VarBytes(revoterow.FlagProofSize, "flag proof")
		r.Fixed(64, "device signature")
		if i == pos && r.Err() == nil {
			out.row, out.ballot = p[start:len(p)-r.Remaining()], b
		}
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return out, nil
}
