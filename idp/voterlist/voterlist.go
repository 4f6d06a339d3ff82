// Package voterlist holds the identity service's view of an election's
// single voter list (spec/08-identity.md §8.5): voter pseudonyms, CSV import,
// building the list from the population register, the digest of a change's
// details, and the signed requests of polling-station and list officials.
//
// Every voter is on at most one list entry per election and has exactly one
// ballot style (constituency). The public board never sees a PIN: only the
// pseudonym, a keyed hash under a per-election key that the identity service
// alone holds.
package voterlist

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"evote/idp/registry"
	"evote/record"
)

// PseudonymTag is the domain tag of Pseudonym.
const PseudonymTag = "evote-v1/voter-pseudonym"

// PseudonymKeySize is the size of an election's pseudonym key.
const PseudonymKeySize = 32

// Pseudonym computes a voter's pseudonym in an election:
//
//	HMAC-SHA-256(key, string("evote-v1/voter-pseudonym") || string(electionID) || string(PIN))
//
// with string(x) = u32(len(x)) || x (spec/01-encoding.md). Without the key
// the pseudonym cannot be linked to a PIN, even though PINs can be
// enumerated; the same voter has unrelated pseudonyms in two elections.
func Pseudonym(key []byte, electionID string, pin registry.PIN) [32]byte {
	m := hmac.New(sha256.New, key)
	writeString(m, PseudonymTag)
	writeString(m, electionID)
	writeString(m, pin.Digits())
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// FormatPseudonym renders a pseudonym as the board and tokens show it: 64
// lowercase hex digits.
func FormatPseudonym(p [32]byte) string { return hex.EncodeToString(p[:]) }

type writer interface{ Write([]byte) (int, error) }

func writeString(w writer, s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	w.Write(n[:])
	w.Write([]byte(s))
}

// Entry is one voter on the list.
type Entry struct {
	PIN         registry.PIN
	BallotStyle string
	// Phone overrides the register's number for this election (set by a
	// consular official for a voter abroad); empty means "the register's".
	Phone string
}

// Operation on one voter in a change.
type Op uint8

// Operations of a change item.
const (
	OpAdd    Op = 1
	OpRemove Op = 2
	OpPhone  Op = 3 // set or clear the phone override
)

// Item is one voter touched by a change.
type Item struct {
	Op          Op
	PIN         registry.PIN
	BallotStyle string // OpAdd only
	Phone       string // OpAdd (optional) and OpPhone
}

// DetailsTag is the domain tag of DetailsDigest.
const DetailsTag = "evote-v1/voter-list-change-details"

// MaxItems bounds the voters of one change (a whole list import included).
const MaxItems = 2_000_000

// DetailsDigest computes the digest a VoterListChange publishes (§8.8.4):
//
//	SHA-256(string("evote-v1/voter-list-change-details") || salt ||
//	        u32(n) || n × (u8(op) || string(PIN) || string(ballotStyle) || string(phone)))
//
// The 32-byte random salt keeps the digest from being inverted by trying
// PINs; the official keeps the salt and the details, so an inquiry can open
// the digest later.
func DetailsDigest(salt [32]byte, items []Item) [32]byte {
	h := sha256.New()
	writeString(h, DetailsTag)
	h.Write(salt[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(items)))
	h.Write(n[:])
	for _, it := range items {
		h.Write([]byte{byte(it.Op)})
		writeString(h, it.PIN.Digits())
		writeString(h, it.BallotStyle)
		writeString(h, it.Phone)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("voterlist: invalid")

// ValidPhone reports whether s is an E.164 number: '+' and 8 to 15 digits.
func ValidPhone(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CheckItems validates a change's items: known operation, ballot style for
// additions, phone format, and no PIN twice. Errors name the item's index,
// never its PIN.
func CheckItems(items []Item) error {
	if len(items) == 0 || len(items) > MaxItems {
		return fmt.Errorf("%w: change has %d items", ErrInvalid, len(items))
	}
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		if it.PIN.IsZero() {
			return fmt.Errorf("%w: item %d: no PIN", ErrInvalid, i)
		}
		if seen[it.PIN.Digits()] {
			return fmt.Errorf("%w: item %d: voter appears twice in the change", ErrInvalid, i)
		}
		seen[it.PIN.Digits()] = true
		switch it.Op {
		case OpAdd:
			if !record.ValidID(it.BallotStyle) {
				return fmt.Errorf("%w: item %d: malformed ballot style", ErrInvalid, i)
			}
			if it.Phone != "" && !ValidPhone(it.Phone) {
				return fmt.Errorf("%w: item %d: malformed phone number", ErrInvalid, i)
			}
		case OpRemove:
			if it.BallotStyle != "" || it.Phone != "" {
				return fmt.Errorf("%w: item %d: removal carries data", ErrInvalid, i)
			}
		case OpPhone:
			if it.BallotStyle != "" || it.Phone != "" && !ValidPhone(it.Phone) {
				return fmt.Errorf("%w: item %d: malformed phone update", ErrInvalid, i)
			}
		default:
			return fmt.Errorf("%w: item %d: unknown operation %d", ErrInvalid, i, it.Op)
		}
	}
	return nil
}

// SortedCounts turns a ballot style → voters map into the sorted list a
// VoterListChange publishes.
func SortedCounts(m map[string]uint32) []record.StyleCount {
	out := make([]record.StyleCount, 0, len(m))
	for s, n := range m {
		out = append(out, record.StyleCount{BallotStyle: s, Voters: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BallotStyle < out[j].BallotStyle })
	return out
}

// FromRegister builds the additions of an initial list from the register's
// records: every person eligible on electionDay (registry.CheckEligibility)
// whose constituency is a well-formed ballot style, with no phone override.
func FromRegister(people []registry.Citizen, electionDay time.Time) []Item {
	var out []Item
	for i := range people {
		c := &people[i]
		if registry.CheckEligibility(c, electionDay) != nil || !record.ValidID(c.Constituency) {
			continue
		}
		out = append(out, Item{Op: OpAdd, PIN: c.PIN, BallotStyle: c.Constituency})
	}
	return out
}
