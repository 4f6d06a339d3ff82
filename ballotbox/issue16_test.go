package ballotbox_test

import (
	"context"
	"testing"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
)

// TestForgedSignatureBeforeConflict (issue 16, finding 9): a ballot entry
// whose signature is forged is refused 400 bad_signature, also when its
// payload is already on the board or in flight (the stateful rules would
// refuse it 409): a bad signature is bad input, whatever the state.
func TestForgedSignatureBeforeConflict(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	raw, _ := prepare(t, f, v, 1)
	forge := func(raw []byte) []byte {
		e, err := bulletin.DecodeEntry(raw)
		if err != nil {
			t.Fatal(err)
		}
		e.Signature[7] ^= 1
		return e.Encode()
	}
	// Not on the board yet: the log's signature check refuses it.
	if _, err := f.Box.Cast(ctx, v.Token, forge(raw)); !isBadSignature(err) {
		t.Fatalf("forged signature, fresh ballot: %v, want bad_signature", err)
	}
	if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
		t.Fatal(err)
	}
	// The same payload is on the board: still a bad signature, not a
	// duplicate.
	if _, err := f.Box.Cast(ctx, v.Token, forge(raw)); !isBadSignature(err) {
		t.Fatalf("forged signature, payload on the board: %v, want bad_signature", err)
	}
	// And after the close, not "not open".
	if _, err := f.Box.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
		t.Fatal(err)
	}
	raw2, _ := prepare(t, f, v, 2)
	if _, err := f.Box.Cast(ctx, v.Token, forge(raw2)); !isBadSignature(err) {
		t.Fatalf("forged signature after the close: %v, want bad_signature", err)
	}
}

func isBadSignature(err error) bool {
	return ballotbox.Code(err) == "bad_signature"
}
