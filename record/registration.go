package record

import (
	"crypto/ed25519"
	"fmt"

	"evote/crypto/sig"
)

// PollingRegistrationTag is the domain tag of the statement a list official
// signs to register polling stations and polling officials.
const PollingRegistrationTag = "evote-v1/polling-registration"

// MaxPollingKeys bounds the stations, and the officials, of one
// PollingRegistration (an election may post several).
const MaxPollingKeys = 256

// A PollingKey is a registered polling station or polling official: its
// identifier (§8.7) and its Ed25519 public key.
type PollingKey struct {
	ID  string
	Key [32]byte
}

// PollingRegistration is the board entry (type 0x0205, spec/08-identity.md
// §8.8.6) registering the keys of polling stations and of the officials
// who mark in-person votes. A list official signs it, as they sign
// voter-list changes; the identity service posts it, signed by its board
// key, before voting opens. An in-person mark is valid only if its station
// and official are registered with exactly the keys it names, so keys made
// up later by an insider cannot cancel anyone's ballot.
type PollingRegistration struct {
	ElectionID   string
	ContextHash  [32]byte
	OfficialID   string // the list official who registers
	OfficialKey  [32]byte
	RegisteredAt uint64       // Unix seconds
	Stations     []PollingKey // sorted strictly by ID
	Officials    []PollingKey // polling officials, sorted strictly by ID
	OfficialSig  [64]byte
}

func (r *PollingRegistration) encodeStatement(w *idWriter) {
	w.str(r.ElectionID)
	w.fixed(r.ContextHash[:])
	w.str(r.OfficialID)
	w.fixed(r.OfficialKey[:])
	w.u64(r.RegisteredAt)
	for _, l := range [][]PollingKey{r.Stations, r.Officials} {
		w.u32(uint32(len(l)))
		for _, k := range l {
			w.str(k.ID)
			w.fixed(k.Key[:])
		}
	}
}

// SigningBytes returns the message the list official signs:
// string("evote-v1/polling-registration") followed by every field up to and
// including Officials, encoded as in Encode.
func (r *PollingRegistration) SigningBytes() []byte {
	w := &idWriter{}
	w.str(PollingRegistrationTag)
	r.encodeStatement(w)
	return w.encoded()
}

// Encode returns the canonical encoding:
//
//	string(ElectionID) || ContextHash || string(OfficialID) || OfficialKey ||
//	u64(RegisteredAt) || list<string(ID) || Key>(Stations) ||
//	list<string(ID) || Key>(Officials) || OfficialSig
func (r *PollingRegistration) Encode() []byte {
	w := &idWriter{}
	r.encodeStatement(w)
	w.fixed(r.OfficialSig[:])
	return w.encoded()
}

// Sign fills OfficialSig with the list official's signature.
func (r *PollingRegistration) Sign(official ed25519.PrivateKey) {
	copy(r.OfficialSig[:], ed25519.Sign(official, r.SigningBytes()))
}

// VerifySignature checks OfficialSig under OfficialKey (strict rules of
// spec/07-bulletin.md §7.3). Whether OfficialKey belongs to a list
// official is the caller's check.
func (r *PollingRegistration) VerifySignature() error {
	if err := sig.Verify(r.OfficialKey[:], r.SigningBytes(), r.OfficialSig[:]); err != nil {
		return fmt.Errorf("record: polling registration: %w", err)
	}
	return nil
}

// DecodePollingRegistration strictly decodes b. Besides the encoding rules
// it checks: identifiers of §8.7, valid Ed25519 keys, at most
// MaxPollingKeys stations and officials, each list sorted strictly by ID, at
// least one station or official, and no key named twice (a station and an
// official with one key would let one person make both signatures of a
// mark). It checks forms, not the signature.
func DecodePollingRegistration(b []byte) (*PollingRegistration, error) {
	rd := newIDReader(b)
	r := &PollingRegistration{}
	r.ElectionID = rd.id("election id")
	rd.fixed(r.ContextHash[:], "context hash")
	r.OfficialID = rd.id("official id")
	rd.edKey(&r.OfficialKey, "official key")
	r.RegisteredAt = rd.u64("registered at")
	keys := map[[32]byte]bool{}
	for _, what := range []string{"stations", "officials"} {
		n := rd.count(MaxPollingKeys, 4+1+32, what)
		var l []PollingKey
		for i := 0; i < n && !rd.failed(); i++ {
			var k PollingKey
			k.ID = rd.id(what + ": id")
			rd.edKey(&k.Key, what+": key")
			if rd.failed() {
				break
			}
			if i > 0 && l[i-1].ID >= k.ID {
				rd.fail("%s not strictly sorted by id", what)
			}
			if keys[k.Key] {
				rd.fail("%s: key of %s registered twice", what, k.ID)
			}
			keys[k.Key] = true
			l = append(l, k)
		}
		if what == "stations" {
			r.Stations = l
		} else {
			r.Officials = l
		}
	}
	rd.fixed(r.OfficialSig[:], "official signature")
	if err := rd.end(); err != nil {
		return nil, fmt.Errorf("record: polling registration: %w", err)
	}
	if len(r.Stations)+len(r.Officials) == 0 {
		return nil, fmt.Errorf("record: polling registration: %w: registers no station and no official", ErrMalformed)
	}
	return r, nil
}
