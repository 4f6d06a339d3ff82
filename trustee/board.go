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

// A Follower keeps a replay of the board through the election rules. The
// trustee acts only on what its own replay shows, never on what the server
// says the state is.
type Follower struct {
	Board   Board
	State   *election.State
	Entries []*bulletin.Entry
	Log     bulletin.LogID
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
	for len(es) > 0 {
		// A run of ballots has its proofs checked as one batch (the
		// expensive part of a replay); everything else is applied one by
		// one.
		n := 0
		if f.State.Context != nil {
			for n < len(es) && n < ballotBatch && es[n].Type == bulletin.TypeBallot {
				n++
			}
		}
		if n > 1 {
			if err := f.applyBallots(es[:n]); err != nil {
				return err
			}
			es = es[n:]
			continue
		}
		if err := f.apply(es[0], nil); err != nil {
			return err
		}
		es = es[1:]
	}
	return nil
}

// ballotBatch is the most ballots whose proofs are checked as one batch.
const ballotBatch = 256

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
	return nil
}

// applyBallots checks the proofs of consecutive ballot entries as one
// batch and applies them; if the batch fails, each ballot is applied on
// its own so that the error names the bad one.
func (f *Follower) applyBallots(es []*bulletin.Entry) error {
	batch := zkp.NewBatch()
	cbs := make([]*election.CheckedBallot, len(es))
	for i, e := range es {
		cb, err := f.State.PrecheckBallot(e, batch)
		if err != nil {
			return f.apply(e, nil) // reports the refusal with its position
		}
		cbs[i] = cb
	}
	if batch.Verify() != nil {
		for _, e := range es {
			if err := f.apply(e, nil); err != nil {
				return err
			}
		}
		return nil
	}
	for i, e := range es {
		if err := f.apply(e, cbs[i]); err != nil {
			return err
		}
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
