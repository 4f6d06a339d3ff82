// Package view turns the public record into what the observers' portal
// shows (spec/16-portal.md): the manifest as an election (authority,
// fingerprint, contests, trustees, witnesses), each board entry decoded
// into human terms (a ballot's tracking code and style, a mix's trustee,
// rows and proof size, a decryption share's trustee and contest…), and the
// result as tables per contest and constituency.
//
// It runs in the portal's WebAssembly module, next to the auditor's
// verifier, so it imports only what the verifier may (the packages that
// define the record; a test enforces it): the portal decodes with the very
// code that checks, and never from what a server says about an entry.
package view

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
	"evote/record"
	"evote/tally"
	"evote/tally/revote"
)

// Text is a string in the four languages, as JSON {"ky","ru","uz","en"}.
type Text map[string]string

func text(t ballot.Text) Text { return Text{"ky": t.Ky, "ru": t.Ru, "uz": t.Uz, "en": t.En} }

// Election is the manifest as the portal shows it.
type Election struct {
	ElectionID     string         `json:"election_id"`
	Title          Text           `json:"title"`
	Fingerprint    string         `json:"fingerprint"`     // short form, as officials publish it
	FingerprintHex string         `json:"fingerprint_hex"` // the whole hash
	Authority      Authority      `json:"authority"`
	Constituencies []Constituency `json:"constituencies"`
	Contests       []Contest      `json:"contests"`
	Styles         []Style        `json:"styles"`
	VotingStart    uint64         `json:"voting_start"`
	VotingEnd      uint64         `json:"voting_end"`
	Revote         string         `json:"revote"` // "last" or "single"
	Trustees       []Trustee      `json:"trustees"`
	Threshold      uint32         `json:"threshold"`
	Mixes          uint32         `json:"mixes"`
	MinAnonymity   uint32         `json:"min_anonymity"`
	Origin         string         `json:"origin"`
	LogKey         string         `json:"log_key"` // hex
	PostQuantum    bool           `json:"post_quantum"`
	Witnesses      []Witness      `json:"witnesses"`
	Quorum         uint32         `json:"quorum"`
	ClientHash     string         `json:"client_hash"`
	IdentityKey    string         `json:"identity_key"`
	Coercion       *Coercion      `json:"coercion,omitempty"` // nil: no coercion-resistance mode
}

// Coercion is the manifest's coercion-resistance mode (spec §15.1): in
// deniable re-voting mode ballots are published in slots of SlotSeconds,
// SlotRows rows a slot (ballots and dummies), and each voter has
// MaxBallots rows in the filter.
type Coercion struct {
	Mode        string `json:"mode"` // "deniable-revoting"
	SlotSeconds uint32 `json:"slot_seconds"`
	SlotRows    uint32 `json:"slot_rows"`
	MaxBallots  uint8  `json:"max_ballots"`
}

// Authority is who runs the election; Emblem is base64 (the page shows it
// as an image from a blob, never as markup).
type Authority struct {
	Name       Text   `json:"name"`
	Help       Text   `json:"help"`
	EmblemType string `json:"emblem_type,omitempty"`
	Emblem     string `json:"emblem,omitempty"`
}

// Constituency is an electoral district.
type Constituency struct {
	ID   string `json:"id"`
	Name Text   `json:"name"`
}

// Contest is one question with its candidates.
type Contest struct {
	ID            string      `json:"id"`
	Title         Text        `json:"title"`
	Kind          string      `json:"kind"` // "single" or "multi"
	MaxSelections uint32      `json:"max_selections"`
	Candidates    []Candidate `json:"candidates"`
}

// Candidate is one choice.
type Candidate struct {
	ID   string `json:"id"`
	Name Text   `json:"name"`
}

// Style is the ballot of one constituency.
type Style struct {
	ID           string   `json:"id"`
	Constituency string   `json:"constituency"`
	Contests     []string `json:"contests"`
}

// Trustee holds a key share and mixes.
type Trustee struct {
	Index uint32 `json:"index"`
	Name  string `json:"name"`
	Key   string `json:"key"` // hex Ed25519 signing key
}

// Witness cosigns the log's checkpoints.
type Witness struct {
	Name string `json:"name"`
	Key  string `json:"key"` // hex
}

// Describe decodes a canonical manifest.
func Describe(raw []byte) (*Election, error) {
	m, err := ballot.DecodeManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	return describe(m), nil
}

func describe(m *ballot.Manifest) *Election {
	fp := m.Fingerprint()
	e := &Election{ElectionID: m.ElectionID, Title: text(m.Title), Fingerprint: fp.String(), FingerprintHex: fp.Hex(),
		Authority:   Authority{Name: text(m.Authority.Name), Help: text(m.Authority.Help), EmblemType: m.Authority.EmblemType()},
		VotingStart: m.VotingStart, VotingEnd: m.VotingEnd, Revote: "last", Threshold: m.Threshold, Mixes: m.Mixes,
		MinAnonymity: m.MinAnonymity, Origin: m.Board.Origin, LogKey: hex.EncodeToString(m.Board.LogKey[:]),
		PostQuantum: len(m.Board.LogMLDSAKey) > 0, Quorum: m.Board.Quorum, IdentityKey: hex.EncodeToString(m.IdentityKey[:]),
		Constituencies: []Constituency{}, Contests: []Contest{}, Styles: []Style{}, Trustees: []Trustee{}, Witnesses: []Witness{}}
	if m.ClientHash != ([32]byte{}) {
		e.ClientHash = hex.EncodeToString(m.ClientHash[:])
	}
	if len(m.Authority.Emblem) > 0 {
		e.Authority.Emblem = base64.StdEncoding.EncodeToString(m.Authority.Emblem)
	}
	if m.Revote == ballot.SingleBallot {
		e.Revote = "single"
	}
	if c := m.Coercion; c.Mode == ballot.DeniableRevoting {
		e.Coercion = &Coercion{Mode: "deniable-revoting", SlotSeconds: c.SlotSeconds, SlotRows: c.SlotRows, MaxBallots: c.MaxBallots}
	}
	for _, c := range m.Constituencies {
		e.Constituencies = append(e.Constituencies, Constituency{ID: c.ID, Name: text(c.Name)})
	}
	for _, c := range m.Contests {
		v := Contest{ID: c.ID, Title: text(c.Title), Kind: "single", MaxSelections: c.MaxSelections, Candidates: []Candidate{}}
		if c.Kind == ballot.MultiSelect {
			v.Kind = "multi"
		}
		for _, k := range c.Candidates {
			v.Candidates = append(v.Candidates, Candidate{ID: k.ID, Name: text(k.Name)})
		}
		e.Contests = append(e.Contests, v)
	}
	for _, s := range m.BallotStyles {
		e.Styles = append(e.Styles, Style{ID: s.ID, Constituency: s.Constituency, Contests: append([]string{}, s.Contests...)})
	}
	for _, t := range m.Trustees {
		e.Trustees = append(e.Trustees, Trustee{Index: t.Index, Name: t.Name, Key: hex.EncodeToString(t.SignKey[:])})
	}
	for _, w := range m.Board.Witnesses {
		e.Witnesses = append(e.Witnesses, Witness{Name: w.Name, Key: hex.EncodeToString(w.Key[:])})
	}
	return e
}

// Entry is one board entry in human terms. Fields holds what the entry's
// type says, under names the page translates (f.<name>); values are
// strings or numbers. Error is set, and Fields empty, when the payload
// does not decode (the verifier's report says why it matters).
type Entry struct {
	Index    uint64         `json:"index"`
	Type     string         `json:"type"`
	TypeCode uint16         `json:"type_code"`
	Author   string         `json:"author"` // hex
	Role     string         `json:"role"`   // authority, identity, trustee, voter, unknown
	Who      string         `json:"who"`    // the trustee's name, when a trustee
	Size     int            `json:"size"`   // canonical bytes
	Hash     string         `json:"hash"`   // entry hash, hex (the key of the inclusion proof)
	Fields   map[string]any `json:"fields"` // decoded payload
	Error    string         `json:"error,omitempty"`
	Signed   bool           `json:"signed_ok"` // the entry's signature verifies
}

// Decoder decodes entries of one election. It remembers the device keys
// of credentials it has decoded, so that a ballot decoded after its
// credential names the voter's pseudonym; it is not safe for concurrent
// use.
type Decoder struct {
	m         *ballot.Manifest
	raw       []byte
	authority *[32]byte             // the manifest entry's author, once checked
	devices   map[[32]byte][32]byte // device key → pseudonym
}

// NewDecoder returns a decoder for the election of the canonical manifest
// (nil: entries are decoded without naming their authors).
func NewDecoder(manifest []byte) (*Decoder, error) {
	d := &Decoder{devices: map[[32]byte][32]byte{}}
	if manifest != nil {
		m, err := ballot.DecodeManifest(manifest)
		if err != nil {
			return nil, fmt.Errorf("view: %w", err)
		}
		d.m, d.raw = m, manifest
	}
	return d, nil
}

// SetManifestEntry gives the decoder the board's first entry, which must
// carry its manifest, signed, and which the caller checked is the log's
// first entry (CheckManifestEntry): its author is the election authority,
// the only key whose entries are shown as the authority's. Until then no
// entry is.
func (d *Decoder) SetManifestEntry(canonical []byte) error {
	if d.m == nil {
		return fmt.Errorf("view: a decoder without a manifest has no authority")
	}
	a, _, err := authorityOf(d.raw, canonical)
	if err != nil {
		return err
	}
	d.authority = &a
	return nil
}

// Entry decodes the canonical entry at position index.
func (d *Decoder) Entry(index uint64, canonical []byte) (*Entry, error) {
	e, err := bulletin.DecodeEntry(canonical)
	if err != nil {
		return nil, fmt.Errorf("view: entry %d: %w", index, err)
	}
	h := e.Hash()
	v := &Entry{Index: index, Type: e.Type.String(), TypeCode: uint16(e.Type), Author: hex.EncodeToString(e.Author[:]),
		Size: len(canonical), Hash: hex.EncodeToString(h[:]), Fields: map[string]any{}, Signed: e.Verify() == nil}
	v.Role, v.Who = d.role(e)
	if d.m != nil && e.Log != bulletin.LogIDFor(d.m.Board.Origin) {
		v.Error = "an entry of another log than this election's"
		return v, nil
	}
	if err := d.fields(e, v.Fields); err != nil {
		v.Error = err.Error()
		v.Fields = map[string]any{}
	}
	return v, nil
}

func (d *Decoder) role(e *bulletin.Entry) (role, who string) {
	if d.m == nil {
		return "unknown", ""
	}
	if e.Author == d.m.IdentityKey {
		return "identity", ""
	}
	for _, t := range d.m.Trustees {
		if e.Author == t.SignKey {
			return "trustee", fmt.Sprintf("%d · %s", t.Index, t.Name)
		}
	}
	// The authority is known by its key (the manifest entry's author),
	// never by the type of what an entry claims to be.
	if d.authority != nil && e.Author == *d.authority {
		return "authority", ""
	}
	if e.Type == bulletin.TypeBallot {
		return "voter", ""
	}
	return "unknown", ""
}

func (d *Decoder) trusteeName(i uint32) string {
	if d.m != nil {
		for _, t := range d.m.Trustees {
			if t.Index == i {
				return fmt.Sprintf("%d · %s", i, t.Name)
			}
		}
	}
	return fmt.Sprint(i)
}

func hx(b []byte) string { return hex.EncodeToString(b) }

// fields fills f with the decoded payload of e.
func (d *Decoder) fields(e *bulletin.Entry, f map[string]any) error {
	p := e.Payload
	switch e.Type {
	case bulletin.TypeManifest:
		m, err := ballot.DecodeManifest(p)
		if err != nil {
			return err
		}
		f["election"], f["fingerprint"] = m.ElectionID, m.Fingerprint().String()
		f["contests"], f["trustees"] = len(m.Contests), len(m.Trustees)
	case bulletin.TypeElectionContext:
		c, err := election.DecodeContext(p)
		if err != nil {
			return err
		}
		f["joint_key"], f["extended_hash"] = hx(c.JointKey.Bytes()), hx(c.ExtendedHash[:])
		f["trustees"] = len(c.VerificationKeys)
	case bulletin.TypeIdentityKeySet:
		k, err := record.DecodeIdentityKeySet(p)
		if err != nil {
			return err
		}
		f["issuer"], f["keys"] = k.Issuer, len(k.Keys)
	case bulletin.TypeVoterListChange:
		c, err := record.DecodeVoterListChange(p)
		if err != nil {
			return err
		}
		f["sequence"], f["official"], f["time"] = c.Sequence, c.OfficialID, c.ChangedAt
		f["added"], f["removed"], f["updated"] = c.Added, c.Removed, c.Updated
	case bulletin.TypeCredentialIssued:
		c, err := record.DecodeCredentialIssued(p)
		if err != nil {
			return err
		}
		// Only the identity service's own credentials, signed, name the
		// ballots of a device key: anybody's entry claiming a pseudonym
		// for a device key would name real ballots with it.
		if d.m != nil && e.Author == d.m.IdentityKey && e.Verify() == nil {
			d.devices[c.DeviceKey] = c.Pseudonym
		}
		f["pseudonym"], f["style"], f["device_key"], f["time"] = hx(c.Pseudonym[:]), c.BallotStyle, hx(c.DeviceKey[:]), c.IssuedAt
	case bulletin.TypeInPersonMark:
		m, err := record.DecodeInPersonMark(p)
		if err != nil {
			return err
		}
		f["pseudonym"], f["style"], f["station"], f["time"] = hx(m.Pseudonym[:]), m.BallotStyle, m.StationID, m.MarkedAt
	case bulletin.TypePollingRegistration:
		r, err := record.DecodePollingRegistration(p)
		if err != nil {
			return err
		}
		f["official"], f["stations"], f["officials"], f["time"] = r.OfficialID, len(r.Stations), len(r.Officials), r.RegisteredAt
	case bulletin.TypeOpen, bulletin.TypeClose, bulletin.TypeTransition:
		t, err := election.DecodeTransition(p)
		if err != nil {
			return err
		}
		f["phase"], f["official"], f["time"] = t.To.String(), t.Official, t.At
	case bulletin.TypeBallot:
		b, err := ballot.DecodeBallot(p)
		if err != nil {
			return err
		}
		code := b.TrackingCode()
		f["tracking_code"], f["tracking_hex"], f["style"], f["contests"] = code.String(), hx(code[:]), b.Style, len(b.Contests)
		f["device_key"] = hx(b.CredentialKey[:])
		if ps, ok := d.devices[b.CredentialKey]; ok {
			f["pseudonym"] = hx(ps[:])
		}
	case bulletin.TypeAuditedBallot:
		a, err := ballot.DecodeAuditedBallot(p)
		if err != nil {
			return err
		}
		f["style"], f["contests"] = a.Style, len(a.Contests)
	case bulletin.TypeCleansingResult:
		c, err := tally.DecodeCleansing(p)
		if err != nil {
			return err
		}
		f["counted"], f["cancelled"] = len(c.Counted), len(c.Cancelled)
	case bulletin.TypeMixOutput:
		m, err := tally.DecodeMixEntry(p)
		if err != nil {
			return err
		}
		f["contest"], f["trustee"], f["rows"], f["width"] = m.ContestID, d.trusteeName(m.Mixer), m.Output.Len(), m.Output.Width()
		f["proof_bytes"] = len(m.Proof.Bytes())
	case bulletin.TypeDecryptionShare:
		s, err := tally.DecodeDecryptionEntry(p)
		if err != nil {
			return err
		}
		f["contest"], f["trustee"], f["target"], f["values"] = s.ContestID, d.trusteeName(uint32(s.Share.Trustee)), d.target(s), len(s.Share.D)
	case bulletin.TypeResult:
		r, err := tally.DecodeResult(p)
		if err != nil {
			return err
		}
		f["contests"] = len(r.Contests)
	default:
		if ok, err := d.revoteFields(e.Type, p, f); ok {
			return err
		}
		if t, ok := election.KeygenEntryType(p); ok && t == e.Type {
			f["kind"], f["bytes"] = p[0], len(p)
			return nil
		}
		f["bytes"] = len(p)
	}
	return nil
}

// FieldNames are every name Entry.Fields may hold, and Roles every
// Entry.Role: the portal translates each (f_<name>, role_<role>), and its
// test fails on one without a translation.
var (
	FieldNames = []string{"election", "fingerprint", "contests", "trustees", "joint_key", "extended_hash", "issuer", "keys",
		"sequence", "official", "time", "added", "removed", "updated", "pseudonym", "style", "device_key", "station",
		"stations", "officials", "phase", "tracking_code", "tracking_hex", "counted", "cancelled", "contest", "trustee",
		"rows", "width", "proof_bytes", "target", "values", "kind", "bytes", "slot", "kept", "max_depth", "marks", "voters"}
	Roles = []string{"authority", "identity", "trustee", "voter", "unknown"}
	// Targets are the values of a decryption share's "target" field
	// (translated as target_<value>).
	Targets = []string{"mixed", "sums", "flags", "tags", "roll"}
)

// target names what a decryption share decrypts: a contest's mixed rows
// or the sums of its selections; in deniable re-voting mode also the
// flags of a multi-select contest's mixed rows (its first round, spec
// §15.5 step 6), and the filter's blinded tags and the roll call (§15.5
// step 4, §15.7).
func (d *Decoder) target(s *tally.DecryptionEntry) string {
	switch {
	case s.ContestID == election.ShareTags:
		return "tags"
	case s.ContestID == election.ShareRoll:
		return "roll"
	case s.Kind == tally.TargetSums:
		return "sums"
	}
	if d.m != nil && d.m.Coercion.Mode == ballot.DeniableRevoting {
		for _, c := range d.m.Contests {
			if c.ID == s.ContestID && c.Kind == ballot.MultiSelect {
				return "flags"
			}
		}
	}
	return "mixed"
}

// revoteFields decodes the entries of deniable re-voting (spec §15.14.1);
// ok is false for another type.
func (d *Decoder) revoteFields(t bulletin.Type, p []byte, f map[string]any) (ok bool, err error) {
	switch t {
	case bulletin.TypeRevoteTagKey:
		k, err := revote.DecodeTagKeyEntry(p)
		if err != nil {
			return true, err
		}
		f["trustee"] = d.trusteeName(uint32(k.Trustee))
	case bulletin.TypeRevoteSlot:
		sl, err := revote.DecodeSlot(p)
		if err != nil {
			return true, err
		}
		f["slot"], f["style"], f["rows"] = sl.Slot, sl.Style, len(sl.Rows)
		if d.m != nil {
			// The slot's end: its rows were cast before it.
			f["time"] = d.m.VotingStart + uint64(sl.Slot+1)*uint64(d.m.Coercion.SlotSeconds)
		}
	case bulletin.TypeRevotePadding:
		pd, err := revote.DecodePadding(p)
		if err != nil {
			return true, err
		}
		f["style"], f["rows"] = pd.Style, len(pd.Rows)
	case bulletin.TypeRevoteDepths:
		ds, err := revote.DecodeDepths(p)
		if err != nil {
			return true, err
		}
		f["style"], f["rows"], f["max_depth"] = ds.Style, len(ds.Rows), ds.MaxDepth
	case bulletin.TypeRevoteMarks:
		ms, err := revote.DecodeMarks(p)
		if err != nil {
			return true, err
		}
		f["style"], f["marks"] = ms.Style, len(ms.Marks)
	case bulletin.TypeRevoteBlind:
		b, err := revote.DecodeBlindEntry(p)
		if err != nil {
			return true, err
		}
		f["style"], f["trustee"], f["rows"] = b.Style, d.trusteeName(uint32(b.Step.Trustee)), b.Step.Out.Len()
	case bulletin.TypeRevoteFilter:
		fl, err := revote.DecodeFilter(p)
		if err != nil {
			return true, err
		}
		f["style"], f["rows"], f["kept"] = fl.Style, fl.Board, len(fl.Kept)
	case bulletin.TypeRevoteRoll:
		r, err := revote.DecodeRoll(p)
		if err != nil {
			return true, err
		}
		f["voters"] = len(r.Voters)
	default:
		return false, nil
	}
	return true, nil
}
