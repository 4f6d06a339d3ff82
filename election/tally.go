package election

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/threshold"
	"evote/record"
	"evote/tally"
	"evote/tally/revote"
)

// A Culprit names a trustee whose mix or decryption share on the board is
// invalid; the tally goes on without it (spec §9.7).
type Culprit struct {
	Position uint64
	// Type is the entry's type: a mix, a decryption share, or in deniable
	// re-voting mode a blinding step (spec §15.13 step 5).
	Type    bulletin.Type
	Trustee int
	// Contest is the contest or filter list id (§15.14.1: revote-x,
	// revote-y, revote-roll, revote-tags).
	Contest string
	Reason  string
	// Err is the failure (errors.Is finds tally's and threshold's
	// sentinels in it).
	Err error
}

// ContestTally is the tally of one contest as far as the board has gone.
type ContestTally struct {
	Contest *ballot.Contest
	Ballots uint64 // counted ballots with this contest
	// Withheld: fewer ballots than the minimum anonymity, never decrypted
	// (a two-round contest's flags may be: it is withheld when fewer of
	// its rows than that have f = 1, and its sums are never made).
	Withheld bool
	// Input is a multi-select contest's per-candidate sums. A
	// single-choice contest's list to mix (one ciphertext per counted
	// ballot, in cleansing order) is InputRows, kept encoded; Input is
	// then nil.
	Input []*elgamal.Ciphertext
	input *shuffle.Rows
	// current is the list to decrypt before mixing ends: Input (the
	// per-candidate sums of a multi-select contest stay so); final is a
	// single-choice contest's last valid mix output once mixing is over,
	// kept encoded (64 bytes a ciphertext, not a decoded one's 320) and
	// decoded by Current when a share is checked or made.
	current []*elgamal.Ciphertext
	final   *shuffle.Rows
	// Mixers are the trustees with a valid mix of this contest, in order.
	Mixers []int
	// Shares are the valid decryption shares of Current, by trustee, kept
	// encoded (DecryptionShare.Bytes: 32 bytes a point, not a decoded
	// point's 160) and parsed again only to combine them for the result.
	Shares map[int][]byte

	chain     *tally.ChainResult // single choice: the mix chain
	mixParams *tally.MixParams
	digest    *[32]byte // TargetDigest(Current), once Current is final
	// list is final prepared for checking decryption shares (the A
	// components' encodings only), made by the first share.
	list *threshold.CiphertextList

	// A multi-select contest in deniable re-voting mode is decrypted in
	// two rounds (spec §15.5 step 6): its mixed rows are (C_f, x_1 … x_K);
	// the flags column is decrypted first (final, kind TargetMixed), then
	// the sums of the x_j over the rows with f = 1 (current, kind
	// TargetSums), so that no row's selections are ever opened.
	twoRound  bool
	mixed     *shuffle.Rows // the last mix's output, whose flags are final
	flagsOpen bool          // the flags are decrypted: current is the sums
	flagErr   error         // the flags decrypted are refused (revote.ErrFlags)
	counted   uint64        // rows with f = 1, once the flags are open
	// FlagShares are the valid decryption shares of the flags, once the
	// flags are open (Shares then holds the sums').
	FlagShares map[int][]byte
}

// Mixed reports whether the contest's list is mixed before it is
// decrypted: a single-choice contest's, and in deniable re-voting mode
// every contest's, unless withheld or empty.
func (c *ContestTally) Mixed() bool { return c.chain != nil }

// TwoRound reports whether the contest is decrypted in two rounds, its
// mixed rows' flags and then its sums (a multi-select contest in deniable
// re-voting mode, spec §15.5 step 6).
func (c *ContestTally) TwoRound() bool { return c.twoRound }

// FlagsPending reports whether the contest's flags are still to be
// decrypted: the list to decrypt (Current) is the flags of its mixed rows.
func (c *ContestTally) FlagsPending() bool { return c.twoRound && !c.flagsOpen }

// FlagsRefused returns why the decrypted flags were refused (a kept
// padding row, more rows with f = 1 than voters), or nil.
func (c *ContestTally) FlagsRefused() error { return c.flagErr }

// TargetKind is the kind of the list to decrypt (tally.TargetMixed or
// tally.TargetSums), as its decryption entries must name it.
func (c *ContestTally) TargetKind() uint8 {
	if c.final != nil || c.Contest.Kind == ballot.SingleChoice {
		return tally.TargetMixed
	}
	return tally.TargetSums
}

// Target returns TargetDigest of the list to decrypt.
func (c *ContestTally) Target() [32]byte { return c.target() }

// InputRows returns a mixed contest's input list: a single-choice
// contest's cleansed list, or in deniable re-voting mode a multi-select
// contest's rows (C_f, x_1 … x_K); nil for a multi-select contest of
// chapter 9, for a single-choice contest in that mode (its Input), or
// once a verifier has let it go.
func (c *ContestTally) InputRows() *shuffle.Rows { return c.input }

// ReleaseInput lets go of a single-choice contest's cleansed list, which
// no rule reads once mixing is over (a verifier's memory).
func (c *ContestTally) ReleaseInput() {
	if c.final != nil {
		c.input = nil
	}
}

// Current returns the list to decrypt: the last valid mix output, or Input
// for multi-select contests; for a two-round contest (TwoRound) the flags
// of its last mix output, then the sums of its rows with f = 1, and nil
// once its flags are refused. Each call decodes a single-choice contest's
// final list anew, so a caller that reads it more than once keeps the
// result.
func (c *ContestTally) Current() []*elgamal.Ciphertext {
	rows := c.final
	if rows == nil && c.current == nil && c.input != nil && !c.flagsOpen {
		rows = c.input
	}
	if rows == nil {
		return c.current
	}
	cts, err := rows.Ciphertexts()
	if err != nil {
		// The rows were checked when made, and Rows never change.
		panic(fmt.Sprintf("election: contest %s: final list no longer decodes: %v", c.Contest.ID, err))
	}
	return cts
}

// target returns TargetDigest of the final list, computed once.
func (c *ContestTally) target() [32]byte {
	if c.digest == nil {
		var d [32]byte
		if c.final != nil {
			d = tally.TargetDigestRows(c.final)
		} else {
			d = tally.TargetDigest(c.Current())
		}
		c.digest = &d
	}
	return *c.digest
}

// prepareTally builds each contest's input from the cleansing.
func (s *State) prepareTally() error {
	// Counted ascends (DecodeCleansing checks it): a binary search finds a
	// ballot in it, with no set of a million positions (spec §11.7).
	counted := func(p uint64) bool {
		_, ok := slices.BinarySearch(s.Cleansing.Counted, p)
		return ok
	}
	s.Tally = nil
	for i := range s.Manifest.Contests {
		c := &s.Manifest.Contests[i]
		ct := &ContestTally{Contest: c, Shares: map[int][]byte{}}
		var sums []*elgamal.Ciphertext
		if c.Kind == ballot.MultiSelect {
			for range c.Candidates {
				sums = append(sums, elgamal.Zero())
			}
		}
		// A single-choice contest's list is gathered encoded, as the mix
		// chain holds it (64 bytes a ciphertext, not a decoded one's 320).
		var enc []byte
		if c.Kind == ballot.SingleChoice {
			enc = make([]byte, 8, 8+len(s.Cleansing.Counted)*elgamal.CiphertextSize)
		}
		for _, b := range s.Ballots {
			if !counted(b.Position) {
				continue
			}
			style, _ := s.Manifest.Style(b.Style)
			at := slices.Index(style.Contests, c.ID)
			if at < 0 {
				continue
			}
			ct.Ballots++
			if c.Kind == ballot.SingleChoice {
				cb, err := b.ciphertextBytes(at)
				if err != nil {
					return fmt.Errorf("election: ballot at %d: %w", b.Position, err)
				}
				if len(cb) != elgamal.CiphertextSize {
					return fmt.Errorf("election: ballot at %d: %d bytes of ciphertexts for a single-choice contest", b.Position, len(cb))
				}
				enc = append(enc, cb...)
				continue
			}
			cts, err := b.Ciphertexts(at)
			if err != nil {
				return fmt.Errorf("election: ballot at %d: %w", b.Position, err)
			}
			for j, x := range cts {
				sums[j].Add(sums[j], x)
			}
		}
		if c.Kind == ballot.MultiSelect {
			ct.Input = sums
		}
		ct.Withheld = ct.Ballots < uint64(s.Manifest.MinAnonymity)
		ct.current = ct.Input
		if c.Kind == ballot.SingleChoice {
			// ParseRows checks every ciphertext (a cast record restored
			// from a snapshot was not decoded).
			binary.BigEndian.PutUint32(enc, uint32(ct.Ballots))
			binary.BigEndian.PutUint32(enc[4:], 1)
			rows, err := shuffle.ParseRowsAliasing(enc) // enc is not used again
			if err != nil {
				return fmt.Errorf("election: contest %s: %w", c.ID, err)
			}
			ct.input = rows
			if !ct.Withheld {
				ct.chain = tally.NewChain(rows)
			}
		}
		s.Tally = append(s.Tally, ct)
	}
	return nil
}

// ContestTally returns the tally of the contest with the given id (once
// the tally has begun).
func (s *State) ContestTally(id string) (*ContestTally, bool) {
	for _, c := range s.Tally {
		if c.Contest.ID == id {
			return c, true
		}
	}
	return nil, false
}

// finishMixing checks that every single-choice contest that is not
// withheld has valid mixes by at least Mixes distinct trustees, and makes
// each chain's last list the list to decrypt.
func (s *State) finishMixing() error {
	for _, c := range s.Tally {
		if c.chain == nil {
			continue
		}
		if err := c.chain.Complete(int(s.Manifest.Mixes)); err != nil {
			return refuse("contest %s: %w", c.Contest.ID, err)
		}
	}
	for _, c := range s.Tally {
		if c.chain == nil {
			continue
		}
		if _, err := c.chain.Output.Ciphertexts(); err != nil {
			return refuse("contest %s: %w", c.Contest.ID, err)
		}
		// A digest or prepared list of the list before mixing ended
		// (Target read during mixing) is not the final list's.
		c.current, c.final, c.digest, c.list = nil, c.chain.Output, nil, nil
		if c.twoRound {
			flags, err := c.final.Sub(nil, 0, 1)
			if err != nil {
				return refuse("contest %s: %w", c.Contest.ID, err)
			}
			c.mixed, c.final = c.final, flags
		}
		// The commitment generators (one point per ciphertext) serve only
		// to check mixes: mixing is over, so they are let go.
		c.mixParams = nil
	}
	return nil
}

func (s *State) trusteeOf(author [32]byte) int {
	for _, t := range s.Manifest.Trustees {
		if t.SignKey == author {
			return int(t.Index)
		}
	}
	return 0
}

func (s *State) applyDecryption(e *bulletin.Entry) error {
	if s.Phase != PhaseDecrypting {
		return refuse("decryption share posted in phase %s", s.Phase)
	}
	d, err := tally.DecodeDecryptionEntry(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	trustee := s.trusteeOf(e.Author)
	if trustee == 0 || d.Share.Trustee != trustee {
		return refuse("decryption share for trustee %d not signed by that trustee", d.Share.Trustee)
	}
	if d.ElectionID != s.Manifest.ElectionID {
		return refuse("decryption share for election %q", d.ElectionID)
	}
	c, ok := s.ContestTally(d.ContestID)
	if !ok || c.Withheld {
		return refuse("decryption share for unknown or withheld contest %q", d.ContestID)
	}
	if c.flagErr != nil {
		return refuse("decryption share for contest %s, whose decrypted flags were refused: %v", d.ContestID, c.flagErr)
	}
	if d.Kind != c.TargetKind() || d.Target != c.target() {
		// Trustees decrypt only the final verified list: anything else is
		// refused outright, never posted (no decryption oracle).
		return refuse("decryption share is not for contest %s's final list", d.ContestID)
	}
	if _, dup := c.Shares[trustee]; dup {
		return refuse("trustee %d already posted a valid share for contest %s", trustee, d.ContestID)
	}
	if err := c.verifyShare(s.Context, d); err != nil {
		s.Culprits = append(s.Culprits, Culprit{Position: s.Size, Type: bulletin.TypeDecryptionShare, Trustee: trustee, Contest: d.ContestID, Reason: err.Error(), Err: err})
		return nil
	}
	c.Shares[trustee] = bytes.Clone(d.ShareBytes())
	if c.FlagsPending() && len(c.Shares) >= int(s.Manifest.Threshold) {
		c.openFlags(threshold.Params{N: len(s.Manifest.Trustees), T: int(s.Manifest.Threshold)}, uint64(s.Manifest.MinAnonymity))
	}
	return nil
}

// openFlags is the first round of a two-round contest (spec §15.5 step
// 6), once t valid shares of its flags are on the board: it decrypts the
// flags of the mixed rows and makes the list to decrypt the sums of the
// x_j over the rows with f = 1. Flags that revote.CheckFlags would refuse
// (a kept padding row, f = 2; more rows with f = 1 than the contest's
// ballots) are kept in flagErr: no sums are made, every later share is
// refused and so is the result (ComputeResult), as for a single-choice
// contest's (countFlagged). Fewer rows with f = 1 than minAnonymity (a
// voter's own device may flag its row 0) withhold the contest: its sums
// would be too few voters' selections. It changes the state whatever the
// flags: the share that completed them is already kept.
func (c *ContestTally) openFlags(p threshold.Params, minAnonymity uint64) {
	c.flagsOpen, c.FlagShares = true, c.Shares
	flags, err := c.decrypt(p, revote.FlagPadding)
	c.Shares, c.final, c.list, c.digest = map[int][]byte{}, nil, nil, nil
	if err != nil {
		c.flagErr = err
		return
	}
	var rows []int
	for i, f := range flags {
		switch f {
		case revote.FlagBallot:
			rows = append(rows, i)
		case revote.FlagNone:
		case revote.FlagPadding:
			c.flagErr = fmt.Errorf("%w: kept row %d is padding", revote.ErrFlags, i)
			return
		default:
			c.flagErr = fmt.Errorf("%w: kept row %d has flag %d", revote.ErrFlags, i, f)
			return
		}
	}
	if uint64(len(rows)) > c.Ballots {
		c.flagErr = fmt.Errorf("%w: %d rows with f = 1, the roll calls give at most %d online ballots", revote.ErrFlags, len(rows), c.Ballots)
		return
	}
	c.counted = uint64(len(rows))
	if c.counted < minAnonymity {
		c.Withheld = true
		return
	}
	sums := make([]*elgamal.Ciphertext, len(c.Contest.Candidates))
	for j := range sums {
		sums[j] = elgamal.Zero()
	}
	for _, i := range rows {
		for j := range sums {
			// The mixed rows were decoded when mixing ended
			// (finishMixing): they decode.
			x, err := c.mixed.Ciphertext(i, 1+j)
			if err != nil {
				panic(fmt.Sprintf("election: contest %s: mixed row %d no longer decodes: %v", c.Contest.ID, i, err))
			}
			sums[j].Add(sums[j], x)
		}
	}
	c.current, c.Input = sums, sums
}

// verifyShare checks a decryption share of the contest's list: a
// single-choice contest's final list held encoded, a chunk at a time.
func (c *ContestTally) verifyShare(ctx *Context, d *tally.DecryptionEntry) error {
	if c.final == nil {
		return threshold.VerifyDecryptionShare(ctx.ExtendedHash, ctx.VerificationKeys, c.Current(), d.Share)
	}
	if c.list == nil {
		l, err := threshold.NewEncodedCiphertextList(c.final.Encoding())
		if err != nil {
			return err
		}
		c.list = l
	}
	return c.list.VerifyShare(ctx.ExtendedHash, ctx.VerificationKeys, d.Share, d.ShareBytes())
}

// ComputeResult decrypts every contest from the valid shares on the board
// and counts (spec §9.7).
func (s *State) ComputeResult() (*tally.Result, error) {
	if s.Tally == nil {
		return nil, refuse("no tally before the cleansing")
	}
	res := &tally.Result{ElectionID: s.Manifest.ElectionID}
	p := threshold.Params{N: len(s.Manifest.Trustees), T: int(s.Manifest.Threshold)}
	for _, c := range s.Tally {
		cr := tally.ContestResult{ContestID: c.Contest.ID, Ballots: c.Ballots, Withheld: c.Withheld}
		if c.twoRound && c.flagsOpen && c.flagErr == nil {
			cr.Ballots = c.counted // the rows with f = 1, withheld or not
		}
		if !c.Withheld {
			if c.FlagsPending() {
				return nil, refuse("contest %s: its flags are not decrypted", c.Contest.ID)
			}
			if c.flagErr != nil {
				return nil, refuse("contest %s: %w", c.Contest.ID, c.flagErr)
			}
			if len(c.Shares) < p.T {
				return nil, refuse("contest %s has %d valid decryption shares, %d needed", c.Contest.ID, len(c.Shares), p.T)
			}
			values, err := c.decrypt(p, max(c.Ballots, uint64(len(c.Contest.Candidates))))
			if err != nil {
				return nil, err
			}
			if c.twoRound {
				// The sums of the rows with f = 1, which are the ballots.
				cr.Counts, cr.Ballots = values, c.counted
			} else if s.rv != nil {
				// The result's ballots are the rows counted (f = 1).
				if cr.Counts, cr.Ballots, err = countFlagged(values, len(c.Contest.Candidates), c.Ballots); err != nil {
					return nil, refuse("contest %s: %w", c.Contest.ID, err)
				}
			} else if c.Contest.Kind == ballot.SingleChoice {
				if cr.Counts, err = tally.CountChoices(values, len(c.Contest.Candidates)); err != nil {
					return nil, refuse("contest %s: %w", c.Contest.ID, err)
				}
			} else {
				cr.Counts = values
			}
		}
		res.Contests = append(res.Contests, cr)
	}
	return res, nil
}

// decrypt combines the first t valid shares (by trustee index) and
// recovers each value up to most: a single-choice contest's final list,
// held encoded, a chunk at a time.
func (c *ContestTally) decrypt(p threshold.Params, most uint64) ([]uint64, error) {
	table := elgamal.NewDLogTable(most)
	var values []uint64
	lookup := func(lo int, ms []*group.Element) error {
		for i, m := range ms {
			v, err := table.Lookup(m)
			if err != nil {
				return refuse("contest %s value %d: %w", c.Contest.ID, lo+i, err)
			}
			values = append(values, v)
		}
		return nil
	}
	keys := sortedKeys(c.Shares)[:p.T]
	if c.final != nil {
		shares := make([][]byte, len(keys))
		for k, t := range keys {
			shares[k] = c.Shares[t]
		}
		values = make([]uint64, 0, c.final.Len()*c.final.Width())
		err := threshold.CombineEncoded(p, c.final.Encoding(), shares, lookup)
		if err != nil && !errors.Is(err, ErrRefused) {
			return nil, refuse("contest %s: %w", c.Contest.ID, err)
		}
		return values, err
	}
	var shares []*threshold.DecryptionShare
	for _, t := range keys {
		sh, err := threshold.ParseDecryptionShare(c.Shares[t])
		if err != nil {
			return nil, fmt.Errorf("election: contest %s: trustee %d's share: %w", c.Contest.ID, t, err)
		}
		shares = append(shares, sh)
	}
	ms, err := threshold.Combine(p, c.Current(), shares)
	if err != nil {
		return nil, refuse("contest %s: %w", c.Contest.ID, err)
	}
	if err := lookup(0, ms); err != nil {
		return nil, err
	}
	return values, nil
}

func sortedKeys(m map[int][]byte) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (s *State) applyResult(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	if s.Phase != PhaseDecrypting {
		return refuse("result posted in phase %s", s.Phase)
	}
	got, err := tally.DecodeResult(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	want, err := s.ComputeResult()
	if err != nil {
		return err
	}
	if !got.Equal(want) {
		return refuse("published result differs from the result decrypted from the board")
	}
	s.Result, s.Phase = got, PhaseTallied
	return nil
}

// String renders a culprit for reports.
func (c Culprit) String() string {
	return fmt.Sprintf("entry %d: trustee %d, contest %s: %s", c.Position, c.Trustee, c.Contest, c.Reason)
}

// MixParams returns the parameters of contest's mix chain, with its
// commitment generators derived once.
func (s *State) MixParams(c *ContestTally) *tally.MixParams {
	if c.mixParams == nil {
		p := &tally.MixParams{ElectionID: s.Manifest.ElectionID, ContestID: c.Contest.ID, Context: s.Context.ExtendedHash[:], PublicKey: s.PublicKey}
		n := len(c.Input)
		if c.input != nil {
			n = c.input.Len()
		}
		c.mixParams = p.WithGenerators(n)
	}
	return c.mixParams
}

// CurrentRows returns the list the next mix of a contest must shuffle.
func (c *ContestTally) CurrentRows() *shuffle.Rows { return c.chain.Output }

func (s *State) applyMix(e *bulletin.Entry) error {
	if s.Phase != PhaseMixing {
		return refuse("mix posted in phase %s", s.Phase)
	}
	m, err := tally.DecodeMixEntry(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	trustee := s.trusteeOf(e.Author)
	if trustee == 0 || int(m.Mixer) != trustee {
		return refuse("mix for trustee %d not signed by that trustee", m.Mixer)
	}
	c, ok := s.ContestTally(m.ContestID)
	if !ok || c.chain == nil || m.ElectionID != s.Manifest.ElectionID {
		return refuse("mix of %q/%q, which is not a contest being mixed", m.ElectionID, m.ContestID)
	}
	// A mix of a list that is no longer the current one lost a race with
	// another mixer, and a second mix by one trustee adds nothing: both
	// are refused (the mixer starts again from the current list) rather
	// than kept and blamed.
	if m.Input != c.chain.InputDigest() {
		return refuse("mix of contest %s does not take the current list as input (another mix came first)", m.ContestID)
	}
	if slices.Contains(c.Mixers, trustee) {
		return refuse("trustee %d already has a valid mix of contest %s", trustee, m.ContestID)
	}
	// An invalid proof is the mixer's fault, not the board's: the entry
	// stays on the board, its trustee is named, and the next mixer starts
	// from the last valid list.
	if err := c.chain.Step(s.MixParams(c), int(s.Size), m); err != nil {
		s.Culprits = append(s.Culprits, Culprit{Position: s.Size, Type: bulletin.TypeMixOutput, Trustee: trustee, Contest: m.ContestID, Reason: err.Error(), Err: err})
		return nil
	}
	c.Mixers = append(c.Mixers, trustee)
	return nil
}

// ReleaseCasting lets go, once the cleansing is accepted, of what only the
// casting rules read: the cast ballots (the tally's lists hold what
// counting needs) and the indices of credentials, tracking codes,
// ciphertexts, pseudonyms and in-person marks. Every entry that would
// consult them (a credential, a ballot, an audited ballot, an in-person
// mark) is refused for its phase first, from the close on, and no
// cleansing is recomputed; the accessors then answer as for an empty
// board. A verifier calls it, so that its memory during the tally is not
// that of the casting (spec §11.7); the ballot box, which serves those
// indices, does not. It does nothing before the cleansing.
func (s *State) ReleaseCasting() {
	if s.Cleansing == nil || s.Phase < PhaseClosed {
		return
	}
	s.Ballots = nil
	s.credentials = index32[[32]byte, *record.CredentialIssued]{}
	s.credStyle = map[[32]byte]string{}
	s.inPerson = map[[32]byte]uint64{}
	s.byCode = index32[ballot.TrackingCode, uint64]{}
	s.ciphertexts = ctIndex{later: map[[32]byte]uint64{}}
	s.byPseudonym = index32[[32]byte, []uint64]{}
}
