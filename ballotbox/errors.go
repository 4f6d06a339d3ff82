package ballotbox

import (
	"errors"

	"evote/bulletin"
	"evote/election"
)

// Sentinel errors. Each maps to one stable API error code (Code); every
// refusal leaves the board and the state unchanged.
var (
	ErrUnknownElection  = errors.New("ballotbox: unknown election")
	ErrElectionExists   = errors.New("ballotbox: election already exists")
	ErrTokenInvalid     = errors.New("ballotbox: voting token invalid")
	ErrTokenExpired     = errors.New("ballotbox: voting token expired")
	ErrWrongDeviceKey   = errors.New("ballotbox: entry author is not the token's device key")
	ErrNotOpen          = errors.New("ballotbox: voting is not open")
	ErrNoCredential     = errors.New("ballotbox: no credential on the board for this device key")
	ErrBallotInvalid    = errors.New("ballotbox: ballot invalid")
	ErrDuplicateCipher  = errors.New("ballotbox: a ciphertext repeats one on the board")
	ErrDuplicateBallot  = errors.New("ballotbox: tracking code already on the board")
	ErrVotedInPerson    = errors.New("ballotbox: the voter voted in person")
	ErrOneBallotOnly    = errors.New("ballotbox: one ballot per voter, and one was cast")
	ErrCastInProgress   = errors.New("ballotbox: a conflicting cast is in progress")
	ErrEntryInvalid     = errors.New("ballotbox: entry refused by the election rules")
	ErrBadEntry         = errors.New("ballotbox: malformed or unsigned entry")
	ErrWrongAuthor      = errors.New("ballotbox: entry not signed by an allowed author")
	ErrWrongPhase       = errors.New("ballotbox: action not allowed in this phase")
	ErrAuditInvalid     = errors.New("ballotbox: audited ballot invalid")
	ErrShutdown         = errors.New("ballotbox: shutting down")
	ErrWitness          = errors.New("ballotbox: witnesses did not cosign")
	ErrInconsistentBox  = errors.New("ballotbox: state and log disagree")
	ErrDuplicateEntry   = errors.New("ballotbox: entry already on the board")
	ErrUnknownAction    = errors.New("ballotbox: unknown action")
	ErrNotReady         = errors.New("ballotbox: the election is not ready for this")
	ErrIdentityMismatch = errors.New("ballotbox: manifest names another identity service")
	// ErrAnchorsMismatch: the manifest pins a log or witnesses this server
	// does not have.
	ErrAnchorsMismatch = errors.New("ballotbox: manifest pins another log or witnesses")
	ErrTooManyAudits   = errors.New("ballotbox: too many audits with this token")
	ErrTooManyRefusals = errors.New("ballotbox: too many invalid ballots with this token")
)

// Code returns the stable API error code and HTTP status of err
// (spec/10-api.md); unknown errors are internal (500).
func Code(err error) (code string, status int) {
	table := []struct {
		err    error
		code   string
		status int
	}{
		{ErrUnknownElection, "unknown_election", 404},
		{ErrElectionExists, "election_exists", 409},
		{ErrTokenExpired, "token_expired", 401},
		{ErrTokenInvalid, "token_invalid", 401},
		{ErrWrongDeviceKey, "wrong_device_key", 403},
		{ErrNotOpen, "not_open", 409},
		{ErrNoCredential, "no_credential", 409},
		{ErrDuplicateCipher, "duplicate_ciphertext", 409},
		{ErrDuplicateBallot, "duplicate_ballot", 409},
		{ErrVotedInPerson, "voted_in_person", 409},
		{ErrOneBallotOnly, "one_ballot_only", 409},
		{ErrCastInProgress, "cast_in_progress", 409},
		{ErrBallotInvalid, "ballot_invalid", 422},
		{ErrAuditInvalid, "audit_invalid", 422},
		{ErrWrongAuthor, "wrong_author", 403},
		{ErrWrongPhase, "wrong_phase", 409},
		{ErrNotReady, "not_ready", 409},
		{ErrDuplicateEntry, "duplicate_entry", 409},
		{ErrIdentityMismatch, "identity_mismatch", 422},
		{ErrAnchorsMismatch, "anchors_mismatch", 422},
		{ErrUnknownAction, "unknown_action", 404},
		{ErrUnknownAudit, "not_found", 404},
		{ErrTooManyAudits, "too_many_audits", 429},
		{ErrTooManyRefusals, "too_many_refusals", 429},
		// The specific entry errors first: ErrBadEntry wraps them.
		{bulletin.ErrWrongLog, "wrong_log", 400},
		{bulletin.ErrTooLarge, "too_large", 413},
		{bulletin.ErrBadSignature, "bad_signature", 400},
		{ErrBadEntry, "bad_entry", 400},
		{bulletin.ErrMalformed, "bad_entry", 400},
		{bulletin.ErrVersion, "bad_entry", 400},
		{bulletin.ErrUnknownType, "bad_entry", 400},
		{bulletin.ErrDuplicate, "duplicate_entry", 409},
		{ErrEntryInvalid, "entry_invalid", 422},
		{election.ErrRefused, "entry_invalid", 422},
		{ErrShutdown, "unavailable", 503},
		{ErrWitness, "unavailable", 503},
		{bulletin.ErrClosed, "unavailable", 503},
	}
	for _, t := range table {
		if errors.Is(err, t.err) {
			return t.code, t.status
		}
	}
	return "internal", 500
}
