package ballotbox

// Several instances on one store (spec/07-bulletin.md §7.8, spec §11.8):
// every evoted instance has its own Box over the same store log, and the
// store (PostgreSQL) is the one sequencer. Each Box's log follows the
// store (board.Log.Follow) and hands the entries the other instances
// appended ("foreign" entries) to the Box, which applies them to its State
// in index order through the same reorder buffer as its own entries, as a
// replay does: the State of every instance is the election as the board
// holds it. A Box checks the rules for an entry of its own against its
// State at some size (the horizon) plus its own entries in flight, and
// appends with board.Log.AppendAfter(horizon): if a foreign entry lies at
// or beyond the horizon when the entry would be committed, the append is
// refused (board.ErrStale) and the Box applies the foreign entries, checks
// again and retries, a bounded number of times. So no entry is ever
// appended after entries its checks did not see, whichever instance
// appended them.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/crypto/zkp"
	"evote/election"
)

// maxStale bounds the attempts of one entry refused as stale.
const maxStale = 32

// foreignEntry is an entry another instance appended, waiting to be
// applied; cb is set once its proofs are checked (a ballot).
type foreignEntry struct {
	index uint64
	entry *bulletin.Entry
	cb    *election.CheckedBallot
}

// follow starts following the store: foreign entries are queued by the
// log (queueForeign), their ballots' proofs checked in batches and the
// entries applied by the follower goroutine.
func (b *Box) follow() {
	b.followKick = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	b.followStop = cancel
	b.log.OnForeign(b.queueForeign)
	b.followWG.Add(2)
	go func() {
		defer b.followWG.Done()
		for ctx.Err() == nil {
			err := b.log.Follow(ctx)
			if ctx.Err() != nil {
				return
			}
			b.cfg.Logger.Warn("following the board's store failed; retrying", "origin", b.cfg.LogKey.Origin, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	go func() {
		defer b.followWG.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.followKick:
			}
			b.precheckForeign()
			b.mu.Lock()
			b.catchUpLocked()
			b.mu.Unlock()
		}
	}()
}

// stopFollowing stops the goroutines follow started.
func (b *Box) stopFollowing() {
	if b.followStop != nil {
		b.followStop()
		b.followWG.Wait()
	}
}

// queueForeign receives the entries the log loaded from the store (called
// by the log with its growth locked: it takes only fmu).
func (b *Box) queueForeign(first uint64, entries []*bulletin.Entry) {
	b.fmu.Lock()
	for i, e := range entries {
		b.foreign = append(b.foreign, &foreignEntry{index: first + uint64(i), entry: e})
	}
	b.fmu.Unlock()
	select {
	case b.followKick <- struct{}{}:
	default:
	}
}

// precheckForeign checks the proofs of the queued foreign ballots in one
// batch, outside the box's mutex; if the batch fails, the ballots are
// left to the rules' own check when applied (which then halts the box on
// the bad one: the board holds a ballot the rules refuse).
func (b *Box) precheckForeign() {
	el := b.snap.Load().el
	if el == nil {
		return
	}
	b.fmu.Lock()
	var todo []*foreignEntry
	for _, f := range b.foreign {
		if f.cb == nil && f.entry.Type == bulletin.TypeBallot {
			todo = append(todo, f)
		}
	}
	b.fmu.Unlock()
	if len(todo) == 0 {
		return
	}
	zb := zkp.NewBatch()
	cbs := make([]*election.CheckedBallot, len(todo))
	for i, f := range todo {
		bal, err := ballot.DecodeBallot(f.entry.Payload)
		if err != nil || bal.CredentialKey != f.entry.Author || bal.ElectionID != el.Manifest.ElectionID || el.AddToBatch(zb, bal, "ballot") != nil {
			return
		}
		cbs[i] = election.NewCheckedBallot(f.entry.Payload, bal)
	}
	if zb.Verify() != nil {
		return
	}
	b.fmu.Lock()
	for i, f := range todo {
		f.cb = cbs[i]
	}
	b.fmu.Unlock()
}

// catchUpLocked moves the queued foreign entries into the reorder buffer
// and applies every entry that can be (b.mu held).
func (b *Box) catchUpLocked() {
	b.fmu.Lock()
	queued := b.foreign
	b.foreign = nil
	b.fmu.Unlock()
	for _, f := range queued {
		if f.index < b.state.Size {
			continue // applied already: its own, or a rebuild replayed it
		}
		if _, ok := b.pending[f.index]; ok {
			continue // its own entry, whose acknowledgement was lost and found
		}
		b.pending[f.index] = pendingApply{entry: f.entry, cb: f.cb, foreign: true}
	}
	b.drainLocked()
}

// drainLocked applies the entries of the reorder buffer that follow the
// state, in index order (b.mu held).
func (b *Box) drainLocked() {
	for {
		p, ok := b.pending[b.state.Size]
		if !ok || b.fatal != nil {
			break
		}
		pos := b.state.Size
		delete(b.pending, pos)
		if err := b.applyLocked(p.entry, p.cb, p.keys); err != nil {
			// The log holds an entry the rules refuse: a bug in the
			// reservations, or another instance's. Stop accepting
			// anything.
			b.pending[pos] = p
			b.halt(fmt.Errorf("%w: entry %d: %w", ErrInconsistentBox, pos, err))
			break
		}
		if p.foreign {
			b.appliedForeignLocked(p.entry)
		} else if p.cb != nil {
			b.inFlightDone(p.pseudonym)
		}
		if p.done != nil {
			close(p.done)
		}
	}
	if b.fatal != nil {
		b.halt(b.fatal) // releases every cast waiting for its apply
	}
}

// appliedForeignLocked updates what the box keeps beside the state for an
// entry another instance appended: an audit it published leaves this
// box's pool.
func (b *Box) appliedForeignLocked(e *bulletin.Entry) {
	if e.Type != bulletin.TypeBallot && e.Type != bulletin.TypeCredentialIssued && b.cp != nil {
		// As for an entry posted here (post): the board this instance
		// serves ends soon with a witnessed checkpoint covering the
		// election's latest step, whichever instance posted it.
		b.cp.refresh()
	}
	if e.Type != bulletin.TypeAuditedBallot {
		return
	}
	h := e.Hash()
	for _, pool := range []map[ballot.TrackingCode]*pooled{b.pool, b.foreignAudits} {
		for code, p := range pool {
			if p.rec.EntryHash == h {
				delete(pool, code)
			}
		}
	}
}

// awaitForeign waits until the state has applied every foreign entry the
// log has loaded (after an append refused as stale), for up to
// appendTimeout.
func (b *Box) awaitForeign() error {
	deadline := time.Now().Add(appendTimeout)
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 5*time.Millisecond) {
		b.mu.Lock()
		b.catchUpLocked()
		done, err := b.state.Size >= b.log.ForeignEnd(), b.check()
		b.mu.Unlock()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: entries of other instances not applied in %s", ErrInconsistentBox, appendTimeout)
		}
		time.Sleep(wait)
	}
}

// catchUpAllLocked brings the state to the log's size, for an entry posted
// with the gate held exclusively (no entry of this box in flight): it
// loads what other instances appended, then applies it. b.mu is held; it
// is released while waiting for the follower.
func (b *Box) catchUpAllLocked(ctx context.Context) error {
	if err := b.log.Refresh(ctx); err != nil {
		return fmt.Errorf("ballotbox: %w", err)
	}
	deadline := time.Now().Add(appendTimeout)
	for {
		b.catchUpLocked()
		if err := b.check(); err != nil {
			return err
		}
		if b.state.Size >= b.log.Size() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: state at %d, log at %d", ErrInconsistentBox, b.state.Size, b.log.Size())
		}
		// The follower holds entries it is checking: let it place them.
		b.mu.Unlock()
		time.Sleep(time.Millisecond)
		b.mu.Lock()
	}
}

// dropPendingBelowLocked forgets buffered entries the state has passed
// (after a rebuild replayed them).
func (b *Box) dropPendingBelowLocked() {
	for i, p := range b.pending {
		if i < b.state.Size && p.done == nil {
			delete(b.pending, i)
		}
	}
}

// isStale reports an append refused because other instances appended.
func isStale(err error) bool { return errors.Is(err, board.ErrStale) }

// AwaitSize waits until the box's state has applied the board's first n
// entries, whichever instance appended them (a reader that wants to see
// what another instance acknowledged), or ctx ends.
func (b *Box) AwaitSize(ctx context.Context, n uint64) error {
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
		b.mu.Lock()
		b.catchUpLocked()
		size, err := b.state.Size, b.check()
		b.mu.Unlock()
		if err != nil || size >= n {
			return err
		}
		if b.log.Size() < n {
			if err := b.log.Refresh(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ballotbox: state at %d, awaiting %d: %w", size, n, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// appliedSize returns how many board entries the state has applied.
func (b *Box) appliedSize() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state.Size
}

// Sync brings the box's state up to the store: it loads what other
// instances appended and waits until the state has applied it. A request
// that another instance's entry may decide (the voter's credential, the
// opening or closing of voting) is refused only after a Sync.
func (b *Box) Sync(ctx context.Context) error {
	if err := b.log.Refresh(ctx); err != nil {
		return fmt.Errorf("ballotbox: %w", err)
	}
	return b.AwaitSize(ctx, b.log.Size())
}

// retryBehind runs f; if f refuses for want of something another
// instance may have put on the board meanwhile, and the state grows by
// a Sync, f runs once more.
func retryBehind[T any](ctx context.Context, b *Box, f func() (T, error)) (T, error) {
	before := b.appliedSize()
	r, err := f()
	if err == nil || !mayBeBehind(err) {
		return r, err
	}
	if serr := b.Sync(ctx); serr != nil || b.appliedSize() == before {
		return r, err
	}
	return f()
}

// mayBeBehind reports a refusal for want of an entry: a state that lags
// behind the store's (entries of other instances not yet applied) may be
// its reason.
func mayBeBehind(err error) bool {
	for _, e := range []error{ErrTokenInvalid, ErrNotOpen, ErrNoCredential, ErrWrongPhase, ErrNotReady, ErrUnknownAudit, ErrEntryInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
