package ballotbox_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/bulletin/board"
)

// downWitness is a witness that fails while down is set.
type downWitness struct {
	ballotbox.Cosigner
	down *atomic.Bool
}

func (w downWitness) Cosign(ctx context.Context, l *board.Log, cp *bulletin.SignedCheckpoint) (bulletin.NoteSignature, error) {
	if w.down.Load() {
		return bulletin.NoteSignature{}, errors.New("witness down")
	}
	return w.Cosigner.Cosign(ctx, l, cp)
}

// TestCastWhileAWitnessIsDown (issue 16, finding 8): one witness of the
// quorum down does not stop casting. The receipt says it is not yet
// witnessed; its checkpoint carries the cosignatures there are, and once
// the witness is back the board serves a checkpoint with the quorum that
// covers the ballot, which is what the voter's check uses. Trustees and
// auditors are never given a checkpoint without the quorum.
func TestCastWhileAWitnessIsDown(t *testing.T) {
	var down atomic.Bool
	n := 0
	f := newFixture(t, boxtest.Options{Witnesses: 2, WrapWitness: func(c ballotbox.Cosigner) ballotbox.Cosigner {
		n++
		if n == 2 {
			return downWitness{c, &down}
		}
		return c
	}})
	ctx := context.Background()
	anchors := &f.Box.View().Manifest.Board
	v := voter(t, f, [32]byte{})
	raw, _ := prepare(t, f, v, 1)
	down.Store(true)
	r, err := f.Box.Cast(ctx, v.Token, raw)
	if err != nil {
		t.Fatalf("cast with a witness down: %v", err)
	}
	if r.Witnessed {
		t.Fatal("a receipt without the quorum says it is witnessed")
	}
	if _, err := anchors.VerifyCheckpoint(r.Checkpoint); err == nil {
		t.Fatal("the receipt's checkpoint has the quorum with a witness down")
	}
	// No full checkpoint for those who act on the board while it is down.
	if _, _, err := f.Box.Checkpoint(ctx); !errors.Is(err, ballotbox.ErrWitness) {
		t.Fatalf("checkpoint for trustees with a witness down: %v, want ErrWitness", err)
	}
	down.Store(false)
	note, size, err := f.Box.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := anchors.VerifyCheckpoint(note)
	if err != nil || size <= r.Index || cp.Size != size {
		t.Fatalf("witnessed checkpoint after the witness is back: %v, size %d, ballot at %d", err, size, r.Index)
	}
	if got := f.Box.Log().LatestCosigned(); got == nil || got.Size <= r.Index {
		t.Fatalf("the board serves no cosigned checkpoint covering the ballot: %+v", got)
	}
	// A later cast gets a witnessed receipt again.
	v2 := voter(t, f, [32]byte{2})
	raw2, _ := prepare(t, f, v2, 2)
	r2, err := f.Box.Cast(ctx, v2.Token, raw2)
	if err != nil || !r2.Witnessed {
		t.Fatalf("cast with both witnesses: %v, witnessed %v", err, r2 != nil && r2.Witnessed)
	}
	if _, err := anchors.VerifyCheckpoint(r2.Checkpoint); err != nil {
		t.Fatal(err)
	}
}

// TestBoardEndsWitnessed (issue 19, finding 4): after an official's action
// (here: close) the board soon serves a checkpoint the witnesses cosigned
// covering it, with no cast to trigger one, so an auditor who downloads
// the record right after the tally gets the whole of it, witnessed.
func TestBoardEndsWitnessed(t *testing.T) {
	f := newFixture(t, boxtest.Options{Witnesses: 2})
	ctx := context.Background()
	if _, err := f.Box.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
		t.Fatal(err)
	}
	l := f.Box.Log()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cp := l.LatestCosigned()
		if cp != nil && cp.Size == l.Size() {
			if _, err := f.Box.View().Manifest.Board.VerifyCheckpoint(cp.Note); err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cosigned checkpoint covers the close: latest %+v, log size %d", cp, l.Size())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
