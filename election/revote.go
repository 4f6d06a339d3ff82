package election

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/sig"
	"evote/crypto/threshold"
	"evote/crypto/zkp"
	"evote/record"
	"evote/tally"
	"evote/tally/revote"
)

// The rules of an election in deniable re-voting mode (spec chapter 15,
// manifest coercion = 1): no pseudonymous credentials or ballots on the
// board, but slots of rows, the close's padding, depths and marks, the
// filter per ballot style and its roll call, then chapter 9's tally of the
// kept rows with their flags.

// Named refusals of chapter 15 (§15.12). Each wraps ErrRefused.
var (
	// ErrSlotRows: a slot without exactly B_st rows of its style.
	ErrSlotRows = fmt.Errorf("%w: slot does not carry exactly B_st rows", ErrRefused)
	// ErrRow: a row whose credential, proofs or signatures do not verify,
	// or whose ciphertext or device key repeats another's (§15.2, §15.3).
	ErrRow = fmt.Errorf("%w: row refused", ErrRefused)
	// ErrPaddingFlag: a padding row whose flag is not (1, g^2) in clear.
	ErrPaddingFlag = fmt.Errorf("%w: padding row's flag is not (1, g^2) in clear", ErrRefused)
	// ErrRevoteOrder: a chapter 15 entry out of its place in the sequence
	// (tag keys before open; padding, depths and marks at the close; the
	// filter and roll call of one ballot style after another).
	ErrRevoteOrder = fmt.Errorf("%w: entry out of the order of deniable re-voting", ErrRefused)
)

// Share ids of the filter's decryptions (decryption-share entries'
// contest id, spec §15.5 step 4, §15.7).
const (
	ShareTags = "revote-tags"
	ShareRoll = revote.ChainRoll
)

// revoteState is what the rules of chapter 15 keep.
type revoteState struct {
	tagKeys  []*group.Element // Z_j at j − 1; nil until posted
	slotRows map[string]int   // B_st, fixed when voting opens
	styles   []*styleFilter   // in manifest order
	byStyle  map[string]*styleFilter
	current  int                 // the style whose filter and roll call run
	devices  map[[32]byte]bool   // device keys carrying a row
	roll     map[[32]byte]string // identifier → ballot style; nil until posted
}

// A styleFilter is one ballot style's rows and filter (spec §15.4: slots,
// padding and the filter are per ballot style).
type styleFilter struct {
	style  string
	slots  uint32
	rows   revote.RowList // board rows, then padding, encoded; Depth set by the depths entry
	keys   [][32]byte     // device key of each row
	board  int            // N, fixed by the padding entry
	padded bool
	depths bool
	marked bool
	marks  int

	p                *revote.Params
	x, y             *tally.ChainResult
	xp, yp           *tally.MixParams
	xMixers, yMixers []int
	blinded          *shuffle.Rows // the tag list after the valid blinding steps (one column)
	blindedDigest    [32]byte      // blinded.Digest(), the input the next blinding step must name
	blinders         []int
	tagShares        validShares
	filtered         *revote.Result
	roll             *tally.ChainResult
	rollp            *tally.MixParams
	rollMixers       []int
	rollShares       validShares
	voters           int // R, once the roll call is done
	done             bool
	// start and end are the positions of the entries that started the
	// filter and completed its roll call (end 0 while it runs): the
	// culprits between them are this style's (RevoteStyle.Skipped).
	start, end uint64
}

// validShares are the valid decryption shares of one of the filter's
// lists, kept as encoded on the board (a share of a million ballots' tags
// is 240 MB encoded, 1.6 GB decoded), with their trustees.
type validShares struct {
	trustees []int
	enc      [][]byte
}

// Coercion reports whether the election runs in deniable re-voting mode.
func (s *State) Coercion() bool {
	return s.Manifest != nil && s.Manifest.Coercion.Mode == ballot.DeniableRevoting
}

// RevoteStyle is a ballot style's filter as far as the board has gone, for
// the parties that post the next step (the simulation, later the ballot
// box and trustees).
type RevoteStyle struct {
	Style     string
	Slots     uint32
	SlotRows  int             // B_st
	Rows      *revote.RowList // board rows then padding (read only)
	Keys      [][32]byte      // device key of each row
	Board     int             // N
	Padded    bool            // the padding is on the board
	HasDepths bool            // the depths are on the board
	HasMarks  bool            // the marks are on the board
	Params    *revote.Params
	X, Y      *shuffle.Rows // current lists of the two mix chains
	XMixers   []int
	YMixers   []int
	Blinded   *shuffle.Rows // the current tag list, one column (nil before the X and Y chains are complete)
	Blinders  []int
	TagShares int
	Kept      *shuffle.Rows // once filtered
	Roll      *shuffle.Rows // the roll call's current list
	RollMixes []int
	Voters    int
	Done      bool
	// TagShareList holds the valid decryption shares of the tag list (the
	// authority combines them for the filter entry), TagSharers and
	// RollSharers the trustees with a valid share of the tags and of the
	// roll call.
	TagShareList [][]byte // encodings (threshold.DecryptionShare.Bytes)
	TagSharers   []int
	RollSharers  []int
	// Skipped are the steps of this style's filter that the rules skipped
	// as invalid (mixes, blinding steps, shares), each naming its trustee
	// (spec §15.13 step 5): a trustee's tool reads from them that its step
	// is on the board, so that it never posts a second one.
	Skipped []Culprit
}

// RevoteStyles returns the ballot styles' filters, in manifest order.
func (s *State) RevoteStyles() []RevoteStyle {
	if s.rv == nil {
		return nil
	}
	var out []RevoteStyle
	for _, f := range s.rv.styles {
		r := RevoteStyle{Style: f.style, Slots: f.slots, SlotRows: s.rv.slotRows[f.style], Rows: &f.rows, Keys: f.keys, Board: f.board,
			Padded: f.padded, HasDepths: f.depths, HasMarks: f.marked,
			Params: f.p, XMixers: f.xMixers, YMixers: f.yMixers, Blinded: f.blinded, Blinders: f.blinders, TagShares: len(f.tagShares.enc),
			RollMixes: f.rollMixers, Voters: f.voters, Done: f.done, TagShareList: slices.Clone(f.tagShares.enc),
			TagSharers: slices.Clone(f.tagShares.trustees), RollSharers: slices.Clone(f.rollShares.trustees)}
		if f.p != nil {
			for _, c := range s.Culprits {
				if c.Position > f.start && (f.end == 0 || c.Position < f.end) {
					r.Skipped = append(r.Skipped, c)
				}
			}
		}
		if f.x != nil {
			r.X, r.Y = f.x.Output, f.y.Output
		}
		if f.filtered != nil {
			r.Kept = f.filtered.Kept
		}
		if f.roll != nil {
			r.Roll = f.roll.Output
		}
		out = append(out, r)
	}
	return out
}

// RevoteCurrent returns the index of the ballot style whose filter runs.
func (s *State) RevoteCurrent() int {
	if s.rv == nil {
		return -1
	}
	return s.rv.current
}

// RevoteRollPosted reports whether the identity service's roll is on the
// board (the roll call's decryption waits for it, §15.14.2 rule 5).
func (s *State) RevoteRollPosted() bool { return s.rv != nil && s.rv.roll != nil }

// RevoteTagKeys returns the trustees' verified tag keys (nil for one not
// posted).
func (s *State) RevoteTagKeys() []*group.Element {
	if s.rv == nil {
		return nil
	}
	return slices.Clone(s.rv.tagKeys)
}

// initRevote checks a coercion-mode manifest against what these rules
// implement and prepares their state.
func (s *State) initRevote(m *ballot.Manifest) error {
	// A row is (S, C_id, C_f, ballot …) in X (§15.5 step 1): its
	// ciphertexts must fit a list's width, and a multi-select contest's
	// tally list (C_f, x_1 … x_K) too.
	for _, st := range m.BallotStyles {
		if w := 3 + ballotWidth(m, st.Contests); w > shuffle.MaxWidth {
			return refuse("ballot style %s: a row of %d ciphertexts in coercion mode %s (at most %d)", st.ID, w, m.Coercion.Mode, shuffle.MaxWidth)
		}
	}
	rv := &revoteState{tagKeys: make([]*group.Element, len(m.Trustees)), slotRows: map[string]int{}, byStyle: map[string]*styleFilter{}, devices: map[[32]byte]bool{}}
	for _, st := range m.BallotStyles {
		f := &styleFilter{style: st.ID}
		rv.styles = append(rv.styles, f)
		rv.byStyle[st.ID] = f
	}
	s.rv = rv
	return nil
}

// applyRevote applies an entry of a coercion-mode election; handled is
// false for the entry types chapter 9's rules handle as they are.
func (s *State) applyRevote(e *bulletin.Entry) (handled bool, err error) {
	switch e.Type {
	case bulletin.TypeCredentialIssued, bulletin.TypeInPersonMark, bulletin.TypeBallot, bulletin.TypeCleansingResult:
		return true, refuse("%s entries are not part of an election in coercion mode %s (spec §15.3: credentials, ballots and marks are rows of slots; the filter replaces the cleansing)", e.Type, s.Manifest.Coercion.Mode)
	case bulletin.TypeAuditedBallot:
		// As in chapter 9, the audit also opening the row's flag (spec
		// §15.9; ballot.AuditedBallot.Verify reads the mode): its
		// ciphertexts can then never be in a row.
		return true, s.applyAudited(e)
	case bulletin.TypeRevoteCredential:
		return true, refuse("a revote-credential is published inside its row of a slot, never alone (spec §15.2)")
	case bulletin.TypeRevoteTagKey:
		return true, s.applyTagKey(e)
	case bulletin.TypeRevoteSlot:
		return true, s.applySlot(e)
	case bulletin.TypeRevotePadding:
		return true, s.applyPadding(e)
	case bulletin.TypeRevoteDepths:
		return true, s.applyDepths(e)
	case bulletin.TypeRevoteMarks:
		return true, s.applyMarks(e)
	case bulletin.TypeRevoteBlind:
		return true, s.applyBlind(e)
	case bulletin.TypeRevoteFilter:
		return true, s.applyFilter(e)
	case bulletin.TypeRevoteRoll:
		return true, s.applyRoll(e)
	case bulletin.TypeMixOutput:
		if s.Phase == PhaseClosed {
			return true, s.applyRevoteMix(e)
		}
	case bulletin.TypeDecryptionShare:
		if s.Phase == PhaseClosed {
			return true, s.applyRevoteShare(e)
		}
	}
	return false, nil
}

func (s *State) applyTagKey(e *bulletin.Entry) error {
	if s.Phase != PhaseReady {
		return refuseAs(ErrRevoteOrder, "tag keys are posted after the election context and before voting opens (phase %s)", s.Phase)
	}
	k, err := revote.DecodeTagKeyEntry(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if k.Trustee > len(s.Manifest.Trustees) || s.trusteeOf(e.Author) != k.Trustee {
		return refuseAs(ErrWrongAuthor, "tag key of trustee %d not signed by that trustee", k.Trustee)
	}
	if k.Context != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "tag key")
	}
	if s.rv.tagKeys[k.Trustee-1] != nil {
		return refuse("trustee %d already posted a tag key", k.Trustee)
	}
	if err := revote.VerifyTagKey(k.Context, k.Trustee, k.Key, k.Proof); err != nil {
		return refuse("%w", err)
	}
	s.rv.tagKeys[k.Trustee-1] = k.Key
	return nil
}

// openRevote checks, when voting opens, that every trustee posted a tag
// key, and fixes each style's B_st = max(1, ⌈B · listed_st / listed⌉)
// from the voter list as it stands (spec §15.4).
func (s *State) openRevote() error {
	for j, k := range s.rv.tagKeys {
		if k == nil {
			return refuse("cannot open before trustee %d posts its tag key (spec §15.1)", j+1)
		}
	}
	b := uint64(s.Manifest.Coercion.SlotRows)
	for _, st := range s.Manifest.BallotStyles {
		n := uint64(1)
		if s.listTotal > 0 {
			n = max(1, (b*uint64(s.listed[st.ID])+s.listTotal-1)/s.listTotal)
		}
		s.rv.slotRows[st.ID] = int(n)
	}
	return nil
}

// SlotRows returns B_st, fixed when voting opened.
func (s *State) SlotRows(style string) int {
	if s.rv == nil {
		return 0
	}
	return s.rv.slotRows[style]
}

func (s *State) applySlot(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	sl, err := revote.DecodeSlot(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	f, ok := s.rv.byStyle[sl.Style]
	if !ok {
		return refuse("slot of unknown ballot style %q", sl.Style)
	}
	if s.Phase != PhaseOpen && (s.Phase != PhaseClosed || f.padded) {
		return refuseAs(ErrRevoteOrder, "slot of style %s in phase %s (slots are posted while voting is open and after the close until the style's padding)", sl.Style, s.Phase)
	}
	if sl.Context != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "slot")
	}
	if sl.Slot != f.slots {
		return refuseAs(ErrRevoteOrder, "slot %d of style %s, the next is %d", sl.Slot, sl.Style, f.slots)
	}
	if want := s.rv.slotRows[sl.Style]; len(sl.Rows) != want {
		return refuseAs(ErrSlotRows, "slot %d of style %s has %d rows, B_st = %d", sl.Slot, sl.Style, len(sl.Rows), want)
	}
	rows, keys, err := s.checkRows(e.Log, sl.Style, sl.Rows, false)
	if err != nil {
		return err
	}
	if err := s.addRows(f, rows, keys); err != nil {
		return err
	}
	f.slots++
	return nil
}

func (s *State) applyPadding(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	p, err := revote.DecodePadding(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	f, ok := s.rv.byStyle[p.Style]
	if !ok {
		return refuse("padding of unknown ballot style %q", p.Style)
	}
	if s.Phase != PhaseClosed || f.padded {
		return refuseAs(ErrRevoteOrder, "padding of style %s in phase %s or twice (once per style, after the close)", p.Style, s.Phase)
	}
	if p.Context != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "padding")
	}
	if f.slots == 0 {
		return refuseAs(ErrRevoteOrder, "padding of style %s, which has no slot", p.Style)
	}
	m := int(s.Manifest.Coercion.MaxBallots)
	if n := f.rows.Len() + len(p.Rows); n%m != 0 {
		// Every identifier has exactly M rows (spec §15.4).
		return refuse("style %s: %d board rows and %d padding rows are not a multiple of M = %d", p.Style, f.rows.Len(), len(p.Rows), m)
	}
	rows, keys, err := s.checkRows(e.Log, p.Style, p.Rows, true)
	if err != nil {
		return err
	}
	board := f.rows.Len()
	if err := s.addRows(f, rows, keys); err != nil {
		return err
	}
	f.board, f.padded = board, true
	return nil
}

// addRows adds checked rows to the style's filter rows; it refuses, adding
// nothing, rows of another width than the style's first.
func (s *State) addRows(f *styleFilter, rows []revote.Row, keys [][32]byte) error {
	if err := f.rows.Append(rows...); err != nil {
		return refuse("style %s: %w", f.style, err)
	}
	for i := range rows {
		s.rv.devices[keys[i]] = true
		for _, c := range rowCiphertexts(&rows[i]) {
			s.ciphertexts.put(revote.CiphertextKey(c), s.Size)
		}
	}
	f.keys = append(f.keys, keys...)
	return nil
}

// rowCiphertexts are the ciphertexts of a row that no other row may
// repeat (spec §15.2 rule 4): C_id, the ballot's and C_f but a padding
// row's, which is the same (1, g^2) in every padding row.
func rowCiphertexts(r *revote.Row) []*elgamal.Ciphertext {
	cts := append([]*elgamal.Ciphertext{r.ID}, r.Ballot...)
	if !r.Flag.Equal(revote.PaddingFlag()) {
		cts = append(cts, r.Flag)
	}
	return cts
}

// RowCiphertextKeys returns the keys (revote.CiphertextKey) of the
// ciphertexts of a cast row that no other row may repeat (spec §15.2 rule
// 4): the ballot box refuses a row repeating one of a row it has queued,
// which the rules would refuse in the slot holding both.
func RowCiphertextKeys(r *revote.SignedRow) [][32]byte {
	cts := rowCiphertexts(&revote.Row{ID: r.Cred.ID, Flag: r.Flag, Ballot: r.B.Ciphertexts()})
	keys := make([][32]byte, len(cts))
	for i, c := range cts {
		keys[i] = revote.CiphertextKey(c)
	}
	return keys
}

// RowChecker makes the checks of a row that depend only on what is fixed
// once voting opens (spec §15.14.2 rule 3): the credential, its
// signature and key id, π_id, the ballot's and the flag's proofs, the
// device's signature. It reads no mutable state, so the ballot box runs
// it outside its lock; the board checks (device key, ciphertexts) are
// CheckRevoteRowOnBoard's.
type RowChecker struct {
	electionID  string
	ext         [32]byte
	identityKey [32]byte
	keys        *record.IdentityKeySet
	el          *ballot.Election
}

// RevoteRowChecker returns the row checker of the state as it is (nil
// before the election context and the identity key set).
func (s *State) RevoteRowChecker() *RowChecker {
	if s.Manifest == nil || s.Context == nil || s.IdentityKeys == nil {
		return nil
	}
	return &RowChecker{electionID: s.Manifest.ElectionID, ext: s.Context.ExtendedHash, identityKey: s.Manifest.IdentityKey, keys: s.IdentityKeys, el: s.Election()}
}

// check makes the checks of row r (named name in errors) of the style
// but its proofs, which it adds to batch.
func (c *RowChecker) check(log bulletin.LogID, style string, r *revote.SignedRow, padding bool, batch *zkp.Batch, name string) error {
	cr := r.Cred
	if cr.ElectionID != c.electionID || cr.Context != c.ext {
		return refuseAs(ErrWrongContext, "%s's credential", name)
	}
	if cr.Style != style {
		return refuseAs(ErrRow, "%s: credential for style %s in a row of style %s", name, cr.Style, style)
	}
	if _, ok := c.keys.Key(cr.KeyID); !ok {
		return refuseAs(ErrRow, "%s: credential names token key %q, absent from the identity key set", name, cr.KeyID)
	}
	ce := &bulletin.Entry{Version: bulletin.EntryVersion, Log: log, Type: bulletin.TypeRevoteCredential, Author: c.identityKey, Payload: r.Credential, Signature: r.CredentialSig}
	if err := ce.Verify(); err != nil {
		return refuseAs(ErrRow, "%s: the identity service's signature of the credential: %w", name, err)
	}
	dev := cr.DeviceKey
	b := r.B
	if b.CredentialKey != dev || b.Style != style || b.ElectionID != c.electionID {
		return refuseAs(ErrRow, "%s: ballot of another credential, style or election", name)
	}
	if padding {
		if !r.Flag.Equal(revote.PaddingFlag()) || len(r.FlagProof) != 0 {
			return refuseAs(ErrPaddingFlag, "padding %s", name)
		}
	} else if len(r.FlagProof) == 0 {
		return refuseAs(ErrRow, "%s: no flag proof", name)
	}
	if err := sig.Verify(dev[:], revote.RowMessage(log, r), r.DeviceSig[:]); err != nil {
		return refuseAs(ErrRow, "%s: device signature: %w", name, err)
	}
	if err := c.addRowProofs(batch, name, r); err != nil {
		return refuseAs(ErrRow, "%s: %w", name, err)
	}
	return nil
}

// Check makes the stateless checks of a slot row of its credential's
// style, proofs included.
func (c *RowChecker) Check(log bulletin.LogID, r *revote.SignedRow) error {
	if r == nil || r.Cred == nil || r.B == nil {
		return refuseAs(ErrRow, "row not decoded")
	}
	batch := zkp.NewBatch()
	if err := c.check(log, r.Cred.Style, r, false, batch, "row"); err != nil {
		return err
	}
	if err := batch.Verify(); err != nil {
		return refuseAs(ErrRow, "row: proofs: %w", err)
	}
	return nil
}

// checkRows checks the rows of a slot or padding entry of the style
// (spec §15.2, §15.3) and returns them as the filter reads them (without
// depth) with their device keys.
func (s *State) checkRows(log bulletin.LogID, style string, in []*revote.SignedRow, padding bool) ([]revote.Row, [][32]byte, error) {
	c := s.RevoteRowChecker()
	if c == nil {
		return nil, nil, refuseAs(ErrRevoteOrder, "rows before the election context and the identity key set")
	}
	seen := map[[32]byte]bool{}
	rows := make([]revote.Row, 0, len(in))
	keys := make([][32]byte, 0, len(in))
	batch := zkp.NewBatch()
	for i, r := range in {
		// The proofs go in one batch (§4.2); if it fails, each row is
		// checked alone to name the first bad one.
		if err := c.check(log, style, r, padding, batch, fmt.Sprintf("row %d", i)); err != nil {
			return nil, nil, err
		}
		dev := r.Cred.DeviceKey
		if s.rv.devices[dev] || seen[dev] {
			return nil, nil, refuseAs(ErrRow, "row %d: device key already carries a row (a credential carries at most one)", i)
		}
		seen[dev] = true
		rows = append(rows, revote.Row{ID: r.Cred.ID, Flag: r.Flag, Ballot: r.B.Ciphertexts()})
		keys = append(keys, dev)
	}
	if err := batch.Verify(); err != nil {
		for i, r := range in {
			one := zkp.NewBatch()
			err := c.addRowProofs(one, "row", r)
			if err == nil {
				err = one.Verify()
			}
			if err != nil {
				return nil, nil, refuseAs(ErrRow, "row %d: proofs: %w", i, err)
			}
		}
		return nil, nil, refuseAs(ErrRow, "proofs: %w", err)
	}
	if err := s.checkRowCiphertexts(rows); err != nil {
		return nil, nil, err
	}
	return rows, keys, nil
}

// checkRowCiphertexts refuses rows whose ciphertexts repeat one on the
// board or one of another of the rows (spec §15.2 rule 4).
func (s *State) checkRowCiphertexts(rows []revote.Row) error {
	local := map[[32]byte]int{}
	for i := range rows {
		for _, c := range rowCiphertexts(&rows[i]) {
			k := revote.CiphertextKey(c)
			if p, dup := s.ciphertexts.get(k); dup {
				return refuseAs(ErrRow, "row %d: a ciphertext repeats one of entry %d", i, p)
			}
			if j, dup := local[k]; dup {
				return refuseAs(ErrRow, "row %d: a ciphertext repeats one of row %d", i, j)
			}
			local[k] = i
		}
	}
	return nil
}

// addRowProofs adds a row's proofs to batch: the credential's π_id, the
// ballot's proofs (§9.3) and, in a slot row, the flag's range proof.
func (c *RowChecker) addRowProofs(batch *zkp.Batch, name string, r *revote.SignedRow) error {
	ext, dev := c.ext, r.Cred.DeviceKey
	r.Cred.Proof.AddToBatch(batch, name+" identifier proof", revote.IDProofContext(ext, dev), group.NewGeneratorElement(), &r.Cred.ID.A)
	if err := c.el.AddToBatch(batch, r.B, name+" ballot"); err != nil {
		return err
	}
	if len(r.FlagProof) == 0 {
		return nil
	}
	p, err := parseFlagProof(r.FlagProof)
	if err != nil {
		return err
	}
	pk := c.el.PublicKey
	g, h := batch.Shared(group.NewGeneratorElement()), batch.Shared(pk.Element())
	return p.AddToBatch(batch, name+" flag proof", revote.FlagProofContext(ext, dev), &zkp.RangeStatement{PK: pk, Ciphertext: r.Flag, Max: 1}, g, h)
}

func (s *State) applyDepths(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	d, err := revote.DecodeDepths(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	f, ok := s.rv.byStyle[d.Style]
	if !ok {
		return refuse("depths of unknown ballot style %q", d.Style)
	}
	if s.Phase != PhaseClosed || !f.padded || f.depths {
		return refuseAs(ErrRevoteOrder, "depths of style %s before its padding or twice", d.Style)
	}
	if d.Context != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "depths")
	}
	m := int(s.Manifest.Coercion.MaxBallots)
	if d.MaxDepth != m {
		return refuse("depths proven for M = %d, the manifest's is %d", d.MaxDepth, m)
	}
	if len(d.Rows) != f.rows.Len() {
		return refuse("style %s: %d depths for %d filter rows", d.Style, len(d.Rows), f.rows.Len())
	}
	seen := map[[32]byte]bool{}
	batch := zkp.NewBatch()
	g, h := batch.Shared(group.NewGeneratorElement()), batch.Shared(s.PublicKey.Element())
	for i, x := range d.Rows {
		st := revote.DepthStatement(s.PublicKey, x.Depth, m)
		if err := x.Proof.AddToBatch(batch, fmt.Sprintf("row %d depth", i), revote.DepthProofContext(s.Context.ExtendedHash, f.keys[i]), st, g, h); err != nil {
			return refuse("row %d: %w", i, err)
		}
	}
	if err := batch.Verify(); err != nil {
		for i, x := range d.Rows {
			if err := revote.VerifyDepth(s.PublicKey, revote.DepthProofContext(s.Context.ExtendedHash, f.keys[i]), x.Depth, m, x.Proof); err != nil {
				return refuse("row %d: %w", i, err)
			}
		}
		return refuse("depth proofs: %w", err)
	}
	for i, x := range d.Rows {
		k := revote.CiphertextKey(x.Depth)
		if _, dup := s.ciphertexts.get(k); dup || seen[k] {
			return refuse("row %d: depth ciphertext repeats another", i)
		}
		seen[k] = true
	}
	for i, x := range d.Rows {
		f.rows.SetDepth(i, x.Depth)
		s.ciphertexts.put(revote.CiphertextKey(x.Depth), s.Size)
	}
	f.depths = true
	return nil
}

func (s *State) applyMarks(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	ms, err := revote.DecodeMarks(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	f, ok := s.rv.byStyle[ms.Style]
	if !ok {
		return refuse("marks of unknown ballot style %q", ms.Style)
	}
	if s.Phase != PhaseClosed || !f.depths || f.marked {
		return refuseAs(ErrRevoteOrder, "marks of style %s before its depths or twice", ms.Style)
	}
	if ms.Context != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "marks")
	}
	for i := range ms.Marks {
		k := &ms.Marks[i]
		if int(k.Row) >= f.board {
			return refuse("mark of row %d, style %s has %d board rows", k.Row, ms.Style, f.board)
		}
		flag, err := f.rows.Flag(int(k.Row))
		if err != nil {
			return refuse("mark of row %d: %w", k.Row, err)
		}
		if err := s.CheckMark(ms.Style, f.keys[k.Row], flag, k); err != nil {
			return fmt.Errorf("mark of row %d: %w", k.Row, err)
		}
	}
	f.marks, f.marked = len(ms.Marks), true
	if err := s.nextFilter(); err != nil {
		f.marks, f.marked = 0, false
		return err
	}
	return nil
}

// CheckPolling checks that the polling station and the official are
// registered on the board (spec/08-identity.md §8.8.6) with exactly these
// keys: ErrUnregisteredStation or ErrUnregisteredOfficial otherwise. It
// is the registration check of an in-person mark in either mode, which a
// polling station's device also makes before it marks a voter.
func (s *State) CheckPolling(stationID string, stationKey [32]byte, officialID string, officialKey [32]byte) error {
	if k, ok := s.stations[stationID]; !ok || k != stationKey {
		return refuseAs(ErrUnregisteredStation, "station %q", stationID)
	}
	if k, ok := s.pollers[officialID]; !ok || k != officialKey {
		return refuseAs(ErrUnregisteredOfficial, "official %q", officialID)
	}
	return nil
}

// CheckMark checks an in-person mark's opening against the row it opens
// (its ballot style, device key and flag): the station and the official
// registered on the board with the keys named, both signatures over
// revote.MarkStatement, and the flag an encryption of 0 with the
// randomness given (spec §15.14.2 rule 4). k.Row is not read. The ballot
// box checks a mark with it when it accepts the row, so that it never
// accepts a mark that its revote-marks entry would then see refused.
func (s *State) CheckMark(style string, deviceKey [32]byte, flag *elgamal.Ciphertext, k *revote.Mark) error {
	if err := s.CheckPolling(k.StationID, k.StationKey, k.OfficialID, k.OfficialKey); err != nil {
		return err
	}
	stmt := revote.MarkStatement(s.Context.ExtendedHash, style, deviceKey, k.StationID, k.OfficialID)
	if sig.Verify(k.StationKey[:], stmt, k.StationSig[:]) != nil || sig.Verify(k.OfficialKey[:], stmt, k.OfficialSig[:]) != nil {
		return refuseAs(ErrSignature, "the mark's station or official signature")
	}
	if k.Randomness == nil || !s.PublicKey.EncryptWithRandomness(new(group.Scalar), k.Randomness).Equal(flag) {
		return refuse("the row's flag is not an encryption of 0 with the randomness given")
	}
	return nil
}

func (s *State) applyRoll(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Manifest.IdentityKey, "identity service"); err != nil {
		return err
	}
	if s.Phase != PhaseClosed || s.rv.roll != nil {
		return refuseAs(ErrRevoteOrder, "the roll is posted once, after the close")
	}
	l, err := revote.DecodeRoll(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if l.Context != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "roll")
	}
	counts := map[string]uint32{}
	roll := make(map[[32]byte]string, len(l.Voters))
	for _, v := range l.Voters {
		if _, ok := s.rv.byStyle[v.Style]; !ok {
			return refuse("roll lists ballot style %q", v.Style)
		}
		counts[v.Style]++
		roll[[32]byte(v.ID.Bytes())] = v.Style
	}
	for _, st := range s.Manifest.BallotStyles {
		if counts[st.ID] != s.listed[st.ID] {
			return refuse("roll lists %d voters of style %s, the voter list %d", counts[st.ID], st.ID, s.listed[st.ID])
		}
	}
	s.rv.roll = roll
	return nil
}

// currentFilter returns the style whose filter runs, once its padding,
// depths and marks are on the board.
func (s *State) currentFilter() (*styleFilter, error) {
	if s.rv.current >= len(s.rv.styles) {
		return nil, refuseAs(ErrRevoteOrder, "every ballot style's filter and roll call is done")
	}
	f := s.rv.styles[s.rv.current]
	if !f.marked {
		return nil, refuseAs(ErrRevoteOrder, "style %s's filter starts after its padding, depths and marks", f.style)
	}
	return f, nil
}

// nextFilter starts the current style's filter once its padding, depths
// and marks are on the board: its lists and chains, which the trustees
// read from the state (RevoteStyles).
func (s *State) nextFilter() error {
	if s.rv.current >= len(s.rv.styles) {
		return nil
	}
	f := s.rv.styles[s.rv.current]
	if !f.marked || f.p != nil {
		return nil
	}
	return s.startFilter(f)
}

func (s *State) startFilter(f *styleFilter) error {
	m := s.Manifest
	f.start = s.Size
	f.p = &revote.Params{
		ElectionID: m.ElectionID, Style: f.style, Context: s.Context.ExtendedHash, PublicKey: s.PublicKey,
		Threshold:        threshold.Params{N: len(m.Trustees), T: int(m.Threshold)},
		VerificationKeys: s.Context.VerificationKeys, TagKeys: s.rv.tagKeys,
		Mixes: int(m.Mixes), MaxDepth: int(m.Coercion.MaxBallots),
	}
	x, y, err := f.rows.Lists()
	if err != nil {
		return refuse("%w", err)
	}
	f.x, f.y = tally.NewChain(x), tally.NewChain(y)
	f.xp = f.p.MixParams(revote.ChainX).WithGenerators(x.Len())
	f.yp = f.p.MixParams(revote.ChainY)
	f.yp.Generators = f.xp.Generators
	return nil
}

func (s *State) applyRevoteMix(e *bulletin.Entry) error {
	m, err := tally.DecodeMixEntry(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	trustee := s.trusteeOf(e.Author)
	if trustee == 0 || int(m.Mixer) != trustee {
		return refuseAs(ErrWrongAuthor, "mix for trustee %d not signed by that trustee", m.Mixer)
	}
	if m.ElectionID != s.Manifest.ElectionID {
		return refuse("mix for election %q", m.ElectionID)
	}
	f, err := s.currentFilter()
	if err != nil {
		return err
	}
	var chain *tally.ChainResult
	var p *tally.MixParams
	var mixers *[]int
	switch m.ContestID {
	case revote.ChainX, revote.ChainY:
		if f.blinded != nil {
			return refuseAs(ErrRevoteOrder, "mix of %s after the blinding began", m.ContestID)
		}
		chain, p, mixers = f.x, f.xp, &f.xMixers
		if m.ContestID == revote.ChainY {
			chain, p, mixers = f.y, f.yp, &f.yMixers
		}
	case revote.ChainRoll:
		if f.filtered == nil {
			return refuseAs(ErrRevoteOrder, "roll-call mix before style %s's filter", f.style)
		}
		if len(f.rollShares.enc) > 0 {
			return refuseAs(ErrRevoteOrder, "roll-call mix after its decryption began")
		}
		chain, p, mixers = f.roll, f.rollp, &f.rollMixers
	default:
		return refuse("mix of %q while the filter runs", m.ContestID)
	}
	if m.Input != chain.InputDigest() {
		return refuse("mix of %s does not take the current list as input (another mix came first)", m.ContestID)
	}
	if slices.Contains(*mixers, trustee) {
		return refuse("trustee %d already has a valid mix of %s", trustee, m.ContestID)
	}
	if err := chain.Step(p, int(s.Size), m); err != nil {
		s.Culprits = append(s.Culprits, Culprit{Position: s.Size, Type: bulletin.TypeMixOutput, Trustee: trustee, Contest: m.ContestID, Reason: err.Error(), Err: err})
		return nil
	}
	*mixers = append(*mixers, trustee)
	return nil
}

func (s *State) applyBlind(e *bulletin.Entry) error {
	if s.Phase != PhaseClosed {
		return refuseAs(ErrRevoteOrder, "blinding in phase %s", s.Phase)
	}
	b, err := revote.DecodeBlindEntry(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	trustee := s.trusteeOf(e.Author)
	if trustee == 0 || b.Step.Trustee != trustee {
		return refuseAs(ErrWrongAuthor, "blinding by trustee %d not signed by that trustee", b.Step.Trustee)
	}
	f, err := s.currentFilter()
	if err != nil {
		return err
	}
	if b.Style != f.style {
		return refuseAs(ErrRevoteOrder, "blinding of style %s while style %s's filter runs", b.Style, f.style)
	}
	if b.Step.Context != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "blinding")
	}
	if len(f.tagShares.enc) > 0 {
		return refuseAs(ErrRevoteOrder, "blinding after the tags' decryption began")
	}
	if f.blinded == nil {
		if err := f.x.Complete(f.p.Mixes); err != nil {
			return refuseAs(ErrRevoteOrder, "blinding before the X list is mixed: %w", err)
		}
		if err := f.y.Complete(f.p.Mixes); err != nil {
			return refuseAs(ErrRevoteOrder, "blinding before the Y list is mixed: %w", err)
		}
		list, err := revote.TagList(f.x.Output, f.y.Output)
		if err != nil {
			return refuse("%w", err)
		}
		f.blinded, f.blindedDigest = list, list.Digest()
	}
	if slices.Contains(f.blinders, trustee) {
		return refuse("trustee %d already blinded style %s's tags", trustee, f.style)
	}
	if b.Input != f.blindedDigest {
		return refuse("blinding of style %s does not take the current tag list as input (another blinding came first)", f.style)
	}
	// A failed step is the trustee's fault: it stays on the board, named,
	// and the next blinder starts from the last valid list (§15.13 step 5).
	if err := revote.VerifyBlind(f.p.Context, s.rv.tagKeys[trustee-1], f.blinded, b.Step); err != nil {
		s.Culprits = append(s.Culprits, Culprit{Position: s.Size, Type: bulletin.TypeRevoteBlind, Trustee: trustee, Contest: ShareTags, Reason: err.Error(), Err: err})
		return nil
	}
	f.blinded, f.blindedDigest = b.Step.Out, b.Step.Out.Digest()
	f.blinders = append(f.blinders, trustee)
	return nil
}

func (s *State) applyRevoteShare(e *bulletin.Entry) error {
	d, err := tally.DecodeDecryptionEntry(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	trustee := s.trusteeOf(e.Author)
	if trustee == 0 || d.Share.Trustee != trustee {
		return refuseAs(ErrWrongAuthor, "decryption share for trustee %d not signed by that trustee", d.Share.Trustee)
	}
	if d.ElectionID != s.Manifest.ElectionID || d.Kind != tally.TargetMixed {
		return refuse("decryption share for %q, kind %d", d.ElectionID, d.Kind)
	}
	f, err := s.currentFilter()
	if err != nil {
		return err
	}
	var list *shuffle.Rows
	var shares *validShares
	switch d.ContestID {
	case ShareTags:
		if f.filtered != nil || len(f.blinders) < f.p.Threshold.T {
			return refuseAs(ErrRevoteOrder, "decryption of style %s's tags with %d valid blinding steps (at least %d) or after its filter", f.style, len(f.blinders), f.p.Threshold.T)
		}
		list, shares = f.blinded, &f.tagShares
	case ShareRoll:
		if f.roll == nil || f.roll.Complete(f.p.Mixes) != nil {
			return refuseAs(ErrRevoteOrder, "decryption of style %s's roll call before it is mixed", f.style)
		}
		if s.rv.roll == nil {
			return refuseAs(ErrRevoteOrder, "decryption of the roll call before the roll is posted")
		}
		list, shares = f.roll.Output, &f.rollShares
	default:
		return refuse("decryption share of %q while the filter runs", d.ContestID)
	}
	// Trustees decrypt only the lists the rules derive from verified steps
	// (spec §15.5 step 4): nothing else is accepted.
	if d.Target != tally.TargetDigestRows(list) {
		return refuse("decryption share is not of style %s's current %s list", f.style, d.ContestID)
	}
	if slices.Contains(shares.trustees, trustee) {
		return refuse("trustee %d already posted a valid share of %s", trustee, d.ContestID)
	}
	cl, err := threshold.NewEncodedCiphertextList(list.Encoding())
	if err != nil {
		return refuse("%w", err)
	}
	if err := cl.VerifyShare(s.Context.ExtendedHash, s.Context.VerificationKeys, d.Share, d.ShareBytes()); err != nil {
		s.Culprits = append(s.Culprits, Culprit{Position: s.Size, Type: bulletin.TypeDecryptionShare, Trustee: trustee, Contest: d.ContestID, Reason: err.Error(), Err: err})
		return nil
	}
	shares.trustees = append(shares.trustees, trustee)
	shares.enc = append(shares.enc, bytes.Clone(d.ShareBytes()))
	if d.ContestID == ShareRoll && len(f.rollShares.enc) == f.p.Threshold.T {
		return s.finishRollCall(f, list)
	}
	return nil
}

func parseFlagProof(b []byte) (*zkp.RangeProof, error) { return zkp.ParseRangeProof(b, 1) }

// finishRollCall applies the roll call's rules (spec §15.7) once t valid
// shares are on the board: distinct identifiers, the dummy rule, every
// real identifier on the roll with this style; then the next style's
// filter may start. A failure refuses the share that completes it (the
// state is left as it was).
func (s *State) finishRollCall(f *styleFilter, list *shuffle.Rows) error {
	ids, err := revote.DecryptList(f.p, list, f.rollShares.enc)
	if err == nil {
		f.voters, err = revote.CheckRollCall(f.p.ElectionID, f.style, ids, f.board, f.p.MaxDepth)
	}
	if err == nil {
		dummies := map[[32]byte]bool{}
		for i := 1; i <= len(ids)-f.voters; i++ {
			dummies[[32]byte(revote.DummyID(f.p.ElectionID, f.style, uint64(i)).Bytes())] = true
		}
		for _, v := range ids {
			k := [32]byte(v.Bytes())
			if st, ok := s.rv.roll[k]; ok && st != f.style {
				err = fmt.Errorf("%w: an identifier of the roll's style %s kept in style %s", revote.ErrRollCall, st, f.style)
				break
			}
			if _, ok := s.rv.roll[k]; !ok && !dummies[k] {
				err = fmt.Errorf("%w: a kept identifier is neither on the roll nor a dummy voter of style %s", revote.ErrRollCall, f.style)
				break
			}
		}
	}
	if err == nil && f.marks > f.voters {
		err = fmt.Errorf("%w: %d marks opened for %d voters", revote.ErrFlags, f.marks, f.voters)
	}
	if err != nil {
		f.rollShares.trustees = f.rollShares.trustees[:len(f.rollShares.trustees)-1]
		f.rollShares.enc = f.rollShares.enc[:len(f.rollShares.enc)-1]
		return refuse("style %s's roll call: %w", f.style, err)
	}
	f.done, f.end = true, s.Size
	s.rv.current++
	return s.nextFilter()
}

func (s *State) applyFilter(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	if s.Phase != PhaseClosed {
		return refuseAs(ErrRevoteOrder, "filter in phase %s", s.Phase)
	}
	fl, err := revote.DecodeFilter(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	f, err := s.currentFilter()
	if err != nil {
		return err
	}
	if fl.Style != f.style || f.filtered != nil {
		return refuseAs(ErrRevoteOrder, "filter of style %s while style %s's filter runs, or twice", fl.Style, f.style)
	}
	if fl.Context != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "filter")
	}
	if int(fl.Board) != f.board {
		return refuse("filter states %d board rows, style %s's slots hold %d", fl.Board, f.style, f.board)
	}
	if len(f.tagShares.enc) < f.p.Threshold.T {
		return refuseAs(ErrRevoteOrder, "filter with %d valid decryption shares of the tags, %d needed", len(f.tagShares.enc), f.p.Threshold.T)
	}
	res, err := revote.Conclude(f.p, f.x.Output, f.blinded, f.tagShares.enc, fl.Kept)
	if err != nil {
		return refuse("style %s: %w", f.style, err)
	}
	in, err := revote.RollCallList(res.Kept)
	if err != nil {
		return refuse("%w", err)
	}
	f.filtered = res
	f.roll = tally.NewChain(in)
	f.rollp = f.p.MixParams(revote.ChainRoll).WithGenerators(in.Len())
	return nil
}

// ErrFilterNotReady is returned by ComputeRevoteFilter while no style's
// filter entry is due.
var ErrFilterNotReady = errors.New("election: no filter entry is due")

// ComputeRevoteFilter computes the authority's revote-filter entry for the
// ballot style whose filter runs (spec §15.5 step 5): the tags combined
// from the first t valid decryption shares of its last blinded list, and
// the kept positions revote.Select gives them. It returns
// ErrFilterNotReady unless those shares are on the board and the style's
// filter entry is not. The ballot box's authority posts it (§15.13 step
// 4); the rules then check it with revote.Conclude.
func (s *State) ComputeRevoteFilter() (*revote.Filter, error) {
	if !s.Coercion() || s.Phase != PhaseClosed || s.rv.current >= len(s.rv.styles) {
		return nil, fmt.Errorf("%w: phase %s", ErrFilterNotReady, s.Phase)
	}
	f := s.rv.styles[s.rv.current]
	if f.p == nil || f.filtered != nil || len(f.tagShares.enc) < f.p.Threshold.T {
		return nil, fmt.Errorf("%w: style %s has %d valid decryption shares of its tags (%d needed) or its filter entry", ErrFilterNotReady, f.style, len(f.tagShares.enc), s.Manifest.Threshold)
	}
	tags := make([]byte, 0, f.blinded.Len()*group.ElementSize)
	err := threshold.CombineEncoded(f.p.Threshold, f.blinded.Encoding(), f.tagShares.enc[:f.p.Threshold.T], func(_ int, ms []*group.Element) error {
		for _, m := range ms {
			tags = m.AppendBytes(tags)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("election: style %s's tags: %w", f.style, err)
	}
	kept, err := revote.SelectEncoded(tags)
	if err != nil {
		return nil, fmt.Errorf("election: style %s's filter: %w", f.style, err)
	}
	return &revote.Filter{Context: s.Context.ExtendedHash, Style: f.style, Board: uint32(f.board), Kept: kept}, nil
}

// finishRevote is the start of the tally (the transition to mixing): every
// style's filter and roll call done; each contest's list is made of the
// kept rows of the styles that hold it (spec §15.5 step 6): (flag,
// choice) pairs for a single-choice contest, rows (flag, x_1 … x_K) for a
// multi-select one, whose flags are decrypted before its sums
// (ContestTally.TwoRound). Its ballots are the styles' R minus their
// opened marks.
func (s *State) finishRevote() error {
	for _, f := range s.rv.styles {
		if !f.done {
			return refuseAs(ErrRevoteOrder, "cannot start the tally before style %s's filter and roll call", f.style)
		}
	}
	s.Tally = nil
	for i := range s.Manifest.Contests {
		c := &s.Manifest.Contests[i]
		ct := &ContestTally{Contest: c, Shares: map[int][]byte{}, twoRound: c.Kind == ballot.MultiSelect}
		var parts []*shuffle.Rows
		for _, f := range s.rv.styles {
			st, _ := s.Manifest.Style(f.style)
			at := slices.Index(st.Contests, c.ID)
			if at < 0 {
				continue
			}
			ct.Ballots += uint64(f.voters - f.marks)
			// The kept rows are (C_id, C_f, ballot …): the contest's
			// ciphertexts start after the ballot's earlier contests.
			k := f.filtered.Kept
			col := 2 + ballotWidth(s.Manifest, st.Contests[:at])
			if ct.twoRound {
				flags, err := k.Sub(nil, 1, 2)
				if err != nil {
					return refuse("%w", err)
				}
				xs, err := k.Sub(nil, col, col+len(c.Candidates))
				if err != nil {
					return refuse("%w", err)
				}
				part, err := shuffle.Join(flags, xs)
				if err != nil {
					return refuse("%w", err)
				}
				parts = append(parts, part)
				continue
			}
			for r := 0; r < k.Len(); r++ {
				flag, err := k.Ciphertext(r, 1)
				if err != nil {
					return refuse("%w", err)
				}
				choice, err := k.Ciphertext(r, col)
				if err != nil {
					return refuse("%w", err)
				}
				ct.Input = append(ct.Input, flag, choice)
			}
		}
		ct.Withheld = ct.Ballots < uint64(s.Manifest.MinAnonymity)
		ct.current = ct.Input
		var rows *shuffle.Rows
		switch {
		case ct.twoRound && len(parts) > 0:
			var err error
			if rows, err = shuffle.Concat(parts...); err != nil {
				return refuse("%w", err)
			}
			ct.input = rows
		case !ct.twoRound && len(ct.Input) > 0:
			var err error
			if rows, err = shuffle.NewRows(2, ct.Input); err != nil {
				return refuse("%w", err)
			}
		}
		if !ct.Withheld && rows != nil && rows.Len() > 0 {
			ct.chain = tally.NewChain(rows)
		}
		s.Tally = append(s.Tally, ct)
	}
	return nil
}

// ballotWidth is the number of ciphertexts of the contests ids of a
// ballot: one for a single-choice contest, one per candidate for a
// multi-select one (§9.3).
func ballotWidth(m *ballot.Manifest, ids []string) int {
	w := 0
	for _, id := range ids {
		c, _ := m.Contest(id)
		if c.Kind == ballot.MultiSelect {
			w += len(c.Candidates)
		} else {
			w++
		}
	}
	return w
}

// countFlagged counts a contest's decrypted (flag, choice) pairs (spec
// §15.5 step 6) and returns the counts and the number n of rows counted:
// only rows with f = 1 count; a kept padding row (f = 2) or any other flag
// is refused, and n may not exceed the contest's ballots (its styles' R
// minus their marks), so that a dummy row counted as a ballot is caught
// (revote.CheckFlags, summed over the styles). Fewer is a voter whose own
// device flagged its last row f = 0: that voter cast no vote, and the
// tally goes on (equality would let any voter halt it).
func countFlagged(values []uint64, k int, ballots uint64) ([]uint64, uint64, error) {
	counts := make([]uint64, k+1)
	var n uint64
	for i := 0; i+1 < len(values); i += 2 {
		switch values[i] {
		case revote.FlagBallot:
			if values[i+1] > uint64(k) {
				return nil, 0, fmt.Errorf("tally: decrypted value %d at row %d outside [0, %d]", values[i+1], i/2, k)
			}
			counts[values[i+1]]++
			n++
		case revote.FlagNone:
		case revote.FlagPadding:
			return nil, 0, fmt.Errorf("%w: kept row %d is padding", revote.ErrFlags, i/2)
		default:
			return nil, 0, fmt.Errorf("%w: kept row %d has flag %d", revote.ErrFlags, i/2, values[i])
		}
	}
	if n > ballots {
		return nil, 0, fmt.Errorf("%w: %d rows with f = 1, the roll calls give at most %d online ballots", revote.ErrFlags, n, ballots)
	}
	return counts, n, nil
}

// CheckRevoteRowOnBoard makes the checks of a cast row against the board
// that RowChecker does not (spec §15.14.2 rule 3): voting open, a style
// of the manifest, a device key that carries no row, no ciphertext
// already on the board. The ballot box runs RowChecker.Check outside its
// lock, then this under it.
func (s *State) CheckRevoteRowOnBoard(r *revote.SignedRow) error {
	if !s.Coercion() || s.rv == nil {
		return refuse("not an election in deniable re-voting mode")
	}
	if s.Phase != PhaseOpen {
		return refuseAs(ErrRevoteOrder, "a row cast in phase %s (voting is not open)", s.Phase)
	}
	if r == nil || r.Cred == nil || r.B == nil {
		return refuseAs(ErrRow, "row not decoded")
	}
	if _, ok := s.rv.byStyle[r.Cred.Style]; !ok {
		return refuseAs(ErrRow, "row of unknown ballot style %q", r.Cred.Style)
	}
	if s.rv.devices[r.Cred.DeviceKey] {
		return refuseAs(ErrRow, "device key already carries a row (a credential carries at most one)")
	}
	return s.checkRowCiphertexts([]revote.Row{{ID: r.Cred.ID, Flag: r.Flag, Ballot: r.B.Ciphertexts()}})
}

// RevoteHasDevice reports whether a row of the board (a slot or padding)
// carries device key dev.
func (s *State) RevoteHasDevice(dev [32]byte) bool {
	return s.rv != nil && s.rv.devices[dev]
}

// RegisteredStation and RegisteredOfficial return the key a polling
// station or polling official is registered with on the board (§8.8.6).
func (s *State) RegisteredStation(id string) ([32]byte, bool) {
	k, ok := s.stations[id]
	return k, ok
}

// RegisteredOfficial: see RegisteredStation.
func (s *State) RegisteredOfficial(id string) ([32]byte, bool) {
	k, ok := s.pollers[id]
	return k, ok
}
