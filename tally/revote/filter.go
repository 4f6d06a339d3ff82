package revote

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/threshold"
	"evote/tally"
)

// Pseudo-contest ids naming the filter's mix chains (spec §15.5): they
// cannot clash with a manifest's contest ids, which the verifier reads from
// the manifest; the shuffle proofs bind the election and each chain's input.
const (
	ChainX    = "revote-x"
	ChainY    = "revote-y"
	ChainRoll = "revote-roll"
)

// Params is the public statement around one election's filter.
type Params struct {
	ElectionID       string
	Style            string   // the ballot style whose rows this filter reads (spec §15.4)
	Context          [32]byte // the extended hash (spec §9.2)
	PublicKey        *elgamal.PublicKey
	Threshold        threshold.Params
	VerificationKeys []*group.Element // h_1..h_n (spec §5.8)
	TagKeys          []*group.Element // Z_1..Z_n, verified with VerifyTagKey; nil for a trustee without one
	Mixes            int              // valid mixes by distinct trustees each chain needs (manifest, ≥ t)
	MaxDepth         int              // M, the manifest's max_ballots
}

// MixParams returns the tally mix parameters of one of the filter's chains.
func (p *Params) MixParams(chain string) *tally.MixParams {
	return &tally.MixParams{ElectionID: p.ElectionID, ContestID: chain, Context: p.Context[:], PublicKey: p.PublicKey}
}

// A Record is what the filter publishes (spec §15.5): the mixes of X and
// of Y, the blinding steps over the tag list, the decryption shares of
// the last blinded list (their encodings, threshold.DecryptionShare.Bytes:
// a share of a million ballots' tags is 240 MB encoded, 1.6 GB decoded),
// and the kept positions of the mixed X, strictly ascending.
type Record struct {
	XMixes []*tally.MixEntry
	YMixes []*tally.MixEntry
	Blinds []*BlindStep
	Shares [][]byte
	Kept   []uint32
}

// A Result is a verified filter: the kept rows (ID, Flag, Ballot… of each
// kept row of the mixed X, in the order of Kept), the tags, and counts.
type Result struct {
	Kept       *shuffle.Rows
	Rows       int // N
	Superseded int // N − len(Kept)
}

// TagList is the list the trustees blind and decrypt (spec §15.5 step 3):
// column 0 of the mixed X (the successor values S) followed by the mixed Y
// (the current values T), 2N ciphertexts, held encoded as one column.
func TagList(x, y *shuffle.Rows) (*shuffle.Rows, error) {
	if x.Len() != y.Len() || y.Width() != 1 || x.Width() < 3 || 2*x.Len() > MaxTags {
		return nil, fmt.Errorf("%w: lists of %d×%d and %d×%d", ErrMalformed, x.Len(), x.Width(), y.Len(), y.Width())
	}
	s, err := x.Sub(nil, 0, 1)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	list, err := shuffle.Concat(s, y)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return list, nil
}

// Select applies the selection rule (spec §15.5 step 5) to the 2N
// decrypted tags: the last N (the current tags τ(T_i)) must be pairwise
// distinct, and row i of the mixed X is kept iff its successor tag
// τ(S_i) is none of them. It returns the kept positions, ascending.
func Select(tags []*group.Element) ([]uint32, error) {
	enc := make([]byte, 0, len(tags)*group.ElementSize)
	for _, t := range tags {
		enc = t.AppendBytes(enc)
	}
	return SelectEncoded(enc)
}

// SelectEncoded is Select over the tags' encodings, concatenated (32
// bytes each, as threshold.CombineEncoded's plaintexts encode): it sorts a
// copy of the current tags and looks each successor tag up in it, holding
// 32 bytes a row.
func SelectEncoded(tags []byte) ([]uint32, error) {
	const size = group.ElementSize
	if len(tags)%(2*size) != 0 || len(tags) == 0 {
		return nil, fmt.Errorf("%w: %d bytes of tags", ErrMalformed, len(tags))
	}
	n := len(tags) / (2 * size)
	current := make([][size]byte, n)
	for i := range current {
		current[i] = [size]byte(tags[(n+i)*size:])
	}
	slices.SortFunc(current, func(a, b [size]byte) int { return bytes.Compare(a[:], b[:]) })
	for i := 1; i < n; i++ {
		if current[i] == current[i-1] {
			// Name the position of its second occurrence, in list order.
			seen := false
			for j := range n {
				if [size]byte(tags[(n+j)*size:]) == current[i] {
					if seen {
						return nil, fmt.Errorf("%w: current tag %d", ErrDuplicateTag, j)
					}
					seen = true
				}
			}
		}
	}
	var kept []uint32
	for i := range n {
		_, superseded := slices.BinarySearchFunc(current, [size]byte(tags[i*size:]), func(a, b [size]byte) int { return bytes.Compare(a[:], b[:]) })
		if !superseded {
			kept = append(kept, uint32(i))
		}
	}
	return kept, nil
}

// KeptRows returns the kept rows of the mixed X without their first column:
// (ID, Flag, Ballot…), width w + 2, in the order of kept. This list is the
// input of the roll call (its column 0) and of the tally (its other
// columns).
func KeptRows(x *shuffle.Rows, kept []uint32) (*shuffle.Rows, error) {
	if len(kept) == 0 {
		return nil, fmt.Errorf("%w: nothing kept", ErrKeptCount)
	}
	out, err := x.Sub(kept, 1, x.Width())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}

// verifyBlinds checks the blinding steps in order over list and returns
// the last blinded list. Every step must verify, come from a trustee with a
// tag key and be that trustee's only step; at least t distinct trustees must
// have blinded, so that one of them is honest (spec §15.5).
func verifyBlinds(p *Params, list *shuffle.Rows, steps []*BlindStep) (*shuffle.Rows, error) {
	var seen []int
	var pubs []*group.Element
	for _, s := range steps {
		if s == nil || s.Trustee < 1 || s.Trustee > len(p.TagKeys) || p.TagKeys[s.Trustee-1] == nil {
			return nil, fmt.Errorf("%w: step of an unknown trustee", ErrBlindProof)
		}
		if slices.Contains(seen, s.Trustee) {
			return nil, fmt.Errorf("%w: trustee %d blinded twice", ErrBlindProof, s.Trustee)
		}
		seen = append(seen, s.Trustee)
		pubs = append(pubs, p.TagKeys[s.Trustee-1])
	}
	if len(steps) > 0 {
		if err := verifySteps(p.Context, pubs, list, steps); err != nil {
			return nil, err
		}
		list = steps[len(steps)-1].Out
	}
	if len(seen) < p.Threshold.T {
		return nil, fmt.Errorf("%w: %d of %d", ErrTooFewBlinders, len(seen), p.Threshold.T)
	}
	return list, nil
}

// decryptTags verifies the decryption shares (their encodings) of list,
// a list of width 1, and combines the first t valid ones (spec
// §5.9-§5.11); the plaintexts are elements (tags or identifiers), not
// small integers. It returns their encodings, concatenated (32 bytes
// each): neither the list, the shares nor the plaintexts are ever held
// decoded.
func decryptTags(p *Params, list *shuffle.Rows, shares [][]byte) ([]byte, error) {
	if list == nil || list.Width() != 1 {
		return nil, fmt.Errorf("%w: decryption of a list that is not one column", ErrMalformed)
	}
	cl, err := threshold.NewEncodedCiphertextList(list.Encoding())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var valid [][]byte
	var trustees []int
	for _, b := range shares {
		// The trustee's index is at bytes 33..34 (spec §5.3): a second
		// share of a trustee with a valid one is not verified again.
		if len(b) >= 35 && slices.Contains(trustees, int(binary.BigEndian.Uint16(b[33:35]))) {
			continue
		}
		j, err := cl.VerifyEncodedShare(p.Context, p.VerificationKeys, b)
		if err != nil {
			continue // an invalid share is discarded whole (§9.7.1 rule 4)
		}
		valid = append(valid, b)
		trustees = append(trustees, j)
	}
	if len(valid) < p.Threshold.T {
		return nil, fmt.Errorf("%w: %d valid shares of %d", ErrDecryption, len(valid), p.Threshold.T)
	}
	out := make([]byte, 0, list.Len()*group.ElementSize)
	err = threshold.CombineEncoded(p.Threshold, list.Encoding(), valid[:p.Threshold.T], func(_ int, ms []*group.Element) error {
		for _, m := range ms {
			out = m.AppendBytes(out)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecryption, err)
	}
	return out, nil
}

// Verify checks a filter record against the board rows, in board order
// (spec §15.6): the two mix chains, the blinding steps, the decryption
// shares, and that the kept positions are exactly the rows whose successor
// tag is no row's current tag. It returns the kept rows.
func Verify(p *Params, rows []Row, rec *Record) (*Result, error) {
	x, y, err := Lists(rows)
	if err != nil {
		return nil, err
	}
	return VerifyLists(p, x, y, rec)
}

// VerifyLists is Verify for a caller that holds the filter's input lists X
// and Y (Lists) rather than the board rows: a million ballots' rows
// decoded take 6 GB, their lists 1.2 GB.
func VerifyLists(p *Params, x, y *shuffle.Rows, rec *Record) (*Result, error) {
	if p.MaxDepth < 1 || p.MaxDepth > MaxDepth || p.Mixes < p.Threshold.T {
		return nil, fmt.Errorf("%w: max depth %d, mixes %d", ErrParams, p.MaxDepth, p.Mixes)
	}
	// One set of generators serves both chains (they depend on the
	// election and the row count only, spec §6.2).
	px, py := p.MixParams(ChainX).WithGenerators(x.Len()), p.MixParams(ChainY)
	py.Generators = px.Generators
	xc := tally.VerifyMixChain(px, x, rec.XMixes)
	if err := xc.Complete(p.Mixes); err != nil {
		return nil, fmt.Errorf("%w: X: %w", ErrMixes, err)
	}
	yc := tally.VerifyMixChain(py, y, rec.YMixes)
	if err := yc.Complete(p.Mixes); err != nil {
		return nil, fmt.Errorf("%w: Y: %w", ErrMixes, err)
	}
	list, err := TagList(xc.Output, yc.Output)
	if err != nil {
		return nil, err
	}
	blinded, err := verifyBlinds(p, list, rec.Blinds)
	if err != nil {
		return nil, err
	}
	return Conclude(p, xc.Output, blinded, rec.Shares, rec.Kept)
}

// Conclude is the end of Verify, for a caller that verified the mix chains
// and the blinding steps itself, one entry at a time (the rules of package
// election): it combines the decryption shares of the last blinded list
// (invalid shares are discarded; at least t valid ones are needed), applies
// the selection rule, requires exactly the kept positions it gives and
// M × kept filter rows, and returns the kept rows of the last mixed X.
//
// The shares are given as their encodings (threshold.DecryptionShare.Bytes).
func Conclude(p *Params, x *shuffle.Rows, blinded *shuffle.Rows, shares [][]byte, claimed []uint32) (*Result, error) {
	tags, err := decryptTags(p, blinded, shares)
	if err != nil {
		return nil, err
	}
	kept, err := SelectEncoded(tags)
	if err != nil {
		return nil, err
	}
	if err := compareKept(kept, claimed); err != nil {
		return nil, err
	}
	// Every voter, real or dummy, has exactly M rows (spec §15.4): with
	// pairwise distinct current tags and depths in [1, M], the rows number
	// M per kept row exactly when each voter's depths are 1..M, one run.
	rows := x.Len()
	if rows != p.MaxDepth*len(kept) {
		return nil, fmt.Errorf("%w: %d rows, %d kept, M = %d", ErrKeptCount, rows, len(kept), p.MaxDepth)
	}
	out, err := KeptRows(x, kept)
	if err != nil {
		return nil, err
	}
	return &Result{Kept: out, Rows: rows, Superseded: rows - len(kept)}, nil
}

// DecryptList combines the decryption shares of a list whose plaintexts
// are elements (tags or identifiers), discarding invalid shares; at least
// t valid shares are needed (spec §5.9-§5.11). list is one column; the
// shares are given as their encodings (threshold.DecryptionShare.Bytes).
func DecryptList(p *Params, list *shuffle.Rows, shares [][]byte) ([]*group.Element, error) {
	enc, err := decryptTags(p, list, shares)
	if err != nil {
		return nil, err
	}
	out := make([]*group.Element, len(enc)/group.ElementSize)
	for i := range out {
		if out[i], err = new(group.Element).SetCanonicalBytes(enc[i*group.ElementSize : (i+1)*group.ElementSize]); err != nil {
			return nil, fmt.Errorf("%w: plaintext %d: %w", ErrMalformed, i, err)
		}
	}
	return out, nil
}

// compareKept names the first difference between the kept positions the
// rule gives and those the record claims.
func compareKept(want, got []uint32) error {
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		return fmt.Errorf("%w: kept positions not strictly ascending", ErrMalformed)
	}
	for _, i := range want {
		if _, ok := slices.BinarySearch(got, i); !ok {
			return fmt.Errorf("%w: row %d of the mixed list", ErrDroppedBallot, i)
		}
	}
	for _, i := range got {
		if _, ok := slices.BinarySearch(want, i); !ok {
			return fmt.Errorf("%w: row %d of the mixed list", ErrKeptSuperseded, i)
		}
	}
	return nil
}

// RollCallList is the roll call's input (spec §15.7): the identifier
// column of the kept rows, width 1.
func RollCallList(kept *shuffle.Rows) (*shuffle.Rows, error) {
	out, err := kept.Sub(nil, 0, 1)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}

// A RollCall is the roll call's record: the mixes of the identifier list
// and the decryption shares of its last valid list (their encodings,
// threshold.DecryptionShare.Bytes).
type RollCall struct {
	Mixes  []*tally.MixEntry
	Shares [][]byte
}

// VerifyRollCall checks the roll call over the kept rows of a verified
// filter of n board rows (spec §15.7) and returns the decrypted
// identifiers (in mixed order) and the number R of real voters.
func VerifyRollCall(p *Params, kept *shuffle.Rows, n int, rc *RollCall) ([]*group.Element, int, error) {
	in, err := RollCallList(kept)
	if err != nil {
		return nil, 0, err
	}
	chain := tally.VerifyMixChain(p.MixParams(ChainRoll), in, rc.Mixes)
	if err := chain.Complete(p.Mixes); err != nil {
		return nil, 0, fmt.Errorf("%w: roll call: %w", ErrMixes, err)
	}
	ids, err := DecryptList(p, chain.Output, rc.Shares)
	if err != nil {
		return nil, 0, err
	}
	r, err := CheckRollCall(p.ElectionID, p.Style, ids, n, p.MaxDepth)
	return ids, r, err
}

// CheckRollCall applies the roll call's rules (spec §15.7) to the
// decrypted identifiers of the kept rows of n board rows: pairwise
// distinct (one kept row per voter: a gap in a voter's depths would keep
// two); the dummy identifiers among them are exactly D_1..D_G; and G is
// the padding rule's ⌈(n − R)/M⌉ for the R others (the real voters), the
// dummies being those of the filter's ballot style (a dummy identifier of
// another style counts as a real one, which the roll then refuses). It
// returns R. Whether each real identifier belongs to the voter list is
// checked against the list where it is published (spec §15.7).
func CheckRollCall(electionID, style string, ids []*group.Element, n, m int) (int, error) {
	seen := make(map[[32]byte]struct{}, len(ids))
	for i, v := range ids {
		k := [32]byte(v.Bytes())
		if _, dup := seen[k]; dup {
			return 0, fmt.Errorf("%w: identifier at %d kept twice", ErrRollCall, i)
		}
		seen[k] = struct{}{}
	}
	g := 0
	for i := uint64(1); i <= uint64(len(ids)); i++ {
		if _, ok := seen[[32]byte(DummyID(electionID, style, i).Bytes())]; !ok {
			break
		}
		g++
	}
	// A dummy identifier beyond D_G would be a gap in the dummy numbering.
	for i := uint64(g + 2); i <= uint64(len(ids))+1 && g < len(ids); i++ {
		if _, ok := seen[[32]byte(DummyID(electionID, style, i).Bytes())]; ok {
			return 0, fmt.Errorf("%w: dummy voter %d without dummy voter %d", ErrRollCall, i, g+1)
		}
	}
	r := len(ids) - g
	if want := DummyGroups(n, r, m); want != g {
		return 0, fmt.Errorf("%w: %d dummy voters, the rule gives %d for %d rows and %d voters", ErrDummyGroupCount, g, want, n, r)
	}
	return r, nil
}

// CheckFlags applies the tally's rules to the decrypted flags of the kept
// rows of one ballot style (spec §15.5 step 6, §15.7): no kept row is a
// padding row (padding lies below every voter's own rows, so a padding row
// kept is a ballot box that ranked it above a voter's ballot, dropping the
// vote); and the online ballots counted plus the in-person marks (opened at
// the close, equal to the stations' paper count) are at most the r real
// voters of the roll call (so a dummy row counted as a ballot is caught).
// Fewer is allowed: a voter's own device may flag its row f = 0 (the
// flag's proof allows it, as it must for dummies and marks), which casts
// no vote; requiring equality would let any one voter halt the tally. It
// returns the number of online ballots counted.
func CheckFlags(flags []uint64, marks, r int) (int, error) {
	ballots := 0
	for i, f := range flags {
		switch f {
		case FlagBallot:
			ballots++
		case FlagNone:
		case FlagPadding:
			return 0, fmt.Errorf("%w: kept row %d is padding", ErrFlags, i)
		default:
			return 0, fmt.Errorf("%w: kept row %d has flag %d", ErrFlags, i, f)
		}
	}
	if ballots+marks > r {
		return 0, fmt.Errorf("%w: %d online ballots and %d in-person votes for %d voters", ErrFlags, ballots, marks, r)
	}
	return ballots, nil
}
