package trustee

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/shuffle"
	"evote/election"
	"evote/tally"
)

// ErrNotFinalList is returned when the trustee is asked to decrypt
// anything other than the rows of the final verified mix of a contest (or
// the homomorphic sums of a multi-select contest), as its own replay of the
// board computes them: a trustee is never a decryption oracle
// (../shared/SECURITY.md, "Decryption oracle").
var ErrNotFinalList = errors.New("trustee: refusing to decrypt: not the final verified list of a contest")

// ErrFlagsRefused: in deniable re-voting mode, a multi-select contest's
// decrypted flags show a kept padding row or more ballots than voters
// (spec §15.5 step 6): the ballot box's rows are at fault, the contest
// cannot be counted, and the trustee's tool says so rather than
// finishing as if decrypted.
var ErrFlagsRefused = errors.New("trustee: a contest's decrypted flags were refused (the ballot box's padding or dummy rows are at fault; report it to the election commission)")

// shareKey checks that the key share belongs to this election and index
// and matches the context's verification key.
func (k *Keys) shareKey(st *election.State) (int, error) {
	index, err := k.indexIn(st)
	if err != nil {
		return 0, err
	}
	if k.Share == nil || k.Index != index {
		return 0, fmt.Errorf("trustee: no key share for trustee %d of this election (run key generation first)", index)
	}
	if k.Share.VerificationKey().Equal(st.Context.VerificationKeys[index-1]) != 1 {
		return 0, fmt.Errorf("trustee: the key share does not match verification key %d on the board", index)
	}
	return index, nil
}

// RunMix waits for the mixing phase and mixes, in turn with the other
// trustees, the last valid list of every mixed contest (single-choice;
// every contest in deniable re-voting mode) it has not
// yet mixed. Its own replay of the board has checked the cleansing against
// the ballots and every earlier mix's proof before it shuffles anything.
// A mix refused because another trustee's was posted first is redone on
// the new last list.
func RunMix(ctx context.Context, b Board, keys *Keys, o Options) error {
	f := o.follower(b)
	if err := f.Until(ctx, func(s *election.State) bool { return s.Phase >= election.PhaseMixing }); err != nil {
		return err
	}
	if err := f.Witness(ctx); err != nil {
		return err
	}
	index, err := keys.indexIn(f.State)
	if err != nil {
		return err
	}
	// Trustees mix in index order, each waiting for the mixes (valid or
	// not) of those before it, or for RoundWait: two mixes of the same list
	// would leave one with a stale input.
	before := func(s *election.State) bool {
		for _, c := range s.Tally {
			if !c.Mixed() {
				continue
			}
			for j := 1; j < index; j++ {
				if !mixedBy(s, c, j) {
					return false
				}
			}
		}
		return true
	}
	past := func(s *election.State) bool { return s.Phase != election.PhaseMixing }
	if err := waitRound(ctx, f, &o, before, past); err != nil {
		return err
	}
	posted := map[string]bool{} // contests whose mix by us is on the board, valid or not
	failed := false             // the last post failed
	for attempt := 0; ; attempt++ {
		// The mix is decided on, and posted right after, a witnessed
		// view: the list it shuffles is the one everyone sees, and the
		// transition to mixing on it is not a fork's (spec §13.3).
		if err := f.Witness(ctx); err != nil {
			return err
		}
		st := f.State
		if st.Phase != election.PhaseMixing {
			if st.Phase > election.PhaseMixing && attempt == 0 {
				return nil // mixing already over
			}
			break
		}
		c := nextToMix(st, index, posted)
		if c == nil {
			break
		}
		if attempt > 8*len(st.Tally)+8 {
			return fmt.Errorf("trustee: contest %s: could not post a mix on the current list after %d attempts", c.Contest.ID, attempt)
		}
		m, err := MixContest(st, index, c, o)
		if err != nil {
			return err
		}
		p, err := post(ctx, f, keys, bulletin.TypeMixOutput, m.Encode())
		if err != nil {
			// The board's client has already retried transient failures;
			// resync once (the board may have moved on) and try again on
			// the new last list, but a second failure in a row is the
			// trustee's to see, not to hide behind a wait: a million-row
			// mix the store refused was once re-mixed and re-posted
			// silently for half an hour.
			if ctx.Err() != nil || failed {
				return err
			}
			failed = true
			continue
		}
		failed = false
		if !p.Valid && strings.Contains(p.Reason, tally.ErrInputMismatch.Error()) {
			continue // another mix was posted first: mix the new last list
		}
		posted[c.Contest.ID] = true
		if !p.Valid {
			return fmt.Errorf("trustee: the ballot box found our mix of %s invalid: %s", c.Contest.ID, p.Reason)
		}
	}
	o.step(StepMixed)
	return nil
}

// mixedBy reports whether trustee j has a mix of contest c on the board,
// valid or not.
func mixedBy(s *election.State, c *election.ContestTally, j int) bool {
	if slices.Contains(c.Mixers, j) {
		return true
	}
	for _, x := range s.Culprits {
		if x.Trustee == j && x.Contest == c.Contest.ID {
			return true
		}
	}
	return false
}

// nextToMix returns the first contest that needs mixing and that the
// trustee has not mixed validly.
func nextToMix(st *election.State, index int, posted map[string]bool) *election.ContestTally {
	for _, c := range st.Tally {
		if c.Mixed() && !posted[c.Contest.ID] && !slices.Contains(c.Mixers, index) {
			return c
		}
	}
	return nil
}

// MixContest shuffles the contest's last valid list as trustee index.
func MixContest(st *election.State, index int, c *election.ContestTally, o Options) (*tally.MixEntry, error) {
	// The replay has verified every earlier mix of the chain (and the
	// cleansing that made its input): shuffle its last valid list.
	in := c.CurrentRows()
	mp := st.MixParams(c)
	sp := &shuffle.Params{ElectionID: []byte(mp.ElectionID), Context: mp.Context, Mixer: uint32(index), PublicKey: mp.PublicKey, Generators: mp.Generators}
	out, proof, err := shuffle.Shuffle(sp, in, o.Rand)
	if err != nil {
		return nil, fmt.Errorf("trustee: mixing %s: %w", c.Contest.ID, err)
	}
	e := &tally.MixEntry{ElectionID: st.Manifest.ElectionID, ContestID: c.Contest.ID, Mixer: uint32(index), Input: in.Digest(), Output: out, Proof: proof}
	o.tamperWith(e)
	return e, nil
}

// ShareFor returns the trustee's decryption entry for the list cts of a
// contest. It refuses (ErrNotFinalList) unless the replay st is in the
// decryption phase, every mixed contest has its required mixes,
// the contest is not withheld, and cts is exactly the contest's list to
// decrypt: the last valid mix output, or the per-candidate sums of a
// multi-select contest (in deniable re-voting mode, the flags of its last
// mix output and then the sums of its rows with f = 1). A voter's ballot, an unmixed list or any other
// ciphertext is refused.
func ShareFor(st *election.State, keys *Keys, contestID string, cts []*elgamal.Ciphertext, o Options) (*tally.DecryptionEntry, error) {
	c, err := decryptable(st, contestID)
	if err != nil {
		return nil, err
	}
	// The list given is reduced to its digest before the replay's own list
	// is decoded: one decoded list at a time.
	n, given := len(cts), tally.TargetDigest(cts)
	return shareOf(st, keys, c, func(current []*elgamal.Ciphertext, target [32]byte) bool { return n == len(current) && given == target }, o)
}

// decryptable returns the contest to decrypt, or ErrNotFinalList unless
// the replay st is in the decryption phase, every mixed contest has its
// required mixes, the contest is not withheld and its flags (if decrypted
// in two rounds) were not refused.
func decryptable(st *election.State, contestID string) (*election.ContestTally, error) {
	if st.Phase != election.PhaseDecrypting {
		return nil, fmt.Errorf("%w: the board is in phase %s", ErrNotFinalList, st.Phase)
	}
	for _, x := range st.Tally {
		if x.Mixed() && len(x.Mixers) < int(st.Manifest.Mixes) {
			return nil, fmt.Errorf("%w: contest %s has %d valid mixes of %d", ErrNotFinalList, x.Contest.ID, len(x.Mixers), st.Manifest.Mixes)
		}
	}
	c, ok := st.ContestTally(contestID)
	if !ok {
		return nil, fmt.Errorf("%w: no contest %q", ErrNotFinalList, contestID)
	}
	if c.Withheld {
		return nil, fmt.Errorf("%w: contest %s has too few ballots to be decrypted", ErrNotFinalList, contestID)
	}
	if err := c.FlagsRefused(); err != nil {
		return nil, fmt.Errorf("%w: contest %s: its decrypted flags were refused: %v", ErrNotFinalList, contestID, err)
	}
	return c, nil
}

// shareOf computes the trustee's decryption entry for contest c's list to
// decrypt, decoded once from the replay, if same (nil: always) accepts it.
func shareOf(st *election.State, keys *Keys, c *election.ContestTally, same func([]*elgamal.Ciphertext, [32]byte) bool, o Options) (*tally.DecryptionEntry, error) {
	index, err := keys.shareKey(st)
	if err != nil {
		return nil, err
	}
	current := c.Current()
	target := tally.TargetDigest(current)
	if same != nil && !same(current, target) {
		return nil, fmt.Errorf("%w: contest %s", ErrNotFinalList, c.Contest.ID)
	}
	kind := c.TargetKind()
	share, err := keys.Share.DecryptShares(st.Context.ExtendedHash, current, o.Rand)
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if index != share.Trustee {
		return nil, fmt.Errorf("trustee: key share index %d, trustee %d", share.Trustee, index)
	}
	d := &tally.DecryptionEntry{ElectionID: st.Manifest.ElectionID, ContestID: c.Contest.ID, Kind: kind, Target: target, Share: share}
	o.tamperWith(d)
	return d, nil
}

// RunDecrypt waits for the decryption phase and posts the trustee's
// decryption share of every contest that is decrypted, each computed only
// through ShareFor on the trustee's own replay of the board.
func RunDecrypt(ctx context.Context, b Board, keys *Keys, o Options) error {
	f := o.follower(b)
	if err := f.Until(ctx, func(s *election.State) bool { return s.Phase >= election.PhaseDecrypting }); err != nil {
		return err
	}
	// Each share is computed on, and posted right after, a witnessed
	// view: the lists it decrypts are the final lists of the board
	// everyone sees, never a fork's (spec §13.3).
	// A share is tried once per list: a contest decrypted in two rounds
	// (its flags, then its sums, spec §15.5 step 6) has two.
	tried := map[string]bool{} // contest and list whose share by us was posted, valid or not
	key := func(c *election.ContestTally) string { t := c.Target(); return c.Contest.ID + "/" + string(t[:]) }
	// view syncs to the board's end, then witnesses it: a share this
	// trustee or another just posted is in the view (Witness waits for a
	// checkpoint covering it), and the size waited on below is the
	// board's, not an older checkpoint's.
	view := func() error {
		if err := f.Sync(ctx); err != nil {
			return err
		}
		return f.Witness(ctx)
	}
	var refused []string // contests whose decrypted flags were refused
	announced := false   // StepAwaitFlags reported
	for {
		if err := view(); err != nil {
			return err
		}
		if f.State.Phase > election.PhaseDecrypting {
			return nil
		}
		index, err := keys.shareKey(f.State)
		if err != nil {
			return err
		}
		var next *election.ContestTally
		waiting := false // a contest's sums wait for other trustees' shares of its flags
		refused = refused[:0]
		for _, c := range f.State.Tally {
			if c.Withheld {
				continue
			}
			if err := c.FlagsRefused(); err != nil {
				refused = append(refused, fmt.Sprintf("%s (%v)", c.Contest.ID, err))
				continue
			}
			if _, done := c.Shares[index]; !done && !tried[key(c)] {
				next = c
				break
			}
			waiting = waiting || c.FlagsPending()
		}
		if next == nil {
			if !waiting {
				break
			}
			if !announced {
				o.step(StepAwaitFlags)
				announced = true
			}
			if err := f.Board.Wait(ctx, f.Size()); err != nil {
				return err
			}
			continue
		}
		// The replay's own list, decoded once (ShareFor's check of a
		// list given against it would decode a second copy).
		c, err := decryptable(f.State, next.Contest.ID)
		if err != nil {
			return err
		}
		d, err := shareOf(f.State, keys, c, nil, o)
		if err != nil {
			return err
		}
		tried[key(c)] = true
		p, err := post(ctx, f, keys, bulletin.TypeDecryptionShare, d.Encode())
		if err != nil {
			// A share of a contest's flags after the t-th is refused:
			// the flags were opened meanwhile, and its sums are next.
			if ctx.Err() != nil || !c.FlagsPending() {
				return err
			}
			if verr := view(); verr != nil {
				return verr
			}
			if now, ok := f.State.ContestTally(c.Contest.ID); !ok || now.FlagsPending() {
				return err
			}
			continue
		}
		if !p.Valid {
			return fmt.Errorf("trustee: the ballot box found our decryption share of %s invalid: %s", c.Contest.ID, p.Reason)
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("%w: %s", ErrFlagsRefused, strings.Join(refused, "; "))
	}
	o.step(StepDecrypted)
	return nil
}
