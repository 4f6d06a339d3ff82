package ballotbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/bulletin/witness"
)

// A Cosigner obtains one witness's cosignature on a checkpoint of the log
// (spec/07-bulletin.md §7.6), proving consistency with what the witness
// cosigned before.
type Cosigner interface {
	Key() bulletin.CosignerKey
	Cosign(ctx context.Context, l *board.Log, cp *bulletin.SignedCheckpoint) (bulletin.NoteSignature, error)
}

// RemoteWitness is a witness reached over HTTP (tlog-witness).
type RemoteWitness struct{ Client *witness.Client }

// Key implements Cosigner.
func (r RemoteWitness) Key() bulletin.CosignerKey { return r.Client.Key }

// Cosign implements Cosigner.
func (r RemoteWitness) Cosign(ctx context.Context, l *board.Log, cp *bulletin.SignedCheckpoint) (bulletin.NoteSignature, error) {
	return r.Client.Submit(ctx, l, cp)
}

// LocalWitness is a witness running in the same process (the demo and
// tests); it is called exactly as a remote one would be, with a
// consistency proof from the size it last cosigned.
type LocalWitness struct {
	W  *witness.Witness
	mu sync.Mutex
}

// Key implements Cosigner.
func (lw *LocalWitness) Key() bulletin.CosignerKey { return lw.W.Key() }

// Cosign implements Cosigner.
func (lw *LocalWitness) Cosign(_ context.Context, l *board.Log, cp *bulletin.SignedCheckpoint) (bulletin.NoteSignature, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	old, _, _ := lw.W.Latest(cp.Origin)
	if old > cp.Size {
		return bulletin.NoteSignature{}, &witness.ConflictError{Size: old}
	}
	var proof [][32]byte
	if old > 0 && old < cp.Size {
		var err error
		if proof, err = l.ConsistencyProof(old, cp.Size); err != nil {
			return bulletin.NoteSignature{}, err
		}
	}
	sigs, err := lw.W.AddCheckpoint(old, proof, cp.Note)
	if err != nil {
		return bulletin.NoteSignature{}, err
	}
	return sigs[0], nil
}

// cosigned is a checkpoint carrying the witnesses' cosignatures:
// witnessed when they reach the manifest's quorum, else the ones the
// witnesses that answered gave (some witness was down).
type cosigned struct {
	size      uint64
	note      []byte
	witnessed bool
}

// retryPartial is how often the checkpointer tries again, while its
// latest checkpoint lacks the witness quorum, to get one that has it.
const retryPartial = 5 * time.Second

// checkpointer makes checkpoints for receipts on demand, one at a time:
// every cast waiting when a round starts is served by that round's
// checkpoint, so the cost of signing and cosigning is shared by all the
// ballots appended meanwhile.
type checkpointer struct {
	b      *Box
	mu     sync.Mutex
	latest *cosigned
	round  chan struct{} // closed when the running or next round ends
	err    error         // the last round's failure
	kick   chan struct{}
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newCheckpointer(b *Box) *checkpointer {
	c := &checkpointer{b: b, round: make(chan struct{}), kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// refresh asks for a checkpoint round without waiting for it.
func (c *checkpointer) refresh() {
	select {
	case c.kick <- struct{}{}:
	default: // a round is already asked for
	}
}

func (c *checkpointer) stop() {
	c.once.Do(func() { close(c.quit) })
	<-c.done
}

// covering returns a cosigned checkpoint whose tree contains entry i; with
// full, one that carries the witness quorum's cosignatures (or ErrWitness),
// else the best the witnesses that answer give: a voter's receipt must not
// wait for a witness that is down (spec §10.2).
func (c *checkpointer) covering(ctx context.Context, i uint64, full bool) (*cosigned, error) {
	ok := func(cp *cosigned) bool { return cp != nil && cp.size > i && (cp.witnessed || !full) }
	for attempt := 0; attempt < 3; attempt++ {
		c.mu.Lock()
		if ok(c.latest) {
			cp := c.latest
			c.mu.Unlock()
			return cp, nil
		}
		round := c.round
		c.mu.Unlock()
		select {
		case c.kick <- struct{}{}:
		default:
		}
		select {
		case <-round:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.quit:
			return nil, ErrShutdown
		}
		c.mu.Lock()
		if ok(c.latest) {
			cp := c.latest
			c.mu.Unlock()
			return cp, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: no checkpoint with the witness quorum covers entry %d", ErrWitness, i)
}

func (c *checkpointer) run() {
	defer close(c.done)
	retry := time.NewTicker(retryPartial)
	defer retry.Stop()
	for {
		select {
		case <-c.kick:
		case <-retry.C:
			c.mu.Lock()
			partial := c.latest != nil && !c.latest.witnessed
			c.mu.Unlock()
			if !partial {
				continue
			}
		case <-c.quit:
			return
		}
		cp, err := c.make()
		c.mu.Lock()
		if err == nil {
			c.latest = cp
		}
		c.err = err
		close(c.round)
		c.round = make(chan struct{})
		c.mu.Unlock()
	}
}

// make signs a checkpoint of the log's current size and collects the
// witnesses' cosignatures. A witness that has cosigned a larger size
// (another instance on the same store got there first) answers with its
// size: the log loads up to it and the round starts again from there.
func (c *checkpointer) make() (*cosigned, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for attempt := 1; ; attempt++ {
		cp, ahead, err := c.makeOnce(ctx)
		if ahead == 0 || attempt == 3 {
			return cp, err
		}
		for c.b.log.Size() < ahead {
			if err := c.b.log.Refresh(ctx); err != nil {
				return nil, fmt.Errorf("ballotbox: checkpoint: %w", err)
			}
			if c.b.log.Size() < ahead {
				select {
				case <-ctx.Done():
					return nil, fmt.Errorf("ballotbox: checkpoint: witness at size %d, the store at %d: %w", ahead, c.b.log.Size(), ctx.Err())
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}
}

// makeOnce is one round of make; ahead is the largest size a witness
// reported beyond the checkpoint's, if any.
func (c *checkpointer) makeOnce(ctx context.Context) (_ *cosigned, ahead uint64, _ error) {
	l := c.b.log
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("ballotbox: checkpoint: %w", err)
	}
	ws, quorum := c.b.cfg.Witnesses, c.b.cfg.Quorum
	c.b.mu.Lock()
	m := c.b.state.Manifest
	c.b.mu.Unlock()
	if m != nil {
		// Only the witnesses the manifest pins count, and its quorum.
		ws, quorum = c.b.manifestCosigners(m), int(m.Board.Quorum)
	}
	if len(ws) == 0 {
		return &cosigned{size: cp.Size, note: cp.Note, witnessed: quorum == 0}, 0, nil
	}
	type res struct {
		s   bulletin.NoteSignature
		err error
	}
	out := make([]res, len(ws))
	var wg sync.WaitGroup
	for k, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := w.Cosign(ctx, l, cp)
			out[k] = res{s, err}
		}()
	}
	wg.Wait()
	var sigs []bulletin.NoteSignature
	var errs []error
	for _, r := range out {
		var ce *witness.ConflictError
		if errors.As(r.err, &ce) && ce.Size > cp.Size {
			ahead = max(ahead, ce.Size)
		}
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		sigs = append(sigs, r.s)
	}
	if ahead > 0 && len(sigs) < quorum {
		return nil, ahead, fmt.Errorf("%w: a witness has cosigned size %d", ErrWitness, ahead)
	}
	note, err := bulletin.AddSignatures(cp.Note, sigs...)
	if err != nil {
		return nil, 0, err
	}
	if len(sigs) < quorum {
		// Receipts go on with the cosignatures there are; the voter's
		// check fetches a witnessed checkpoint later, and the next
		// rounds (at least every retryPartial) try again.
		c.b.cfg.Logger.Error("witnesses did not cosign: receipts carry fewer cosignatures than the quorum until they do",
			"cosigned", len(sigs), "quorum", quorum, "err", errors.Join(errs...))
		return &cosigned{size: cp.Size, note: note}, 0, nil
	}
	if err := l.SetCosigned(note); err != nil {
		return nil, 0, err
	}
	return &cosigned{size: cp.Size, note: note, witnessed: true}, 0, nil
}

// Checkpoint returns a cosigned checkpoint covering the whole log as it is
// now (for officials and tests).
func (b *Box) Checkpoint(ctx context.Context) ([]byte, uint64, error) {
	size := b.log.Size()
	if size == 0 {
		return nil, 0, ErrNotReady
	}
	cp, err := b.cp.covering(ctx, size-1, true)
	if err != nil {
		return nil, 0, err
	}
	return cp.note, cp.size, nil
}

// manifestCosigners returns the configured cosigners that are witnesses
// of the manifest (same name and key).
func (b *Box) manifestCosigners(m *ballot.Manifest) []Cosigner {
	var out []Cosigner
	for _, w := range b.cfg.Witnesses {
		k := w.Key()
		for _, x := range m.Board.Witnesses {
			if x.Name == k.Name && x.Key == k.Public {
				out = append(out, w)
				break
			}
		}
	}
	return out
}

// Witnesses returns the keys of the witnesses whose cosignatures receipts
// carry.
func (b *Box) Witnesses() []bulletin.CosignerKey {
	var out []bulletin.CosignerKey
	for _, w := range b.cfg.Witnesses {
		out = append(out, w.Key())
	}
	return out
}
