package trustee

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"evote/bulletin"
	"evote/crypto/shuffle"
	"evote/crypto/threshold"
	"evote/election"
	"evote/tally"
	"evote/tally/revote"
)

// The trustee's part of an election in deniable re-voting mode (spec
// §15.15): the tag key before voting opens (RunTagKey), and after the
// close, ballot style after ballot style, the mixes of the filter's X and
// Y lists, the blinding step, the decryption shares of the blinded tags,
// the mixes of the roll call and its decryption shares (RunFilter). Each
// step is computed by NextFilterStep from the trustee's witnessed replay
// of the board and its secrets alone, so that a run that stops anywhere
// and starts again posts nothing twice.

// Step names of this mode, reported through Options.OnStep.
const (
	StepTagKey   = "tag-key"
	StepFiltered = "filtered"
)

var (
	// ErrTagKeyLost means the board holds this trustee's tag key and the
	// key file does not, or holds another: the blinding cannot be made
	// (the rules take one tag key per trustee, so no new one can be
	// posted). Restore the key file from a backup made after the tag key
	// was posted (spec §15.15).
	ErrTagKeyLost = errors.New("trustee: the tag key on the board is not the one in the key file")
	// ErrNoTagKey means the board holds no tag key of this trustee: voting
	// cannot have opened, and the rules would refuse its blinding.
	ErrNoTagKey = errors.New("trustee: no tag key of this trustee on the board")
	// ErrStepSkipped means the board's rules skipped a step of this
	// trustee's filter as invalid, naming the trustee (spec §15.13 step 5):
	// this tool's output did not verify, and it stops rather than guess.
	ErrStepSkipped = errors.New("trustee: the board skipped this trustee's step as invalid")
)

func randOr(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// TagKeyFor returns keys holding the trustee's tag key for the election of
// st (spec §15.1): keys itself when their tag key is the one on the board,
// or, before the board holds one, when they already hold one (drawn by a
// run that stopped before posting it); otherwise a copy with a fresh key
// drawn from rand, and fresh set: the caller keeps it durably (the key
// file, §13.1) before posting its entry. A key on the board that keys do
// not hold gives ErrTagKeyLost: a new one would be refused by the rules,
// and would not blind with the key the board holds.
func TagKeyFor(st *election.State, keys *Keys, rand io.Reader) (out *Keys, fresh bool, err error) {
	if !st.Coercion() || st.Context == nil {
		return nil, false, fmt.Errorf("trustee: no tag key: the election is not in deniable re-voting mode or has no context yet")
	}
	index, err := keys.shareKey(st)
	if err != nil {
		return nil, false, err
	}
	onBoard := st.RevoteTagKeys()[index-1]
	switch {
	case onBoard != nil && keys.TagKey == nil:
		return nil, false, fmt.Errorf("%w: the board holds trustee %d's tag key %x and the key file none (restore the key file from its backup made after the tag key was posted)", ErrTagKeyLost, index, onBoard.Bytes()[:8])
	case onBoard != nil && keys.TagKey.Public().Equal(onBoard) != 1:
		return nil, false, fmt.Errorf("%w: the board holds trustee %d's tag key %x, the key file %x", ErrTagKeyLost, index, onBoard.Bytes()[:8], keys.TagKey.Public().Bytes()[:8])
	case keys.TagKey != nil:
		if keys.TagKey.Trustee != index {
			return nil, false, fmt.Errorf("%w: the key file's tag key is trustee %d's, this is trustee %d", ErrTagKeyLost, keys.TagKey.Trustee, index)
		}
		return keys, false, nil
	case st.Phase != election.PhaseReady:
		return nil, false, fmt.Errorf("%w: trustee %d, phase %s (tag keys are posted before voting opens)", ErrNoTagKey, index, st.Phase)
	}
	tk, err := revote.NewTagKey(index, randOr(rand))
	if err != nil {
		return nil, false, fmt.Errorf("trustee: %w", err)
	}
	k := *keys
	k.TagKey = tk
	return &k, true, nil
}

// TagKeyPayload returns the payload of the trustee's revote-tag-key entry
// for keys.TagKey (spec §15.1: Z_j with its proof of knowledge).
func TagKeyPayload(st *election.State, keys *Keys, rand io.Reader) ([]byte, error) {
	if keys.TagKey == nil || st.Context == nil {
		return nil, fmt.Errorf("trustee: no tag key to post")
	}
	ext := st.Context.ExtendedHash
	p, err := keys.TagKey.Prove(ext, randOr(rand))
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	return (&revote.TagKeyEntry{Context: ext, Trustee: keys.TagKey.Trustee, Key: keys.TagKey.Public(), Proof: p}).Encode(), nil
}

// RunTagKey posts the trustee's tag key once the election context is on
// the board, in an election in deniable re-voting mode (it does nothing in
// another), and returns the keys holding it. A fresh key goes to
// Options.SaveKeys, which must keep it durably, before its entry is posted;
// if the key on the board is already this trustee's, nothing is posted.
func RunTagKey(ctx context.Context, b Board, keys *Keys, o Options) (*Keys, error) {
	f := o.follower(b)
	if err := f.Until(ctx, func(s *election.State) bool { return s.Context != nil }); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err := f.Sync(ctx); err != nil {
			return nil, err
		}
		if err := f.Witness(ctx); err != nil {
			return nil, err
		}
		st := f.State
		if !st.Coercion() {
			return keys, nil
		}
		out, fresh, err := TagKeyFor(st, keys, o.Rand)
		if err != nil {
			return nil, err
		}
		if fresh {
			if o.SaveKeys == nil {
				return nil, fmt.Errorf("trustee: nowhere to keep the tag key (Options.SaveKeys): not posting it")
			}
			if err := o.SaveKeys(out); err != nil {
				return nil, fmt.Errorf("trustee: saving the tag key before posting it: %w", err)
			}
			keys = out
		}
		if st.RevoteTagKeys()[out.TagKey.Trustee-1] != nil {
			o.step(StepTagKey)
			return out, nil
		}
		if attempt > 0 {
			return nil, fmt.Errorf("trustee: the tag key of trustee %d is not on the board after posting it", out.TagKey.Trustee)
		}
		payload, err := TagKeyPayload(st, out, o.Rand)
		if err != nil {
			return nil, err
		}
		if _, err := post(ctx, f, out, bulletin.TypeRevoteTagKey, payload); err != nil {
			return nil, err
		}
	}
}

// A FilterStep is the trustee's next entry in the filter of a ballot style
// (spec §15.5, §15.7): a mix of the list List (revote-x, revote-y,
// revote-roll), a blinding step (List revote-tags) or a decryption share
// of List (revote-tags, revote-roll).
type FilterStep struct {
	Style   string
	Type    bulletin.Type
	List    string
	Payload []byte
}

func (s *FilterStep) String() string {
	what := map[bulletin.Type]string{bulletin.TypeMixOutput: "mix", bulletin.TypeRevoteBlind: "blinding", bulletin.TypeDecryptionShare: "decryption share"}[s.Type]
	return fmt.Sprintf("%s of %s, style %s", what, s.List, s.Style)
}

// FilterDone reports whether every ballot style's filter and roll call is
// on the board (or the election is past them).
func FilterDone(st *election.State) bool {
	return st.Phase > election.PhaseClosed || (st.Coercion() && st.RevoteCurrent() >= len(st.RevoteStyles()))
}

// NextFilterStep returns the trustee's next entry in the filter of the
// ballot style whose filter runs on st, or nil when none is due now. It
// reads only st, the trustee's replay, and its secrets. Mixes and blinding
// steps are taken in the trustees' index order, each waiting for those
// before it to have one (valid or skipped) unless outOfTurn; decryption
// shares are posted by every trustee. The lists decrypted are only those
// the rules derive from verified steps: the tag list after t valid
// blinding steps and the roll call after its mixes (§15.5 step 4).
// Nothing is due that the board already holds from this trustee, valid
// or skipped; a skipped one, in this style's filter or an earlier one's,
// gives ErrStepSkipped.
func NextFilterStep(st *election.State, keys *Keys, outOfTurn bool, o Options) (*FilterStep, error) {
	if !st.Coercion() || st.Phase != election.PhaseClosed || FilterDone(st) {
		return nil, nil
	}
	index, err := keys.shareKey(st)
	if err != nil {
		return nil, err
	}
	styles := st.RevoteStyles()
	for _, x := range styles[:st.RevoteCurrent()+1] {
		for _, c := range x.Skipped {
			if c.Trustee == index {
				return nil, fmt.Errorf("%w: trustee %d's %s of %s, style %s, entry %d: %s", ErrStepSkipped, index, c.Type, c.Contest, x.Style, c.Position, c.Reason)
			}
		}
	}
	rs := styles[st.RevoteCurrent()]
	if rs.Params == nil {
		return nil, nil // the style's padding, depths and marks are not all on the board
	}
	mixes, t := rs.Params.Mixes, rs.Params.Threshold.T
	// has reports whether trustee j has a step of this type over list on
	// the board, valid (in valid) or skipped.
	has := func(valid []int, typ bulletin.Type, list string) func(int) bool {
		return func(j int) bool {
			return slices.Contains(valid, j) || slices.ContainsFunc(rs.Skipped, func(c election.Culprit) bool {
				return c.Trustee == j && c.Type == typ && c.Contest == list
			})
		}
	}
	turn := func(done func(int) bool) bool {
		for j := 1; j < index && !outOfTurn; j++ {
			if !done(j) {
				return false
			}
		}
		return true
	}
	// mixStep mixes the chain if it needs mixes, this trustee has none in
	// it and its turn has come; due reports that the chain still needs
	// mixes.
	mixStep := func(chain string, rows []int) (step *FilterStep, due bool, err error) {
		if len(rows) >= mixes {
			return nil, false, nil
		}
		done := has(rows, bulletin.TypeMixOutput, chain)
		if done(index) || !turn(done) {
			return nil, true, nil
		}
		step, err = mixFilterList(st, rs, index, chain, o)
		return step, true, err
	}
	if rs.Kept == nil {
		if rs.Blinded == nil {
			// The X and Y chains, until the first blinding step (valid or
			// skipped) freezes them.
			pending := false
			for _, c := range []struct {
				chain string
				rows  []int
			}{{revote.ChainX, rs.XMixers}, {revote.ChainY, rs.YMixers}} {
				step, due, err := mixStep(c.chain, c.rows)
				if step != nil || err != nil {
					return step, err
				}
				pending = pending || due
			}
			if pending {
				return nil, nil
			}
		}
		if len(rs.Blinders) < t {
			if len(rs.TagSharers) > 0 {
				return nil, nil // cannot happen: shares need t blinders
			}
			done := has(rs.Blinders, bulletin.TypeRevoteBlind, election.ShareTags)
			if done(index) || !turn(done) {
				return nil, nil
			}
			return blindStep(st, rs, keys, index, o)
		}
		if has(rs.TagSharers, bulletin.TypeDecryptionShare, election.ShareTags)(index) {
			return nil, nil
		}
		return shareStep(st, keys, rs.Style, election.ShareTags, rs.Blinded, o)
	}
	// The roll call (§15.7).
	if len(rs.RollSharers) == 0 {
		step, due, err := mixStep(revote.ChainRoll, rs.RollMixes)
		if step != nil || err != nil || due {
			return step, err
		}
	}
	if !st.RevoteRollPosted() || has(rs.RollSharers, bulletin.TypeDecryptionShare, election.ShareRoll)(index) {
		return nil, nil
	}
	return shareStep(st, keys, rs.Style, election.ShareRoll, rs.Roll, o)
}

// mixFilterList shuffles the current list of one of the filter's chains
// as trustee index. The replay has verified every earlier mix of the
// chain and the lists' construction from the verified rows.
func mixFilterList(st *election.State, rs election.RevoteStyle, index int, chain string, o Options) (*FilterStep, error) {
	in := rs.X
	switch chain {
	case revote.ChainY:
		in = rs.Y
	case revote.ChainRoll:
		in = rs.Roll
	}
	m, _, err := tally.Mix(rs.Params.MixParams(chain), uint32(index), in, nil, randOr(o.Rand))
	if err != nil {
		return nil, fmt.Errorf("trustee: mixing %s of style %s: %w", chain, rs.Style, err)
	}
	o.tamperWith(m)
	return &FilterStep{Style: rs.Style, Type: bulletin.TypeMixOutput, List: chain, Payload: m.Encode()}, nil
}

// blindStep raises the current tag list to the trustee's tag key, which
// must be the one the board holds for it (spec §15.5 step 3).
func blindStep(st *election.State, rs election.RevoteStyle, keys *Keys, index int, o Options) (*FilterStep, error) {
	onBoard := st.RevoteTagKeys()[index-1]
	switch {
	case onBoard == nil:
		return nil, fmt.Errorf("%w: trustee %d cannot blind style %s's tags", ErrNoTagKey, index, rs.Style)
	case keys.TagKey == nil:
		return nil, fmt.Errorf("%w: the board holds trustee %d's tag key %x and the key file none: style %s's tags cannot be blinded (restore the key file from its backup made after the tag key was posted)", ErrTagKeyLost, index, onBoard.Bytes()[:8], rs.Style)
	case keys.TagKey.Trustee != index || keys.TagKey.Public().Equal(onBoard) != 1:
		return nil, fmt.Errorf("%w: the board holds trustee %d's tag key %x, the key file %x: not blinding style %s's tags with it", ErrTagKeyLost, index, onBoard.Bytes()[:8], keys.TagKey.Public().Bytes()[:8], rs.Style)
	}
	list := rs.Blinded
	if list == nil {
		var err error
		if list, err = revote.TagList(rs.X, rs.Y); err != nil {
			return nil, fmt.Errorf("trustee: style %s's tag list: %w", rs.Style, err)
		}
	}
	step, err := keys.TagKey.Blind(st.Context.ExtendedHash, list, randOr(o.Rand))
	if err != nil {
		return nil, fmt.Errorf("trustee: blinding style %s's tags: %w", rs.Style, err)
	}
	be := &revote.BlindEntry{Style: rs.Style, Input: list.Digest(), Step: step}
	o.tamperWith(be)
	return &FilterStep{Style: rs.Style, Type: bulletin.TypeRevoteBlind, List: election.ShareTags, Payload: be.Encode()}, nil
}

// shareStep is the trustee's decryption share of list (one column), one
// of the filter's lists the rules derive from verified steps. The list is
// never held decoded (threshold.KeyShare.DecryptSharesEncoded).
func shareStep(st *election.State, keys *Keys, style, id string, list *shuffle.Rows, o Options) (*FilterStep, error) {
	if list.Width() != 1 {
		return nil, fmt.Errorf("trustee: decrypting %s of style %s: a list of width %d", id, style, list.Width())
	}
	b, err := keys.Share.DecryptSharesEncoded(st.Context.ExtendedHash, list.Encoding(), randOr(o.Rand))
	if err != nil {
		return nil, fmt.Errorf("trustee: decrypting %s of style %s: %w", id, style, err)
	}
	share, err := threshold.ParseDecryptionShare(b)
	if err != nil {
		return nil, fmt.Errorf("trustee: decrypting %s of style %s: %w", id, style, err)
	}
	d := &tally.DecryptionEntry{ElectionID: st.Manifest.ElectionID, ContestID: id, Kind: tally.TargetMixed, Target: tally.TargetDigestRows(list), Share: share}
	o.tamperWith(d)
	return &FilterStep{Style: style, Type: bulletin.TypeDecryptionShare, List: id, Payload: d.Encode()}, nil
}

// RunFilter waits for the close of an election in deniable re-voting mode
// (it returns at once in another) and posts the trustee's steps of every
// ballot style's filter and roll call (NextFilterStep), each decided on
// and posted right after a witnessed view of the whole board, until every
// style's roll call is done. A step refused because another trustee's came
// first is recomputed on the new view. Waiting for the trustees before it
// in index order, it acts out of turn once the board has not grown for
// Options.RoundWait (if set).
func RunFilter(ctx context.Context, b Board, keys *Keys, o Options) error {
	f := o.follower(b)
	if err := f.Until(ctx, func(s *election.State) bool {
		return s.Manifest != nil && (!s.Coercion() || s.Phase >= election.PhaseClosed)
	}); err != nil {
		return err
	}
	if !f.State.Coercion() {
		return nil
	}
	failed, failedAt := "", uint64(0) // the step whose post failed last, and the view it was computed on
	grew, size := time.Now(), f.Size()
	for {
		// Sync to the board's end first: an entry this trustee posted
		// (perhaps by a run that stopped before hearing back) is then in
		// the view Witness brings to a cosigned checkpoint.
		if err := f.Sync(ctx); err != nil {
			return err
		}
		if err := f.Witness(ctx); err != nil {
			return err
		}
		if FilterDone(f.State) {
			o.step(StepFiltered)
			return nil
		}
		if f.Size() != size {
			grew, size = time.Now(), f.Size()
		}
		outOfTurn := o.RoundWait > 0 && time.Since(grew) >= o.RoundWait
		step, err := NextFilterStep(f.State, keys, outOfTurn, o)
		if err != nil {
			return err
		}
		if step == nil {
			// Wait for the board to grow, at most RoundWait: past it the
			// trustee acts out of turn.
			wctx, cancel := ctx, context.CancelFunc(func() {})
			if o.RoundWait > 0 {
				wctx, cancel = context.WithTimeout(ctx, o.RoundWait)
			}
			err := f.Board.Wait(wctx, f.Size())
			cancel()
			if err != nil && ctx.Err() != nil {
				return err
			}
			continue
		}
		p, err := post(ctx, f, keys, step.Type, step.Payload)
		if err != nil {
			// Another trustee's step may have come first (the board moved
			// on): recompute on a new view. The same step failing again on
			// a view no larger than the last failure's is the trustee's to
			// see: nothing came first. (Three trustees acting out of turn
			// can beat one trustee's step twice in a row.)
			if ctx.Err() != nil || failed == step.String() && f.Size() <= failedAt {
				return fmt.Errorf("trustee: posting the %s: %w", step, err)
			}
			failed, failedAt = step.String(), f.Size()
			continue
		}
		failed = ""
		if !p.Valid {
			index, _ := keys.indexIn(f.State)
			return fmt.Errorf("%w: the ballot box found trustee %d's %s invalid: %s", ErrStepSkipped, index, step, p.Reason)
		}
	}
}
