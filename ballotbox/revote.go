package ballotbox

// Deniable re-voting (spec chapter 15, §15.16): the ballot box of an
// election with coercion: deniable-revoting. A voter's device sends a row
// (CastRow); the box checks it as the rules check a slot row, plus the
// token's window and the limit of M − 1 online rows per voter, and stores
// it in its private ledger (store.RevoteLedger) before answering: an
// accepted row survives a crash. At the end of each slot (PostDueSlots,
// run by a timer) the box posts, per ballot style, exactly B_st rows: the
// oldest queued casts and dummy rows with credentials the identity
// service signs for dummy identifiers (CredentialSource), in an order
// drawn from crypto/rand. The plan of a slot (whose row is whose) is
// stored before its entry is appended, under the log's barrier, so that
// the box can rank each voter's rows at the close after any crash, and so
// that several instances post each slot once. The receipt (RowStatus) is
// given once the row's slot is on the board and cosigned.
//
// The box's memory of re-voting (boxRevote) is rebuilt from the ledger and
// the board; nothing in it is only in memory except reservations of casts
// in flight.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
	"evote/internal/wire"
	"evote/store"
	"evote/tally/revote"
)

// CredentialSource gives the box credentials signed by the identity
// service for its dummy rows (spec §15.16.2): one per item, in order, each
// for D_{style,index} bound to the item's device key. The box never holds
// the identity service's key. client.BoxCredentials implements it over
// HTTP.
type CredentialSource interface {
	DummyCredentials(ctx context.Context, electionID string, items []DummyItem) ([]SignedCredential, error)
	// PaddingCredentials gives, after the close, credentials for the
	// padding rows of real voters (spec §15.16.2): each for the voter's
	// identifier V (from the pseudonym), bound to the item's device key.
	PaddingCredentials(ctx context.Context, electionID string, items []PaddingItem) ([]SignedCredential, error)
}

// PaddingItem asks for the credential of a padding row of the voter with
// that pseudonym.
type PaddingItem struct {
	Style     string
	Voter     [32]byte
	DeviceKey [32]byte
}

// DummyItem asks for the credential of dummy voter Index of Style, bound
// to a device key the box generated.
type DummyItem struct {
	Style     string
	Index     uint64
	DeviceKey [32]byte
}

// SignedCredential is a credential of spec §15.14.1 with the identity
// service's signature over it as a revote-credential entry.
type SignedCredential struct {
	Credential []byte
	Signature  [64]byte
}

// ErrRevoteLimit: the voter cast the M − 1 online ballots allowed (spec
// §15.1); only the in-person vote remains.
var ErrRevoteLimit = errors.New("ballotbox: the voter cast the most online ballots allowed")

// ErrNoCredentialSource: an election in deniable re-voting mode needs the
// identity service's dummy credentials, and none is configured.
var ErrNoCredentialSource = errors.New("ballotbox: no identity service credential source for deniable re-voting")

// RowAnswer is the answer to a cast row or a look-up of one: queued, or
// published with its receipt.
type RowAnswer struct {
	RowHash   [32]byte
	Published bool
	// Set once published: the row's slot and position, the slot entry's
	// index and hash, and a cosigned checkpoint covering it with the
	// inclusion proof.
	Style          string
	Slot           uint32
	Position       int
	Index          uint64
	EntryHash      [32]byte
	Checkpoint     []byte
	CheckpointSize uint64
	InclusionProof [][32]byte
	Witnessed      bool
	// Replayed: the row was accepted before (an idempotent retry).
	Replayed bool
}

// queuedRow is a row of the ledger, decoded.
type queuedRow struct {
	c   store.RevoteCast
	row *revote.SignedRow
	dev [32]byte
}

// rowLoc is where a board row is: its style, slot and position.
type rowLoc struct {
	style string
	slot  uint32
	pos   int
}

type slotKey struct {
	style string
	slot  uint32
}

// slotEntry is a slot on the board: its entry's index and hash.
type slotEntry struct {
	index uint64
	hash  [32]byte
}

// planRow is one position of a slot plan: a cast (its ledger seq) or
// dummy voter index, and the row's device key.
type planRow struct {
	dummy bool
	n     uint64 // cast seq, or dummy index
	dev   [32]byte
}

// styleRevote is the box's private view of one ballot style.
type styleRevote struct {
	planned uint32           // slots whose plans are applied (= board slots once synced)
	queue   []*queuedRow     // casts not on the board, in acceptance order
	dummies []int            // rows of each dummy voter on the board (index i−1)
	real    map[[32]byte]int // voter → rows on the board
	owners  []planRow        // owner of each board row, in board order
}

// boxRevote is the box's memory of deniable re-voting, under b.mu.
type boxRevote struct {
	maxOnline int
	seen      uint64                  // last ledger seq loaded
	byHash    map[[32]byte]*queuedRow // every loaded cast
	bySeq     map[uint64]*queuedRow
	byDev     map[[32]byte]*queuedRow
	reserved  map[[32]byte]bool // device keys of casts in flight
	// ciphers are the ciphertext keys (election.RowCiphertextKeys) of
	// every loaded cast posted or to be posted, inflight those of casts in
	// flight: a row repeating one is refused, since the rules would refuse
	// the slot holding both (spec §15.2 rule 4).
	ciphers, inflight map[[32]byte]bool
	online            map[[32]byte]int // voter → online rows accepted
	marked            map[[32]byte]bool
	styles            map[string]*styleRevote
	slots             map[slotKey]slotEntry
	where             map[[32]byte]rowLoc // device key → board position
}

func newBoxRevote(m int) *boxRevote {
	return &boxRevote{maxOnline: m - 1, byHash: map[[32]byte]*queuedRow{}, bySeq: map[uint64]*queuedRow{}, byDev: map[[32]byte]*queuedRow{},
		reserved: map[[32]byte]bool{}, ciphers: map[[32]byte]bool{}, inflight: map[[32]byte]bool{}, online: map[[32]byte]int{}, marked: map[[32]byte]bool{}, styles: map[string]*styleRevote{},
		slots: map[slotKey]slotEntry{}, where: map[[32]byte]rowLoc{}}
}

func (r *boxRevote) style(st string) *styleRevote {
	s := r.styles[st]
	if s == nil {
		s = &styleRevote{real: map[[32]byte]int{}}
		r.styles[st] = s
	}
	return s
}

// repeats reports whether a loaded cast's ciphertexts repeat those of an
// earlier loaded cast.
func (r *boxRevote) repeats(keys [][32]byte) bool {
	for _, k := range keys {
		if r.ciphers[k] {
			return true
		}
	}
	return false
}

// ledger returns the store's ledger, or an error if it has none.
func (b *Box) ledger() (store.RevoteLedger, error) {
	l, ok := b.cfg.Store.(store.RevoteLedger)
	if !ok {
		return nil, fmt.Errorf("%w: the store keeps no re-voting ledger", ErrCoercionUnsupported)
	}
	return l, nil
}

// revoteLocked returns the box's re-voting memory, creating it once the
// manifest is applied. b.mu is held.
func (b *Box) revoteLocked() (*boxRevote, error) {
	if !b.state.Coercion() {
		return nil, fmt.Errorf("%w: the election is not in deniable re-voting mode", ErrNotReady)
	}
	if b.rv == nil {
		b.rv = newBoxRevote(int(b.state.Manifest.Coercion.MaxBallots))
	}
	return b.rv, nil
}

// indexRevoteSlot records where a slot entry is on the board (index()
// calls it for every applied revote-slot entry, own, foreign or
// replayed).
func (b *Box) indexRevoteSlot(e *bulletin.Entry, pos uint64) {
	r := wire.NewReader(e.Payload)
	r.U8("format")
	r.Fixed(32, "context")
	slot := r.U32("slot")
	style := r.String(255, "style")
	if r.Err() != nil {
		return
	}
	rv, err := b.revoteLocked()
	if err != nil {
		return
	}
	rv.slots[slotKey{style, slot}] = slotEntry{index: pos, hash: e.Hash()}
}

// syncRevoteLocked brings the box's re-voting memory up to the ledger and
// the board: casts accepted (by any instance) since the last look, and
// the plans of slots now on the board. b.mu is held.
func (b *Box) syncRevoteLocked(ctx context.Context) error {
	rv, err := b.revoteLocked()
	if err != nil {
		return err
	}
	l, err := b.ledger()
	if err != nil {
		return err
	}
	casts, err := l.RevoteCasts(ctx, b.sid(), rv.seen)
	if err != nil {
		return err
	}
	for _, c := range casts {
		row, err := revote.DecodeSignedRow(c.Row)
		if err != nil {
			return fmt.Errorf("%w: ledger cast %d: %w", ErrInconsistentBox, c.Seq, err)
		}
		q := &queuedRow{c: c, row: row, dev: row.Cred.DeviceKey}
		rv.byHash[c.RowHash], rv.bySeq[c.Seq] = q, q
		keys := election.RowCiphertextKeys(row)
		if _, dup := rv.byDev[q.dev]; !dup && !rv.repeats(keys) {
			// A second row of one device key, or a row repeating a
			// ciphertext of an earlier one (two instances raced), is
			// never posted: the rules would refuse the slot.
			rv.byDev[q.dev] = q
			for _, k := range keys {
				rv.ciphers[k] = true
			}
			if !b.state.RevoteHasDevice(q.dev) {
				sr := rv.style(c.Style)
				sr.queue = append(sr.queue, q)
			}
		}
		if c.Mark {
			rv.marked[c.Voter] = true
		} else {
			rv.online[c.Voter]++
		}
		rv.seen = max(rv.seen, c.Seq)
	}
	for _, st := range b.state.RevoteStyles() {
		sr := rv.style(st.Style)
		// Only the plans of the slots on the board not yet applied, one
		// look-up each (a week of one-minute slots is 10,000 plans).
		for sr.planned < st.Slots {
			p, err := l.RevotePlan(ctx, b.sid(), st.Style, sr.planned)
			if err != nil {
				return fmt.Errorf("%w: style %s has %d slots on the board, the ledger plans %d: %w", ErrInconsistentBox, st.Style, st.Slots, sr.planned, err)
			}
			rows, err := decodePlan(p.Plan)
			if err != nil {
				return fmt.Errorf("%w: plan of slot %d of %s: %w", ErrInconsistentBox, p.Slot, p.Style, err)
			}
			first := int(p.Slot) * st.SlotRows
			if len(rows) != st.SlotRows || first+len(rows) > len(st.Keys) {
				return fmt.Errorf("%w: plan of slot %d of %s has %d rows", ErrInconsistentBox, p.Slot, p.Style, len(rows))
			}
			for i, pr := range rows {
				if st.Keys[first+i] != pr.dev {
					return fmt.Errorf("%w: plan of slot %d of %s differs from the board at row %d", ErrInconsistentBox, p.Slot, p.Style, i)
				}
			}
			for i, pr := range rows {
				rv.where[pr.dev] = rowLoc{st.Style, p.Slot, i}
				sr.owners = append(sr.owners, pr)
				if pr.dummy {
					for len(sr.dummies) < int(pr.n) {
						sr.dummies = append(sr.dummies, 0)
					}
					sr.dummies[pr.n-1]++
				} else if q := rv.bySeq[pr.n]; q != nil {
					sr.real[q.c.Voter]++
				} else {
					return fmt.Errorf("%w: plan of slot %d of %s names cast %d, absent from the ledger", ErrInconsistentBox, p.Slot, p.Style, pr.n)
				}
			}
			sr.planned++
		}
		// The queue keeps the casts not on the board, in acceptance order.
		sr.queue = slices.DeleteFunc(sr.queue, func(q *queuedRow) bool { return b.state.RevoteHasDevice(q.dev) })
	}
	return nil
}

func encodePlan(rows []planRow) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(rows)))
	for _, r := range rows {
		k := byte(0)
		if r.dummy {
			k = 1
		}
		b = append(b, k)
		b = append(b, r.dev[:]...)
		b = binary.BigEndian.AppendUint64(b, r.n)
	}
	return b
}

func decodePlan(b []byte) ([]planRow, error) {
	r := wire.NewReader(b)
	n := r.U32("rows")
	if r.Err() == nil && uint64(n)*41 != uint64(len(b)-4) {
		return nil, fmt.Errorf("plan of %d bytes for %d rows", len(b), n)
	}
	out := make([]planRow, 0, n)
	for range n {
		k := r.U8("kind")
		dev := r.Fixed(32, "device key")
		v := r.U64("owner")
		if r.Err() != nil || k > 1 || k == 1 && v == 0 {
			return nil, errors.New("malformed plan row")
		}
		out = append(out, planRow{dummy: k == 1, n: v, dev: [32]byte(dev)})
	}
	return out, r.Finish()
}

// CastRow accepts a row cast by a voter's device (spec §15.16.3): the
// bearer token's device key, style and token id must be the row's
// credential's, and it must not be an in-person mark's token; the row must pass every check the rules make of a slot
// row; the voter (the token's subject) must have fewer than M − 1 online
// rows and no in-person mark. The row is stored in the ledger before the
// answer; it is published with the next slot of its style that has room.
// A retry of an accepted row answers its status.
func (b *Box) CastRow(ctx context.Context, bearer string, raw []byte) (*RowAnswer, error) {
	return b.castRow(ctx, bearer, raw, nil)
}

// MarkOpening is what a polling station's device sends with an in-person
// mark's row (spec §15.16.4): the randomness r of the row's flag, which
// must be (g^r, h^r), and the station's and official's signatures over
// revote.MarkStatement; its Row is set only at the close, when the box
// keeps it in its ledger for the revote-marks entry.
type MarkOpening = revote.Mark

// ErrMarkInvalid: an in-person mark's opening or signatures do not match
// its row, or its station or official is not registered.
var ErrMarkInvalid = errors.New("ballotbox: in-person mark invalid")

// CastMark accepts the row of an in-person mark (spec §15.16.4): the
// checks of CastRow except the limit of online rows, with a mark's token
// (claim "mark", which the identity service's MarkRevote sets), and the mark's
// opening: the flag encrypts 0 with the randomness given, the station and
// official are registered on the board with the keys named, both sign the
// mark statement over the row's device key. The row is the voter's last:
// the ledger refuses any row of the voter after it.
func (b *Box) CastMark(ctx context.Context, bearer string, raw []byte, op *MarkOpening) (*RowAnswer, error) {
	if op == nil || op.Randomness == nil {
		return nil, fmt.Errorf("%w: no opening", ErrMarkInvalid)
	}
	return b.castRow(ctx, bearer, raw, op)
}

// checkMarkLocked checks a mark's opening against its row and the board.
// b.mu is held.
func (b *Box) checkMarkLocked(row *revote.SignedRow, op *MarkOpening) error {
	if err := b.state.CheckMark(row.Cred.Style, row.Cred.DeviceKey, row.Flag, op); err != nil {
		return fmt.Errorf("%w: %v", ErrMarkInvalid, err)
	}
	return nil
}

// markExtra encodes a mark's opening for the ledger: a revote-marks
// payload of one mark (row 0), which the close renumbers.
func markExtra(ext [32]byte, style string, op *MarkOpening) []byte {
	k := *op
	k.Row = 0
	m := &revote.Marks{Context: ext, Style: style, Marks: []revote.Mark{k}}
	return m.Encode()
}

func (b *Box) castRow(ctx context.Context, bearer string, raw []byte, op *MarkOpening) (*RowAnswer, error) {
	snap := b.snap.Load()
	el, ver := snap.el, snap.verifier
	if el == nil || ver == nil {
		return nil, ErrNotOpen
	}
	if bearer == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrTokenInvalid)
	}
	c, err := b.tokens.do(tokenReq{ver, bearer})
	claims, err := tokenClaims(c, err, el.ExtendedHash, op != nil)
	if err != nil {
		return nil, err
	}
	row, err := revote.DecodeSignedRow(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	h := sha256.Sum256(raw)
	var tid [16]byte
	if err := decodeJTI(claims.TokenID, &tid); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	dev := row.Cred.DeviceKey
	if !ed25519.PublicKey(dev[:]).Equal(claims.DeviceKey) {
		return nil, ErrWrongDeviceKey
	}
	if row.Cred.Style != claims.BallotStyle || row.Cred.TokenID != tid {
		return nil, fmt.Errorf("%w: the token and the row's credential name different styles or tokens", ErrTokenInvalid)
	}
	if a, ok, err := b.rowStatus(ctx, h); ok || err != nil {
		if a != nil {
			a.Replayed = true
		}
		return a, err
	}
	// The proofs and signatures outside the lock (they read only what is
	// fixed once voting opens), the board's checks under it.
	b.mu.Lock()
	checker := b.state.RevoteRowChecker()
	b.mu.Unlock()
	if checker == nil {
		return nil, ErrNotOpen
	}
	if err := checker.Check(b.log.ID(), row); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBallotInvalid, err)
	}
	b.mu.Lock()
	rv, err := b.checkRowLocked(ctx, row, claims.Pseudonym, op != nil)
	var extra []byte
	if err == nil && op != nil {
		if err = b.checkMarkLocked(row, op); err == nil {
			extra = markExtra(b.state.Context.ExtendedHash, row.Cred.Style, op)
		}
	}
	keys := election.RowCiphertextKeys(row)
	if err == nil {
		rv.reserved[dev] = true
		for _, k := range keys {
			rv.inflight[k] = true
		}
	}
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	defer func() {
		b.mu.Lock()
		delete(rv.reserved, dev)
		for _, k := range keys {
			delete(rv.inflight, k)
		}
		b.mu.Unlock()
	}()
	l, err := b.ledger()
	if err != nil {
		return nil, err
	}
	_, err = l.AddRevoteCast(ctx, b.sid(), store.RevoteCast{RowHash: h, Style: row.Cred.Style, Voter: claims.Pseudonym, Mark: op != nil, Row: raw, Extra: extra}, rv.maxOnline)
	switch {
	case errors.Is(err, store.ErrRevoteLimit):
		return nil, fmt.Errorf("%w: %d", ErrRevoteLimit, rv.maxOnline)
	case errors.Is(err, store.ErrRevoteMarked):
		return nil, ErrVotedInPerson
	case errors.Is(err, store.ErrDuplicate):
		if a, ok, err := b.rowStatus(ctx, h); ok || err != nil {
			return a, err
		}
		return nil, fmt.Errorf("%w: %w", ErrCastInProgress, err)
	case err != nil:
		return nil, err
	}
	b.mu.Lock()
	err = b.syncRevoteLocked(ctx)
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &RowAnswer{RowHash: h}, nil
}

// checkRowLocked makes a cast row's checks against the board and the
// ledger as this box knows it (the ledger checks the voter's limit and
// mark again atomically); its proofs were checked before, outside the
// lock (election.RowChecker). b.mu is held.
func (b *Box) checkRowLocked(ctx context.Context, row *revote.SignedRow, voter [32]byte, mark bool) (*boxRevote, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	rv, err := b.revoteLocked()
	if err != nil {
		return nil, err
	}
	if b.state.Phase != election.PhaseOpen {
		return nil, fmt.Errorf("%w: phase %s", ErrNotOpen, b.state.Phase)
	}
	if err := b.syncRevoteLocked(ctx); err != nil {
		return nil, err
	}
	dev := row.Cred.DeviceKey
	if rv.reserved[dev] {
		return nil, ErrCastInProgress
	}
	if _, dup := rv.byDev[dev]; dup {
		return nil, fmt.Errorf("%w: the credential's device key carries another row", ErrDuplicateBallot)
	}
	if rv.marked[voter] {
		return nil, ErrVotedInPerson
	}
	if !mark && rv.online[voter] >= rv.maxOnline {
		return nil, fmt.Errorf("%w: %d", ErrRevoteLimit, rv.maxOnline)
	}
	if err := b.state.CheckRevoteRowOnBoard(row); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBallotInvalid, err)
	}
	for _, k := range election.RowCiphertextKeys(row) {
		switch p, onBoard := b.ciphertextAt(k); {
		case rv.ciphers[k]:
			return nil, fmt.Errorf("%w: a ciphertext of a row queued for the next slot", ErrDuplicateCipher)
		case rv.inflight[k]:
			return nil, ErrCastInProgress
		case onBoard && p == auditPendingPos:
			return nil, fmt.Errorf("%w: an audited ballot waiting to be published", ErrDuplicateCipher)
		case onBoard:
			return nil, fmt.Errorf("%w: entry %d", ErrDuplicateCipher, p)
		}
	}
	return rv, nil
}

// decodeJTI turns a token's "jti" back into its 16 bytes.
func decodeJTI(jti string, out *[16]byte) error {
	id, err := base64.RawURLEncoding.Strict().DecodeString(jti)
	if err != nil || len(id) != 16 {
		return errors.New("token id is not 16 bytes in base64url")
	}
	copy(out[:], id)
	return nil
}

// RowStatus answers a device's look-up of the row with that hash (spec
// §15.16.3): queued, or published with its receipt once its slot is on
// the board and a cosigned checkpoint covers it. It never says whether
// the row was superseded. ErrUnknownRow if the box never accepted it.
func (b *Box) RowStatus(ctx context.Context, rowHash [32]byte) (*RowAnswer, error) {
	a, ok, err := b.rowStatus(ctx, rowHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrUnknownRow
	}
	return a, nil
}

// ErrUnknownRow: no row with that hash was accepted.
var ErrUnknownRow = errors.New("ballotbox: no such row accepted")

func (b *Box) rowStatus(ctx context.Context, h [32]byte) (*RowAnswer, bool, error) {
	b.mu.Lock()
	rv, err := b.revoteLocked()
	if err == nil {
		if _, ok := rv.byHash[h]; !ok {
			err = b.syncRevoteLocked(ctx)
		}
	}
	if err != nil {
		b.mu.Unlock()
		return nil, false, err
	}
	q, ok := rv.byHash[h]
	if !ok {
		b.mu.Unlock()
		return nil, false, nil
	}
	loc, published := rv.where[q.dev]
	se, onBoard := rv.slots[slotKey{loc.style, loc.slot}]
	b.mu.Unlock()
	a := &RowAnswer{RowHash: h}
	if !published || !onBoard {
		return a, true, nil
	}
	cp, err := b.cp.covering(ctx, se.index, false)
	if err != nil {
		return nil, true, err
	}
	proof, err := b.log.InclusionProof(se.index, cp.size)
	if err != nil {
		return nil, true, err
	}
	a.Published, a.Style, a.Slot, a.Position, a.Index, a.EntryHash = true, loc.style, loc.slot, loc.pos, se.index, se.hash
	a.Checkpoint, a.CheckpointSize, a.InclusionProof, a.Witnessed = cp.note, cp.size, proof, cp.witnessed
	return a, true, nil
}

// slotEnd is when slot k of the election ends (spec §15.16.6).
func slotEnd(m *ballot.Manifest, k uint32) time.Time {
	return time.Unix(int64(m.VotingStart)+int64(k+1)*int64(m.Coercion.SlotSeconds), 0)
}

// PostDueSlots posts, for every ballot style, each slot whose end has
// passed while voting is open (spec §15.16.6): one after another when the
// box is behind (after a restart). The slot timer calls it; a test may
// too. Concurrent calls post each slot once.
func (b *Box) PostDueSlots(ctx context.Context) error {
	b.slotMu.Lock()
	defer b.slotMu.Unlock()
	for {
		b.mu.Lock()
		if b.state.Coercion() && b.state.Phase == election.PhaseClosed {
			b.mu.Unlock()
			return b.closeRevote(ctx)
		}
		if !b.state.Coercion() || b.state.Phase != election.PhaseOpen {
			b.mu.Unlock()
			return nil
		}
		if err := b.syncRevoteLocked(ctx); err != nil {
			b.mu.Unlock()
			return err
		}
		now := b.cfg.Now()
		var due []slotKey
		for _, st := range b.state.RevoteStyles() {
			if !now.Before(slotEnd(b.state.Manifest, st.Slots)) {
				due = append(due, slotKey{st.Style, st.Slots})
			}
		}
		b.mu.Unlock()
		if len(due) == 0 {
			return nil
		}
		for _, k := range due {
			// Only the slot that is due: another instance may have posted
			// it meanwhile, and the next one may not be due yet.
			if err := b.postSlot(ctx, k.style, int64(k.slot)); err != nil {
				return fmt.Errorf("ballotbox: slot %d of style %s: %w", k.slot, k.style, err)
			}
		}
	}
}

// slotDraft is a slot being made: its number, the casts it takes, and
// the dummy voters of its dummy rows.
type slotDraft struct {
	style   string
	slot    uint32
	rows    int // B_st
	casts   []*queuedRow
	dummies []uint64
}

// onBoardLocked reports whether a queued row repeats a ciphertext on the
// board: an audit of its ciphertexts that another instance accepted while
// this one queued the row (only a device that audits and casts the same
// ciphertexts does so). Such a row is never posted, since the rules would
// refuse its slot. b.mu is held.
func (b *Box) onBoardLocked(row *revote.SignedRow) bool {
	for _, k := range election.RowCiphertextKeys(row) {
		if _, ok := b.state.CiphertextAt(k); ok {
			return true
		}
	}
	return false
}

// draftSlotLocked picks a slot's casts (the oldest queued of the style,
// one row per device key) and assigns its dummy rows to dummy voters
// (spec §15.4, as assignDummy of election/sim). b.mu is held.
func (b *Box) draftSlotLocked(style string) (*slotDraft, error) {
	rv := b.rv
	var st *election.RevoteStyle
	for _, s := range b.state.RevoteStyles() {
		if s.Style == style {
			st = &s
		}
	}
	if st == nil {
		return nil, fmt.Errorf("unknown ballot style %q", style)
	}
	d := &slotDraft{style: style, slot: st.Slots, rows: st.SlotRows}
	sr := rv.style(style)
	for _, q := range sr.queue {
		if len(d.casts) == d.rows {
			break
		}
		if !b.state.RevoteHasDevice(q.dev) && !b.onBoardLocked(q.row) {
			d.casts = append(d.casts, q)
		}
	}
	m := int(b.state.Manifest.Coercion.MaxBallots)
	n := len(sr.owners)
	real := len(sr.real)
	seen := map[[32]byte]bool{}
	for _, q := range d.casts {
		n++
		if sr.real[q.c.Voter] == 0 && !seen[q.c.Voter] {
			real++
			seen[q.c.Voter] = true
		}
	}
	dummies := slices.Clone(sr.dummies)
	for range d.rows - len(d.casts) {
		n++
		want := (n - real + m - 1) / m
		i := -1
		if len(dummies) < want {
			dummies = append(dummies, 0)
			i = len(dummies) - 1
		} else {
			for k, c := range dummies {
				if c < m {
					i = k
					break
				}
			}
			if i < 0 {
				dummies = append(dummies, 0)
				i = len(dummies) - 1
			}
		}
		dummies[i]++
		d.dummies = append(d.dummies, uint64(i+1))
	}
	return d, nil
}

// postSlot makes and posts the next slot of a style if its number is
// slot (any if slot < 0): the draft under the mutex, the dummy rows
// outside it (the identity service's credentials, the encryptions and
// proofs), the order from crypto/rand, then the plan and the entry under
// the log's barrier.
func (b *Box) postSlot(ctx context.Context, style string, slot int64) error {
	src := b.cfg.Credentials
	if src == nil {
		return ErrNoCredentialSource
	}
	b.mu.Lock()
	d, err := b.draftSlotLocked(style)
	el := b.state.Election()
	ext := b.state.Context.ExtendedHash
	electionID := b.state.Manifest.ElectionID
	b.mu.Unlock()
	if err != nil {
		return err
	}
	if slot >= 0 && int64(d.slot) != slot {
		return nil // posted meanwhile (by another instance)
	}
	keys := make([]ed25519.PrivateKey, len(d.dummies))
	items := make([]DummyItem, len(d.dummies))
	for i, idx := range d.dummies {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		keys[i] = k
		items[i] = DummyItem{Style: style, Index: idx, DeviceKey: [32]byte(k.Public().(ed25519.PublicKey))}
	}
	var creds []SignedCredential
	if len(items) > 0 {
		if creds, err = src.DummyCredentials(ctx, electionID, items); err != nil {
			return fmt.Errorf("dummy credentials: %w", err)
		}
		if len(creds) != len(items) {
			return fmt.Errorf("dummy credentials: %d for %d items", len(creds), len(items))
		}
	}
	type planned struct {
		pr  planRow
		row *revote.SignedRow
	}
	rows := make([]planned, 0, d.rows)
	for _, q := range d.casts {
		rows = append(rows, planned{planRow{n: q.c.Seq, dev: q.dev}, q.row})
	}
	for i, it := range items {
		row, err := dummyRow(b.log.ID(), el, ext, style, it, creds[i], keys[i])
		if err != nil {
			return err
		}
		rows = append(rows, planned{planRow{dummy: true, n: it.Index, dev: it.DeviceKey}, row})
	}
	if err := shuffle(rand.Reader, len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] }); err != nil {
		return err
	}
	// A voter's rows stay in cast order (the depths follow board order):
	// the positions of each voter's casts get them in seq order.
	byVoter := map[[32]byte][]int{}
	for i, r := range rows {
		if !r.pr.dummy {
			v := b.castVoter(r.pr.n)
			byVoter[v] = append(byVoter[v], i)
		}
	}
	for _, pos := range byVoter {
		sorted := make([]planned, len(pos))
		for k, i := range pos {
			sorted[k] = rows[i]
		}
		slices.SortFunc(sorted, func(x, y planned) int { return cmpU64(x.pr.n, y.pr.n) })
		for k, i := range pos {
			rows[i] = sorted[k]
		}
	}
	sl := &revote.Slot{Context: ext, Slot: d.slot, Style: style}
	prs := make([]planRow, len(rows))
	for i, r := range rows {
		sl.Rows = append(sl.Rows, r.row)
		prs[i] = r.pr
	}
	e, err := bulletin.NewEntry(b.log.ID(), bulletin.TypeRevoteSlot, b.auth, bulletin.NewEd25519Signer(b.cfg.Authority), sl.Encode())
	if err != nil {
		return err
	}
	l, err := b.ledger()
	if err != nil {
		return err
	}
	plan := store.RevotePlan{Style: style, Slot: d.slot, Plan: encodePlan(prs)}
	_, err = b.post(ctx, e, func(s *election.State, _ *bulletin.Entry) error {
		// Under the barrier, the board caught up: another instance may
		// have posted this slot meanwhile.
		for _, st := range s.RevoteStyles() {
			if st.Style == style && st.Slots != d.slot {
				return errSlotTaken
			}
		}
		for _, q := range d.casts {
			if s.RevoteHasDevice(q.dev) {
				return errSlotTaken
			}
		}
		return l.PutRevotePlan(ctx, b.sid(), plan)
	})
	if errors.Is(err, errSlotTaken) {
		return nil
	}
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.syncRevoteLocked(ctx)
}

var errSlotTaken = errors.New("ballotbox: the slot was posted by another instance")

// castVoter returns the voter of the ledger cast with that seq.
func (b *Box) castVoter(seq uint64) [32]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.rv.bySeq[seq]; q != nil {
		return q.c.Voter
	}
	return [32]byte{}
}

// dummyRow makes a dummy row (spec §15.3): the identity service's
// credential for D_{style,i}, a blank ballot, an encryption of 0 as the
// flag with its proof, the device's signature.
func dummyRow(log bulletin.LogID, el *ballot.Election, ext [32]byte, style string, it DummyItem, c SignedCredential, key ed25519.PrivateKey) (*revote.SignedRow, error) {
	cred, err := revote.DecodeCredential(c.Credential)
	if err != nil {
		return nil, fmt.Errorf("dummy credential: %w", err)
	}
	if cred.DeviceKey != it.DeviceKey || cred.Style != style {
		return nil, errors.New("dummy credential: not for the device key or style asked")
	}
	p, err := el.Encrypt(style, it.DeviceKey, ballot.Selection{}, rand.Reader)
	if err != nil {
		return nil, err
	}
	row := &revote.SignedRow{Credential: c.Credential, CredentialSig: c.Signature, Cred: cred, Ballot: p.Ballot.Encode(), B: p.Ballot}
	flag, proof, err := revote.EncryptFlag(el.PublicKey, revote.FlagProofContext(ext, it.DeviceKey), revote.FlagNone, rand.Reader)
	if err != nil {
		return nil, err
	}
	row.Flag, row.FlagProof = flag, proof.Bytes()
	copy(row.DeviceSig[:], ed25519.Sign(key, revote.RowMessage(log, row)))
	return row, nil
}

// slotTick is how often the slot timer looks for due slots.
const slotTick = time.Second

// startSlotTimer runs PostDueSlots every slotTick while the box is open
// (it does nothing for an election in another mode or phase).
func (b *Box) startSlotTimer() {
	ctx, cancel := context.WithCancel(context.Background())
	b.slotStop, b.slotDone = cancel, make(chan struct{})
	go func() {
		defer close(b.slotDone)
		t := time.NewTicker(slotTick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := b.PostDueSlots(ctx); err != nil && ctx.Err() == nil {
				b.cfg.Logger.Warn("deniable re-voting slot not posted; retrying", "origin", b.cfg.LogKey.Origin, "err", err)
			}
		}
	}()
}
