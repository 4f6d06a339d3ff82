package idp

import (
	"context"
	"time"
)

// Board posts entries to the public bulletin board. The identity service's
// entries are signed with its own board key by the implementation (the
// bulletin package's client, wired in by the caller); payloads are the
// canonical encodings of package record.
type Board interface {
	Post(ctx context.Context, entryType uint16, payload []byte) (index uint64, err error)
}

// VotingState is implemented by a Board that can tell whether the
// election's board holds its close entry (client.IdentityBoard asks the
// ballot box for the election's phase). The service follows it: once the
// board says voting has closed, sign-ins and in-person marks are refused
// (ErrVotingClosed), whatever the configured voting window, which may be
// unset. The board stays the authority (it refuses credentials after the
// close); following it spares voters a sign-in that cannot end in a
// ballot, and the service a credential the board would refuse.
type VotingState interface {
	VotingClosed(ctx context.Context) (bool, error)
}

// boardStateTTL is how long the service relies on its last look at the
// board's voting state before it asks again (at a sign-in); a close, once
// seen, is final.
const boardStateTTL = time.Second

// boardStateTimeout bounds one look.
const boardStateTimeout = 2 * time.Second

// votingClosed reports whether the board holds the close entry, by the
// latest look at most boardStateTTL old. One caller at a time looks; the
// others use the last answer, and a board that does not answer leaves it
// unchanged (the board refuses credentials after the close anyway).
func (s *Service) votingClosed(now time.Time) bool {
	if s.closed.Load() {
		return true
	}
	vs, ok := s.cfg.Board.(VotingState)
	if !ok || !s.stateMu.TryLock() {
		return false
	}
	defer s.stateMu.Unlock()
	if d := now.Sub(s.stateAt); !s.stateAt.IsZero() && d >= 0 && d < boardStateTTL {
		return false
	}
	s.stateAt = now
	ctx, cancel := context.WithTimeout(context.Background(), boardStateTimeout)
	defer cancel()
	closed, err := vs.VotingClosed(ctx)
	if err != nil {
		s.log.Warn("board's voting state unknown", "err", err)
		return false
	}
	if closed {
		s.closed.Store(true)
		s.log.Info("the board holds the close entry: sign-ins are refused from now on")
	}
	return closed
}

// Entry type codes of the identity service's board entries. They mirror the
// registry of package bulletin (spec/07-bulletin.md §7.2), which this package
// does not import so that the identity service stays a separate component.
const (
	entryIdentityKeySet   uint16 = 0x0003
	entryVoterListChange  uint16 = 0x0202
	entryCredentialIssued uint16 = 0x0203
	entryInPersonMark     uint16 = 0x0204
	entryPolling          uint16 = 0x0205
)
