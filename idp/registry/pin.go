package registry

import (
	"errors"
	"fmt"
	"time"
)

// PIN is a Kyrgyz personal identification number (ПИН): 14 ASCII digits.
//
// Layout (spec/08-identity.md §8.1):
//
//	digit 1      sex: '1' female, '2' male
//	digits 2-9   date of birth, DDMMYYYY
//	digits 10-14 sequence number assigned by the civil registry, not 00000
//
// A PIN is personal data: it never appears in a log line at info level, in a
// token or on the bulletin board. Its String method redacts it so that an
// accidental %v cannot leak it; use Digits to get the number itself.
type PIN struct {
	digits [14]byte
	ok     bool
}

// ErrPINFormat is returned by ParsePIN for anything that is not a well-formed
// PIN. Callers branch on it to answer "check the number you typed".
var ErrPINFormat = errors.New("registry: malformed personal identification number")

// minBirthYear bounds the birth year encoded in a PIN: nobody alive was born
// before it, so an earlier year is a typing error.
const minBirthYear = 1900

// ParsePIN checks s against the national format and returns the PIN. It
// rejects anything but exactly 14 ASCII digits, a first digit other than 1 or
// 2, a birth date that is not a calendar date or lies after now, and an all-zero
// sequence number. It does not tell whether the PIN was ever assigned: only the
// registry knows that.
func ParsePIN(s string, now time.Time) (PIN, error) {
	var p PIN
	if len(s) != 14 {
		return PIN{}, fmt.Errorf("%w: want 14 digits, got %d characters", ErrPINFormat, len(s))
	}
	for i := 0; i < 14; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return PIN{}, fmt.Errorf("%w: character %d is not a digit", ErrPINFormat, i+1)
		}
		p.digits[i] = c
	}
	if s[0] != '1' && s[0] != '2' {
		return PIN{}, fmt.Errorf("%w: first digit must be 1 or 2", ErrPINFormat)
	}
	day := atoi(s[1:3])
	month := atoi(s[3:5])
	year := atoi(s[5:9])
	if year < minBirthYear || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return PIN{}, fmt.Errorf("%w: digits 2-9 are not a date of birth", ErrPINFormat)
	}
	birth := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if birth.After(now) {
		return PIN{}, fmt.Errorf("%w: date of birth is in the future", ErrPINFormat)
	}
	if s[9:14] == "00000" {
		return PIN{}, fmt.Errorf("%w: sequence number 00000 is never assigned", ErrPINFormat)
	}
	p.ok = true
	return p, nil
}

// MustParsePIN is ParsePIN for constants in tests and the simulated registry;
// it panics on a malformed PIN.
func MustParsePIN(s string) PIN {
	p, err := ParsePIN(s, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	return p
}

// IsZero reports whether p is the zero PIN (not parsed).
func (p PIN) IsZero() bool { return !p.ok }

// Digits returns the 14 digits of p. Handle the result as personal data.
func (p PIN) Digits() string {
	if !p.ok {
		return ""
	}
	return string(p.digits[:])
}

// BirthDate returns the date of birth encoded in p, at 00:00 UTC.
func (p PIN) BirthDate() time.Time {
	if !p.ok {
		return time.Time{}
	}
	s := p.digits[:]
	return time.Date(atoi(string(s[5:9])), time.Month(atoi(string(s[3:5]))), atoi(string(s[1:3])), 0, 0, 0, 0, time.UTC)
}

// String redacts the PIN: it shows only the last two digits, so that a PIN
// formatted by mistake into an error or a log line does not leak.
func (p PIN) String() string {
	if !p.ok {
		return "PIN(invalid)"
	}
	return "PIN(************" + string(p.digits[12:]) + ")"
}

// GoString redacts like String.
func (p PIN) GoString() string { return p.String() }

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
