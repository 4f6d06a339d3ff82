package trustee

import (
	"context"
	"errors"
	"fmt"

	"evote/bulletin"
	"evote/crypto/zkp"
	"evote/election"
)

// Board is what the trustee tool needs from the ballot box: the public
// board to read and the trustee route to post to (spec §10.3). The client
// package implements it over HTTP; tests implement it in memory.
type Board interface {
	// Entries returns the entries from position start to the board's
	// current end (possibly none).
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

// Checkpointer is implemented by boards that serve the log's latest
// signed checkpoint (with witness cosignatures) covering the whole board.
type Checkpointer interface {
	Checkpoint(ctx context.Context) (note []byte, err error)
}

// ErrSplitView means the board's signed checkpoint does not commit to the
// entries the trustee replayed: the server shows this trustee a board that
// is not the one it signed (and witnesses cosigned) for everyone.
var ErrSplitView = errors.New("trustee: the board's signed checkpoint does not match the replayed entries")

// A Follower keeps a replay of the board through the election rules. The
// trustee acts only on what its own replay shows, never on what the server
// says the state is.
type Follower struct {
	Board   Board
	State   *election.State
	Entries []*bulletin.Entry
	Log     bulletin.LogID
	// LogKey, if set, is the log's verifier key obtained out of band:
	// CheckCheckpoint then holds the replay to the log's signed
	// checkpoint.
	LogKey *bulletin.LogVerifier
	// Witnesses and Quorum, if set, also require that many of these
	// witnesses' cosignatures on the checkpoint.
	Witnesses []bulletin.CosignerKey
	Quorum    int
	tree      *bulletin.Tree
}

// NewFollower returns a follower with an empty replay.
func NewFollower(b Board) *Follower { return &Follower{Board: b, State: election.NewState()} }

// Sync fetches the entries posted since the last call, checks their
// signatures and log id, and applies them to the replay.
func (f *Follower) Sync(ctx context.Context) error {
	es, err := f.Board.Entries(ctx, uint64(len(f.Entries)))
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return nil
	}
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
	if len(f.Entries) == 0 {
		f.Log = e.Log
	} else if e.Log != f.Log {
		return fmt.Errorf("%w: entry %d belongs to another log", ErrBoardInvalid, len(f.Entries))
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
	f.Entries = append(f.Entries, e)
	if f.tree == nil {
		f.tree = bulletin.NewTree()
	}
	f.tree.AppendLeaves(bulletin.LeafHash(e.Encode()))
	return nil
}

// CheckCheckpoint fetches the board's signed checkpoint, checks its
// signature under LogKey and that its tree root is that of the replayed
// entries (syncing first if the checkpoint covers more). Without LogKey,
// or on a board that serves no checkpoint, it does nothing.
func (f *Follower) CheckCheckpoint(ctx context.Context) error {
	cpr, ok := f.Board.(Checkpointer)
	if f.LogKey == nil || !ok {
		return nil
	}
	note, err := cpr.Checkpoint(ctx)
	if err != nil {
		return err
	}
	cp, err := bulletin.VerifyCosigned(note, *f.LogKey, f.Witnesses, f.Quorum)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSplitView, err)
	}
	if cp.Size > uint64(len(f.Entries)) {
		if err := f.Sync(ctx); err != nil {
			return err
		}
	}
	if cp.Size > uint64(len(f.Entries)) || f.tree == nil {
		return fmt.Errorf("%w: checkpoint of %d entries, the board served %d", ErrSplitView, cp.Size, len(f.Entries))
	}
	root, err := f.tree.RootAt(cp.Size)
	if err != nil || root != cp.Root {
		return fmt.Errorf("%w: root at size %d differs", ErrSplitView, cp.Size)
	}
	return nil
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
		if err := f.Board.Wait(ctx, uint64(len(f.Entries))); err != nil {
			return err
		}
	}
}
