// Package election holds the rules of an election as a state machine over
// bulletin-board entries (spec/09-election.md): who may post what, in which
// phase, and what makes a ballot valid. The ballot box runs it before it
// appends an entry, and the auditor's verifier replays the whole board
// through the same rules, so the server cannot accept what the verifier
// would refuse. It is pure: no storage, network or clock.
package election

import (
	"fmt"

	"evote/internal/wire"
)

// Phase is the lifecycle phase of an election (spec §9.8).
type Phase uint8

const (
	PhaseSetup      Phase = iota // manifest posted; identity keys, key generation
	PhaseReady                   // joint key and context published
	PhaseOpen                    // voting
	PhaseClosed                  // voting over; cleansing
	PhaseMixing                  // mixes being posted
	PhaseDecrypting              // decryption shares being posted
	PhaseTallied                 // result posted
)

var phaseNames = [...]string{"setup", "ready", "open", "closed", "mixing", "decrypting", "tallied"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase-%d", uint8(p))
}

// A Transition is the payload of open, close and transition entries: the
// authority moves the election to phase To at the request of an official.
type Transition struct {
	ElectionID string
	To         Phase
	Official   string // the official account that asked for it
	At         uint64 // Unix seconds, informational
}

const transitionFormat = 1

// Encode returns u8(1) || string(election id) || u8(to) || string(official) || u64(at).
func (t *Transition) Encode() []byte {
	w := wire.NewWriter(64)
	w.U8(transitionFormat)
	w.String(t.ElectionID)
	w.U8(uint8(t.To))
	w.String(t.Official)
	w.U64(t.At)
	return w.Bytes()
}

// DecodeTransition parses a canonical transition.
func DecodeTransition(b []byte) (*Transition, error) {
	r := wire.NewReader(b)
	if v := r.U8("format"); r.Err() == nil && v != transitionFormat {
		return nil, fmt.Errorf("election: transition format %d", v)
	}
	t := &Transition{ElectionID: r.String(64, "election id"), To: Phase(r.U8("phase")), Official: r.String(256, "official"), At: r.U64("time")}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("election: transition: %w", err)
	}
	if t.To > PhaseTallied {
		return nil, fmt.Errorf("election: transition to unknown phase %d", t.To)
	}
	return t, nil
}
