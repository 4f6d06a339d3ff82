package ballotbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/election"
	"evote/store"
	"evote/tally/revote"
)

// Benaloh audits are published unlinked (spec/09-election.md §9.4,
// ../shared/SECURITY.md "Position is information"). An audit appended at
// the next board position would sit between its voter's credential entry
// and ballot, and anyone reading the board in order would link the
// opened choices, usually the voter's intention, to the voter's pseudonym.
// So the box does not append an accepted audit: it stores it durably in a
// pool (store.Store.AddAudit) and answers the voter with its tracking code
// and when it will be published. The pool is published in batches, each
// one append of every pending audit in an order drawn from crypto/rand,
// on a schedule that depends on board positions only: whenever the
// board's size reaches a multiple of Config.AuditEvery and at least
// Config.AuditMinBatch audits are pending, and all remaining ones right
// before the close entry. Within a batch, an audit's position says nothing
// about which of the batch's voters made it.
//
// The pool's ciphertexts are reserved from acceptance on, so no ballot can
// cast them while they wait. A restart reloads the pending audits and
// publishes them in a later batch. Publishing is idempotent: the entry of
// an audit is fixed (Ed25519 signatures are deterministic) and the board
// refuses a second copy of an entry hash, so a retried or concurrent flush
// never publishes an audit twice, and an audit whose entry is on the board
// is only marked published.

// Defaults of the publication schedule.
const (
	DefaultAuditEvery    = 256
	DefaultAuditMinBatch = 8
)

// auditPendingPos marks, in Box.ciphertexts, a ciphertext of an audit in
// the pool (accepted, not yet on the board).
const auditPendingPos = reservedPos - 1

// pooled is an accepted audit waiting in the pool.
type pooled struct {
	rec      store.Audit
	entry    *bulletin.Entry
	keys     [][32]byte // hashes of its ciphertexts
	flushing bool       // taken by a flush in progress
}

// AuditReceipt answers an accepted audit (spec/10-api.md §10.2).
type AuditReceipt struct {
	TrackingCode ballot.TrackingCode
	EntryHash    [32]byte
	// Published: the audit's entry is on the board at Index. Otherwise it
	// waits in the pool for the first batch published once the board
	// holds at least PublishAfter entries and MinBatch audits wait, or
	// for the close at the latest.
	Published    bool
	Index        uint64
	PublishAfter uint64
	MinBatch     int
	// Replayed: the same audit was accepted before (a retry).
	Replayed bool
}

// Audit checks a Benaloh audit sent with a valid voting token: opened, the
// opening of the prepared ballot (canonical ballot.AuditedBallot), and
// prepared, the ballot it opens (canonical ballot.EncryptedBallot, never
// cast), whose tracking code the voter was shown. The opening must verify
// (spec §9.4), open exactly the ciphertexts of prepared, whose credential
// key is the token's device key, and repeat no ciphertext on the board or
// in the pool. The box then signs the audited-ballot entry as the
// authority, stores it durably in the pool and answers; the entry carries
// no token, pseudonym, device key, time or position, and a later batch
// publishes it. Its ciphertexts can never be cast.
func (b *Box) Audit(ctx context.Context, bearer string, opened, prepared []byte) (*AuditReceipt, error) {
	return retryBehind(ctx, b, func() (*AuditReceipt, error) { return b.audit(ctx, bearer, opened, prepared) })
}

func (b *Box) audit(ctx context.Context, bearer string, opened, prepared []byte) (*AuditReceipt, error) {
	a, err := ballot.DecodeAuditedBallot(opened)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditInvalid, err)
	}
	snap := b.snap.Load()
	el, ver := snap.el, snap.verifier
	if el == nil || ver == nil {
		return nil, ErrNotOpen
	}
	claims, err := verifyToken(ver, bearer, el.ExtendedHash)
	if err != nil {
		return nil, err
	}
	bal, opens, err := revote.AuditedPrepared(el.Manifest, a, prepared)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditInvalid, err)
	}
	if bal.CredentialKey != [32]byte(claims.DeviceKey) {
		return nil, fmt.Errorf("%w: the prepared ballot is not of the token's device", ErrWrongDeviceKey)
	}
	if a.ElectionID != el.Manifest.ElectionID {
		return nil, fmt.Errorf("%w: audit for election %q", ErrAuditInvalid, a.ElectionID)
	}
	if !opens {
		return nil, fmt.Errorf("%w: the opening is not of the prepared ballot's ciphertexts", ErrAuditInvalid)
	}
	if err := a.Verify(el.Manifest, el.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditInvalid, err)
	}
	e, err := bulletin.NewEntry(b.log.ID(), bulletin.TypeAuditedBallot, b.auth, bulletin.NewEd25519Signer(b.cfg.Authority), a.Encode())
	if err != nil {
		return nil, err
	}
	rec := store.Audit{Code: bal.TrackingCode(), EntryHash: e.Hash(), Entry: e.Encode(), Ballot: prepared}
	if r, ok, err := b.auditReplay(ctx, rec); ok || err != nil {
		return r, err
	}

	if bs, ok := b.auditBarrier(); ok {
		// Several instances (spec/07-bulletin.md §7.7.2): the audit is
		// checked against the whole board and every audit accepted by any
		// instance, with no append of any instance in between (the
		// barrier; this box's own casts wait at the gate), and added to
		// the store's pool before the barrier is released. A ballot
		// checked before and appended after is refused by its fence.
		b.gate.Lock()
		defer b.gate.Unlock()
		release, err := bs.Barrier(ctx, b.sid())
		if err != nil {
			return nil, fmt.Errorf("ballotbox: %w", err)
		}
		defer release()
		b.mu.Lock()
		err = b.catchUpAllLocked(ctx)
		b.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if err := b.syncAuditPool(ctx); err != nil {
			return nil, err
		}
		// A retry that another instance accepted first.
		if r, ok, err := b.auditReplay(ctx, rec); ok || err != nil {
			return r, err
		}
	} else {
		b.gate.RLock()
		defer b.gate.RUnlock()
	}
	b.mu.Lock()
	if b.audits[claims.TokenID] >= MaxAuditsPerToken {
		b.mu.Unlock()
		return nil, ErrTooManyAudits
	}
	keys, err := b.reserveAuditLocked(ctx, a, rec.Code)
	if err == nil {
		b.audits[claims.TokenID]++
	}
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// Durable before the answer; not tied to the request, so that an
	// audit the store kept is also in the pool.
	err = b.storeAudit(rec)
	b.mu.Lock()
	defer b.mu.Unlock()
	if errors.Is(err, context.DeadlineExceeded) {
		// The store may hold it: its ciphertexts can no longer be known
		// free.
		b.halt(fmt.Errorf("%w: storing an audit timed out", ErrInconsistentBox))
	}
	if err != nil {
		b.releaseLocked(nil, [32]byte{}, keys, false)
		delete(b.auditCodes, ballot.TrackingCode(rec.Code).Shown())
		b.audits[claims.TokenID]--
		return nil, fmt.Errorf("ballotbox: audit pool: %w", err)
	}
	for _, k := range keys {
		b.ciphertexts[k] = auditPendingPos
	}
	b.pool[rec.Code] = &pooled{rec: rec, entry: e, keys: keys}
	if _, ok := b.auditBarrier(); ok {
		b.auditsSeen++ // under the barrier, no other instance adds one
	}
	return b.pendingReceiptLocked(rec), nil
}

// auditBarrier returns the store's barrier if audits must be sequenced
// with the appends of other instances (a store.AuditFence).
func (b *Box) auditBarrier() (store.Barrier, bool) {
	if _, ok := b.cfg.Store.(store.AuditFence); !ok {
		return nil, false
	}
	bs, ok := b.cfg.Store.(store.Barrier)
	return bs, ok
}

// castFenceLocked returns the fence of a ballot append checked now (b.mu
// held): the number of audits the store's pool held when the box last
// looked, or nil if the store has no fence.
func (b *Box) castFenceLocked() *uint64 {
	if _, ok := b.auditBarrier(); !ok {
		return nil
	}
	f := b.auditsSeen
	return &f
}

// syncAuditPool learns the audits other instances accepted since the box
// last looked (after a ballot append refused by its fence, and under the
// barrier before an audit is checked): their codes become findable and
// the ciphertexts of those still pending are reserved, so that no ballot
// repeating them is appended here; the box then names the store's count
// as its fence. An own cast in flight that repeats one is refused by its
// fence (it was checked before the audit was added) and, checked again,
// by the reservation.
func (b *Box) syncAuditPool(ctx context.Context) error {
	af, ok := b.cfg.Store.(store.AuditFence)
	if !ok {
		return nil
	}
	n, err := af.AuditCount(ctx, b.sid())
	if err != nil {
		return fmt.Errorf("ballotbox: audit pool: %w", err)
	}
	b.mu.Lock()
	seen := b.auditsSeen
	b.mu.Unlock()
	if n == seen {
		return nil
	}
	pending, err := b.cfg.Store.Audits(ctx, b.sid(), true)
	if err != nil {
		return fmt.Errorf("ballotbox: audit pool: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rec := range pending {
		code := ballot.TrackingCode(rec.Code)
		b.auditCodes[code.Shown()] = rec.Code
		if _, ok := b.pool[code]; ok {
			continue
		}
		if _, ok := b.foreignAudits[code]; ok {
			continue
		}
		if _, ok := b.log.IndexOf(rec.EntryHash); ok {
			continue
		}
		p, err := poolEntry(rec)
		if err != nil {
			return fmt.Errorf("ballotbox: audit pool: %w", err)
		}
		if slices.ContainsFunc(p.keys, func(k [32]byte) bool { _, on := b.state.CiphertextAt(k); return on }) {
			b.cfg.Logger.Error("an accepted audit repeats a ciphertext already on the board", "code", fmt.Sprintf("%x", rec.Code[:8]))
			continue
		}
		for _, k := range p.keys {
			b.ciphertexts[k] = auditPendingPos // over a cast's reservation too: its fence refuses it
		}
		b.foreignAudits[code] = p
	}
	if n > b.auditsSeen {
		b.auditsSeen = n
	}
	return nil
}

// storeAudit adds rec to the store's audit pool. An error other than the
// store's refusal leaves the outcome unknown (the connection died during
// the commit; a failover): the store is then read, until it answers or
// appendTimeout, and the audit counts as stored if the store holds it —
// as does a duplicate that is this very audit (an earlier attempt whose
// reply was lost). One that is not there is added again.
func (b *Box) storeAudit(rec store.Audit) error {
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	err := b.cfg.Store.AddAudit(ctx, b.sid(), rec)
	for wait := 50 * time.Millisecond; err != nil && !errors.Is(err, store.ErrInvalid); wait = min(2*wait, 2*time.Second) {
		got, gerr := b.cfg.Store.AuditByCode(ctx, b.sid(), rec.Code)
		switch {
		case gerr == nil && got.EntryHash == rec.EntryHash:
			return nil
		case gerr == nil, errors.Is(gerr, store.ErrNotFound) && errors.Is(err, store.ErrDuplicate):
			return err // another audit holds the code or the entry
		case errors.Is(gerr, store.ErrNotFound):
			if err = b.cfg.Store.AddAudit(ctx, b.sid(), rec); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the store did not answer whether it holds the audit: %w", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	return err
}

// MaxAuditsPerToken bounds the audits one voting token may post, so that a
// voter cannot flood the board; the count is kept in memory only (the
// audit entries carry nothing that links them to a token).
const MaxAuditsPerToken = 10

func (b *Box) sid() store.LogID { return store.LogID(b.log.ID()) }

func (b *Box) pendingReceiptLocked(rec store.Audit) *AuditReceipt {
	return &AuditReceipt{TrackingCode: rec.Code, EntryHash: rec.EntryHash, PublishAfter: b.nextAuditCheck, MinBatch: b.cfg.AuditMinBatch}
}

// auditReplay answers a retry of an audit already accepted (the same
// prepared ballot always has the same opening, hence the same entry).
func (b *Box) auditReplay(ctx context.Context, rec store.Audit) (*AuditReceipt, bool, error) {
	b.mu.Lock()
	full, known := b.auditCodes[ballot.TrackingCode(rec.Code).Shown()]
	p, pending := b.pool[rec.Code]
	if !pending {
		p, pending = b.foreignAudits[rec.Code]
	}
	var r *AuditReceipt
	if pending {
		r = b.pendingReceiptLocked(p.rec)
	}
	b.mu.Unlock()
	if !known {
		// Published by another instance, whose pool this box never
		// read: the entry is fixed, so it is found by its hash.
		if i, ok := b.log.IndexOf(rec.EntryHash); ok {
			return &AuditReceipt{TrackingCode: rec.Code, EntryHash: rec.EntryHash, Published: true, Index: i, Replayed: true}, true, nil
		}
	}
	if !known || full != rec.Code {
		return nil, false, nil
	}
	if !pending {
		if i, ok := b.log.IndexOf(rec.EntryHash); ok {
			r = &AuditReceipt{TrackingCode: rec.Code, EntryHash: rec.EntryHash, Published: true, Index: i}
		} else {
			// Reserved by an audit being stored right now.
			return nil, false, ErrCastInProgress
		}
	}
	if r.EntryHash != rec.EntryHash {
		return nil, false, fmt.Errorf("%w: another opening of this ballot was accepted", ErrAuditInvalid)
	}
	r.Replayed = true
	return r, true, nil
}

// reserveAuditLocked checks that the audit's ballot and ciphertexts are
// new, on the board, in flight and in the pool, and reserves them.
func (b *Box) reserveAuditLocked(ctx context.Context, a *ballot.AuditedBallot, code ballot.TrackingCode) ([][32]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if b.state.Phase != election.PhaseOpen {
		return nil, ErrNotOpen
	}
	if _, dup := b.auditCodes[code.Shown()]; dup {
		return nil, ErrCastInProgress // a concurrent identical audit
	}
	// a.Verify (one rule set with the election rules) has refused an
	// audit repeating one of its own ciphertexts.
	var keys [][32]byte
	var rv *boxRevote // deniable re-voting: the rows queued for the next slots
	if b.state.Coercion() {
		if err := b.syncRevoteLocked(ctx); err != nil {
			return nil, err
		}
		rv = b.rv
	}
	for _, c := range a.Contests {
		for _, ct := range c.Ciphertexts {
			k := sha256.Sum256(ct.Bytes())
			if rv != nil && rv.ciphers[k] {
				return nil, fmt.Errorf("%w: a ciphertext of a row queued for the next slot", ErrDuplicateCipher)
			}
			if rv != nil && rv.inflight[k] {
				return nil, ErrCastInProgress
			}
			if p, dup := b.ciphertextAt(k); dup {
				switch p {
				case reservedPos:
					return nil, ErrCastInProgress
				case auditPendingPos:
					return nil, fmt.Errorf("%w: an audit waiting to be published", ErrDuplicateCipher)
				}
				return nil, fmt.Errorf("%w: entry %d", ErrDuplicateCipher, p)
			}
			keys = append(keys, k)
		}
	}
	if p, dup := b.codeAt(code); dup { // the same ciphertexts, so only in flight
		if p == reservedPos {
			return nil, ErrCastInProgress
		}
		return nil, fmt.Errorf("%w: at entry %d", ErrDuplicateBallot, p)
	}
	for _, k := range keys {
		b.ciphertexts[k] = reservedPos
	}
	b.auditCodes[code.Shown()] = code
	return keys, nil
}

// loadAuditPool reads the store's audits after the replay: every code
// becomes findable; the audits not yet on the board return to the pool
// with their ciphertexts reserved; those whose entry the board holds (a
// flush whose marking was lost) are marked published.
func (b *Box) loadAuditPool(ctx context.Context) error {
	all, err := b.cfg.Store.Audits(ctx, b.sid(), false)
	if err != nil {
		return fmt.Errorf("ballotbox: audit pool: %w", err)
	}
	b.auditsSeen = uint64(len(all))
	var done [][32]byte
	for _, rec := range all {
		b.auditCodes[ballot.TrackingCode(rec.Code).Shown()] = rec.Code
		if rec.Published {
			continue
		}
		if _, ok := b.log.IndexOf(rec.EntryHash); ok {
			done = append(done, rec.Code)
			continue
		}
		p, err := poolEntry(rec)
		if err != nil {
			return fmt.Errorf("ballotbox: audit pool: %w", err)
		}
		b.pool[rec.Code] = p
	}
	if err := b.reservePoolLocked(); err != nil {
		return err
	}
	if len(b.pool) > 0 && b.state.Phase != election.PhaseOpen {
		b.cfg.Logger.Error("accepted audits can no longer be published: voting is not open", "audits", len(b.pool))
	}
	if err := b.cfg.Store.MarkAuditsPublished(ctx, b.sid(), done); err != nil {
		return fmt.Errorf("ballotbox: audit pool: %w", err)
	}
	return nil
}

func poolEntry(rec store.Audit) (*pooled, error) {
	e, err := bulletin.DecodeEntry(rec.Entry)
	if err != nil {
		return nil, fmt.Errorf("audit %x: %w", rec.Code[:8], err)
	}
	a, err := ballot.DecodeAuditedBallot(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("audit %x: %w", rec.Code[:8], err)
	}
	p := &pooled{rec: rec, entry: e}
	for _, c := range a.Contests {
		for _, ct := range c.Ciphertexts {
			p.keys = append(p.keys, sha256.Sum256(ct.Bytes()))
		}
	}
	return p, nil
}

// reservePoolLocked reserves the ciphertexts of every pooled audit (after
// a replay or a rebuild of the indices). A pooled audit whose entry is on
// the board leaves the pool.
func (b *Box) reservePoolLocked() error {
	for _, pool := range []map[ballot.TrackingCode]*pooled{b.pool, b.foreignAudits} {
		for code, p := range pool {
			if _, ok := b.log.IndexOf(p.rec.EntryHash); ok {
				delete(pool, code)
				continue
			}
			for _, k := range p.keys {
				if pos, dup := b.ciphertextAt(k); dup && pos != auditPendingPos {
					return fmt.Errorf("%w: a pending audit's ciphertext is at entry %d", ErrInconsistentBox, pos)
				}
				b.ciphertexts[k] = auditPendingPos
			}
		}
	}
	return nil
}

// auditScheduleLocked runs after every entry applied: when the board's
// size reaches the next multiple of AuditEvery, the flusher is woken if at
// least AuditMinBatch audits wait. The decision looks at board positions
// and the pool's size only, never at when an audit arrived.
func (b *Box) auditScheduleLocked() {
	if b.state.Size < b.nextAuditCheck {
		return
	}
	b.nextAuditCheck = (b.state.Size/b.cfg.AuditEvery + 1) * b.cfg.AuditEvery
	if b.state.Phase != election.PhaseOpen || b.flushKick == nil {
		return
	}
	waiting := 0
	for _, p := range b.pool {
		if !p.flushing {
			waiting++
		}
	}
	if waiting >= b.cfg.AuditMinBatch {
		select {
		case b.flushKick <- struct{}{}:
		default:
		}
	}
}

// flusher publishes a batch whenever auditScheduleLocked asks.
func (b *Box) flusher() {
	defer close(b.flushDone)
	for {
		select {
		case <-b.flushKick:
			if err := b.publishBatch(); err != nil {
				b.cfg.Logger.Warn("audit batch not published; it will be retried", "err", err)
			}
		case <-b.flushStop:
			return
		}
	}
}

// publishBatch appends every pooled audit as one batch, in random order,
// alongside casts in flight (its ciphertexts are reserved, so no cast
// conflicts with it).
func (b *Box) publishBatch() error {
	b.gate.RLock()
	defer b.gate.RUnlock()
	for attempt := 1; ; attempt++ {
		err := b.publishBatchOnce()
		if !isStale(err) || attempt == maxStale {
			return err
		}
		// Another instance appended since the batch was taken (it may
		// have closed voting): apply its entries and look again.
		if err := b.awaitForeign(); err != nil {
			return err
		}
	}
}

func (b *Box) publishBatchOnce() error {
	b.mu.Lock()
	b.catchUpLocked()
	if err := b.check(); err != nil || b.state.Phase != election.PhaseOpen {
		b.mu.Unlock()
		return err
	}
	horizon := b.state.Size
	batch, err := b.takeBatchLocked()
	b.mu.Unlock()
	if err != nil || len(batch) == 0 {
		return err
	}
	pas := make([]pendingApply, len(batch))
	for i, p := range batch {
		pas[i] = pendingApply{entry: p.entry, keys: p.keys}
	}
	_, err = b.appendOrdered(horizon, nil, func() {
		for _, p := range batch {
			p.flushing = false
		}
	}, pas...)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.publishedLocked(batch)
	b.mu.Unlock()
	return b.markPublished(batch)
}

// takeBatchLocked takes every pooled audit not already being flushed, in
// an order drawn from b.auditRand (Fisher-Yates), and marks them taken.
func (b *Box) takeBatchLocked() ([]*pooled, error) {
	var batch []*pooled
	for _, p := range b.pool {
		if !p.flushing {
			batch = append(batch, p)
		}
	}
	// Map order is not a shuffle: start from the code order, then shuffle.
	sortByCode(batch)
	if err := shuffle(b.auditRand, len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] }); err != nil {
		return nil, fmt.Errorf("ballotbox: shuffling audits: %w", err)
	}
	for _, p := range batch {
		p.flushing = true
	}
	return batch, nil
}

func sortByCode(ps []*pooled) {
	slices.SortFunc(ps, func(x, y *pooled) int { return bytes.Compare(x.rec.Code[:], y.rec.Code[:]) })
}

// shuffle permutes n items uniformly at random with randomness from r
// (Fisher-Yates, each index drawn without bias by crypto/rand.Int).
func shuffle(r io.Reader, n int, swap func(i, j int)) error {
	for i := n - 1; i > 0; i-- {
		j, err := rand.Int(r, big.NewInt(int64(i+1)))
		if err != nil {
			return err
		}
		swap(i, int(j.Int64()))
	}
	return nil
}

// publishedLocked drops published audits from the pool.
func (b *Box) publishedLocked(batch []*pooled) {
	for _, p := range batch {
		delete(b.pool, p.rec.Code)
	}
}

// markPublished records the batch as published in the store. A failure
// is harmless: the entries are on the board, and the next start marks
// them.
func (b *Box) markPublished(batch []*pooled) error {
	codes := make([][32]byte, len(batch))
	for i, p := range batch {
		codes[i] = p.rec.Code
	}
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	if err := b.cfg.Store.MarkAuditsPublished(ctx, b.sid(), codes); err != nil {
		b.cfg.Logger.Warn("published audits not marked in the store; the next start marks them", "err", err)
	}
	return nil
}

// publishAllLocked publishes every pooled audit as one batch before the
// close entry, with the gate held exclusively (no cast or flush in
// flight) and b.mu held: the audits are applied to the state, then
// appended, as post does for one entry.
func (b *Box) publishAllLocked(ctx context.Context) error {
	batch, err := b.takeBatchLocked()
	if err != nil || len(batch) == 0 {
		return err
	}
	pos := b.state.Size
	if pos != b.log.Size() {
		for _, p := range batch {
			p.flushing = false
		}
		if pos < b.log.Size() {
			return board.ErrStale // another instance's entries arrived: catch up and retry
		}
		b.halt(fmt.Errorf("%w: state at %d, log at %d", ErrInconsistentBox, pos, b.log.Size()))
		return b.fatal
	}
	entries := make([]*bulletin.Entry, len(batch))
	for i, p := range batch {
		entries[i] = p.entry
	}
	fail := func(err error) error {
		for _, p := range batch {
			p.flushing = false
		}
		if rerr := b.rebuildLocked(ctx); rerr != nil {
			b.halt(fmt.Errorf("%w: rebuild after a failed audit batch: %w", ErrInconsistentBox, rerr))
		}
		return err
	}
	for _, e := range entries {
		if err := b.applyLocked(e, nil, nil); err != nil {
			return fail(fmt.Errorf("%w: pending audit refused by the rules: %w", ErrInconsistentBox, err))
		}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout) // ctx may hold the store's barrier
	idx, err := b.log.AppendAfter(actx, pos, entries...)
	cancel()
	if err == nil && idx[0] != pos {
		err = fmt.Errorf("%w: audits appended at %d, applied at %d", ErrInconsistentBox, idx[0], pos)
	}
	if err != nil {
		return fail(err)
	}
	b.publishedLocked(batch)
	return b.markPublished(batch)
}

// AuditView is an accepted audit as served by its tracking code
// (spec/10-api.md §10.1): the prepared ballot whose code the voter was
// shown, the authority's signed audited-ballot entry, and, once a batch
// published it, its board position with a cosigned checkpoint and the
// inclusion proof.
type AuditView struct {
	TrackingCode   ballot.TrackingCode
	Ballot         []byte
	Entry          []byte
	EntryHash      [32]byte
	Published      bool
	Index          uint64
	Checkpoint     []byte
	CheckpointSize uint64
	InclusionProof [][32]byte
	// PublishAfter and MinBatch say when a pending audit will be
	// published (AuditReceipt).
	PublishAfter uint64
	MinBatch     int
}

// ErrUnknownAudit: no audit with this tracking code.
var ErrUnknownAudit = errors.New("ballotbox: no audit with this tracking code")

// AuditByCode returns the audit of the ballot with this tracking code as
// shown, pending or published.
func (b *Box) AuditByCode(ctx context.Context, shown ballot.ShownCode) (*AuditView, error) {
	b.mu.Lock()
	code, ok := b.auditCodes[shown]
	after := b.nextAuditCheck
	b.mu.Unlock()
	if !ok {
		// Another instance may have accepted it: look in the store.
		if err := b.refreshAuditCodes(ctx); err != nil {
			return nil, err
		}
		b.mu.Lock()
		code, ok = b.auditCodes[shown]
		b.mu.Unlock()
	}
	if !ok {
		return nil, ErrUnknownAudit
	}
	rec, err := b.cfg.Store.AuditByCode(ctx, b.sid(), code)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownAudit // reserved, not stored yet
	}
	if err != nil {
		return nil, fmt.Errorf("ballotbox: audit pool: %w", err)
	}
	v := &AuditView{TrackingCode: rec.Code, Ballot: rec.Ballot, Entry: rec.Entry, EntryHash: rec.EntryHash}
	i, ok := b.log.IndexOf(rec.EntryHash)
	if !ok {
		v.PublishAfter, v.MinBatch = after, b.cfg.AuditMinBatch
		return v, nil
	}
	cp, err := b.cp.covering(ctx, i, true)
	if err != nil {
		return nil, err
	}
	if v.InclusionProof, err = b.log.InclusionProof(i, cp.size); err != nil {
		return nil, err
	}
	v.Published, v.Index, v.Checkpoint, v.CheckpointSize = true, i, cp.note, cp.size
	return v, nil
}

// PendingAudits returns how many accepted audits wait to be published.
func (b *Box) PendingAudits() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pool)
}

// refreshAuditCodes learns the codes of the audits other instances
// accepted from the store (at most once per auditCodesEvery: a lookup of
// an unknown code must not cost a read of every audit each time).
func (b *Box) refreshAuditCodes(ctx context.Context) error {
	b.mu.Lock()
	due := time.Since(b.auditCodesAt) >= auditCodesEvery
	if due {
		b.auditCodesAt = time.Now()
	}
	b.mu.Unlock()
	if !due {
		return nil
	}
	all, err := b.cfg.Store.Audits(ctx, b.sid(), false)
	if err != nil {
		return fmt.Errorf("ballotbox: audit pool: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rec := range all {
		b.auditCodes[ballot.TrackingCode(rec.Code).Shown()] = rec.Code
	}
	return nil
}

// auditCodesEvery bounds how often refreshAuditCodes reads the store.
const auditCodesEvery = time.Second

// mergeStorePoolLocked adds to the pool the audits other instances
// accepted and have not published (before the close, which publishes
// every accepted audit). An audit whose ciphertexts a ballot on the board
// repeats (cast through another instance before its audit was known
// here) can no longer be published: it is logged and left out. b.mu is
// held.
func (b *Box) mergeStorePoolLocked(ctx context.Context) error {
	pending, err := b.cfg.Store.Audits(ctx, b.sid(), true)
	if err != nil {
		return fmt.Errorf("ballotbox: audit pool: %w", err)
	}
	for _, rec := range pending {
		b.auditCodes[ballot.TrackingCode(rec.Code).Shown()] = rec.Code
		if _, ok := b.pool[rec.Code]; ok {
			continue
		}
		if _, ok := b.log.IndexOf(rec.EntryHash); ok {
			continue
		}
		if p, ok := b.foreignAudits[rec.Code]; ok {
			// Reserved here already: published by this close.
			delete(b.foreignAudits, rec.Code)
			b.pool[rec.Code] = p
			continue
		}
		p, err := poolEntry(rec)
		if err != nil {
			return fmt.Errorf("ballotbox: audit pool: %w", err)
		}
		if slices.ContainsFunc(p.keys, func(k [32]byte) bool { _, taken := b.ciphertextAt(k); return taken }) {
			b.cfg.Logger.Error("an accepted audit repeats a ciphertext already on the board; it is not published", "code", fmt.Sprintf("%x", rec.Code[:8]))
			continue
		}
		for _, k := range p.keys {
			b.ciphertexts[k] = auditPendingPos
		}
		b.pool[rec.Code] = p
	}
	return nil
}
