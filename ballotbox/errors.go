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
	// ErrCoercionUnsupported: the manifest sets a coercion mode (spec
	// §15.1) this server does not run yet.
	ErrCoercionUnsupported = errors.New("ballotbox: coercion mode not supported by this server yet")
	ErrTooManyAudits       = errors.New("ballotbox: too many audits with this token")
	ErrTooManyRefusals     = errors.New("ballotbox: too many invalid ballots with this token")
)

// Code returns the stable API error code of err (spec/10-api.md §10.8);
// unknown errors are "internal". The HTTP status of each code is the
// API's choice (package api), not the domain's.
func Code(err error) string {
	table := []struct {
		err  error
		code string
	}{
		{ErrUnknownElection, "unknown_election"},
		{ErrElectionExists, "election_exists"},
		{ErrTokenExpired, "token_expired"},
		{ErrTokenInvalid, "token_invalid"},
		{ErrWrongDeviceKey, "wrong_device_key"},
		{ErrNotOpen, "not_open"},
		{ErrNoCredential, "no_credential"},
		{ErrDuplicateCipher, "duplicate_ciphertext"},
		{ErrDuplicateBallot, "duplicate_ballot"},
		{ErrVotedInPerson, "voted_in_person"},
		{ErrOneBallotOnly, "one_ballot_only"},
		{ErrCastInProgress, "cast_in_progress"},
		{ErrBallotInvalid, "ballot_invalid"},
		{ErrAuditInvalid, "audit_invalid"},
		{ErrWrongAuthor, "wrong_author"},
		{ErrWrongPhase, "wrong_phase"},
		{ErrNotReady, "not_ready"},
		{ErrDuplicateEntry, "duplicate_entry"},
		{ErrIdentityMismatch, "identity_mismatch"},
		{ErrAnchorsMismatch, "anchors_mismatch"},
		{ErrCoercionUnsupported, "coercion_unsupported"},
		{ErrUnknownAction, "unknown_action"},
		{ErrUnknownAudit, "not_found"},
		{ErrTooManyAudits, "too_many_audits"},
		{ErrTooManyRefusals, "too_many_refusals"},
		{ErrRevoteLimit, "revote_limit"},
		{ErrMarkInvalid, "mark_invalid"},
		{ErrUnknownRow, "not_found"},
		// The specific entry errors first: ErrBadEntry wraps them.
		{bulletin.ErrWrongLog, "wrong_log"},
		{bulletin.ErrTooLarge, "too_large"},
		{bulletin.ErrBadSignature, "bad_signature"},
		{ErrBadEntry, "bad_entry"},
		{bulletin.ErrMalformed, "bad_entry"},
		{bulletin.ErrVersion, "bad_entry"},
		{bulletin.ErrUnknownType, "bad_entry"},
		{bulletin.ErrDuplicate, "duplicate_entry"},
		{ErrEntryInvalid, "entry_invalid"},
		{election.ErrRefused, "entry_invalid"},
		{ErrShutdown, "unavailable"},
		{ErrWitness, "unavailable"},
		{bulletin.ErrClosed, "unavailable"},
	}
	for _, t := range table {
		if errors.Is(err, t.err) {
			return t.code
		}
	}
	return "internal"
}

// onMerits reports whether err refuses a well-formed request for what the
// board holds (a duplicate, a cast in flight, voting not open: a
// conflict) or for what the entry says (a ballot or entry the rules
// refuse), rather than for its form, its sender or a fault.
func onMerits(err error) bool {
	switch Code(err) {
	case "election_exists", "not_open", "no_credential", "duplicate_ciphertext", "duplicate_ballot",
		"voted_in_person", "one_ballot_only", "revote_limit", "mark_invalid", "cast_in_progress", "wrong_phase", "not_ready", "duplicate_entry",
		"ballot_invalid", "audit_invalid", "identity_mismatch", "anchors_mismatch", "coercion_unsupported", "entry_invalid":
		return true
	}
	return false
}
