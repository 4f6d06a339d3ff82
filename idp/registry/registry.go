// Package registry looks citizens up in a state population register for the
// identity service: one small interface (Registry), a deterministic simulated
// register for tests and the demo (Simulated), and an adapter for an
// X-Road/Tunduk-style HTTP service (HTTP). The contract is spec/08-identity.md
// §8.2. It also holds the national PIN format (§8.1) and the eligibility rule
// (§8.3).
//
// Most callers use a Registry through idp.Service and never see it directly.
package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Query is what a voter types to identify: PIN, the number of a valid
// identity document, and the date of birth. All three must match the register.
type Query struct {
	PIN            PIN
	DocumentNumber string    // normalised by NormalizeDocument
	BirthDate      time.Time // date only, 00:00 UTC
}

// Citizen is what eligibility needs from the register and nothing more: no
// name, no address line. Phone is the number on record, the only one a
// one-time code is ever sent to.
type Citizen struct {
	PIN             PIN
	BirthDate       time.Time // 00:00 UTC
	Citizenship     string    // ISO 3166-1 alpha-2, "KG" for Kyrgyz citizens
	Constituency    string    // registered constituency code, e.g. "KG-ABR-01"
	Phone           string    // E.164, e.g. "+996700123456"
	RightsSuspended bool      // voting rights suspended by a court
	Deceased        bool
}

// Registry looks up one citizen. Implementations must be safe for concurrent
// use and must honour ctx's deadline.
type Registry interface {
	Lookup(ctx context.Context, q Query) (*Citizen, error)
}

// Errors a Registry returns. Callers branch on them with errors.Is: the first
// three are the voter's mistake (answered identically to a stranger, so as not
// to confirm which PINs exist), the rest are the register's fault (answered
// 503 with Retry-After; nothing is consumed, the voter may retry).
var (
	ErrNotFound          = errors.New("registry: no person with this PIN")
	ErrDocumentMismatch  = errors.New("registry: document number does not match")
	ErrBirthDateMismatch = errors.New("registry: date of birth does not match")
	ErrUnavailable       = errors.New("registry: register unavailable")
	ErrTimeout           = errors.New("registry: register did not answer in time")
	ErrMalformed         = errors.New("registry: malformed answer from register")
	ErrWrongPerson       = errors.New("registry: register answered about another person")
)

// IsMismatch reports whether err means the typed details do not match a
// person in the register (unknown PIN, wrong document, wrong date of birth).
func IsMismatch(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrDocumentMismatch) || errors.Is(err, ErrBirthDateMismatch)
}

// IsUnavailable reports whether err is the register's fault: down, slow,
// circuit open, or an answer that cannot be trusted.
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrMalformed)
}

// ErrDocumentFormat is returned by NormalizeDocument.
var ErrDocumentFormat = errors.New("registry: malformed identity document number")

// NormalizeDocument upper-cases s, removes spaces and checks the document
// number format: two Latin letters (series, e.g. "ID" for the ID card, "AC"
// for the passport) followed by 7 digits.
func NormalizeDocument(s string) (string, error) {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if len(s) != 9 {
		return "", fmt.Errorf("%w: want 2 letters and 7 digits", ErrDocumentFormat)
	}
	for i := 0; i < 9; i++ {
		c := s[i]
		if i < 2 && (c < 'A' || c > 'Z') || i >= 2 && (c < '0' || c > '9') {
			return "", fmt.Errorf("%w: want 2 letters and 7 digits", ErrDocumentFormat)
		}
	}
	return s, nil
}

// ParseBirthDate parses an ISO 8601 calendar date (YYYY-MM-DD) to 00:00 UTC.
func ParseBirthDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("registry: malformed date of birth: %w", err)
	}
	return t, nil
}

// Ineligibility reasons returned (wrapped in ErrIneligible) by CheckEligibility.
var (
	ErrIneligible      = errors.New("registry: not eligible to vote")
	ErrNotCitizen      = errors.New("not a citizen")
	ErrUnderAge        = errors.New("under voting age on election day")
	ErrRightsSuspended = errors.New("voting rights suspended")
	ErrDeceased        = errors.New("recorded as deceased")
)

// VotingAge is the minimum age on election day (Constitution of the Kyrgyz
// Republic, art. 2: citizens who have reached 18).
const VotingAge = 18

// AgeOn returns the age in whole years of a person born on birth, on day.
func AgeOn(birth, day time.Time) int {
	by, bm, bd := birth.Date()
	y, m, d := day.Date()
	age := y - by
	if m < bm || m == bm && d < bd {
		age--
	}
	return age
}

// CheckEligibility applies spec §8.3 to c for an election held on
// electionDay. The returned error wraps ErrIneligible and one reason.
func CheckEligibility(c *Citizen, electionDay time.Time) error {
	switch {
	case c.Deceased:
		return fmt.Errorf("%w: %w", ErrIneligible, ErrDeceased)
	case c.Citizenship != "KG":
		return fmt.Errorf("%w: %w", ErrIneligible, ErrNotCitizen)
	case AgeOn(c.BirthDate, electionDay) < VotingAge:
		return fmt.Errorf("%w: %w", ErrIneligible, ErrUnderAge)
	case c.RightsSuspended:
		return fmt.Errorf("%w: %w", ErrIneligible, ErrRightsSuspended)
	}
	return nil
}
