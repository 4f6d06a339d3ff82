package voterlist

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"evote/crypto/sig"
	"evote/idp/registry"
	"evote/record"
)

// Errors of official requests. Callers branch on them.
var (
	ErrUnknownOfficial = errors.New("voterlist: unknown station or official")
	ErrBadSignature    = errors.New("voterlist: signature does not verify")
	ErrStale           = errors.New("voterlist: request time outside the accepted window")
	ErrWrongElection   = errors.New("voterlist: request for another election")
	ErrDigest          = errors.New("voterlist: details do not match the signed digest")
)

// Authority is the identity service's registry of polling stations and
// officials and their Ed25519 keys. Registering them (with two-factor
// authentication and roles) is another component's job; here they are
// configuration.
type Authority struct {
	ElectionID  string
	ContextHash [32]byte
	Stations    map[string]ed25519.PublicKey // polling stations (abroad: embassies, consulates)
	Polling     map[string]ed25519.PublicKey // officials who mark in-person votes
	List        map[string]ed25519.PublicKey // officials who change the voter list
	Window      time.Duration                // accepted clock difference; default 5 min
}

func (a *Authority) window() time.Duration {
	if a.Window == 0 {
		return 5 * time.Minute
	}
	return a.Window
}

func (a *Authority) fresh(at uint64, now time.Time) error {
	t := time.Unix(int64(at), 0)
	if at > 1<<62 || t.Before(now.Add(-a.window())) || t.After(now.Add(a.window())) {
		return ErrStale
	}
	return nil
}

func keyIs(m map[string]ed25519.PublicKey, id string, key []byte) bool {
	k, ok := m[id]
	return ok && k.Equal(ed25519.PublicKey(key))
}

// LookupTag is the domain tag of a LookupRequest.
const LookupTag = "evote-v1/official-voter-lookup"

// LookupRequest is a polling station asking, for the voter in front of it,
// the pseudonym and ballot style it needs to sign an InPersonMark. Signed by
// the station and the official.
type LookupRequest struct {
	ElectionID  string
	StationID   string
	OfficialID  string
	PIN         registry.PIN
	At          uint64 // Unix seconds
	StationSig  [64]byte
	OfficialSig [64]byte
}

// SigningBytes returns string("evote-v1/official-voter-lookup") ||
// string(ElectionID) || string(StationID) || string(OfficialID) ||
// string(PIN) || u64(At).
func (l *LookupRequest) SigningBytes() []byte {
	var b []byte
	for _, s := range []string{LookupTag, l.ElectionID, l.StationID, l.OfficialID, l.PIN.Digits()} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return binary.BigEndian.AppendUint64(b, l.At)
}

// Sign fills both signatures.
func (l *LookupRequest) Sign(station, official ed25519.PrivateKey) {
	msg := l.SigningBytes()
	copy(l.StationSig[:], ed25519.Sign(station, msg))
	copy(l.OfficialSig[:], ed25519.Sign(official, msg))
}

// VerifyLookup checks a lookup: this election, registered station and
// polling official, fresh, both signatures valid.
func (a *Authority) VerifyLookup(l *LookupRequest, now time.Time) error {
	if l.ElectionID != a.ElectionID {
		return ErrWrongElection
	}
	sk, ok1 := a.Stations[l.StationID]
	ok, ok2 := a.Polling[l.OfficialID]
	if !ok1 || !ok2 {
		return ErrUnknownOfficial
	}
	if err := a.fresh(l.At, now); err != nil {
		return err
	}
	msg := l.SigningBytes()
	if sig.Verify(sk, msg, l.StationSig[:]) != nil || sig.Verify(ok, msg, l.OfficialSig[:]) != nil {
		return ErrBadSignature
	}
	return nil
}

// VerifyMark checks an in-person mark: this election and context, the
// station and official registered under exactly the keys the mark names,
// fresh, both signatures valid. That the pseudonym is on the list is the
// store's check.
func (a *Authority) VerifyMark(m *record.InPersonMark, now time.Time) error {
	if m.ElectionID != a.ElectionID || m.ContextHash != a.ContextHash {
		return ErrWrongElection
	}
	if !keyIs(a.Stations, m.StationID, m.StationKey[:]) || !keyIs(a.Polling, m.OfficialID, m.OfficialKey[:]) {
		return ErrUnknownOfficial
	}
	if err := a.fresh(m.MarkedAt, now); err != nil {
		return err
	}
	if err := m.VerifySignatures(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// VerifyRegistration checks a list official's registration of polling
// stations and officials (spec/08-identity.md §8.8.6): this election and
// context, a registered list official under the named key, fresh, the
// signature, and every station and polling official it names configured
// here with the same key (the board then never shows a key this service
// would refuse). Whether an id or key was registered before is the
// store's check.
func (a *Authority) VerifyRegistration(r *record.PollingRegistration, now time.Time) error {
	if r.ElectionID != a.ElectionID || r.ContextHash != a.ContextHash {
		return ErrWrongElection
	}
	if !keyIs(a.List, r.OfficialID, r.OfficialKey[:]) {
		return ErrUnknownOfficial
	}
	if err := a.fresh(r.RegisteredAt, now); err != nil {
		return err
	}
	if err := r.VerifySignature(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	for _, k := range r.Stations {
		if !keyIs(a.Stations, k.ID, k.Key[:]) {
			return fmt.Errorf("%w: station %q is not configured with that key", ErrUnknownOfficial, k.ID)
		}
	}
	for _, k := range r.Officials {
		if !keyIs(a.Polling, k.ID, k.Key[:]) {
			return fmt.Errorf("%w: polling official %q is not configured with that key", ErrUnknownOfficial, k.ID)
		}
	}
	return nil
}

// ChangeRequest is a list official's change: the signed statement (the
// official's part of a VoterListChange), the salt and the details.
type ChangeRequest struct {
	Statement record.VoterListChange // Added, Removed, Updated, Counts are ignored
	Salt      [32]byte
	Items     []Item
}

// VerifyStatement makes the checks of VerifyChange that need only the
// signed statement: this election and context, a registered list official
// under the named key, fresh, the signature. The identity service makes
// them before it reads the details, which may be a whole voter list.
func (a *Authority) VerifyStatement(st *record.VoterListChange, now time.Time) error {
	if st.ElectionID != a.ElectionID || st.ContextHash != a.ContextHash {
		return ErrWrongElection
	}
	if !keyIs(a.List, st.OfficialID, st.OfficialKey[:]) {
		return ErrUnknownOfficial
	}
	if err := a.fresh(st.ChangedAt, now); err != nil {
		return err
	}
	if err := st.VerifySignature(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// VerifyChange checks a change request: this election and context, a
// registered list official under the named key, fresh, the signature, the
// digest of the details, items well formed and of the operations the kind
// allows. The sequence number is the store's check.
func (a *Authority) VerifyChange(r *ChangeRequest, now time.Time) error {
	if err := a.VerifyStatement(&r.Statement, now); err != nil {
		return err
	}
	st := &r.Statement
	if DetailsDigest(r.Salt, r.Items) != st.DetailsDigest {
		return ErrDigest
	}
	if err := CheckItems(r.Items); err != nil {
		return err
	}
	want := map[uint8]Op{record.ListBuilt: OpAdd, record.ListImported: OpAdd, record.ListAdded: OpAdd, record.ListRemoved: OpRemove, record.ListContactUpdate: OpPhone}
	op, ok := want[st.Kind]
	if !ok {
		return fmt.Errorf("%w: unknown change kind %d", ErrInvalid, st.Kind)
	}
	for i, it := range r.Items {
		if it.Op != op {
			return fmt.Errorf("%w: item %d: operation %d not allowed in a change of kind %d", ErrInvalid, i, it.Op, st.Kind)
		}
	}
	return nil
}
