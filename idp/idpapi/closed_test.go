package idpapi

import (
	"testing"
	"time"
)

// TestSignInRefusedAfterClose (issue 16, finding 9): with no voting window
// configured, the identity service follows the board's voting state and
// refuses to start (or finish) a sign-in once the board holds the close
// entry; a board it cannot reach does not stop sign-ins (the board itself
// refuses credentials after the close).
func TestSignInRefusedAfterClose(t *testing.T) {
	e := newEnv(t)
	p, q := e.person(nil, 0), e.person(nil, 1)
	e.signIn("203.0.113.70", p, newDevice(t))
	st, ch, _ := e.start("203.0.113.71", q, nil)
	if st != 200 {
		t.Fatalf("start before the close: %d %v", st, ch)
	}
	e.board.setClosed(true)
	e.clock.add(2 * time.Second)
	if st, out, _ := e.start("203.0.113.72", p, nil); st != 403 || errCode(out) != "voting_closed" {
		t.Fatalf("start after the close: %d %v, want 403 voting_closed", st, out)
	}
	if st, out := e.verify("203.0.113.71", ch["challenge_id"].(string), e.lastCode(q.Phone), newDevice(t)); st != 403 || errCode(out) != "voting_closed" {
		t.Fatalf("verify after the close: %d %v, want 403 voting_closed", st, out)
	}
}
