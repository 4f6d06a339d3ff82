package idpapi

import (
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"

	"evote/record"
)

// TestMarkNeedsRegistration (issue 12, finding 6): the mark route accepts
// only stations and officials that a list official registered on the
// board, and the registration route refuses what the board's rules would.
func TestMarkNeedsRegistration(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 1)
	_, cred := e.signIn("203.0.113.51", p, newDevice(t))
	ps, _ := hex.DecodeString(cred["pseudonym"].(string))
	mark := func(station string, mod func(*record.InPersonMark)) (int, map[string]any) {
		m := &record.InPersonMark{ElectionID: electionID, ContextHash: contextHash, BallotStyle: cred["ballot_style"].(string),
			StationID: station, OfficialID: "poll-official-1", MarkedAt: uint64(e.clock.now().Unix())}
		copy(m.Pseudonym[:], ps)
		copy(m.StationKey[:], e.keys[station].Public().(ed25519.PublicKey))
		copy(m.OfficialKey[:], e.keys["poll-official-1"].Public().(ed25519.PublicKey))
		if mod != nil {
			mod(m)
		}
		m.Sign(e.keys[station], e.keys["poll-official-1"])
		st, b, _ := do(t, e.api, "POST", "/v1/officials/marks", "192.0.2.51", map[string]string{"mark": b64.EncodeToString(m.Encode())}, nil)
		return st, b
	}
	// Configured in the service, but never registered on the board.
	st, b := mark("station-bishkek-1", nil)
	if msg, _ := b["error"].(map[string]any)["message"].(string); st != 403 || errCode(b) != "official_refused" || !strings.Contains(msg, `station "station-bishkek-1" is not registered on the board`) {
		t.Errorf("mark of an unregistered station: %d %v", st, b)
	}
	if st, b := mark("station-istanbul", func(m *record.InPersonMark) { m.ContextHash[0] ^= 1 }); st != 403 || errCode(b) != "official_refused" {
		t.Errorf("mark of another election context: %d %v", st, b)
	}
	if n := len(e.board.ofType(0x0204)); n != 0 {
		t.Fatalf("%d refused marks reached the board", n)
	}
	// Registrations: only a list official, only configured keys, each once,
	// only before voting starts.
	e.register("poll-official-1", []string{"station-bishkek-1"}, nil, 403)
	e.keys["station-rogue"] = testKey("station-rogue")
	e.register("list-official-1", []string{"station-rogue"}, nil, 403)
	e.register("list-official-1", []string{"station-istanbul"}, nil, 409)
	e.register("list-official-1", []string{"station-bishkek-1"}, nil, 409) // a credential was issued: voting has started
	if n := len(e.board.ofType(0x0205)); n != 1 {
		t.Errorf("%d registrations on the board, want the harness's one", n)
	}
	if st, b := mark("station-istanbul", nil); st != 201 {
		t.Errorf("mark of the registered station: %d %v", st, b)
	}
}
