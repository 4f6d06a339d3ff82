package revote

import (
	"bytes"
	"fmt"
	"slices"

	"evote/ballot/revoterow"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/wire"
	"evote/record"
)

// The payloads of the board entries of deniable re-voting (spec §7.2.3,
// §15.13 step 2). Each has one canonical encoding: decoding refuses
// trailing bytes, non-canonical elements, scalars and proofs, and counts
// beyond the limits below; decode-then-encode is the identity on accepted
// inputs.

const entryFormat = 1

// Limits of the lists these entries carry.
const (
	// MaxSlotRows bounds the rows of a slot or padding entry (the manifest's
	// slot_rows B ≤ 2^20; a padding entry has at most M − 1 rows per voter,
	// bounded by the payload limit in practice).
	MaxSlotRows = 1 << 24
	// MaxRollVoters bounds the identifiers of a roll (spec §15.7).
	MaxRollVoters = 1 << 24
)

// A TagKeyEntry is the payload of a revote-tag-key entry (spec §15.1):
//
//	u8(1) || ext[32] || u16(j) || Element(Z_j) || SchnorrProof (64 bytes)
type TagKeyEntry struct {
	Context [32]byte
	Trustee int
	Key     *group.Element
	Proof   *zkp.SchnorrProof
}

// Encode returns the canonical encoding.
func (t *TagKeyEntry) Encode() []byte {
	w := wire.NewWriter(1 + 32 + 2 + 32 + zkp.SchnorrProofSize)
	w.U8(entryFormat)
	w.Fixed(t.Context[:])
	w.U16(uint16(t.Trustee))
	w.Element(t.Key)
	w.Fixed(t.Proof.Bytes())
	return w.Bytes()
}

// DecodeTagKeyEntry decodes a canonical tag key entry.
func DecodeTagKeyEntry(b []byte) (*TagKeyEntry, error) {
	r := wire.NewReader(b)
	format(r)
	t := &TagKeyEntry{}
	copy(t.Context[:], r.Fixed(32, "context"))
	t.Trustee = int(r.U16("trustee"))
	t.Key = r.Element("tag key")
	t.Proof = revoterow.ReadSchnorr(r, "tag key proof")
	if err := revoterow.Finish(r, "tag key"); err != nil {
		return nil, err
	}
	if t.Trustee < 1 || t.Trustee > 32 {
		return nil, fmt.Errorf("%w: tag key: trustee %d", ErrMalformed, t.Trustee)
	}
	return t, nil
}

// A Slot is the payload of a revote-slot entry (spec §15.4): exactly B_st
// rows of one ballot style, posted at the end of slot number Slot:
//
//	u8(1) || ext[32] || u32(slot) || string(ballot_style) || u32(n) || SignedRow…
type Slot struct {
	Context [32]byte
	Slot    uint32
	Style   string
	Rows    []*SignedRow
}

// Encode returns the canonical encoding.
func (s *Slot) Encode() []byte {
	w := wire.NewWriter(64 + 2048*len(s.Rows))
	w.U8(entryFormat)
	w.Fixed(s.Context[:])
	w.U32(s.Slot)
	w.String(s.Style)
	encodeRows(w, s.Rows)
	return w.Bytes()
}

// DecodeSlot decodes a canonical slot entry.
func DecodeSlot(b []byte) (*Slot, error) {
	r := wire.NewReader(b)
	format(r)
	s := &Slot{}
	copy(s.Context[:], r.Fixed(32, "context"))
	s.Slot = r.U32("slot")
	s.Style = r.String(record.MaxIDLen, "ballot style")
	s.Rows = decodeRows(r)
	if err := revoterow.Finish(r, "slot"); err != nil {
		return nil, err
	}
	return s, nil
}

// A Padding is the payload of a revote-padding entry (spec §15.4): the P
// padding rows of one ballot style, posted at the close:
//
//	u8(1) || ext[32] || string(ballot_style) || u32(P) || SignedRow…
type Padding struct {
	Context [32]byte
	Style   string
	Rows    []*SignedRow
}

// Encode returns the canonical encoding.
func (p *Padding) Encode() []byte {
	w := wire.NewWriter(64 + 2048*len(p.Rows))
	w.U8(entryFormat)
	w.Fixed(p.Context[:])
	w.String(p.Style)
	encodeRows(w, p.Rows)
	return w.Bytes()
}

// DecodePadding decodes a canonical padding entry.
func DecodePadding(b []byte) (*Padding, error) {
	r := wire.NewReader(b)
	format(r)
	p := &Padding{}
	copy(p.Context[:], r.Fixed(32, "context"))
	p.Style = r.String(record.MaxIDLen, "ballot style")
	p.Rows = decodeRows(r)
	if err := revoterow.Finish(r, "padding"); err != nil {
		return nil, err
	}
	return p, nil
}

func encodeRows(w *wire.Writer, rows []*SignedRow) {
	w.U32(uint32(len(rows)))
	for _, row := range rows {
		row.EncodeTo(w)
	}
}

func decodeRows(r *wire.Reader) []*SignedRow {
	n := r.Count(MaxSlotRows, revoterow.MinRowSize, "rows")
	rows := make([]*SignedRow, 0, n)
	for range n {
		row := revoterow.ReadSignedRow(r)
		if row == nil {
			return nil
		}
		rows = append(rows, row)
	}
	return rows
}

// A DepthRow is one row's encrypted depth with its proof (spec §15.3).
type DepthRow struct {
	Depth *elgamal.Ciphertext
	Proof *zkp.RangeProof
}

// A Depths is the payload of a revote-depths entry (spec §15.3): the
// depth of every filter row of one ballot style (its slot rows in board
// order, then its padding rows):
//
//	u8(1) || ext[32] || string(ballot_style) || u8(M) || u32(n)
//	|| (Ciphertext(E_d) || RangeProof(k = M − 1))…
type Depths struct {
	Context  [32]byte
	Style    string
	MaxDepth int
	Rows     []DepthRow
}

// Encode returns the canonical encoding.
func (d *Depths) Encode() []byte {
	w := wire.NewWriter(64 + (64+zkp.RangeProofSize(max(d.MaxDepth-1, 0)))*len(d.Rows))
	w.U8(entryFormat)
	w.Fixed(d.Context[:])
	w.String(d.Style)
	w.U8(uint8(d.MaxDepth))
	w.U32(uint32(len(d.Rows)))
	for _, x := range d.Rows {
		w.Ciphertext(x.Depth)
		w.Fixed(x.Proof.Bytes())
	}
	return w.Bytes()
}

// DecodeDepths decodes a canonical depths entry (2 ≤ M ≤ 64, spec §15.1).
func DecodeDepths(b []byte) (*Depths, error) {
	r := wire.NewReader(b)
	format(r)
	d := &Depths{}
	copy(d.Context[:], r.Fixed(32, "context"))
	d.Style = r.String(record.MaxIDLen, "ballot style")
	d.MaxDepth = int(r.U8("max depth"))
	if r.Err() == nil && (d.MaxDepth < 2 || d.MaxDepth > MaxDepth) {
		r.Fail("max depth %d outside [2, %d]", d.MaxDepth, MaxDepth)
	}
	size := zkp.RangeProofSize(d.MaxDepth - 1)
	n := r.Count(MaxSlotRows, elgamal.CiphertextSize+size, "depths")
	for range n {
		ct := r.Ciphertext("depth")
		pb := r.Fixed(size, "depth proof")
		if r.Err() != nil {
			break
		}
		p, err := zkp.ParseRangeProof(pb, d.MaxDepth-1)
		if err != nil {
			r.Fail("depth proof: %v", err)
			break
		}
		d.Rows = append(d.Rows, DepthRow{Depth: ct, Proof: p})
	}
	if err := revoterow.Finish(r, "depths"); err != nil {
		return nil, err
	}
	return d, nil
}

// A Mark opens the flag of one in-person mark's row (spec §15.3): the row's
// position among the style's board rows, the randomness r of its flag
// (which must be (g^r, h^r), an encryption of 0), and the signatures of the
// registered station and official over MarkStatement.
type Mark struct {
	Row         uint32
	Randomness  *group.Scalar
	StationID   string
	StationKey  [32]byte
	OfficialID  string
	OfficialKey [32]byte
	StationSig  [64]byte
	OfficialSig [64]byte
}

// A Marks is the payload of a revote-marks entry (spec §15.3), posted once
// per ballot style at the close (the list may be empty):
//
//	u8(1) || ext[32] || string(ballot_style) || u32(n) || (u32(row) || Scalar(r)
//	|| string(station_id) || station_key[32] || string(official_id)
//	|| official_key[32] || sig_station[64] || sig_official[64])…
//
// rows strictly ascending.
type Marks struct {
	Context [32]byte
	Style   string
	Marks   []Mark
}

// Encode returns the canonical encoding.
func (m *Marks) Encode() []byte {
	w := wire.NewWriter(64 + 320*len(m.Marks))
	w.U8(entryFormat)
	w.Fixed(m.Context[:])
	w.String(m.Style)
	w.U32(uint32(len(m.Marks)))
	for _, k := range m.Marks {
		w.U32(k.Row)
		w.Scalar(k.Randomness)
		w.String(k.StationID)
		w.Fixed(k.StationKey[:])
		w.String(k.OfficialID)
		w.Fixed(k.OfficialKey[:])
		w.Fixed(k.StationSig[:])
		w.Fixed(k.OfficialSig[:])
	}
	return w.Bytes()
}

// DecodeMarks decodes a canonical marks entry.
func DecodeMarks(b []byte) (*Marks, error) {
	r := wire.NewReader(b)
	format(r)
	m := &Marks{}
	copy(m.Context[:], r.Fixed(32, "context"))
	m.Style = r.String(record.MaxIDLen, "ballot style")
	n := r.Count(MaxSlotRows, 4+32+4+32+4+32+128, "marks")
	for range n {
		k := Mark{Row: r.U32("row"), Randomness: r.Scalar("randomness"), StationID: r.String(record.MaxIDLen, "station id")}
		copy(k.StationKey[:], r.Fixed(32, "station key"))
		k.OfficialID = r.String(record.MaxIDLen, "official id")
		copy(k.OfficialKey[:], r.Fixed(32, "official key"))
		copy(k.StationSig[:], r.Fixed(64, "station signature"))
		copy(k.OfficialSig[:], r.Fixed(64, "official signature"))
		if r.Err() != nil {
			break
		}
		if len(m.Marks) > 0 && k.Row <= m.Marks[len(m.Marks)-1].Row {
			r.Fail("mark rows not strictly ascending")
			break
		}
		m.Marks = append(m.Marks, k)
	}
	if err := revoterow.Finish(r, "marks"); err != nil {
		return nil, err
	}
	return m, nil
}

// A BlindEntry is the payload of a revote-blind entry (spec §15.5 step 3):
// the ballot style whose filter it blinds, the digest of the tag list it
// takes as input (shuffle.Rows.Digest), then the step:
//
//	string(ballot_style) || input[32] || u8(1) || ext[32] || u16(j) || u32(L) || Ciphertext[L] || DLEQProof
//
// The input lets the rules tell a step over a list another trustee has
// since blinded (refused, its trustee recomputes) from a step whose proof
// fails (the trustee's fault, skipped and named), as a mix's input does.
type BlindEntry struct {
	Style string
	Input [32]byte
	Step  *BlindStep
}

// Encode returns the canonical encoding.
func (b *BlindEntry) Encode() []byte {
	w := wire.NewWriter(96)
	w.String(b.Style)
	w.Fixed(b.Input[:])
	return append(w.Bytes(), b.Step.Bytes()...)
}

// DecodeBlindEntry decodes a canonical blinding entry.
func DecodeBlindEntry(b []byte) (*BlindEntry, error) {
	r := wire.NewReader(b)
	e := &BlindEntry{Style: r.String(record.MaxIDLen, "ballot style")}
	copy(e.Input[:], r.Fixed(32, "input digest"))
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: blinding entry: %w", ErrMalformed, r.Err())
	}
	step, err := ParseBlindStep(b[len(b)-r.Remaining():])
	if err != nil {
		return nil, err
	}
	e.Step = step
	return e, nil
}

// A Filter is the payload of a revote-filter entry (spec §15.5 step 5):
// the authority's statement of the board rows N of a ballot style and the
// kept positions of the mixed X, strictly ascending:
//
//	u8(1) || ext[32] || string(ballot_style) || u32(N) || u32(n) || u32(kept)…
type Filter struct {
	Context [32]byte
	Style   string
	Board   uint32
	Kept    []uint32
}

// Encode returns the canonical encoding.
func (f *Filter) Encode() []byte {
	w := wire.NewWriter(64 + 4*len(f.Kept))
	w.U8(entryFormat)
	w.Fixed(f.Context[:])
	w.String(f.Style)
	w.U32(f.Board)
	w.U32(uint32(len(f.Kept)))
	for _, k := range f.Kept {
		w.U32(k)
	}
	return w.Bytes()
}

// DecodeFilter decodes a canonical filter entry.
func DecodeFilter(b []byte) (*Filter, error) {
	r := wire.NewReader(b)
	format(r)
	f := &Filter{}
	copy(f.Context[:], r.Fixed(32, "context"))
	f.Style = r.String(record.MaxIDLen, "ballot style")
	f.Board = r.U32("board rows")
	n := r.Count(MaxSlotRows, 4, "kept")
	for range n {
		f.Kept = append(f.Kept, r.U32("kept"))
	}
	if err := revoterow.Finish(r, "filter"); err != nil {
		return nil, err
	}
	if !slices.IsSorted(f.Kept) || len(slices.Compact(slices.Clone(f.Kept))) != len(f.Kept) {
		return nil, fmt.Errorf("%w: filter: kept positions not strictly ascending", ErrMalformed)
	}
	return f, nil
}

// A RollVoter is one listed voter's identifier and ballot style.
type RollVoter struct {
	ID    *group.Element
	Style string
}

// A Roll is the payload of a revote-roll entry (spec §15.7): the
// identifiers of all listed voters with their ballot styles, sorted by the
// identifiers' bytes, strictly ascending:
//
//	u8(1) || ext[32] || u32(n) || (Element(V) || string(ballot_style))…
type Roll struct {
	Context [32]byte
	Voters  []RollVoter
}

// Encode returns the canonical encoding.
func (l *Roll) Encode() []byte {
	w := wire.NewWriter(64 + 64*len(l.Voters))
	w.U8(entryFormat)
	w.Fixed(l.Context[:])
	w.U32(uint32(len(l.Voters)))
	for _, v := range l.Voters {
		w.Element(v.ID)
		w.String(v.Style)
	}
	return w.Bytes()
}

// SortRoll sorts voters by their identifiers' bytes.
func SortRoll(voters []RollVoter) {
	slices.SortFunc(voters, func(a, b RollVoter) int { return bytes.Compare(a.ID.Bytes(), b.ID.Bytes()) })
}

// DecodeRoll decodes a canonical roll.
func DecodeRoll(b []byte) (*Roll, error) {
	r := wire.NewReader(b)
	format(r)
	l := &Roll{}
	copy(l.Context[:], r.Fixed(32, "context"))
	n := r.Count(MaxRollVoters, 32+4, "voters")
	var prev []byte
	for range n {
		v := RollVoter{ID: r.Element("identifier"), Style: r.String(record.MaxIDLen, "ballot style")}
		if r.Err() != nil {
			break
		}
		cur := v.ID.Bytes()
		if prev != nil && bytes.Compare(prev, cur) >= 0 {
			r.Fail("roll not strictly ascending")
			break
		}
		if !record.ValidID(v.Style) {
			r.Fail("ballot style %q", v.Style)
			break
		}
		prev = cur
		l.Voters = append(l.Voters, v)
	}
	if err := revoterow.Finish(r, "roll"); err != nil {
		return nil, err
	}
	return l, nil
}

func format(r *wire.Reader) {
	if v := r.U8("format"); r.Err() == nil && v != entryFormat {
		r.Fail("format %d", v)
	}
}
