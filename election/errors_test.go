package election_test

import (
	"errors"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
)

// TestRefusalKeepsItsCause: a refusal wraps both ErrRefused and the error
// that caused it, so a caller can branch on the cause with errors.Is (the
// rules once formatted causes with %v, which cut the chain).
func TestRefusalKeepsItsCause(t *testing.T) {
	s := election.NewState()
	err := s.Apply(&bulletin.Entry{Type: bulletin.TypeManifest, Payload: []byte{0xff}})
	if err == nil {
		t.Fatal("a manifest of an unknown format was accepted")
	}
	if !errors.Is(err, election.ErrRefused) {
		t.Errorf("%v: not an election.ErrRefused", err)
	}
	if !errors.Is(err, ballot.ErrInvalidManifest) {
		t.Errorf("%v: ballot.ErrInvalidManifest is not reachable with errors.Is", err)
	}
}
