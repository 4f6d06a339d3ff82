package sim

import (
	"fmt"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
	"evote/tally"
)

// Hooks let tests make a trustee misbehave.
type Hooks struct {
	// Mix, if set, may replace trustee's mix entry before it is posted.
	Mix func(trustee int, m *tally.MixEntry) *tally.MixEntry
	// Share, if set, may replace trustee's decryption entry.
	Share func(trustee int, d *tally.DecryptionEntry) *tally.DecryptionEntry
}

// Mix starts the mixing phase and lets each of the first Mixes trustees
// (plus any needed to replace invalid mixes) mix every single-choice
// contest in turn.
func (e *Election) Mix(h Hooks) error {
	if err := e.Transition(election.PhaseMixing); err != nil {
		return err
	}
	s := e.State
	for t := 1; t <= len(s.Manifest.Trustees); t++ {
		if s.Phase != election.PhaseMixing {
			break
		}
		done := true
		for _, c := range s.Tally {
			if !c.Mixed() || len(c.Mixers) >= int(s.Manifest.Mixes) {
				continue
			}
			done = false
			m, _, err := tally.Mix(s.MixParams(c), uint32(t), c.CurrentRows(), nil, e.rand)
			if err != nil {
				return fmt.Errorf("trustee %d mixing %s: %w", t, c.Contest.ID, err)
			}
			if h.Mix != nil {
				m = h.Mix(t, m)
			}
			if err := e.Post(bulletin.TypeMixOutput, e.Keys.Trustees[t-1], m.Encode()); err != nil {
				return err
			}
		}
		if done {
			break
		}
	}
	return nil
}

// Decrypt starts the decryption phase and has trustees post shares of
// every contest's final list until each has t valid shares (of its flags,
// then of its sums, for a multi-select contest in deniable re-voting
// mode).
func (e *Election) Decrypt(h Hooks) error {
	if err := e.Transition(election.PhaseDecrypting); err != nil {
		return err
	}
	s := e.State
	for _, c := range s.Tally {
		if c.Withheld {
			continue
		}
		for round := 0; round == 0 || round == 1 && c.TwoRound() && c.FlagsRefused() == nil && !c.Withheld; round++ {
			kind, current, target := c.TargetKind(), c.Current(), c.Target()
			for t := 1; t <= len(s.Manifest.Trustees) && c.Target() == target && len(c.Shares) < int(s.Manifest.Threshold); t++ {
				share, err := e.Keys.Shares[t-1].DecryptShares(s.Context.ExtendedHash, current, e.rand)
				if err != nil {
					return err
				}
				d := &tally.DecryptionEntry{ElectionID: s.Manifest.ElectionID, ContestID: c.Contest.ID, Kind: kind, Target: target, Share: share}
				if h.Share != nil {
					d = h.Share(t, d)
				}
				if err := e.Post(bulletin.TypeDecryptionShare, e.Keys.Trustees[t-1], d.Encode()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Publish computes the result from the board and posts it.
func (e *Election) Publish() (*tally.Result, error) {
	r, err := e.State.ComputeResult()
	if err != nil {
		return nil, err
	}
	return r, e.Post(bulletin.TypeResult, e.Keys.Authority, r.Encode())
}

// Run sets up, votes, mixes, decrypts and publishes a whole election.
func Run(cfg Config, h Hooks) (*Election, error) {
	e, err := Setup(cfg)
	if err != nil {
		return nil, err
	}
	if err := e.Vote(); err != nil {
		return nil, err
	}
	if err := e.Mix(h); err != nil {
		return nil, err
	}
	if err := e.Decrypt(h); err != nil {
		return nil, err
	}
	if _, err := e.Publish(); err != nil {
		return nil, err
	}
	return e, nil
}

// Expected returns the result the voters meant, from Intended: what the
// published result must equal.
func (e *Election) Expected() *tally.Result {
	m := e.State.Manifest
	res := &tally.Result{ElectionID: m.ElectionID}
	for i := range m.Contests {
		c := &m.Contests[i]
		cr := tally.ContestResult{ContestID: c.ID}
		if c.Kind == ballot.SingleChoice {
			cr.Counts = make([]uint64, len(c.Candidates)+1)
		} else {
			cr.Counts = make([]uint64, len(c.Candidates))
		}
		for _, v := range e.voters {
			sel, ok := e.Intended[v.pseudonym]
			if !ok {
				continue
			}
			st, _ := m.Style(v.style)
			on := false
			for _, id := range st.Contests {
				on = on || id == c.ID
			}
			if !on {
				continue
			}
			cr.Ballots++
			chosen := sel[c.ID]
			if c.Kind == ballot.SingleChoice {
				if len(chosen) == 0 {
					cr.Counts[0]++
				} else {
					cr.Counts[chosen[0]+1]++
				}
				continue
			}
			for _, j := range chosen {
				cr.Counts[j]++
			}
		}
		if cr.Ballots < uint64(m.MinAnonymity) {
			cr.Withheld, cr.Counts = true, nil
		}
		res.Contests = append(res.Contests, cr)
	}
	return res
}
