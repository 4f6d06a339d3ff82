package trustee

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/zkp"
	"evote/election"
)

// Board is what the trustee tool needs from the ballot box: the public
// board to read and the trustee route to post to (spec §10.3). The client
// package implements it over HTTP; tests implement it in memory.
type Board interface {
	// Entries returns entries from position start on, up to the board's
	// current end or fewer (a board may answer in parts, so as not to hold
	// a large board at once); none means none past start.
	Entries(ctx context.Context, start uint64) ([]*bulletin.Entry, error)
	// Post submits an entry signed by the trustee. A mix or decryption
	// share that was posted but found invalid is not an error: Posted
	// says so.
	Post(ctx context.Context, e *bulletin.Entry) (*Posted, error)
	// Wait returns once the board may have grown beyond size (an entry
	// was announced, or a poll interval passed), or when ctx ends.
	Wait(ctx context.Context, size uint64) error
}

// Posted is the ballot box's answer to a post.
type Posted struct {
	Index  uint64
	Valid  bool
	Reason string // why an invalid mix or share was posted anyway
}

// ErrBoardInvalid means the board holds an entry that the election rules
// refuse, or an entry whose signature does not verify: the server is not
// following the protocol, and the trustee stops rather than act on it.
var ErrBoardInvalid = errors.New("trustee: the board breaks the election rules")

// Checkpointer is implemented by boards that serve a checkpoint covering
// the whole board, signed by the log and cosigned by its witnesses.
type Checkpointer interface {
	Checkpoint(ctx context.Context) (note []byte, err error)
}

// Consistencer is implemented by boards that serve consistency proofs
// between two of their trees (spec §7.5): a follower that replayed only a
// prefix of the board proves with one that the prefix lies in a witnessed
// checkpoint's tree, without fetching the rest (WitnessPrefix).
type Consistencer interface {
	Consistency(ctx context.Context, first, second uint64) ([][32]byte, error)
}

// ErrSplitView means the board contradicts itself or a checkpoint that the
// witnesses cosigned: the entries it serves are not the tree of its
// cosigned checkpoint, or two cosigned checkpoints are not one log. The
// server shows this trustee a board that is not the one everyone sees; the
// trustee stops, publishes nothing, and hands the evidence to
// Options.OnEvidence.
var ErrSplitView = errors.New("trustee: the board contradicts its witnessed checkpoints")

// ErrUnwitnessed means no checkpoint cosigned by the manifest's witness
// quorum covers the board the trustee would act on (the server gives none,
// an older one, or one without enough cosignatures): the trustee does not
// act on a view that nobody else can be shown to share.
var ErrUnwitnessed = errors.New("trustee: no checkpoint cosigned by the witness quorum covers the board")

// ErrNoFingerprint means the trustee was not given the election's
// fingerprint, without which nothing on the board can be trusted.
var ErrNoFingerprint = errors.New("trustee: no election fingerprint: the manifest cannot be checked")

// Evidence is what a trustee saves when the board contradicts itself: the
// cosigned checkpoints involved (signed notes) and the leaf hashes of the
// entries it replayed, so that officials and observers can check the
// contradiction from the signatures alone (spec §13.3).
type Evidence struct {
	Reason      string     `json:"reason"`
	Checkpoints []string   `json:"checkpoints"` // signed notes, in the order the trustee saw them
	Leaves      [][32]byte `json:"leaves"`      // RFC 6962 leaf hashes of the entries served, in order
}

// A Follower keeps a replay of the board through the election rules. The
// trustee acts only on what its own replay shows, never on what the server
// says the state is, and takes a decision only on a replay that Witness has
// brought to exactly the tree of a witnessed checkpoint.
type Follower struct {
	Board Board
	State *election.State
	// Entries are the entries applied, in log order, unless Lean.
	Entries []*bulletin.Entry
	// Lean keeps of each entry only its hash and leaf hash (64 bytes), not
	// the entry (about 1 KB for a ballot, 2 for a credential and a
	// ballot): Entries stays empty, and a trustee's replay of a million
	// ballots holds only what the election's rules keep. The trustee's
	// tool replays lean.
	Lean bool
	Log  bulletin.LogID
	// Fingerprint is the election's fingerprint as the officials
	// published it. The board's first entry must be the manifest that has
	// it; the log key, the witnesses and their quorum are the manifest's.
	// Without it the replay is for display only: Witness refuses it, and
	// so does every step of the trustee's tool.
	Fingerprint ballot.ExpectedFingerprint
	// LogKey, if set, is the log's verifier key as the trustee also
	// obtained it out of band: it must equal the manifest's.
	LogKey *bulletin.LogVerifier
	// OnEvidence, if set, receives the evidence of a contradiction before
	// the follower returns ErrSplitView.
	OnEvidence func(*Evidence)
	// StaleWait bounds how long Witness waits for a cosigned checkpoint
	// that covers the replay (default 10 s).
	StaleWait time.Duration
	tree      *bulletin.Tree
	hashes    [][32]byte // Entry.Hash of each entry applied
	leaves    [][32]byte // LeafHash of each, for the evidence
	witnessed *bulletin.SignedCheckpoint
	// acked are this trustee's entries the board acknowledged, with the
	// position it gave: a witnessed view that holds something else there
	// contradicts the board's own answer.
	acked []ack
}

// ack is a post the board acknowledged at a position.
type ack struct {
	index uint64
	hash  [32]byte
}

// Size returns the number of entries applied.
func (f *Follower) Size() uint64 { return uint64(len(f.hashes)) }

// NewFollower returns a follower with an empty replay.
func NewFollower(b Board) *Follower { return &Follower{Board: b, State: election.NewState()} }

// Sync fetches the entries posted since the last call, checks their
// signatures and log id, and applies them to the replay.
func (f *Follower) Sync(ctx context.Context) error { return f.syncTo(ctx, math.MaxUint64) }

// syncTo is Sync that applies no entry at or beyond position end. It asks
// the board for entries until it has them all, applying each part before
// it asks for the next (a lean replay keeps none of them).
func (f *Follower) syncTo(ctx context.Context, end uint64) error {
	for f.Size() < end {
		es, err := f.Board.Entries(ctx, f.Size())
		if err != nil {
			return err
		}
		if rest := end - f.Size(); uint64(len(es)) > rest {
			es = es[:rest]
		}
		if len(es) == 0 {
			return nil
		}
		if err := f.applyAll(es); err != nil {
			return err
		}
	}
	return nil
}

// applyAll checks the signatures and log id of es, the next entries of the
// board, and applies them to the replay.
func (f *Follower) applyAll(es []*bulletin.Entry) error {
	if err := bulletin.VerifyEntries(es); err != nil {
		return fmt.Errorf("%w: %w", ErrBoardInvalid, err)
	}
	for i := 0; i < len(es); {
		if f.State.Context == nil {
			if err := f.apply(es[i], nil); err != nil {
				return err
			}
			i++
			continue
		}
		// Once the context is known, the proofs of the ballots among the
		// next entries are checked as one batch (the expensive part of a
		// replay); the entries are then applied in order.
		j, ballots := i, 0
		for j < len(es) && ballots < ballotBatch {
			if es[j].Type == bulletin.TypeBallot {
				ballots++
			}
			j++
		}
		checked := f.precheck(es[i:j])
		for k := i; k < j; k++ {
			if err := f.apply(es[k], checked[k-i]); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// ballotBatch is the most ballots whose proofs are checked as one batch.
const ballotBatch = 256

// precheck checks the proofs of the ballots among es as one batch and
// returns, by position in es, the checked ballots; all nil if any ballot
// fails, so that each is then checked alone and the bad one named in place.
func (f *Follower) precheck(es []*bulletin.Entry) []*election.CheckedBallot {
	out := make([]*election.CheckedBallot, len(es))
	batch := zkp.NewBatch()
	n := 0
	for i, e := range es {
		if e.Type != bulletin.TypeBallot {
			continue
		}
		cb, err := f.State.PrecheckBallot(e, batch)
		if err != nil {
			return make([]*election.CheckedBallot, len(es))
		}
		out[i] = cb
		n++
	}
	if n > 0 && batch.Verify() != nil {
		return make([]*election.CheckedBallot, len(es))
	}
	return out
}

func (f *Follower) apply(e *bulletin.Entry, cb *election.CheckedBallot) error {
	if f.Size() == 0 {
		if err := f.checkManifest(e); err != nil {
			return err
		}
		f.Log = e.Log
	} else if e.Log != f.Log {
		return fmt.Errorf("%w: entry %d belongs to another log", ErrBoardInvalid, f.Size())
	}
	var err error
	if cb != nil {
		err = f.State.ApplyChecked(e, cb)
	} else {
		err = f.State.Apply(e)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBoardInvalid, err)
	}
	enc := e.Encode()
	leaf := bulletin.LeafHash(enc)
	f.hashes, f.leaves = append(f.hashes, sha256.Sum256(enc)), append(f.leaves, leaf)
	if !f.Lean {
		f.Entries = append(f.Entries, e)
	}
	if f.tree == nil {
		f.tree = bulletin.NewTree()
	}
	f.tree.AppendLeaves(leaf)
	return nil
}

// checkManifest checks the board's first entry against the fingerprint:
// the manifest the officials published, in the log it pins.
func (f *Follower) checkManifest(e *bulletin.Entry) error {
	if e.Type != bulletin.TypeManifest {
		return fmt.Errorf("%w: the board's first entry is a %s, not the manifest", ErrBoardInvalid, e.Type)
	}
	m, err := ballot.DecodeManifest(e.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBoardInvalid, err)
	}
	if f.Fingerprint.IsZero() {
		return nil // a replay for display only: Witness will refuse it
	}
	if err := f.Fingerprint.Check(m); err != nil {
		return err
	}
	lv := m.Board.LogVerifier()
	if e.Log != bulletin.LogIDFor(lv.Origin) {
		return fmt.Errorf("%w: the manifest entry is not in the log its manifest pins (%s)", ErrBoardInvalid, lv.Origin)
	}
	if k := f.LogKey; k != nil && (k.Origin != lv.Origin || k.Ed25519 != lv.Ed25519 || !bytes.Equal(k.MLDSA, lv.MLDSA)) {
		return fmt.Errorf("%w: the log key given is not the one the manifest pins", ErrBoardInvalid)
	}
	return nil
}

// Witness brings the replay to exactly the tree of a checkpoint that the
// log signed and a quorum of the manifest's witnesses cosigned, taken
// from the board's Checkpointer: it applies entries up to the
// checkpoint's size and no further, and checks that their tree has its
// root. Every decision of the trustee's tool that publishes a secret or
// rests on a message being absent is taken right after Witness, on that
// state (spec §13.3): a prefix is not enough, since what lies beyond it is
// witnessed by nobody. A checkpoint older than the replay is waited out
// (StaleWait), then refused with ErrUnwitnessed; a cosigned checkpoint
// that contradicts the entries served or an earlier cosigned checkpoint
// gives ErrSplitView and the evidence to OnEvidence.
func (f *Follower) Witness(ctx context.Context) error {
	if f.Fingerprint.IsZero() {
		return ErrNoFingerprint
	}
	if f.State.Manifest == nil {
		if err := f.Until(ctx, func(s *election.State) bool { return s.Manifest != nil }); err != nil {
			return err
		}
	}
	// The replay may have begun without the fingerprint (a display-only
	// follower handed on): its manifest is checked here in any case.
	if err := f.Fingerprint.Check(f.State.Manifest); err != nil {
		return err
	}
	anchors := &f.State.Manifest.Board
	if f.Log != bulletin.LogIDFor(anchors.Origin) {
		return fmt.Errorf("%w: the board is not the log its manifest pins (%s)", ErrBoardInvalid, anchors.Origin)
	}
	cpr, ok := f.Board.(Checkpointer)
	if !ok {
		return fmt.Errorf("%w: the board serves no checkpoints", ErrUnwitnessed)
	}
	return f.eachCheckpoint(ctx, cpr, anchors, func(note []byte, cp bulletin.Checkpoint) (retry, final error) {
		switch {
		case f.witnessed != nil && cp.Time.Before(f.witnessed.Time):
			return nil, f.contradiction(note, "a cosigned checkpoint dated before the last one: the log's time went back")
		case cp.Size < f.Size():
			// Older than the replay: it must still be a prefix of it.
			if root, _ := f.tree.RootAt(cp.Size); root != cp.Root {
				return nil, f.contradiction(note, fmt.Sprintf("a cosigned checkpoint of size %d is not a prefix of the entries served", cp.Size))
			}
			return fmt.Errorf("%w: the checkpoint covers %d entries, the replay %d", ErrUnwitnessed, cp.Size, f.Size()), nil
		}
		if err := f.syncTo(ctx, cp.Size); err != nil {
			return nil, err
		}
		if f.Size() < cp.Size {
			return nil, f.contradiction(note, fmt.Sprintf("the board served %d entries under a cosigned checkpoint of %d", f.Size(), cp.Size))
		}
		if f.tree == nil {
			return nil, f.contradiction(note, fmt.Sprintf("the board served no entries under a cosigned checkpoint of %d", cp.Size))
		}
		if root, _ := f.tree.RootAt(cp.Size); root != cp.Root {
			return nil, f.contradiction(note, fmt.Sprintf("the entries served do not have the root of the cosigned checkpoint of size %d", cp.Size))
		}
		for _, a := range f.acked {
			if a.index < cp.Size && f.hashes[a.index] != a.hash {
				return nil, f.contradiction(note, fmt.Sprintf("the board acknowledged this trustee's entry %x at position %d, and the witnessed log holds another entry there", a.hash[:8], a.index))
			}
		}
		f.witnessed = &bulletin.SignedCheckpoint{Checkpoint: cp, Note: note}
		return nil, nil
	})
}

// eachCheckpoint takes the board's cosigned checkpoint, verified against
// the manifest's anchors, and hands it to step, until step accepts one
// (nil, nil), gives a final error, or the stale wait (StaleWait, 10 s by
// default) is over: then the last reason to retry (a checkpoint missing,
// failing the anchors, or too old, as step says) is returned.
func (f *Follower) eachCheckpoint(ctx context.Context, cpr Checkpointer, anchors *ballot.BoardAnchors, step func(note []byte, cp bulletin.Checkpoint) (retry, final error)) error {
	wait := f.StaleWait
	if wait == 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		note, err := cpr.Checkpoint(ctx)
		if err != nil {
			// No checkpoint now (a witness briefly down, say): try again
			// until the wait is over.
			if ctx.Err() != nil {
				return err
			}
			err = fmt.Errorf("%w: %w", ErrUnwitnessed, err)
		} else if cp, verr := anchors.VerifyCheckpoint(note); verr != nil {
			err = fmt.Errorf("%w: %w", ErrUnwitnessed, verr)
		} else {
			retry, final := step(note, cp)
			if final != nil || retry == nil {
				return final
			}
			err = retry
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// ReplayUntil applies the board's entries one at a time until cond holds
// for the replay, and no further, waiting for the board to grow while it
// does not. A service that needs only what the board fixes before voting
// (the manifest, the key generation and the election context) reads that
// prefix, not the whole board; WitnessPrefix then shows it is the prefix
// of the log everyone sees.
func (f *Follower) ReplayUntil(ctx context.Context, cond func(*election.State) bool) error {
	for !cond(f.State) {
		es, err := f.Board.Entries(ctx, f.Size())
		if err != nil {
			return err
		}
		if len(es) == 0 {
			if err := f.Board.Wait(ctx, f.Size()); err != nil {
				return err
			}
			continue
		}
		if err := bulletin.VerifyEntries(es); err != nil {
			return fmt.Errorf("%w: %w", ErrBoardInvalid, err)
		}
		for _, e := range es {
			if err := f.apply(e, nil); err != nil {
				return err
			}
			if cond(f.State) {
				break
			}
		}
	}
	return nil
}

// WitnessPrefix shows that the replay is a prefix of the log that the
// manifest's witnesses cosigned: it takes the board's cosigned checkpoint
// (which must cover at least the replay) and a consistency proof from the
// replay's tree to the checkpoint's, and verifies both against the
// manifest's anchors, without reading the entries between. A checkpoint
// older than the replay is waited out (StaleWait); a checkpoint or proof
// that contradicts the replay gives ErrSplitView and the evidence to
// OnEvidence.
func (f *Follower) WitnessPrefix(ctx context.Context) error {
	if f.Fingerprint.IsZero() {
		return ErrNoFingerprint
	}
	if f.State.Manifest == nil || f.tree == nil {
		return fmt.Errorf("%w: nothing replayed", ErrUnwitnessed)
	}
	if err := f.Fingerprint.Check(f.State.Manifest); err != nil {
		return err
	}
	cpr, ok := f.Board.(Checkpointer)
	cons, ok2 := f.Board.(Consistencer)
	if !ok || !ok2 {
		return fmt.Errorf("%w: the board serves no checkpoints or consistency proofs", ErrUnwitnessed)
	}
	anchors := &f.State.Manifest.Board
	if f.Log != bulletin.LogIDFor(anchors.Origin) {
		return fmt.Errorf("%w: the board is not the log its manifest pins (%s)", ErrBoardInvalid, anchors.Origin)
	}
	size := f.Size()
	root, err := f.tree.RootAt(size)
	if err != nil {
		return err
	}
	return f.eachCheckpoint(ctx, cpr, anchors, func(note []byte, cp bulletin.Checkpoint) (retry, final error) {
		if cp.Size < size {
			if r, _ := f.tree.RootAt(cp.Size); r != cp.Root {
				return nil, f.contradiction(note, fmt.Sprintf("a cosigned checkpoint of size %d is not a prefix of the entries served", cp.Size))
			}
			return fmt.Errorf("%w: the checkpoint covers %d entries, the replay %d", ErrUnwitnessed, cp.Size, size), nil
		}
		proof, err := cons.Consistency(ctx, size, cp.Size)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return fmt.Errorf("%w: consistency proof: %w", ErrUnwitnessed, err), nil
		}
		if err := bulletin.VerifyConsistency(size, cp.Size, proof, root, cp.Root); err != nil {
			return nil, f.contradiction(note, fmt.Sprintf("the entries served are not a prefix of the cosigned checkpoint of size %d: %v", cp.Size, err))
		}
		f.witnessed = &bulletin.SignedCheckpoint{Checkpoint: cp, Note: note}
		return nil, nil
	})
}

// Witnessed returns the checkpoint of the last successful Witness, or nil.
func (f *Follower) Witnessed() *bulletin.SignedCheckpoint { return f.witnessed }

// contradiction hands the evidence to OnEvidence and returns ErrSplitView.
func (f *Follower) contradiction(note []byte, reason string) error {
	if f.OnEvidence != nil {
		ev := &Evidence{Reason: reason}
		if f.witnessed != nil {
			ev.Checkpoints = append(ev.Checkpoints, string(f.witnessed.Note))
		}
		ev.Checkpoints = append(ev.Checkpoints, string(note))
		ev.Leaves = slices.Clone(f.leaves)
		f.OnEvidence(ev)
	}
	return fmt.Errorf("%w: %s", ErrSplitView, reason)
}

// Until syncs and waits until cond holds on the replay, or ctx ends.
func (f *Follower) Until(ctx context.Context, cond func(*election.State) bool) error {
	for {
		if err := f.Sync(ctx); err != nil {
			return err
		}
		if cond(f.State) {
			return nil
		}
		if err := f.Board.Wait(ctx, f.Size()); err != nil {
			return err
		}
	}
}
