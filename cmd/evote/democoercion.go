package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	"evote/client"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/election"
	"evote/idp/boxauth"
	"evote/idp/registry"
	"evote/record"
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

// b64url is the base64 of the services' JSON answers.
var b64url = base64.RawURLEncoding

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
// manifest: last ballot counts, the demo's slot parameters, and
// single-choice contests only (the rules refuse multi-select contests in
// this mode, §15.13 step 2).
func coercionManifest(m *ballot.Manifest) {
	m.Revote = ballot.LastBallotCounts
	m.Coercion = ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: ballot.MinSlotSeconds, SlotRows: demoSlotRows, MaxBallots: demoMaxBallots}
	keep := map[string]bool{}
	var cs []ballot.Contest
	for _, c := range m.Contests {
		if c.Kind == ballot.SingleChoice {
			cs = append(cs, c)
			keep[c.ID] = true
		}
	}
	m.Contests = cs
	for i := range m.BallotStyles {
		m.BallotStyles[i].Contests = slices.DeleteFunc(slices.Clone(m.BallotStyles[i].Contests), func(id string) bool { return !keep[id] })
	}
}

// voteRows is simulated voter i, person p, in deniable re-voting mode,
// following voterPlan(i) (no audit: §15.13 step 2 leaves audited ballots
// out of this mode): a row, perhaps a re-vote from a second device, and
// perhaps a vote in person, whose mark's row makes the online ballots
// void.
func (r *demoRun) voteRows(ctx context.Context, i int, p *registry.SimPerson) error {
	revoted, _, inPerson := voterPlan(i)
	revoted = revoted && !r.o.noRevote[i]
	d, err := r.signIn(ctx, p)
	if err != nil {
		return err
	}
	style := d.token.BallotStyle
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
		return r.markRow(ctx, d.token.Pseudonym, style)
	}
	return nil
}

// deviceCredential is what the device checks of its credential before it
// casts (spec §15.16.1): it decodes, and its encrypted identifier opens,
// with s, to the voter's identifier.
func (r *demoRun) deviceCredential(t *client.VoterToken, wantOpen bool) (*revote.Credential, []byte, [64]byte, error) {
	var sig [64]byte
	raw, err := b64url.DecodeString(t.RevoteCredential)
	if err != nil {
		return nil, nil, sig, fmt.Errorf("sign-in answered no credential: %w", err)
	}
	cred, err := revote.DecodeCredential(raw)
	if err != nil {
		return nil, nil, sig, err
	}
	s, err := b64url.DecodeString(t.RevoteCredentialSig)
	if err != nil || len(s) != 64 {
		return nil, nil, sig, errors.New("sign-in answered a malformed credential signature")
	}
	sig = [64]byte(s)
	if wantOpen {
		ps, err := hex.DecodeString(t.Pseudonym)
		sb, err2 := b64url.DecodeString(t.RevoteS)
		var sc group.Scalar
		if err != nil || err2 != nil || len(ps) != 32 {
			return nil, nil, sig, errors.New("sign-in answered a malformed pseudonym or s")
		}
		if _, err := sc.SetCanonicalBytes(sb); err != nil {
			return nil, nil, sig, fmt.Errorf("sign-in answered s: %w", err)
		}
		if !revote.OpensTo(r.el.PublicKey, cred.ID, &sc, revote.VoterID(r.electionID, [32]byte(ps))) {
			return nil, nil, sig, errors.New("the credential does not open to the voter's identifier")
		}
	}
	return cred, raw, sig, nil
}

// castRow is the device's work (spec §15.3): sel encrypted, the flag
// f = 1 with its proof, the device's signature over the row; it casts the
// row and keeps its hash for the receipt.
func (r *demoRun) castRow(ctx context.Context, d *device, style string, sel ballot.Selection, what string) error {
	cred, raw, sig, err := r.deviceCredential(d.token, true)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	pb, err := r.el.Encrypt(style, d.pub(), sel, nil)
	if err != nil {
		return err
	}
	row := &revote.SignedRow{Credential: raw, CredentialSig: sig, Cred: cred, Ballot: pb.Ballot.Encode(), B: pb.Ballot}
	flag, proof, err := revote.EncryptFlag(r.el.PublicKey, revote.FlagProofContext(r.ext, d.pub()), revote.FlagBallot, rand.Reader)
	if err != nil {
		return err
	}
	row.Flag, row.FlagProof = flag, proof.Bytes()
	copy(row.DeviceSig[:], ed25519.Sign(d.key, revote.RowMessage(r.f.Log, row)))
	enc := row.Encode()
	rc, err := r.box.CastRow(ctx, r.electionID, d.token.Token, enc)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	r.keepRow(rc.RowHash, enc)
	return nil
}

// markRow is the voter's vote in person: the station signs the mark, the
// identity service gives the station's device a token and a credential
// for it, and the device casts the mark's row (a blank ballot, f = 0) with
// its opening (spec §15.16.4). The filter keeps it as the voter's last
// row; the tally counts it as no online ballot.
func (r *demoRun) markRow(ctx context.Context, pseudonym, style string) error {
	ps, err := hex.DecodeString(pseudonym)
	if err != nil || len(ps) != 32 {
		return fmt.Errorf("sign-in answered pseudonym %q", pseudonym)
	}
	stationKey, officialKey := [32]byte(r.env.station.Public().(ed25519.PublicKey)), [32]byte(r.env.poll.Public().(ed25519.PublicKey))
	mk := &record.InPersonMark{ElectionID: r.electionID, ContextHash: r.ext, Pseudonym: [32]byte(ps), BallotStyle: style,
		StationID: "station-bishkek-1", StationKey: stationKey, OfficialID: "poll-official-1", OfficialKey: officialKey, MarkedAt: uint64(time.Now().Unix())}
	mk.Sign(r.env.station, r.env.poll)
	sd := &device{key: newKey()}
	if sd.token, err = r.idc.MarkRevote(ctx, mk.Encode(), sd.key.Public().(ed25519.PublicKey)); err != nil {
		return fmt.Errorf("in-person mark: %w", err)
	}
	cred, raw, sig, err := r.deviceCredential(sd.token, false)
	if err != nil {
		return fmt.Errorf("in-person mark: %w", err)
	}
	pb, err := r.el.Encrypt(style, sd.pub(), ballot.Selection{}, nil)
	if err != nil {
		return err
	}
	row := &revote.SignedRow{Credential: raw, CredentialSig: sig, Cred: cred, Ballot: pb.Ballot.Encode(), B: pb.Ballot}
	ct, rnd, err := r.el.PublicKey.Encrypt(revote.FlagNone, rand.Reader)
	if err != nil {
		return err
	}
	proof, err := zkp.ProveRange(revote.FlagProofContext(r.ext, sd.pub()), &zkp.RangeStatement{PK: r.el.PublicKey, Ciphertext: ct, Max: 1}, revote.FlagNone, rnd, rand.Reader)
	if err != nil {
		return err
	}
	row.Flag, row.FlagProof = ct, proof.Bytes()
	copy(row.DeviceSig[:], ed25519.Sign(sd.key, revote.RowMessage(r.f.Log, row)))
	op := &client.MarkOpening{Randomness: [32]byte(rnd.Bytes()), StationID: mk.StationID, StationKey: stationKey, OfficialID: mk.OfficialID, OfficialKey: officialKey}
	stmt := revote.MarkStatement(r.ext, style, sd.pub(), op.StationID, op.OfficialID)
	op.StationSig = [64]byte(ed25519.Sign(r.env.station, stmt))
	op.OfficialSig = [64]byte(ed25519.Sign(r.env.poll, stmt))
	enc := row.Encode()
	rc, err := r.box.CastMark(ctx, r.electionID, sd.token.Token, enc, op)
	if err != nil {
		return fmt.Errorf("in-person mark's row: %w", err)
	}
	r.keepRow(rc.RowHash, enc)
	r.mu.Lock()
	delete(r.intended, pseudonym)
	r.mu.Unlock()
	return nil
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

// checkRowReceipt is the device's check of a published row's receipt
// against its own replay of the board: the hash the box answered is the
// row's, the slot entry at the receipt's index carries the row at the
// receipt's position, and the checkpoint, signed by the manifest's log
// key, includes that entry.
func (r *demoRun) checkRowReceipt(rc *client.RowReceipt) error {
	row := r.rowBytes[rc.RowHash]
	if h := sha256.Sum256(row); b64url.EncodeToString(h[:]) != rc.RowHash {
		return fmt.Errorf("receipt: the box answered row hash %s, not the row's", rc.RowHash)
	}
	if rc.Index == nil || rc.Position == nil || *rc.Index >= uint64(len(r.f.Entries)) {
		return fmt.Errorf("receipt of row %s: no slot entry the device's replay has", rc.RowHash)
	}
	e := r.f.Entries[*rc.Index]
	if e.Type != bulletin.TypeRevoteSlot {
		return fmt.Errorf("receipt of row %s: entry %d is a %s, not a slot", rc.RowHash, *rc.Index, e.Type)
	}
	sl, err := revote.DecodeSlot(e.Payload)
	if err != nil {
		return err
	}
	if *rc.Position < 0 || *rc.Position >= len(sl.Rows) || !bytes.Equal(sl.Rows[*rc.Position].Encode(), row) {
		return fmt.Errorf("receipt of row %s: slot %d of style %s does not carry the row at position %d", rc.RowHash, sl.Slot, sl.Style, *rc.Position)
	}
	if err := checkIncluded(r.anchors, e, *rc.Index, rc.Checkpoint, rc.InclusionProof); err != nil {
		return fmt.Errorf("receipt of row %s: %w", rc.RowHash, err)
	}
	return nil
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
			if err := r.checkRowReceipt(rc); err != nil {
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
