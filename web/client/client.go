// Package webclient is the logic of the voting page (spec/14-web.md),
// written in Go so that the page's cryptography is the project's own
// packages compiled to WebAssembly (web/wasm), and testable natively.
//
// It holds the device key (generated here, never exported), checks the
// election's manifest and context entries from the board, encrypts the
// voter's selection (ballot.Election.Encrypt), signs the ballot entry,
// opens a ballot for a Benaloh audit, checks a receipt (signed, cosigned
// checkpoint and inclusion proof) and checks what the board holds under
// the voter's pseudonym. The page's JavaScript only moves bytes between the
// network and this package; it never sees a ballot's randomness.
package webclient

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"

	"evote/ballot"
	"evote/ballot/revoterow"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/threshold/contexthash"
	"evote/internal/wire"
	"evote/record"
)

// Sentinel errors the page branches on.
var (
	// ErrBadElection: the board's manifest or context does not check.
	ErrBadElection = errors.New("webclient: election does not check")
	// ErrNoBallot: no prepared ballot (audit or cast called twice).
	ErrNoBallot = errors.New("webclient: no prepared ballot")
	// ErrBadReceipt: a receipt or board answer does not check.
	ErrBadReceipt = errors.New("webclient: receipt does not check")
)

// Election is an election as the page checked it from the board: the
// manifest entry (index 0) and the election-context entry, both signed by
// the same authority, with the extended hash recomputed from its inputs.
type Election struct {
	Manifest  *ballot.Manifest
	Ballot    *ballot.Election
	Log       bulletin.LogID
	Origin    string
	Authority [32]byte
	// ContextIndex is the context entry's position among the entries
	// given to LoadElection (its board position when they are the board's
	// first entries; 1 when they are the setup route's two).
	ContextIndex uint64
}

// electionContext mirrors election.Context (spec §9.2); the page decodes it
// itself because package election links the trustees' code (HPKE, mixing)
// that the page must not download.
type electionContext struct {
	electionID          string
	jointKey            *group.Element
	verificationKeys    []*group.Element
	voterListCommitment [32]byte
	extendedHash        [32]byte
}

func decodeContext(b []byte) (*electionContext, error) {
	r := wire.NewReader(b)
	if v := r.U8("format"); r.Err() == nil && v != 1 {
		return nil, fmt.Errorf("context format %d", v)
	}
	c := &electionContext{electionID: r.String(64, "election id"), jointKey: r.Element("joint key")}
	n := r.Count(64, 32, "verification keys")
	for i := 0; i < n; i++ {
		c.verificationKeys = append(c.verificationKeys, r.Element("verification key"))
	}
	copy(c.voterListCommitment[:], r.Fixed(32, "voter list commitment"))
	copy(c.extendedHash[:], r.Fixed(32, "extended hash"))
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadElection checks the first entries of an election's board (canonical
// encodings from index 0, as many as the page fetched) and returns the
// election once it finds the context entry. Checks: every entry decodes
// strictly, belongs to the log of origin and carries a valid signature;
// entry 0 is a valid manifest; the context is signed by the manifest's
// author, names the same election, has one verification key per trustee
// and an extended hash equal to its recomputation (spec §9.2); and its
// election key is the trustees' (checkJointKey): the authority's
// signature alone would let the ballot box encrypt ballots to a key of
// its own.
func LoadElection(origin string, entries [][]byte) (*Election, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: empty board", ErrBadElection)
	}
	el := &Election{Origin: origin, Log: bulletin.LogIDFor(origin)}
	var before []*bulletin.Entry // the key generation, before the context
	for i, raw := range entries {
		e, err := bulletin.DecodeEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadElection, i, err)
		}
		if e.Log != el.Log {
			return nil, fmt.Errorf("%w: entry %d is of another log", ErrBadElection, i)
		}
		if i == 0 {
			if e.Type != bulletin.TypeManifest {
				return nil, fmt.Errorf("%w: entry 0 is not a manifest", ErrBadElection)
			}
			if err := e.Verify(); err != nil {
				return nil, fmt.Errorf("%w: manifest: %w", ErrBadElection, err)
			}
			m, err := ballot.DecodeManifest(e.Payload)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBadElection, err)
			}
			if err := m.Validate(); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBadElection, err)
			}
			el.Manifest, el.Authority = m, e.Author
			continue
		}
		if e.Type != bulletin.TypeElectionContext {
			if e.Verify() == nil {
				before = append(before, e)
			}
			continue
		}
		if e.Author != el.Authority {
			return nil, fmt.Errorf("%w: context not signed by the manifest's author", ErrBadElection)
		}
		if err := e.Verify(); err != nil {
			return nil, fmt.Errorf("%w: context: %w", ErrBadElection, err)
		}
		c, err := decodeContext(e.Payload)
		if err != nil {
			return nil, fmt.Errorf("%w: context: %w", ErrBadElection, err)
		}
		if c.electionID != el.Manifest.ElectionID || len(c.verificationKeys) != len(el.Manifest.Trustees) {
			return nil, fmt.Errorf("%w: context does not match the manifest", ErrBadElection)
		}
		base, err := el.Manifest.BaseHash()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadElection, err)
		}
		if contexthash.Extended(base, c.jointKey, c.verificationKeys, c.voterListCommitment) != c.extendedHash {
			return nil, fmt.Errorf("%w: extended hash does not match its inputs", ErrBadElection)
		}
		if err := checkJointKey(el.Manifest, el.Authority, base, before, c.jointKey); err != nil {
			return nil, err
		}
		pk, err := elgamal.NewPublicKey(c.jointKey)
		if err != nil {
			return nil, fmt.Errorf("%w: joint key: %w", ErrBadElection, err)
		}
		el.Ballot = &ballot.Election{Manifest: el.Manifest, PublicKey: pk, ExtendedHash: c.extendedHash}
		el.ContextIndex = uint64(i)
		return el, nil
	}
	return nil, fmt.Errorf("%w: no context entry among the first %d entries", ErrBadElection, len(entries))
}

// ContestView is one contest of a ballot style as the page shows it.
type ContestView struct {
	ID         string
	Title      string
	Multi      bool // multi-select; otherwise one candidate or blank
	Max        int
	Candidates []string
}

// Contests returns the contests of a ballot style in language lang, in
// ballot order.
func (el *Election) Contests(style, lang string) ([]ContestView, error) {
	st, ok := el.Manifest.Style(style)
	if !ok {
		return nil, fmt.Errorf("%w: unknown ballot style %q", ErrBadElection, style)
	}
	var out []ContestView
	for _, id := range st.Contests {
		c, _ := el.Manifest.Contest(id)
		v := ContestView{ID: c.ID, Title: c.Title.Get(lang), Multi: c.Kind == ballot.MultiSelect, Max: int(c.MaxSelections)}
		for _, cand := range c.Candidates {
			v.Candidates = append(v.Candidates, cand.Name.Get(lang))
		}
		out = append(out, v)
	}
	return out, nil
}

// Device is the voter's device: an Ed25519 key made here from crypto/rand
// that never leaves it, the checked election and the ballot in hand.
type Device struct {
	key      ed25519.PrivateKey // nil once forgotten (forgetKey)
	pub      [32]byte
	el       *Election
	style    string
	prepared *ballot.PreparedBallot
	cast     *bulletin.Entry
	rv       *revoteState // deniable re-voting mode (revote.go)
}

// NewDevice makes a fresh device key for the election (rand nil:
// crypto/rand).
func NewDevice(el *Election, rnd io.Reader) (*Device, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	_, k, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("webclient: device key: %w", err)
	}
	return &Device{key: k, pub: [32]byte(k.Public().(ed25519.PublicKey)), el: el}, nil
}

// Public returns the device's public key (sent to the identity service,
// which binds the voting token to it).
func (d *Device) Public() [32]byte { return d.pub }

// forgetKey wipes the device's private key: after a cast in deniable
// re-voting mode the device keeps nothing that could sign for the voter.
func (d *Device) forgetKey() {
	clear(d.key)
	d.key = nil
}

// SetStyle records the ballot style the voting token names.
func (d *Device) SetStyle(style string) error {
	if _, ok := d.el.Manifest.Style(style); !ok {
		return fmt.Errorf("%w: unknown ballot style %q", ErrBadElection, style)
	}
	d.style = style
	return nil
}

// Style returns the ballot style set by SetStyle.
func (d *Device) Style() string { return d.style }

// Prepare encrypts the selection (contest id → 0-based candidate indices)
// and keeps the prepared ballot with its opening until Audit or Cast. In
// deniable re-voting mode, once the credential is checked, it also makes
// the ballot's row (flag, proof, the device's signature; spec §15.3), so
// that what the voter then casts or audits is the ballot whose tracking
// code was shown. It returns the ballot's tracking code.
func (d *Device) Prepare(sel ballot.Selection, rnd io.Reader) (ballot.TrackingCode, error) {
	if d.style == "" {
		return ballot.TrackingCode{}, errors.New("webclient: no ballot style")
	}
	if d.rv != nil && d.rv.row != nil {
		return ballot.TrackingCode{}, errors.New("webclient: the device has cast its row")
	}
	p, err := d.el.Ballot.Encrypt(d.style, d.Public(), sel, rnd)
	if err != nil {
		return ballot.TrackingCode{}, err
	}
	d.prepared, d.cast = p, nil
	if d.rv != nil {
		if err := d.prepareRow(rnd); err != nil {
			d.prepared = nil
			return ballot.TrackingCode{}, err
		}
	}
	return p.Ballot.TrackingCode(), nil
}

// Prepared returns what an audit of the prepared ballot sends as its
// ballot: the prepared ballot's canonical encoding (no opening), or in
// deniable re-voting mode the prepared row's.
func (d *Device) Prepared() ([]byte, error) {
	if d.prepared == nil {
		return nil, ErrNoBallot
	}
	if d.rv != nil {
		if d.rv.prepared == nil {
			return nil, ErrNoBallot
		}
		return d.rv.prepared.Encode(), nil
	}
	return d.prepared.Ballot.Encode(), nil
}

// Audit gives up the prepared ballot for a Benaloh audit: it returns the
// opening (canonical ballot.AuditedBallot) and the prepared ballot it
// opens, which the page sends together to the ballot box (it publishes the
// opening unlinked, in a later shuffled batch, and serves both by the
// tracking code to the voter's second device), and the opened choices
// described in lang. The ballot can never be cast; the voter prepares a
// fresh one. In deniable re-voting mode (spec §15.9) the opening opens the
// prepared row's flag too, and what it opens is the prepared row
// (auditRow).
func (d *Device) Audit(lang string) (audited, shown []byte, described []string, err error) {
	if d.el.Manifest.Coercion.Mode == ballot.DeniableRevoting {
		return d.auditRow(lang)
	}
	if d.prepared == nil {
		return nil, nil, nil, ErrNoBallot
	}
	a := d.prepared.Audit()
	if err := a.Verify(d.el.Manifest, d.el.Ballot.PublicKey); err != nil {
		return nil, nil, nil, fmt.Errorf("webclient: own opening: %w", err)
	}
	described, err = a.Describe(d.el.Manifest, lang)
	if err != nil {
		return nil, nil, nil, err
	}
	shown = d.prepared.Ballot.Encode()
	d.prepared = nil
	return a.Encode(), shown, described, nil
}

// Cast signs the prepared ballot as a ballot entry with the device key and
// erases its opening; it returns the entry's canonical encoding, which
// the page posts. Calling Cast again returns the same entry (a retry).
func (d *Device) Cast() ([]byte, error) {
	if d.cast != nil {
		return d.cast.Encode(), nil
	}
	if d.el.Manifest.Coercion.Mode != ballot.NoCoercionResistance {
		return nil, errors.New("webclient: in deniable re-voting mode the device casts a row (CastRow)")
	}
	if d.prepared == nil {
		return nil, ErrNoBallot
	}
	e, err := bulletin.NewEntry(d.el.Log, bulletin.TypeBallot, d.Public(), bulletin.NewEd25519Signer(d.key), d.prepared.Ballot.Encode())
	if err != nil {
		return nil, fmt.Errorf("webclient: %w", err)
	}
	for _, rs := range d.prepared.Randomness {
		for _, r := range rs {
			r.Set(group.NewScalar())
		}
	}
	d.prepared, d.cast = nil, e
	return e.Encode(), nil
}

// Trust is what receipts are checked against: the log's key and the
// witnesses' keys with the quorum of cosignatures required.
type Trust struct {
	Log       bulletin.LogVerifier
	Witnesses []bulletin.CosignerKey
	Quorum    int
}

// Trust returns the trust anchors the election's manifest pins: the page
// checks receipts against these, never against keys the server lists
// beside the manifest (spec §14).
func (e *Election) Trust() Trust {
	ws, q := e.Manifest.Board.Cosigners()
	return Trust{Log: e.Manifest.Board.LogVerifier(), Witnesses: ws, Quorum: q}
}

// Receipt is the ballot box's answer to a cast (spec §10.2), decoded.
type Receipt struct {
	TrackingCode   []byte
	Index          uint64
	Checkpoint     string
	InclusionProof [][32]byte
}

// CheckReceipt checks the receipt of the entry last cast: the checkpoint
// is signed by the log and cosigned by a quorum of witnesses, the
// inclusion proof puts the device's own entry at the receipt's index in
// that tree, and the tracking code is the one the device computed.
func (d *Device) CheckReceipt(r Receipt, t Trust) (bulletin.Checkpoint, error) {
	if d.cast == nil {
		return bulletin.Checkpoint{}, ErrNoBallot
	}
	return CheckIncluded(d.cast.Encode(), r, t)
}

// CheckIncluded checks that the canonical entry is at r.Index in the tree
// of r.Checkpoint, a checkpoint signed and cosigned as t requires, and, for
// a ballot entry, that r.TrackingCode (if given) is its tracking code.
func CheckIncluded(canonical []byte, r Receipt, t Trust) (bulletin.Checkpoint, error) {
	e, err := bulletin.DecodeEntry(canonical)
	if err != nil {
		return bulletin.Checkpoint{}, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	cp, err := bulletin.VerifyCosigned([]byte(r.Checkpoint), t.Log, t.Witnesses, t.Quorum)
	if err != nil {
		return bulletin.Checkpoint{}, fmt.Errorf("%w: checkpoint: %w", ErrBadReceipt, err)
	}
	if bulletin.LogIDFor(cp.Origin) != e.Log {
		return bulletin.Checkpoint{}, fmt.Errorf("%w: checkpoint of another log", ErrBadReceipt)
	}
	if err := bulletin.VerifyInclusion(r.Index, cp.Size, bulletin.LeafHash(canonical), r.InclusionProof, cp.Root); err != nil {
		return bulletin.Checkpoint{}, fmt.Errorf("%w: entry not in the checkpoint's tree: %w", ErrBadReceipt, err)
	}
	if e.Type == bulletin.TypeBallot && r.TrackingCode != nil {
		if code := ballot.TrackingCodeOf(e.Payload); string(code[:]) != string(r.TrackingCode) {
			return bulletin.Checkpoint{}, fmt.Errorf("%w: tracking code is not the ballot's", ErrBadReceipt)
		}
	}
	return cp, nil
}

// AuditCheck is an audit as a second device checked it (CheckAudit).
type AuditCheck struct {
	Code      ballot.TrackingCode
	Published bool
	Index     uint64 // board position, once published
	Opened    []string
	// OpenedIn is Opened in each of the manifest's languages, so that the
	// page redraws it on a language switch without checking again.
	OpenedIn map[string][]string
}

// DescribeOpening describes the choices an audited ballot (canonical
// ballot.AuditedBallot, as Audit returns it) opens to, in each language
// of ballot.Languages, for the page to redraw them on a language switch.
// It checks nothing: the caller checked the opening (Audit, CheckAudit).
func (el *Election) DescribeOpening(audited []byte) (map[string][]string, error) {
	a, err := ballot.DecodeAuditedBallot(audited)
	if err != nil {
		return nil, fmt.Errorf("webclient: %w", err)
	}
	return el.describeIn(a)
}

// describeIn describes a's choices in each language of ballot.Languages.
func (el *Election) describeIn(a *ballot.AuditedBallot) (map[string][]string, error) {
	out := map[string][]string{}
	for _, l := range ballot.Languages {
		d, err := a.Describe(el.Manifest, l)
		if err != nil {
			return nil, err
		}
		out[l] = d
	}
	return out, nil
}

// CheckAudit is the voter's second-device check of a Benaloh audit (spec
// §9.4) from the tracking code the first device showed (code, as typed),
// on what the ballot box serves for it: the prepared ballot (canonical),
// the authority's audited-ballot entry (canonical) and, once published,
// the entry's position with a checkpoint and inclusion proof (r; nil while
// pending). It checks that the prepared ballot's tracking code is code;
// that the entry is an audited ballot of this election's log signed by the
// election authority (the manifest's author); that its opening verifies
// under the election key and opens exactly the prepared ballot's
// ciphertexts; and, if published, that a checkpoint signed by the log and
// cosigned by the witnesses as t requires includes the entry at its
// position. It returns the opened choices described in lang (and in
// every language).
func (el *Election) CheckAudit(code string, prepared, entry []byte, r *Receipt, t Trust, lang string) (*AuditCheck, error) {
	shown, err := ballot.ParseShownCode(code)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	e, err := bulletin.DecodeEntry(entry)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if e.Log != el.Log || e.Type != bulletin.TypeAuditedBallot || e.Author != el.Authority {
		return nil, fmt.Errorf("%w: not an audited ballot of this election signed by its authority", ErrBadReceipt)
	}
	if err := e.Verify(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	a, err := ballot.DecodeAuditedBallot(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	// The prepared ballot, or in deniable re-voting mode the prepared
	// row, whose flag the audit opens too (spec §15.9).
	b, opens, err := revoterow.AuditedPrepared(el.Manifest, a, prepared)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if b.TrackingCode().Shown() != shown {
		return nil, fmt.Errorf("%w: the ballot served has another tracking code", ErrBadReceipt)
	}
	if !opens {
		return nil, fmt.Errorf("%w: the opening is not of the ballot with this tracking code", ErrBadReceipt)
	}
	if err := a.Verify(el.Manifest, el.Ballot.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	out := &AuditCheck{Code: b.TrackingCode()}
	if r != nil {
		if _, err := CheckIncluded(entry, *r, t); err != nil {
			return nil, err
		}
		out.Published, out.Index = true, r.Index
	}
	if out.Opened, err = a.Describe(el.Manifest, lang); err != nil {
		return nil, err
	}
	if out.OpenedIn, err = el.describeIn(a); err != nil {
		return nil, err
	}
	return out, nil
}

// BoardItem is one entry the board holds under a voter's pseudonym, as
// checked by CheckPseudonymEntry.
type BoardItem struct {
	Index     uint64
	Kind      string // "credential" or "ballot"
	DeviceKey [32]byte
	// Code is a ballot's tracking code; IssuedAt a credential's time.
	Code     ballot.TrackingCode
	IssuedAt uint64
	// Mine: the device key is this device's.
	Mine bool
}

// CheckPseudonymEntry checks one entry the ballot box lists under a
// pseudonym (GET /elections/{id}/voters/{pseudonym}), fetched by the page
// from the board with its inclusion proof: a credential-issued entry must
// be signed by the manifest's identity key and name the pseudonym; a ballot
// entry must be of this election's log and signed by its device key. ownKey
// (may be zero) marks the items of this device.
func (el *Election) CheckPseudonymEntry(canonical []byte, pseudonym [32]byte, r Receipt, t Trust, ownKey [32]byte) (*BoardItem, error) {
	if _, err := CheckIncluded(canonical, r, t); err != nil {
		return nil, err
	}
	e, err := bulletin.DecodeEntry(canonical)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if e.Log != el.Log {
		return nil, fmt.Errorf("%w: entry of another log", ErrBadReceipt)
	}
	if err := e.Verify(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	it := &BoardItem{Index: r.Index}
	switch e.Type {
	case bulletin.TypeCredentialIssued:
		if e.Author != el.Manifest.IdentityKey {
			return nil, fmt.Errorf("%w: credential not signed by the identity service", ErrBadReceipt)
		}
		c, err := record.DecodeCredentialIssued(e.Payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
		}
		if c.Pseudonym != pseudonym || c.ElectionID != el.Manifest.ElectionID {
			return nil, fmt.Errorf("%w: credential of another voter", ErrBadReceipt)
		}
		it.Kind, it.DeviceKey, it.IssuedAt = "credential", c.DeviceKey, c.IssuedAt
	case bulletin.TypeBallot:
		b, err := ballot.DecodeBallot(e.Payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
		}
		if b.CredentialKey != e.Author {
			return nil, fmt.Errorf("%w: ballot not signed by its credential key", ErrBadReceipt)
		}
		it.Kind, it.DeviceKey, it.Code = "ballot", e.Author, b.TrackingCode()
	default:
		return nil, fmt.Errorf("%w: entry type %s under a pseudonym", ErrBadReceipt, e.Type)
	}
	it.Mine = ownKey != [32]byte{} && it.DeviceKey == ownKey
	return it, nil
}

// ParseTrackingCode reads a tracking code as shown (groups of base32,
// dashes and spaces ignored, any case) and returns its canonical form.
func ParseTrackingCode(s string) (string, error) {
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != 32 {
		return "", fmt.Errorf("%w: a tracking code has 32 characters", ErrBadReceipt)
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return "", fmt.Errorf("%w: %q is not a tracking code character", ErrBadReceipt, c)
		}
	}
	var parts []string
	for i := 0; i < 32; i += 4 {
		parts = append(parts, s[i:i+4])
	}
	return strings.Join(parts, "-"), nil
}
