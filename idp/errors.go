package idp

import (
	"errors"
	"time"
)

// Errors of the identity service. The HTTP layer maps each to a stable code
// (spec/08-identity.md §8.10). The messages a voter sees never confirm
// whether a PIN exists: an unknown PIN, a wrong document, a wrong date of
// birth and a register record of a deceased person all give
// ErrNotConfirmed.
var (
	ErrInvalidInput        = errors.New("idp: invalid input")
	ErrNotConfirmed        = errors.New("idp: identity not confirmed")
	ErrIneligible          = errors.New("idp: not eligible to vote")
	ErrNotOnList           = errors.New("idp: not on this election's voter list")
	ErrVotedInPerson       = errors.New("idp: voter already voted in person")
	ErrTryLater            = errors.New("idp: too many codes sent for this person, try later")
	ErrClientLocked        = errors.New("idp: too many failed attempts from this client")
	ErrRateLimited         = errors.New("idp: too many requests from this client")
	ErrRegistryUnavailable = errors.New("idp: population register unavailable")
	ErrSendFailed          = errors.New("idp: could not send the code")
	ErrUnknownChallenge    = errors.New("idp: unknown challenge")
	ErrWrongCode           = errors.New("idp: wrong code")
	ErrCodeExpired         = errors.New("idp: code expired")
	ErrCodeUsed            = errors.New("idp: code already used")
	ErrChallengeLocked     = errors.New("idp: too many wrong codes")
	ErrResendThrottled     = errors.New("idp: code resent too soon")
	ErrDeviceKeyBound      = errors.New("idp: device key already bound")
	ErrBoardUnavailable    = errors.New("idp: bulletin board unavailable")
	ErrOfficial            = errors.New("idp: official request refused")
	ErrConflict            = errors.New("idp: conflicting state")
	ErrVotingClosed        = errors.New("idp: voting is not open")
	// ErrNotRegistered (with ErrOfficial): a mark's station or official
	// is not registered on the board with the key the mark names.
	ErrNotRegistered = errors.New("idp: station or official not registered on the board")
)

// RetryError carries how long the caller should wait before retrying.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

func retry(err error, after time.Duration) error {
	if after < time.Second {
		after = time.Second
	}
	return &RetryError{Err: err, After: after}
}

// RetryAfter returns the wait err carries, or 0.
func RetryAfter(err error) time.Duration {
	var r *RetryError
	if errors.As(err, &r) {
		return r.After
	}
	return 0
}

// DetailError adds voter-facing detail to a sentinel error: the attempts
// left after a wrong code, the reason of ineligibility.
type DetailError struct {
	Err          error
	Reason       string // "not_citizen", "under_age", "rights_suspended"
	AttemptsLeft int
	msg          string
}

func (e *DetailError) Error() string { return e.msg }
func (e *DetailError) Unwrap() error { return e.Err }
