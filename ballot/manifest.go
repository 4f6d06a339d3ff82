// Package ballot defines the election manifest, the election's context
// hashes, encrypted ballots with their proofs, tracking codes and Benaloh
// audits (spec/09-election.md). It knows nothing of HTTP or storage: the
// voter's device, the ballot box and the auditor's verifier all use it.
package ballot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"evote/bulletin"
	"evote/crypto/sig"
	"evote/crypto/threshold/contexthash"
	"evote/internal/wire"
)

// ErrInvalidManifest is wrapped by every manifest validation error.
var ErrInvalidManifest = errors.New("ballot: invalid manifest")

// Languages lists the languages every text must be given in, in encoding
// order: Kyrgyz, Russian, Uzbek, English.
var Languages = [4]string{"ky", "ru", "uz", "en"}

// Text is a string in each of the four languages of Languages.
type Text struct {
	Ky, Ru, Uz, En string
}

// Get returns the text in language lang (one of Languages), falling back
// to English.
func (t Text) Get(lang string) string {
	switch lang {
	case "ky":
		return t.Ky
	case "ru":
		return t.Ru
	case "uz":
		return t.Uz
	}
	return t.En
}

func (t Text) all() [4]string { return [4]string{t.Ky, t.Ru, t.Uz, t.En} }

// ContestKind says how a contest is voted and tallied.
type ContestKind uint8

const (
	// SingleChoice: one candidate or blank, encrypted as one ciphertext of
	// the choice index (0 = blank, i = i-th candidate); mixed and decrypted
	// contest by contest.
	SingleChoice ContestKind = 1
	// MultiSelect: up to MaxSelections candidates, one 0/1 ciphertext per
	// candidate; tallied homomorphically (only column sums are decrypted).
	MultiSelect ContestKind = 2
)

// RevotePolicy says what happens when a voter casts more than one ballot.
type RevotePolicy uint8

const (
	// LastBallotCounts: a voter may cast again; the last ballot on the board
	// counts (an in-person vote overrides all online ballots).
	LastBallotCounts RevotePolicy = 1
	// SingleBallot: a second online ballot is refused.
	SingleBallot RevotePolicy = 2
)

// A Candidate is one choice of a contest.
type Candidate struct {
	ID   string
	Name Text
}

// A Contest is one question on a ballot.
type Contest struct {
	ID            string
	Title         Text
	Kind          ContestKind
	Candidates    []Candidate
	MaxSelections uint32 // 1 for SingleChoice
}

// A Constituency is an electoral district; each has one ballot style.
type Constituency struct {
	ID   string
	Name Text
}

// A BallotStyle is the list of contests a voter of one constituency votes.
type BallotStyle struct {
	ID           string
	Constituency string
	Contests     []string // contest IDs, in ballot order
}

// A Trustee holds a share of the election key and mixes the ballots.
type Trustee struct {
	Index   uint32   // 1..n, the x-coordinate of its key share
	Name    string   // human-readable, e.g. the organisation
	SignKey [32]byte // Ed25519 key signing its board entries
	HPKEKey []byte   // HPKE public key receiving key-generation shares
}

// A Manifest is everything fixed about an election before key generation.
type Manifest struct {
	ElectionID     string
	Title          Text
	Constituencies []Constituency
	Contests       []Contest
	BallotStyles   []BallotStyle
	// VotingStart and VotingEnd (Unix seconds) are the announced period;
	// the binding period is the span of the board between the Open and
	// Close entries.
	VotingStart, VotingEnd uint64
	Revote                 RevotePolicy
	Trustees               []Trustee
	Threshold              uint32 // t: trustees needed to decrypt
	Mixes                  uint32 // mixes by distinct trustees, ≥ Threshold
	// MinAnonymity is the smallest group of ballots ever decrypted alone.
	MinAnonymity uint32
	// ClientHash is the SHA-256 of the voting page's WebAssembly build
	// (zero when the election has none).
	ClientHash [32]byte
	// IdentityKey is the Ed25519 key of the identity service: the only
	// author of credential-issued, voter-list and in-person-mark entries.
	IdentityKey [32]byte
	// Board pins the election's bulletin board: the log's name and keys and
	// the witnesses whose cosignatures make a checkpoint count. Every party
	// that relies on a checkpoint takes these from the manifest it holds
	// (checked against the published fingerprint), never from the server.
	Board BoardAnchors
	// Authority says whose election this is and where voters get help;
	// every page shows it. It is in the manifest, hence under the
	// fingerprint, so a look-alike site cannot show another authority's
	// name for the same election.
	Authority Authority
	// Coercion is the election's coercion-resistance mode (spec §15.1):
	// none, or deniable re-voting with its slot and padding parameters.
	// A manifest without one is written in format 3, one with one in
	// format 4.
	Coercion Coercion
}

// CoercionMode says how an election resists coercion and vote buying.
type CoercionMode uint8

const (
	// NoCoercionResistance: the policies of spec §9.1 only (re-voting, if
	// allowed, is visible on the board under the voter's pseudonym).
	NoCoercionResistance CoercionMode = 0
	// DeniableRevoting: ballots carry no public pseudonym, the board pads
	// every time slot with dummies, and a verifiable filter keeps each
	// voter's last ballot (spec chapter 15).
	DeniableRevoting CoercionMode = 1
)

// String returns the mode's name as spec §15.1 and the API write it.
func (c CoercionMode) String() string {
	switch c {
	case NoCoercionResistance:
		return "none"
	case DeniableRevoting:
		return "deniable-revoting"
	}
	return fmt.Sprintf("unknown (%d)", uint8(c))
}

// Coercion is the coercion-resistance option of a manifest (spec §15.1).
// With Mode NoCoercionResistance the three parameters are zero.
type Coercion struct {
	Mode CoercionMode
	// SlotSeconds is Δ, the length of a time slot of the board
	// (MinSlotSeconds..MaxSlotSeconds).
	SlotSeconds uint32
	// SlotRows is B, the rows (ballots and dummies) published per slot
	// (1..MaxSlotRows).
	SlotRows uint32
	// MaxBallots is M, the rows of every voter in the filter
	// (MinMaxBallots..MaxMaxBallots): a voter casts at most M − 1 ballots
	// online, the in-person mark always fits.
	MaxBallots uint8
}

// Bounds of the deniable re-voting parameters (spec §15.1).
const (
	MinSlotSeconds = 10
	MaxSlotSeconds = 3600
	MaxSlotRows    = 1 << 20
	MinMaxBallots  = 2
	MaxMaxBallots  = 64
)

// validate checks the coercion option: a known mode, parameters in their
// bounds (all zero without the option, so that one manifest has one
// encoding), and, for deniable re-voting, the last-ballot-counts policy
// it is built on.
func (c *Coercion) validate(revote RevotePolicy) error {
	switch c.Mode {
	case NoCoercionResistance:
		if c.SlotSeconds != 0 || c.SlotRows != 0 || c.MaxBallots != 0 {
			return invalid("coercion none has slot seconds %d, slot rows %d, max ballots %d: want all 0", c.SlotSeconds, c.SlotRows, c.MaxBallots)
		}
		return nil
	case DeniableRevoting:
	default:
		return invalid("unknown coercion mode %d (0 none, 1 deniable-revoting)", c.Mode)
	}
	if revote != LastBallotCounts {
		return invalid("coercion deniable-revoting needs revote policy %d (the last ballot counts), not %d", LastBallotCounts, revote)
	}
	if c.SlotSeconds < MinSlotSeconds || c.SlotSeconds > MaxSlotSeconds {
		return invalid("coercion slot seconds %d outside %d..%d", c.SlotSeconds, MinSlotSeconds, MaxSlotSeconds)
	}
	if c.SlotRows < 1 || c.SlotRows > MaxSlotRows {
		return invalid("coercion slot rows %d outside 1..%d", c.SlotRows, MaxSlotRows)
	}
	if c.MaxBallots < MinMaxBallots || c.MaxBallots > MaxMaxBallots {
		return invalid("coercion max ballots %d outside %d..%d", c.MaxBallots, MinMaxBallots, MaxMaxBallots)
	}
	return nil
}

// Authority is the body that runs the election, as voters are shown it.
type Authority struct {
	Name Text // e.g. the central election commission
	Help Text // where voters get help: a phone number, an address, a web page
	// Emblem is the authority's emblem, a PNG or SVG image of at most
	// maxEmblemSize bytes, or empty. Pages show it only as an image (an
	// SVG in an <img> runs no script).
	Emblem []byte
}

// EmblemType returns the media type of the emblem: "image/png",
// "image/svg+xml", or "" when there is none.
func (a *Authority) EmblemType() string {
	switch {
	case len(a.Emblem) == 0:
		return ""
	case bytes.HasPrefix(a.Emblem, pngMagic):
		return "image/png"
	}
	return "image/svg+xml"
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// validate checks the authority's texts and that an emblem, if any, is
// a PNG (by its signature) or an SVG document (an <svg> root, after an
// optional XML declaration, comments and white space) of valid UTF-8.
func (a *Authority) validate() error {
	if err := a.Name.validate("authority name"); err != nil {
		return err
	}
	if err := a.Help.validate("authority help"); err != nil {
		return err
	}
	if len(a.Emblem) > maxEmblemSize {
		return invalid("emblem is %d bytes, at most %d", len(a.Emblem), maxEmblemSize)
	}
	if len(a.Emblem) == 0 || bytes.HasPrefix(a.Emblem, pngMagic) {
		return nil
	}
	if !utf8.Valid(a.Emblem) || !isSVGStart(a.Emblem) {
		return invalid("emblem is neither a PNG nor an SVG image")
	}
	return nil
}

// isSVGStart reports whether b starts as an SVG document: white space, an
// optional XML declaration, any comments, then an <svg element. It accepts
// exactly what the regular expression
//
//	^\s*(<\?xml[^>]*\?>\s*)?(<!--(?s:.*?)-->\s*)*<svg[\s>]
//
// matches (a test compares the two), written out by hand so that package
// regexp is not linked into the voting page's module, which validates
// manifests too (spec §14.3).
func isSVGStart(b []byte) bool {
	b = trimSpace(b)
	if bytes.HasPrefix(b, []byte("<?xml")) {
		end := bytes.IndexByte(b, '>')
		if end < len("<?xml?") || b[end-1] != '?' {
			return false
		}
		b = trimSpace(b[end+1:])
	}
	if isSVGElement(b) {
		return true
	}
	if !bytes.HasPrefix(b, []byte("<!--")) {
		return false
	}
	// A run of comments may as well be one comment from the first "<!--"
	// to the last "-->" (the comment's body is any text): look for any
	// "-->" after the opening that white space and <svg follow.
	for rest := b[len("<!--"):]; ; {
		i := bytes.Index(rest, []byte("-->"))
		if i < 0 {
			return false
		}
		rest = rest[i+len("-->"):]
		if isSVGElement(trimSpace(rest)) {
			return true
		}
	}
}

// isSVGElement reports whether b starts with "<svg" and a white-space
// character or ">".
func isSVGElement(b []byte) bool {
	return len(b) > len("<svg") && bytes.HasPrefix(b, []byte("<svg")) && (isSpace(b[4]) || b[4] == '>')
}

// isSpace is \s of Go's regular expressions: [\t\n\f\r ].
func isSpace(c byte) bool { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ' }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// A Witness is an independent party that cosigns the log's checkpoints
// only if they extend what it cosigned before (spec §7.6).
type Witness struct {
	Name string   // the witness's name in its cosignature lines
	Key  [32]byte // its Ed25519 cosigning key
}

// BoardAnchors are the trust anchors of the election's bulletin board
// (spec §9.1): the log's origin and checkpoint keys, and the witnesses of
// which Quorum must cosign a checkpoint for anyone to act on it.
type BoardAnchors struct {
	Origin string
	// LogKey is the log's Ed25519 checkpoint key; LogMLDSAKey its
	// ML-DSA-65 key (empty if the log signs with Ed25519 only).
	LogKey      [32]byte
	LogMLDSAKey []byte
	Witnesses   []Witness
	Quorum      uint32
}

// Limits of a manifest, chosen far above any real election's needs.
const (
	// hpkeKeySize is the length of a trustee's X25519 HPKE public key
	// (chapter 5).
	hpkeKeySize    = 32
	maxIDLen       = 64
	maxTextLen     = 1024
	maxItems       = 1024
	maxCandidates  = 64
	maxTrustees    = 32
	maxHPKEKeySize = 1024
	maxOriginLen   = 256
	maxWitnesses   = 32
	// mldsaKeySize is the length of an ML-DSA-65 public key (FIPS 204).
	mldsaKeySize  = 1952
	maxEmblemSize = 32 << 10
	// manifestFormat is the format of a manifest without a coercion mode,
	// coercionFormat of one with (spec §9.1): format 3 stays the encoding
	// of every election of the §9.1 policies, so their fingerprints and
	// records do not change.
	manifestFormat = 3
	coercionFormat = 4
)

// idPattern is the rule of every identifier, as a regular expression
// for messages; validID checks it without package regexp.
const idPattern = `^[a-z0-9][a-z0-9-]{0,63}$`

// validID reports whether s matches idPattern: 1 to 64 of [a-z0-9-], not
// starting with "-".
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Encode returns the canonical encoding of m (spec §9.1).
func (m *Manifest) Encode() []byte {
	w := wire.NewWriter(1024)
	if m.Coercion.Mode == NoCoercionResistance {
		w.U8(manifestFormat)
	} else {
		w.U8(coercionFormat)
	}
	w.String(m.ElectionID)
	writeText(w, m.Title)
	w.U32(uint32(len(m.Constituencies)))
	for _, c := range m.Constituencies {
		w.String(c.ID)
		writeText(w, c.Name)
	}
	w.U32(uint32(len(m.Contests)))
	for _, c := range m.Contests {
		w.String(c.ID)
		writeText(w, c.Title)
		w.U8(uint8(c.Kind))
		w.U32(c.MaxSelections)
		w.U32(uint32(len(c.Candidates)))
		for _, k := range c.Candidates {
			w.String(k.ID)
			writeText(w, k.Name)
		}
	}
	w.U32(uint32(len(m.BallotStyles)))
	for _, s := range m.BallotStyles {
		w.String(s.ID)
		w.String(s.Constituency)
		w.U32(uint32(len(s.Contests)))
		for _, c := range s.Contests {
			w.String(c)
		}
	}
	w.U64(m.VotingStart)
	w.U64(m.VotingEnd)
	w.U8(uint8(m.Revote))
	w.U32(uint32(len(m.Trustees)))
	for _, t := range m.Trustees {
		w.U32(t.Index)
		w.String(t.Name)
		w.Fixed(t.SignKey[:])
		w.VarBytes(t.HPKEKey)
	}
	w.U32(m.Threshold)
	w.U32(m.Mixes)
	w.U32(m.MinAnonymity)
	w.Fixed(m.ClientHash[:])
	w.Fixed(m.IdentityKey[:])
	w.String(m.Board.Origin)
	w.Fixed(m.Board.LogKey[:])
	w.VarBytes(m.Board.LogMLDSAKey)
	w.U32(uint32(len(m.Board.Witnesses)))
	for _, x := range m.Board.Witnesses {
		w.String(x.Name)
		w.Fixed(x.Key[:])
	}
	w.U32(m.Board.Quorum)
	writeText(w, m.Authority.Name)
	writeText(w, m.Authority.Help)
	w.VarBytes(m.Authority.Emblem)
	if c := m.Coercion; c.Mode != NoCoercionResistance {
		w.U8(uint8(c.Mode))
		if c.Mode == DeniableRevoting {
			w.U32(c.SlotSeconds)
			w.U32(c.SlotRows)
			w.U8(c.MaxBallots)
		}
	}
	return w.Bytes()
}

func writeText(w *wire.Writer, t Text) {
	for _, s := range t.all() {
		w.String(s)
	}
}

func readText(r *wire.Reader, what string) Text {
	return Text{
		Ky: r.String(maxTextLen, what+" (ky)"),
		Ru: r.String(maxTextLen, what+" (ru)"),
		Uz: r.String(maxTextLen, what+" (uz)"),
		En: r.String(maxTextLen, what+" (en)"),
	}
}

// DecodeManifest parses and validates a canonical manifest.
func DecodeManifest(b []byte) (*Manifest, error) {
	r := wire.NewReader(b)
	format := r.U8("format")
	if r.Err() == nil && format != manifestFormat && format != coercionFormat {
		return nil, fmt.Errorf("%w: format %d, want %d or %d", ErrInvalidManifest, format, manifestFormat, coercionFormat)
	}
	m := &Manifest{}
	m.ElectionID = r.String(maxIDLen, "election id")
	m.Title = readText(r, "title")
	n := r.Count(maxItems, 20, "constituencies")
	for i := 0; i < n; i++ {
		m.Constituencies = append(m.Constituencies, Constituency{ID: r.String(maxIDLen, "constituency id"), Name: readText(r, "constituency name")})
	}
	n = r.Count(maxItems, 30, "contests")
	for i := 0; i < n; i++ {
		c := Contest{ID: r.String(maxIDLen, "contest id"), Title: readText(r, "contest title")}
		c.Kind = ContestKind(r.U8("contest kind"))
		c.MaxSelections = r.U32("max selections")
		k := r.Count(maxCandidates, 20, "candidates")
		for j := 0; j < k; j++ {
			c.Candidates = append(c.Candidates, Candidate{ID: r.String(maxIDLen, "candidate id"), Name: readText(r, "candidate name")})
		}
		m.Contests = append(m.Contests, c)
	}
	n = r.Count(maxItems, 12, "ballot styles")
	for i := 0; i < n; i++ {
		s := BallotStyle{ID: r.String(maxIDLen, "ballot style id"), Constituency: r.String(maxIDLen, "ballot style constituency")}
		k := r.Count(maxItems, 4, "ballot style contests")
		for j := 0; j < k; j++ {
			s.Contests = append(s.Contests, r.String(maxIDLen, "ballot style contest"))
		}
		m.BallotStyles = append(m.BallotStyles, s)
	}
	m.VotingStart = r.U64("voting start")
	m.VotingEnd = r.U64("voting end")
	m.Revote = RevotePolicy(r.U8("revote policy"))
	n = r.Count(maxTrustees, 44, "trustees")
	for i := 0; i < n; i++ {
		t := Trustee{Index: r.U32("trustee index"), Name: r.String(maxTextLen, "trustee name")}
		copy(t.SignKey[:], r.Fixed(32, "trustee signing key"))
		t.HPKEKey = r.VarBytes(maxHPKEKeySize, "trustee HPKE key")
		m.Trustees = append(m.Trustees, t)
	}
	m.Threshold = r.U32("threshold")
	m.Mixes = r.U32("mixes")
	m.MinAnonymity = r.U32("minimum anonymity")
	copy(m.ClientHash[:], r.Fixed(32, "client hash"))
	copy(m.IdentityKey[:], r.Fixed(32, "identity key"))
	m.Board.Origin = r.String(maxOriginLen, "log origin")
	copy(m.Board.LogKey[:], r.Fixed(32, "log key"))
	m.Board.LogMLDSAKey = r.VarBytes(mldsaKeySize, "log ML-DSA-65 key")
	n = r.Count(maxWitnesses, 36, "witnesses")
	for i := 0; i < n; i++ {
		x := Witness{Name: r.String(maxOriginLen, "witness name")}
		copy(x.Key[:], r.Fixed(32, "witness key"))
		m.Board.Witnesses = append(m.Board.Witnesses, x)
	}
	m.Board.Quorum = r.U32("witness quorum")
	m.Authority.Name = readText(r, "authority name")
	m.Authority.Help = readText(r, "authority help")
	m.Authority.Emblem = r.VarBytes(maxEmblemSize, "emblem")
	if format == coercionFormat {
		m.Coercion.Mode = CoercionMode(r.U8("coercion"))
		switch m.Coercion.Mode {
		case NoCoercionResistance:
			if r.Err() == nil {
				return nil, fmt.Errorf("%w: format %d with coercion none is not canonical: such a manifest is written in format %d", ErrInvalidManifest, coercionFormat, manifestFormat)
			}
		case DeniableRevoting:
			m.Coercion.SlotSeconds = r.U32("coercion slot seconds")
			m.Coercion.SlotRows = r.U32("coercion slot rows")
			m.Coercion.MaxBallots = r.U8("coercion max ballots")
		}
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Validate checks the manifest's internal consistency (spec §9.1), one
// part at a time and in this order: the election id, the title and the
// counts of items; the constituencies, the contests and the ballot styles
// (each text by Text.validate); the voting period and revote policy
// (validateRules); the trustees, threshold and mixes; the identity
// service's key and minimum anonymity; the board anchors
// (BoardAnchors.validate); the authority (Authority.validate); the
// coercion option (Coercion.validate). The first failure is returned,
// wrapping ErrInvalidManifest.
func (m *Manifest) Validate() error {
	if !validID(m.ElectionID) {
		return invalid("election id %q must match %s", m.ElectionID, idPattern)
	}
	if err := m.Title.validate("title"); err != nil {
		return err
	}
	if len(m.Constituencies) == 0 || len(m.Contests) == 0 || len(m.BallotStyles) == 0 {
		return invalid("needs at least one constituency, contest and ballot style")
	}
	if len(m.Constituencies) > maxItems || len(m.Contests) > maxItems || len(m.BallotStyles) > maxItems {
		return invalid("too many constituencies, contests or ballot styles")
	}
	constituencies, err := m.validateConstituencies()
	if err != nil {
		return err
	}
	contests, err := m.validateContests()
	if err != nil {
		return err
	}
	if err := m.validateStyles(constituencies, contests); err != nil {
		return err
	}
	if err := m.validateRules(); err != nil {
		return err
	}
	if err := m.validateTrustees(); err != nil {
		return err
	}
	if m.IdentityKey == ([32]byte{}) {
		return invalid("no identity service key")
	}
	if m.MinAnonymity < 1 {
		return invalid("minimum anonymity must be at least 1")
	}
	if err := m.Board.validate(invalid); err != nil {
		return err
	}
	if err := m.Authority.validate(); err != nil {
		return err
	}
	return m.Coercion.validate(m.Revote)
}

// invalid returns an error wrapping ErrInvalidManifest with a detail.
func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidManifest, fmt.Sprintf(format, a...))
}

// validate checks that a text has every language, none too long; what
// names it in the error.
func (t Text) validate(what string) error {
	for i, s := range t.all() {
		if s == "" {
			return invalid("%s has no %s text", what, Languages[i])
		}
		if len(s) > maxTextLen {
			return invalid("%s text too long", what)
		}
	}
	return nil
}

// validateConstituencies checks the constituencies' ids (valid, distinct)
// and names, and returns the set of ids.
func (m *Manifest) validateConstituencies() (map[string]bool, error) {
	constituencies := map[string]bool{}
	for _, c := range m.Constituencies {
		if !validID(c.ID) || constituencies[c.ID] {
			return nil, invalid("constituency id %q invalid or repeated", c.ID)
		}
		constituencies[c.ID] = true
		if err := c.Name.validate("constituency " + c.ID); err != nil {
			return nil, err
		}
	}
	return constituencies, nil
}

// validateContests checks each contest: its id (valid, distinct), title,
// candidates (1..maxCandidates, ids valid and distinct within the contest,
// names) and kind with its maximum number of selections. It returns the
// set of contest ids.
func (m *Manifest) validateContests() (map[string]bool, error) {
	contests := map[string]bool{}
	for _, c := range m.Contests {
		if !validID(c.ID) || contests[c.ID] {
			return nil, invalid("contest id %q invalid or repeated", c.ID)
		}
		contests[c.ID] = true
		if err := c.Title.validate("contest " + c.ID); err != nil {
			return nil, err
		}
		if len(c.Candidates) == 0 || len(c.Candidates) > maxCandidates {
			return nil, invalid("contest %s has %d candidates, want 1..%d", c.ID, len(c.Candidates), maxCandidates)
		}
		cands := map[string]bool{}
		for _, k := range c.Candidates {
			if !validID(k.ID) || cands[k.ID] {
				return nil, invalid("candidate id %q of contest %s invalid or repeated", k.ID, c.ID)
			}
			cands[k.ID] = true
			if err := k.Name.validate("candidate " + k.ID); err != nil {
				return nil, err
			}
		}
		switch c.Kind {
		case SingleChoice:
			if c.MaxSelections != 1 {
				return nil, invalid("single-choice contest %s must have max selections 1", c.ID)
			}
		case MultiSelect:
			if c.MaxSelections < 1 || int(c.MaxSelections) > len(c.Candidates) {
				return nil, invalid("contest %s: max selections %d outside 1..%d", c.ID, c.MaxSelections, len(c.Candidates))
			}
		default:
			return nil, invalid("contest %s has unknown kind %d", c.ID, c.Kind)
		}
	}
	return contests, nil
}

// validateStyles checks the ballot styles against the constituencies and
// contests: ids valid and distinct, exactly one style per constituency, each
// style a non-empty list of distinct known contests, and every contest on
// some style.
func (m *Manifest) validateStyles(constituencies, contests map[string]bool) error {
	styles := map[string]bool{}
	styleOf := map[string]string{}
	used := map[string]bool{}
	for _, s := range m.BallotStyles {
		if !validID(s.ID) || styles[s.ID] {
			return invalid("ballot style id %q invalid or repeated", s.ID)
		}
		styles[s.ID] = true
		if !constituencies[s.Constituency] {
			return invalid("ballot style %s names unknown constituency %q", s.ID, s.Constituency)
		}
		if prev, ok := styleOf[s.Constituency]; ok {
			return invalid("constituency %s has two ballot styles (%s, %s)", s.Constituency, prev, s.ID)
		}
		styleOf[s.Constituency] = s.ID
		if len(s.Contests) == 0 {
			return invalid("ballot style %s has no contests", s.ID)
		}
		seen := map[string]bool{}
		for _, c := range s.Contests {
			if !contests[c] || seen[c] {
				return invalid("ballot style %s: contest %q unknown or repeated", s.ID, c)
			}
			seen[c] = true
			used[c] = true
		}
	}
	for _, c := range m.Constituencies {
		if _, ok := styleOf[c.ID]; !ok {
			return invalid("constituency %s has no ballot style", c.ID)
		}
	}
	for _, c := range m.Contests {
		if !used[c.ID] {
			return invalid("contest %s is on no ballot style", c.ID)
		}
	}
	return nil
}

// validateRules checks the voting period and the revote policy.
func (m *Manifest) validateRules() error {
	if m.VotingEnd <= m.VotingStart {
		return invalid("voting end %d not after start %d", m.VotingEnd, m.VotingStart)
	}
	if m.Revote != LastBallotCounts && m.Revote != SingleBallot {
		return invalid("unknown revote policy %d", m.Revote)
	}
	return nil
}

// validateTrustees checks the trustees (1..maxTrustees, indices 1..n in
// order, names, distinct signing keys, valid HPKE keys), the threshold t
// and the number of mixes (t..n).
func (m *Manifest) validateTrustees() error {
	n := uint32(len(m.Trustees))
	if n == 0 || n > maxTrustees {
		return invalid("%d trustees, want 1..%d", n, maxTrustees)
	}
	signKeys := map[[32]byte]bool{}
	for i, t := range m.Trustees {
		if t.Index != uint32(i+1) {
			return invalid("trustee %d has index %d, want %d (indices are 1..n in order)", i, t.Index, i+1)
		}
		if t.Name == "" || len(t.Name) > maxTextLen {
			return invalid("trustee %d has an empty or oversized name", t.Index)
		}
		if signKeys[t.SignKey] {
			return invalid("trustee %d repeats another trustee's signing key", t.Index)
		}
		signKeys[t.SignKey] = true
		if err := checkHPKEKey(t.HPKEKey); err != nil {
			return invalid("trustee %d HPKE key: %v", t.Index, err)
		}
	}
	if m.Threshold < 1 || m.Threshold > n {
		return invalid("threshold %d outside 1..%d", m.Threshold, n)
	}
	if m.Mixes < m.Threshold || m.Mixes > n {
		return invalid("mixes %d outside threshold..n = %d..%d: at least t distinct trustees must mix", m.Mixes, m.Threshold, n)
	}
	return nil
}

// x25519P is 2^255 − 19 in little-endian order, the bound of a canonical
// X25519 u-coordinate.
var x25519P = func() (p [32]byte) {
	for i := range p {
		p[i] = 0xff
	}
	p[0], p[31] = 0xed, 0x7f
	return p
}()

// x25519SmallOrder are the canonical u-coordinates of the points of small
// order of Curve25519 and its twist (order 1, 2, 4 or 8): 0, 1, the two
// points of order 8, and p − 1. X25519 of any of them with any clamped
// scalar is all zero (RFC 7748 §6.1); of any other u it is not.
var x25519SmallOrder = func() (out [5][32]byte) {
	out[1][0] = 1
	for i, h := range []string{
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	} {
		hex.Decode(out[2+i][:], []byte(h))
	}
	out[4] = x25519P
	out[4][0]--
	return out
}()

// checkHPKEKey checks a trustee's HPKE key (spec §9.1, §5.1): 32 bytes, a
// canonical X25519 u-coordinate (read little-endian, below 2^255 − 19; so
// the top bit is clear), and not of small order (RFC 7748 §6.1). No share
// could be encrypted to a key of small order, so a corrupt trustee
// registering one would stall every honest dealer.
// crypto/threshold.HPKEPublicKey.Validate refuses the same keys by an
// X25519 product (and reduces non-canonical ones, which the manifest
// refuses besides, so that one key has one encoding); the manifest uses
// the list instead, which keeps crypto/ecdh out of the voting page's
// module.
func checkHPKEKey(k []byte) error {
	if len(k) != hpkeKeySize {
		return fmt.Errorf("%d bytes, want %d", len(k), hpkeKeySize)
	}
	canonical := false
	for i := hpkeKeySize - 1; i >= 0; i-- {
		if k[i] != x25519P[i] {
			canonical = k[i] < x25519P[i]
			break
		}
	}
	if !canonical {
		return errors.New("not a canonical X25519 key (u ≥ 2^255 − 19)")
	}
	for _, u := range x25519SmallOrder {
		if bytes.Equal(k, u[:]) {
			return errors.New("an X25519 key of small order")
		}
	}
	return nil
}

// validate checks the board anchors: a valid origin, keys that are valid
// public keys, 1..32 witnesses with distinct names and keys (none the log's
// own key) and a quorum that is a majority of them. An election without
// witnesses would let its server fork the log unseen, so none is allowed.
func (a *BoardAnchors) validate(bad func(string, ...any) error) error {
	if err := bulletin.ValidOrigin(a.Origin); err != nil {
		return bad("log origin: %v", err)
	}
	if err := sig.CheckPublicKey(a.LogKey[:]); err != nil {
		return bad("log key: %v", err)
	}
	if len(a.LogMLDSAKey) != 0 && len(a.LogMLDSAKey) != mldsaKeySize {
		return bad("log ML-DSA-65 key is %d bytes, want %d (or none)", len(a.LogMLDSAKey), mldsaKeySize)
	}
	if len(a.Witnesses) == 0 || len(a.Witnesses) > maxWitnesses {
		return bad("%d witnesses, want 1..%d", len(a.Witnesses), maxWitnesses)
	}
	names := map[string]bool{}
	keys := map[[32]byte]bool{a.LogKey: true}
	for i, x := range a.Witnesses {
		if err := bulletin.ValidOrigin(x.Name); err != nil {
			return bad("witness %d name: %v", i+1, err)
		}
		if names[x.Name] || keys[x.Key] {
			return bad("witness %d (%s) repeats a name or a key", i+1, x.Name)
		}
		names[x.Name], keys[x.Key] = true, true
		if err := sig.CheckPublicKey(x.Key[:]); err != nil {
			return bad("witness %s key: %v", x.Name, err)
		}
	}
	// Honest witnesses do not talk to each other: two disjoint quorums
	// could cosign two histories. A majority quorum makes any two share a
	// witness.
	if int(a.Quorum) > len(a.Witnesses) || 2*int(a.Quorum) <= len(a.Witnesses) {
		return bad("witness quorum %d outside %d..%d: it must be a majority of the %d witnesses", a.Quorum, len(a.Witnesses)/2+1, len(a.Witnesses), len(a.Witnesses))
	}
	return nil
}

// LogVerifier returns the log's checkpoint verifier key as the manifest
// pins it.
func (a *BoardAnchors) LogVerifier() bulletin.LogVerifier {
	v := bulletin.LogVerifier{Origin: a.Origin, Ed25519: a.LogKey}
	if len(a.LogMLDSAKey) > 0 {
		v.MLDSA = bytes.Clone(a.LogMLDSAKey)
	}
	return v
}

// Cosigners returns the witnesses' cosigner keys and the quorum of their
// cosignatures that a checkpoint needs.
func (a *BoardAnchors) Cosigners() ([]bulletin.CosignerKey, int) {
	out := make([]bulletin.CosignerKey, len(a.Witnesses))
	for i, x := range a.Witnesses {
		out[i] = bulletin.CosignerKey{Name: x.Name, Public: x.Key}
	}
	return out, int(a.Quorum)
}

// VerifyCheckpoint verifies a checkpoint note against the anchors: signed
// by the log's keys and cosigned by at least Quorum of the witnesses.
func (a *BoardAnchors) VerifyCheckpoint(note []byte) (bulletin.Checkpoint, error) {
	ws, q := a.Cosigners()
	return bulletin.VerifyCosigned(note, a.LogVerifier(), ws, q)
}

// Contest returns the contest with the given id.
func (m *Manifest) Contest(id string) (*Contest, bool) {
	for i := range m.Contests {
		if m.Contests[i].ID == id {
			return &m.Contests[i], true
		}
	}
	return nil, false
}

// Style returns the ballot style with the given id.
func (m *Manifest) Style(id string) (*BallotStyle, bool) {
	for i := range m.BallotStyles {
		if m.BallotStyles[i].ID == id {
			return &m.BallotStyles[i], true
		}
	}
	return nil, false
}

// Domain tags of the context hashes (spec §1.2, §9.2).
const (
	ManifestHashTag = "evote-v1/manifest-hash"
)

// Hash returns the manifest hash: SHA-256(frame(ManifestHashTag) ||
// frame(Encode())), where frame(x) = u64(len(x)) || x.
func (m *Manifest) Hash() [32]byte {
	return framedHash(ManifestHashTag, m.Encode())
}

// BaseHash returns the election's base hash (spec §9.2, §5.2), the context
// of every key-generation message: over the manifest hash, n, t and the
// trustees' signing and HPKE keys. (crypto/threshold.BaseHash computes the
// same hash with the HPKE keys' validity checked as well.)
func (m *Manifest) BaseHash() ([32]byte, error) {
	n := len(m.Trustees)
	if n == 0 || m.Threshold < 1 || int(m.Threshold) > n {
		return [32]byte{}, fmt.Errorf("%w: threshold %d of %d trustees", ErrInvalidManifest, m.Threshold, n)
	}
	signing := make([][32]byte, n)
	hpke := make([][32]byte, n)
	for i, t := range m.Trustees {
		if len(t.HPKEKey) != hpkeKeySize {
			return [32]byte{}, fmt.Errorf("%w: trustee %d HPKE key is %d bytes, want %d", ErrInvalidManifest, t.Index, len(t.HPKEKey), hpkeKeySize)
		}
		signing[i] = t.SignKey
		copy(hpke[i][:], t.HPKEKey)
	}
	return contexthash.Base(m.Hash(), n, int(m.Threshold), signing, hpke), nil
}

// framedHash returns SHA-256(Σ u64(len(p)) || p) over the tag and parts.
func framedHash(tag string, parts ...[]byte) [32]byte {
	h := sha256.New()
	w := wire.NewWriter(8)
	w.U64(uint64(len(tag)))
	h.Write(w.Bytes())
	h.Write([]byte(tag))
	for _, p := range parts {
		w = wire.NewWriter(8)
		w.U64(uint64(len(p)))
		h.Write(w.Bytes())
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
