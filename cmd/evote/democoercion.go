package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/idsource"
	"evote/bulletin"
	"evote/election"
	"evote/idp/boxauth"
	"evote/idp/registry"
	"evote/station"
	"evote/tally/revote"
	"evote/trustee"
)

// The demo in deniable re-voting mode (evote demo --coercion, spec
// chapter 15, §15.13 step 8): the voters' devices cast rows that the ballot
// box publishes in slots, padded with dummies; re-votes come from a second
// device; an in-person vote is a mark's row from the station's device; at
// the close the box pads every voter to M rows, the identity service posts
// the roll, and the trustees' tools filter each style before the tally.

// Slot parameters of the demo's manifest: the spec's smallest slot
// (ballot.MinSlotSeconds), a few rows per slot, and M = 3 (two online
// ballots and a mark at most).
const (
	demoSlotRows   = 12
	demoMaxBallots = 3
)

// demoClock is the ballot box's clock in the demo: real time plus an
// offset the demo advances to end a slot at once instead of waiting for
// it (the box's slot timer posts a slot once the clock passes its end,
// spec §15.16.6). Only the box reads it; the identity service and the
// tokens keep real time.
type demoClock struct{ offset atomic.Int64 }

// Now returns the box's time.
func (c *demoClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// AdvanceTo moves the box's time forward to t, if it is earlier.
func (c *demoClock) AdvanceTo(t time.Time) {
	if d := time.Until(t); d > time.Duration(c.offset.Load()) {
		c.offset.Store(int64(d))
	}
}

// demoCredentials is the ballot box's credential source (spec §15.16.2):
// the identity service over HTTP, as evoted's --identity-url
// (ballotbox/idsource). The identity service starts after the box (it
// needs the election's context), hence the late set.
type demoCredentials struct {
	mu  sync.Mutex
	src *idsource.Source
}

var _ ballotbox.CredentialSource = (*demoCredentials)(nil)

func (s *demoCredentials) set(c *boxauth.Client) {
	s.mu.Lock()
	s.src = &idsource.Source{C: c}
	s.mu.Unlock()
}

func (s *demoCredentials) source() (*idsource.Source, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src == nil {
		return nil, errors.New("demo: the identity service is not running yet")
	}
	return s.src, nil
}

func (s *demoCredentials) DummyCredentials(ctx context.Context, electionID string, items []ballotbox.DummyItem) ([]ballotbox.SignedCredential, error) {
	src, err := s.source()
	if err != nil {
		return nil, err
	}
	return src.DummyCredentials(ctx, electionID, items)
}

func (s *demoCredentials) PaddingCredentials(ctx context.Context, electionID string, items []ballotbox.PaddingItem) ([]ballotbox.SignedCredential, error) {
	src, err := s.source()
	if err != nil {
		return nil, err
	}
	return src.PaddingCredentials(ctx, electionID, items)
}

// coercionManifest sets the deniable re-voting option on the demo's
// manifest: last ballot counts and the demo's slot parameters. Its
// multi-select contest is decrypted as sums, after the flags of its mixed
// rows (spec §15.5 step 6).
func coercionManifest(m *ballot.Manifest) {
	m.Revote = ballot.LastBallotCounts
	m.Coercion = ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: ballot.MinSlotSeconds, SlotRows: demoSlotRows, MaxBallots: demoMaxBallots}
}

// voteRows is simulated voter i, person p, in deniable re-voting mode,
// following voterPlan(i): perhaps an audit of a prepared row first
// (§15.9), a row, perhaps a re-vote from a second device, and perhaps a
// vote in person, whose mark's row makes the online ballots void.
func (r *demoRun) voteRows(ctx context.Context, i int, p *registry.SimPerson) error {
	revoted, audited, inPerson := voterPlan(i)
	revoted = revoted && !r.o.noRevote[i]
	d, err := r.signIn(ctx, p)
	if err != nil {
		return err
	}
	style := d.token.BallotStyle
	if audited {
		if err := r.auditRow(ctx, i, d, style); err != nil {
			return err
		}
	}
	sel := demoSelection(r.m, i, style)
	if err := r.castRow(ctx, d, style, sel, "cast"); err != nil {
		return err
	}
	if revoted {
		// Later, from another device: a new sign-in, a new credential for
		// the same voter, a new row, which the filter keeps instead.
		d2, err := r.signIn(ctx, p)
		if err != nil {
			return err
		}
		sel = demoSelection(r.m, i+3, style)
		if err := r.castRow(ctx, d2, style, sel, "re-vote"); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.intended[d.token.Pseudonym] = demoIntent{style, sel}
	r.mu.Unlock()
	if inPerson {
		return r.voteInPerson(ctx, d.token.Pseudonym, style)
	}
	return nil
}

// prepareRow is the device's work before it casts or audits a row
// (makeRow).
func (r *demoRun) prepareRow(d *device, style string, sel ballot.Selection, what string) (*preparedRow, error) {
	p, err := makeRow(r.el, r.ext, r.f.Log, d, style, sel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return p, nil
}

// castRow prepares and casts a row, keeping its hash for the receipt.
func (r *demoRun) castRow(ctx context.Context, d *device, style string, sel ballot.Selection, what string) error {
	p, err := r.prepareRow(d, style, sel, what)
	if err != nil {
		return err
	}
	rc, err := r.box.CastRow(ctx, r.electionID, d.token.Token, p.enc)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	r.keepRow(rc.RowHash, p.enc)
	return nil
}

// auditRow is a Benaloh audit in this mode (spec §15.9): the device
// prepares a row, the voter audits it (its ballot and flag opened, never
// cast), and the voter's second device checks the audit the box serves
// by tracking code, against the prepared row, as in chapter 9.
func (r *demoRun) auditRow(ctx context.Context, i int, d *device, style string) error {
	p, err := r.prepareRow(d, style, demoSelection(r.m, i+1, style), "audit")
	if err != nil {
		return err
	}
	opened := p.ballot.Audit().WithFlag(p.flag, p.flagRand)
	if _, err := r.box.Audit(ctx, r.electionID, d.token.Token, opened.Encode(), p.enc); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return r.secondDeviceAudit(ctx, p.ballot.Ballot.TrackingCode().Shown(), p.enc, opened)
}

// keepRow keeps a cast row for its receipt: the hash the box answered,
// which must be the row's.
func (r *demoRun) keepRow(hash string, row []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rowBytes == nil {
		r.rowBytes = map[string][]byte{}
	}
	r.rows = append(r.rows, hash)
	r.rowBytes[hash] = row
}

// publishSlots ends slots at once by moving the box's clock to the end
// of each slot in turn, until every cast row is published in a slot and
// its device gets the receipt (each slot carries B_st rows per style, the
// queued casts first, dummies for the rest), or, with a fixed number of
// slots, until that many are on the board. Slot k is due at
// voting_start + (k+1)·slot_seconds whatever the real time.
func (r *demoRun) publishSlots(ctx context.Context) error {
	pending := slices.Clone(r.rows)
	step := time.Duration(r.m.Coercion.SlotSeconds) * time.Second
	start := time.Unix(int64(r.m.VotingStart), 0)
	for k := uint32(1); ; k++ {
		if r.o.slots > 0 && k > uint32(r.o.slots) {
			break
		}
		if r.o.slots == 0 && len(pending) == 0 {
			break
		}
		if k > uint32(10*len(r.rows)+10) {
			return fmt.Errorf("demo: %d rows still queued after %d slots", len(pending), k-1)
		}
		r.env.clock.AdvanceTo(start.Add(time.Duration(k)*step + step/20))
		if err := r.f.Until(ctx, func(s *election.State) bool {
			for _, rs := range s.RevoteStyles() {
				if rs.Slots < k {
					return false
				}
			}
			return true
		}); err != nil {
			return err
		}
		var still []string
		for _, h := range pending {
			rc, err := r.box.RowStatus(ctx, r.electionID, h)
			if err != nil {
				return fmt.Errorf("receipt of row %s: %w", h, err)
			}
			if !rc.Published() {
				still = append(still, h)
				continue
			}
			if err := r.f.Sync(ctx); err != nil {
				return err
			}
			if _, err := station.CheckRowReceipt(r.f, r.rowBytes[rc.RowHash], rc); err != nil {
				return err
			}
		}
		pending = still
	}
	if len(pending) > 0 {
		return fmt.Errorf("demo: %d rows still queued after %d slots", len(pending), r.o.slots)
	}
	slots := 0
	for _, rs := range r.f.State.RevoteStyles() {
		slots += int(rs.Slots)
	}
	r.say("slot timer: box clock moved on %d s per slot; all %d rows published, in %d slots of the %d styles, padded with dummies; each receipt checked: the row in its slot, the slot in a signed checkpoint", r.m.Coercion.SlotSeconds, len(r.rows), slots, len(r.f.State.RevoteStyles()))
	return nil
}

// closeAndFilter closes voting; the box's slot timer posts the last
// slots, the padding, the depths and the marks; the identity service
// posts the roll (as evote-idp does once it sees the close); the trustees'
// tools filter every style and mix, while the officials start the mixing
// once the filter and roll call are done.
func (r *demoRun) closeAndFilter(ctx context.Context) error {
	if err := act(ctx, r.off, r.electionID, "close"); err != nil {
		return err
	}
	r.observer.Lock()
	err := checkAuditsPublished(ctx, r.box, r.electionID, r.f, r.audited)
	r.observer.Unlock()
	if err != nil {
		return err
	}
	r.say("audits published before the close: %d, in %d shuffled batch(es), each with its row's flag opened; each checked again from its tracking code", len(r.audited), auditBatches(r.f.Entries))
	if err := r.f.Until(ctx, func(s *election.State) bool {
		for _, rs := range s.RevoteStyles() {
			if !rs.Padded || !rs.HasDepths || !rs.HasMarks {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	board, padding := 0, 0
	for _, rs := range r.f.State.RevoteStyles() {
		board += rs.Board
		padding += rs.Rows.Len() - rs.Board
	}
	marks, err := boardMarks(r.f.Entries)
	if err != nil {
		return err
	}
	r.say("voting closed: %d rows in slots (%d cast, %d dummies), then the padding (%d rows: every listed voter has M = %d), the depths and the marks (%d opened)", board, len(r.rows), board-len(r.rows), padding, r.m.Coercion.MaxBallots, marks)
	if err := r.env.idpSvc.PostRoll(ctx); err != nil {
		return fmt.Errorf("identity service's roll: %w", err)
	}
	octx, cancel := context.WithCancel(ctx)
	defer cancel() // the officials stop if a trustee's tool fails
	officials := make(chan error, 1)
	go func() {
		// The officials start the mixing once every style's filter and
		// roll call are done (the box refuses it before).
		ob, err := r.newBoard(octx)
		if err == nil {
			f := trustee.NewFollower(ob)
			f.Fingerprint = r.fp
			if err = f.Until(octx, trustee.FilterDone); err == nil {
				err = act(octx, r.off, r.electionID, "start-mixing")
			}
		}
		officials <- err
	}()
	if err := r.tallyStep(ctx, "mix", trustee.RunMix); err != nil {
		return err
	}
	if err := <-officials; err != nil {
		return err
	}
	if err := r.f.Sync(ctx); err != nil {
		return err
	}
	voters := 0
	for _, rs := range r.f.State.RevoteStyles() {
		voters += rs.Voters
	}
	r.say("filtered: each trustee mixed, blinded and decrypted the tags of every style; the box kept each voter's last row; the roll call counts %d voters", voters)
	r.say("mixed: each trustee verified the filter and every earlier mix, then shuffled")
	return nil
}

// boardMarks counts the in-person marks the board's revote-marks entries
// open.
func boardMarks(es []*bulletin.Entry) (int, error) {
	n := 0
	for _, e := range es {
		if e.Type != bulletin.TypeRevoteMarks {
			continue
		}
		ms, err := revote.DecodeMarks(e.Payload)
		if err != nil {
			return 0, err
		}
		n += len(ms.Marks)
	}
	return n, nil
}
