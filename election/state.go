package election

import (
	"errors"
	"fmt"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/record"
	"evote/tally"
)

// ErrRefused is wrapped by every rule violation, so callers can tell a
// refused entry (a 4xx for the ballot box, a finding for the verifier) from
// an internal failure.
var ErrRefused = errors.New("election: entry refused")

// Named refusals, for callers and tests that branch on the rule broken.
// Each wraps ErrRefused.
var (
	// ErrKeyWindow: a credential issued at a time outside the validity
	// window of the token key it names (spec/08-identity.md §8.8.1).
	ErrKeyWindow = fmt.Errorf("%w: credential issued outside its token key's validity window", ErrRefused)
	// ErrKeyHistory: an identity key set that drops a key or rewrites a
	// key's window instead of only adding keys and retiring the current
	// one (§8.8.2).
	ErrKeyHistory = fmt.Errorf("%w: identity key set rewrites the key history", ErrRefused)
	// ErrWrongAuthor: an entry signed by another key than its type's
	// author (spec/11-verifying.md §11.3).
	ErrWrongAuthor = fmt.Errorf("%w: entry not signed by its type's author", ErrRefused)
	// ErrWrongContext: a statement bound to another election context
	// hash than this election's extended hash.
	ErrWrongContext = fmt.Errorf("%w: bound to another election context", ErrRefused)
	// ErrSignature: an official's or a station's own signature inside an
	// entry does not verify.
	ErrSignature = fmt.Errorf("%w: official's or station's signature does not verify", ErrRefused)
	// ErrRegistrationLate: a polling registration posted once voting has
	// opened (spec/08-identity.md §8.8.6).
	ErrRegistrationLate = fmt.Errorf("%w: polling stations and officials are registered only before voting opens", ErrRefused)
	// ErrUnregisteredStation and ErrUnregisteredOfficial: an in-person
	// mark whose station or official is not registered on the board with
	// the key it names (§8.8.3).
	ErrUnregisteredStation  = fmt.Errorf("%w: in-person mark's station is not registered with that key", ErrRefused)
	ErrUnregisteredOfficial = fmt.Errorf("%w: in-person mark's official is not registered with that key", ErrRefused)
	// ErrMarkStyle: an in-person mark whose ballot style is unknown or
	// differs from the style of a credential of the same voter.
	ErrMarkStyle = fmt.Errorf("%w: in-person mark's ballot style is not the voter's", ErrRefused)
	// ErrListCounts: a voter-list change whose counts do not follow from
	// the previous change's and its own added and removed numbers
	// (spec/08-identity.md §8.8.4).
	ErrListCounts = fmt.Errorf("%w: voter-list counts do not follow from the previous ones", ErrRefused)
	// ErrListExceeded: more distinct voters of a ballot style would hold
	// credentials than the voter list holds for it: a credential for one
	// more, or a list change counting fewer (§8.8.1, §8.8.4). Invented
	// voters belong to no one, so no SMS notice reveals them; the
	// published counts bound them.
	ErrListExceeded = fmt.Errorf("%w: more voters of a ballot style hold credentials than the voter list holds", ErrRefused)
	// ErrTwoStyles: a credential for a voter already credentialed in
	// another ballot style (the list gives each voter one, §8.5.2).
	ErrTwoStyles = fmt.Errorf("%w: a voter credentialed in two ballot styles", ErrRefused)
	// ErrCredentialOrder: a credential issued more than CredentialReorder
	// seconds before a credential earlier on the board (§8.8.1).
	ErrCredentialOrder = fmt.Errorf("%w: credential issued long before one earlier on the board", ErrRefused)
)

// CredentialReorder is how many seconds a credential's issued-at may lie
// before the latest issued-at of the credentials earlier on the board
// (spec/08-identity.md §8.8.1). The identity service posts credentials in
// the order of its outbox, which concurrent issuance (a transaction that
// commits after a later one) and its replicas' clocks disorder by far less
// than this; a credential backdated further, such as one under a retired
// token key posted once later credentials are on the board, is refused.
const CredentialReorder = 300

// refuse refuses an entry: the error wraps ErrRefused and the detail, which
// is formatted by fmt.Errorf, so a cause passed with %w stays reachable by
// errors.Is and errors.As (a signature or proof error under the refusal).
func refuse(format string, a ...any) error {
	return refuseAs(ErrRefused, format, a...)
}

// refuseAs refuses with a named refusal (one of the Err… values above) and
// a detail formatted as by refuse.
func refuseAs(named error, format string, a ...any) error {
	return fmt.Errorf("%w: %w", named, fmt.Errorf(format, a...))
}

// A CastRecord is a valid ballot on the board. It keeps the ballot's
// ciphertexts encoded (two 32-byte points each) and not the proofs, which
// were checked when it was applied: a decoded ciphertext takes about five
// times the memory of its encoding, and only the tally needs them decoded
// (Ciphertexts decodes on demand).
type CastRecord struct {
	Position  uint64
	Style     string
	Code      ballot.TrackingCode
	Pseudonym [32]byte
	// enc is u8(contests) || u16(ciphertexts of each contest)… ||
	// the ciphertexts' encodings, contest after contest.
	enc []byte
}

// State is an election as far as the board has gone. The zero value is an
// empty board; Apply feeds it entries in log order.
type State struct {
	Manifest  *ballot.Manifest
	Authority [32]byte // author of the manifest entry
	Phase     Phase
	Size      uint64 // entries applied

	IdentityKeys *record.IdentityKeySet
	ListChanges  []*record.VoterListChange
	// Polling are the registrations of polling stations and officials, all
	// posted before voting opened.
	Polling []*record.PollingRegistration
	Context *Context // joint key and extended hash, from PhaseReady
	// ContextPosition is the log position of the election-context entry
	// (valid once Context is set): with position 0, the manifest, the two
	// entries a voting device checks before anything else (spec §10.1).
	ContextPosition uint64
	PublicKey       *elgamal.PublicKey
	OpenPosition    uint64
	ClosePosition   uint64

	credentials index32[[32]byte, *record.CredentialIssued] // by device key
	credStyle   map[[32]byte]string                         // pseudonym → the ballot style of its credentials
	credVoters  map[string]uint32                           // ballot style → distinct pseudonyms with a credential of it
	listed      map[string]uint32                           // ballot style → voters on the list, after the last change
	listTotal   uint64                                      // voters on the list, after the last change
	lastIssued  uint64                                      // latest issued-at of the credentials so far
	inPerson    map[[32]byte]uint64                         // pseudonym → position of its mark
	stations    map[string][32]byte                         // registered polling stations' keys, by id
	pollers     map[string][32]byte                         // registered polling officials' keys, by id
	pollKeys    map[[32]byte]bool                           // every registered station and official key
	Ballots     []*CastRecord
	byCode      index32[ballot.TrackingCode, uint64] // tracking code → position
	ciphertexts ctIndex                              // hash of a ciphertext → position of its ballot or audit
	byPseudonym index32[[32]byte, []uint64]          // pseudonym → ballot positions
	unindexed   int                                  // ballots restored whose ciphertexts await RestoreCiphertexts
	uncredited  int                                  // credentials restored that await RestoreCredentials
	Audited     []uint64
	Cleansing   *tally.Cleansing
	keygen      keygen

	// Tally holds each contest's mixing and decryption, from the cleansing.
	Tally []*ContestTally
	// Culprits are the trustees' invalid mixes and decryption shares.
	Culprits []Culprit
	Result   *tally.Result

	rv *revoteState // chapter 15's rules, in coercion mode
}

// NewState returns an empty state. The zero State is one too: its maps
// are made when it applies its first entry, the manifest.
func NewState() *State {
	s := &State{}
	s.init()
	return s
}

// init makes the state's indices.
func (s *State) init() {
	s.credentials = index32[[32]byte, *record.CredentialIssued]{}
	s.credStyle = map[[32]byte]string{}
	s.credVoters = map[string]uint32{}
	s.listed = map[string]uint32{}
	s.inPerson = map[[32]byte]uint64{}
	s.stations = map[string][32]byte{}
	s.pollers = map[string][32]byte{}
	s.pollKeys = map[[32]byte]bool{}
	s.byCode = index32[ballot.TrackingCode, uint64]{}
	s.ciphertexts = ctIndex{later: map[[32]byte]uint64{}}
	s.byPseudonym = index32[[32]byte, []uint64]{}
}

// Credential returns the credential bound to a device key.
func (s *State) Credential(deviceKey [32]byte) (*record.CredentialIssued, bool) {
	return s.credentials.get(deviceKey)
}

// VotedInPerson reports whether a pseudonym has an in-person mark.
func (s *State) VotedInPerson(pseudonym [32]byte) bool {
	_, ok := s.inPerson[pseudonym]
	return ok
}

// BallotsOf returns the positions of the ballots cast under a pseudonym.
func (s *State) BallotsOf(pseudonym [32]byte) []uint64 {
	ps, _ := s.byPseudonym.get(pseudonym)
	return ps
}

// IndexContents returns the state's indices of credentials (by device
// key), tracking codes and each pseudonym's ballots as maps, by field
// name: for comparing two states built differently (a restore's frozen
// tables, a replay's maps).
func (s *State) IndexContents() map[string]any {
	creds, codes, voters := map[[32]byte]*record.CredentialIssued{}, map[ballot.TrackingCode]uint64{}, map[[32]byte][]uint64{}
	s.credentials.each(func(k [32]byte, c *record.CredentialIssued) { creds[k] = c })
	s.byCode.each(func(k ballot.TrackingCode, p uint64) { codes[k] = p })
	s.byPseudonym.each(func(k [32]byte, ps []uint64) { voters[k] = ps })
	return map[string]any{"credentials": creds, "byCode": codes, "byPseudonym": voters}
}

// BallotByCode returns the position of the ballot with a tracking code.
func (s *State) BallotByCode(c ballot.TrackingCode) (uint64, bool) {
	return s.byCode.get(c)
}

// CiphertextAt returns the position of the ballot or audited ballot with
// a ciphertext whose encoding hashes (SHA-256) to k.
func (s *State) CiphertextAt(k [32]byte) (uint64, bool) {
	return s.ciphertexts.get(k)
}

// EachCiphertext calls f for every ciphertext hash the state indexes
// (CiphertextAt), in no particular order: for comparing two states'
// indices, which may be built differently (a restore freezes one).
func (s *State) EachCiphertext(f func(k [32]byte, p uint64)) { s.ciphertexts.each(f) }

// Apply checks entry e, at the next position of the log, against the rules
// and records it. The entry's signature must already have been checked
// (bulletin.Entry.Verify or a batch). On error the state is unchanged.
func (s *State) Apply(e *bulletin.Entry) error {
	if err := s.apply(e, nil); err != nil {
		return fmt.Errorf("entry %d (%s): %w", s.Size, e.Type, err)
	}
	s.Size++
	return nil
}

func (s *State) apply(e *bulletin.Entry, checked *CheckedBallot) error {
	if s.Manifest == nil {
		if e.Type != bulletin.TypeManifest {
			return refuse("the first entry must be the manifest")
		}
		m, err := ballot.DecodeManifest(e.Payload)
		if err != nil {
			return refuse("%w", err)
		}
		if s.credStyle == nil {
			s.init() // a zero State
		}
		if m.Coercion.Mode == ballot.DeniableRevoting {
			// Chapter 15's rules (no pseudonyms, slots, the filter).
			if err := s.initRevote(m); err != nil {
				return err
			}
		}
		s.Manifest, s.Authority, s.Phase = m, e.Author, PhaseSetup
		return nil
	}
	if s.rv != nil {
		if handled, err := s.applyRevote(e); handled {
			return err
		}
	}
	switch e.Type {
	case bulletin.TypeManifest:
		return refuse("a second manifest")
	case bulletin.TypeIdentityKeySet:
		return s.applyIdentityKeySet(e)
	case bulletin.TypeVoterListChange:
		return s.applyListChange(e)
	case bulletin.TypeKeygenCommitment, bulletin.TypeKeygenEncryptedShare, bulletin.TypeKeygenComplaint,
		bulletin.TypeKeygenComplaintAnswer, bulletin.TypeKeygenQualified, bulletin.TypeKeygenExtraction:
		return s.applyKeygen(e)
	case bulletin.TypeElectionContext:
		return s.applyContext(e)
	case bulletin.TypeOpen, bulletin.TypeClose, bulletin.TypeTransition:
		return s.applyTransition(e)
	case bulletin.TypeCredentialIssued:
		return s.applyCredential(e)
	case bulletin.TypeInPersonMark:
		return s.applyInPersonMark(e)
	case bulletin.TypePollingRegistration:
		return s.applyPollingRegistration(e)
	case bulletin.TypeBallot:
		if checked == nil {
			var err error
			if checked, err = s.CheckBallot(e); err != nil {
				return err
			}
		}
		return s.applyBallot(e, checked)
	case bulletin.TypeAuditedBallot:
		return s.applyAudited(e)
	case bulletin.TypeCleansingResult:
		return s.applyCleansing(e)
	case bulletin.TypeMixOutput:
		return s.applyMix(e)
	case bulletin.TypeDecryptionShare:
		return s.applyDecryption(e)
	case bulletin.TypeResult:
		return s.applyResult(e)
	}
	return refuse("entry type %s is not part of this election's protocol", e.Type)
}

func (s *State) requireAuthor(e *bulletin.Entry, want [32]byte, who string) error {
	if e.Author != want {
		return refuseAs(ErrWrongAuthor, "%s entries must be signed by the %s", e.Type, who)
	}
	return nil
}

func (s *State) applyIdentityKeySet(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Manifest.IdentityKey, "identity service"); err != nil {
		return err
	}
	ks, err := record.DecodeIdentityKeySet(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if ks.ElectionID != s.Manifest.ElectionID {
		return refuse("identity key set for election %q", ks.ElectionID)
	}
	if s.Phase != PhaseReady && s.Phase != PhaseOpen {
		return refuse("identity key set posted in phase %s (it binds the extended hash)", s.Phase)
	}
	if ks.ContextHash != s.Context.ExtendedHash {
		return refuse("identity key set bound to another context")
	}
	if err := checkKeyHistory(s.IdentityKeys, ks); err != nil {
		return err
	}
	s.IdentityKeys = ks
	return nil
}

// checkKeyHistory checks that a new identity key set only extends the
// previous one (spec/08-identity.md §8.8.2): the same issuer and audience,
// every earlier key still listed with the same validity start, a retired
// key's retirement unchanged. Otherwise a later set could reopen a retired
// key's window, or move a window back to cover credentials issued outside
// it.
func checkKeyHistory(prev, next *record.IdentityKeySet) error {
	if prev == nil {
		return nil
	}
	if next.Issuer != prev.Issuer || next.Audience != prev.Audience {
		return refuseAs(ErrKeyHistory, "issuer or audience changed")
	}
	for _, old := range prev.Keys {
		k, ok := next.Key(old.KeyID)
		switch {
		case !ok:
			return refuseAs(ErrKeyHistory, "key %s dropped", old.KeyID)
		case k.ValidFrom != old.ValidFrom:
			return refuseAs(ErrKeyHistory, "key %s valid from %d, earlier %d", old.KeyID, k.ValidFrom, old.ValidFrom)
		case old.RetiredAt != 0 && k.RetiredAt != old.RetiredAt:
			return refuseAs(ErrKeyHistory, "key %s retired at %d, earlier at %d", old.KeyID, k.RetiredAt, old.RetiredAt)
		}
	}
	return nil
}

// applyListChange checks a voter-list change (spec/08-identity.md §8.8.4):
// posted by the identity service between the election context (it binds
// the extended hash) and the close, numbered 1, 2, …, signed by its list
// official, counting known ballot styles, with counts that follow from the
// previous change's (checkListCounts) and that leave no style with fewer
// listed voters than voters holding credentials of it.
func (s *State) applyListChange(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Manifest.IdentityKey, "identity service"); err != nil {
		return err
	}
	if s.Phase > PhaseOpen {
		return refuse("voter list changed after voting closed")
	}
	c, err := record.DecodeVoterListChange(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if c.ElectionID != s.Manifest.ElectionID {
		return refuse("voter list change for election %q", c.ElectionID)
	}
	if s.Context == nil {
		return refuseAs(ErrWrongContext, "voter-list change before the election context, whose extended hash it binds")
	}
	if c.ContextHash != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "voter-list change")
	}
	if want := uint64(len(s.ListChanges) + 1); c.Sequence != want {
		return refuse("voter list change sequence %d, want %d", c.Sequence, want)
	}
	if err := c.VerifySignature(); err != nil {
		return refuseAs(ErrSignature, "voter list change: %w", err)
	}
	for _, sc := range c.Counts {
		if _, ok := s.Manifest.Style(sc.BallotStyle); !ok {
			return refuse("voter list counts unknown ballot style %q", sc.BallotStyle)
		}
	}
	total, err := s.checkListCounts(c)
	if err != nil {
		return err
	}
	s.ListChanges = append(s.ListChanges, c)
	clear(s.listed)
	for _, sc := range c.Counts {
		s.listed[sc.BallotStyle] = sc.Voters
	}
	s.listTotal = total
	return nil
}

// checkListCounts checks a change's counts against the list as it stands
// and returns its total (§8.8.4): the total is the previous total plus
// added minus removed; a change of kinds 1–3 (additions) removes and
// updates nothing and lowers no style's count, one of kind 4 (removals)
// adds and updates nothing and raises none, one of kind 5 (phone numbers)
// adds and removes nothing and changes no count; and no style is left
// with fewer listed voters than distinct voters holding credentials of it.
func (s *State) checkListCounts(c *record.VoterListChange) (uint64, error) {
	var total uint64
	for _, sc := range c.Counts {
		total += uint64(sc.Voters)
	}
	if want := s.listTotal + uint64(c.Added); want < uint64(c.Removed) || total != want-uint64(c.Removed) {
		return 0, refuseAs(ErrListCounts, "change %d lists %d voters, the previous total %d plus %d added minus %d removed", c.Sequence, total, s.listTotal, c.Added, c.Removed)
	}
	now := map[string]uint32{}
	for _, sc := range c.Counts {
		now[sc.BallotStyle] = sc.Voters
	}
	styles := map[string]bool{}
	for st := range s.listed {
		styles[st] = true
	}
	for st := range now {
		styles[st] = true
	}
	for st := range styles {
		before, after := s.listed[st], now[st]
		var bad bool
		switch c.Kind {
		case record.ListBuilt, record.ListImported, record.ListAdded:
			bad = c.Removed != 0 || c.Updated != 0 || after < before
		case record.ListRemoved:
			bad = c.Added != 0 || c.Updated != 0 || after > before
		case record.ListContactUpdate:
			bad = c.Added != 0 || c.Removed != 0 || after != before
		}
		if bad {
			return 0, refuseAs(ErrListCounts, "change %d of kind %d (%d added, %d removed, %d updated) takes style %s from %d to %d voters", c.Sequence, c.Kind, c.Added, c.Removed, c.Updated, st, before, after)
		}
		if after < s.credVoters[st] {
			return 0, refuseAs(ErrListExceeded, "change %d lists %d voters of style %s, %d hold credentials", c.Sequence, after, st, s.credVoters[st])
		}
	}
	return total, nil
}

func (s *State) applyTransition(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	t, err := DecodeTransition(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if t.ElectionID != s.Manifest.ElectionID {
		return refuse("transition for election %q", t.ElectionID)
	}
	want := map[bulletin.Type]Phase{bulletin.TypeOpen: PhaseOpen, bulletin.TypeClose: PhaseClosed}
	if p, ok := want[e.Type]; ok && t.To != p {
		return refuse("%s entry moves to phase %s", e.Type, t.To)
	}
	if _, ok := want[e.Type]; !ok && (t.To == PhaseOpen || t.To == PhaseClosed) {
		return refuse("opening and closing use their own entry types")
	}
	if t.To <= PhaseReady {
		// The manifest and the election context enter these phases; a
		// transition into ready would leave the election without a
		// context (spec §9.8).
		return refuse("phase %s is entered by the %s entry, not by a transition", t.To, map[Phase]string{PhaseSetup: "manifest", PhaseReady: "election-context"}[t.To])
	}
	if t.To != s.Phase+1 {
		return refuse("cannot move from phase %s to %s", s.Phase, t.To)
	}
	switch t.To {
	case PhaseOpen:
		if s.IdentityKeys == nil {
			return refuse("cannot open before the identity key set is posted")
		}
		if s.rv != nil {
			if err := s.openRevote(); err != nil {
				return err
			}
		}
		s.OpenPosition = s.Size
	case PhaseClosed:
		s.ClosePosition = s.Size
	case PhaseMixing:
		if s.rv != nil {
			if err := s.finishRevote(); err != nil {
				return err
			}
			break
		}
		if s.Cleansing == nil {
			return refuse("cannot start mixing before the cleansing result")
		}
	case PhaseDecrypting:
		if err := s.finishMixing(); err != nil {
			return err
		}
	case PhaseTallied:
		return refuse("the result entry, not a transition, ends the tally")
	}
	s.Phase = t.To
	return nil
}

func (s *State) applyCredential(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Manifest.IdentityKey, "identity service"); err != nil {
		return err
	}
	if s.Phase != PhaseOpen {
		return refuse("credentials are issued only while voting is open (phase %s)", s.Phase)
	}
	c, err := record.DecodeCredentialIssued(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if err := s.CheckCredential(c); err != nil {
		return err
	}
	// Share the strings CheckCredential found equal to the manifest's and
	// the key set's: a million credentials' own copies of them weigh
	// 65 MB, held through the casting (spec §11.7).
	c.ElectionID = s.Manifest.ElectionID
	if st, ok := s.Manifest.Style(c.BallotStyle); ok {
		c.BallotStyle = st.ID
	}
	if k, ok := s.IdentityKeys.Key(c.KeyID); ok {
		c.KeyID = k.KeyID
	}
	s.credentials.set(c.DeviceKey, c)
	s.lastIssued = max(s.lastIssued, c.IssuedAt)
	if _, ok := s.credStyle[c.Pseudonym]; !ok {
		s.credStyle[c.Pseudonym] = c.BallotStyle
		s.credVoters[c.BallotStyle]++
	}
	return nil
}

// CheckCredential makes the checks of a decoded credential entry against
// the state (spec/08-identity.md §8.8.1, §11.4.3 `credential`): this
// election and context, a known ballot style, a token key of the identity
// key set whose validity window contains the credential's issued-at, a
// device key bound to no earlier credential, an issued-at at most
// CredentialReorder seconds before the latest one on the board, a voter
// not marked as having voted in person, credentialed in no other ballot
// style, and, if new, not one voter more of the style than the voter list
// holds. The ballot box calls it before appending a credential (with
// CheckPendingCredential for those it is appending); Apply calls it on
// replay.
func (s *State) CheckCredential(c *record.CredentialIssued) error {
	if s.Context == nil || s.IdentityKeys == nil {
		return refuse("credential before the election context and the identity key set")
	}
	if c.ElectionID != s.Manifest.ElectionID || c.ContextHash != s.Context.ExtendedHash {
		return refuse("credential for another election or context")
	}
	if _, ok := s.Manifest.Style(c.BallotStyle); !ok {
		return refuse("credential for unknown ballot style %q", c.BallotStyle)
	}
	k, ok := s.IdentityKeys.Key(c.KeyID)
	if !ok {
		return refuse("credential names token key %q, absent from the identity key set", c.KeyID)
	}
	if !k.ValidAt(c.IssuedAt) {
		return refuseAs(ErrKeyWindow, "issued at %d, key %s valid from %d to %d (0: current)", c.IssuedAt, k.KeyID, k.ValidFrom, k.RetiredAt)
	}
	if s.uncredited != 0 {
		return fmt.Errorf("%w: %d restored credentials are not indexed (RestoreCredentials)", ErrRestore, s.uncredited)
	}
	if _, dup := s.credentials.get(c.DeviceKey); dup {
		return refuse("device key already bound to a credential")
	}
	if c.IssuedAt+CredentialReorder < s.lastIssued {
		return refuseAs(ErrCredentialOrder, "issued at %d, a credential earlier on the board at %d (at most %d s before)", c.IssuedAt, s.lastIssued, CredentialReorder)
	}
	if s.VotedInPerson(c.Pseudonym) {
		return refuse("credential issued to a voter marked as having voted in person")
	}
	if st, ok := s.credStyle[c.Pseudonym]; ok && st != c.BallotStyle {
		return refuseAs(ErrTwoStyles, "credential for style %s, the voter's earlier credentials are for %s", c.BallotStyle, st)
	}
	if _, ok := s.credStyle[c.Pseudonym]; !ok && s.credVoters[c.BallotStyle] >= s.listed[c.BallotStyle] {
		return refuseAs(ErrListExceeded, "style %s: the voter list holds %d voters, %d hold credentials already", c.BallotStyle, s.listed[c.BallotStyle], s.credVoters[c.BallotStyle])
	}
	return nil
}

// CheckPendingCredential checks credential c, which CheckCredential
// accepts, against credentials that also passed it and will be applied
// before it (the ballot box's credentials in flight): the rules that
// relate credentials to each other must still accept c once they are
// applied. It does not change the state.
func (s *State) CheckPendingCredential(c *record.CredentialIssued, pending []*record.CredentialIssued) error {
	voters := map[[32]byte]bool{} // new voters of c's style among pending
	for _, p := range pending {
		switch {
		case p.DeviceKey == c.DeviceKey:
			return refuse("device key already bound to a credential")
		case p.Pseudonym == c.Pseudonym && p.BallotStyle != c.BallotStyle:
			return refuseAs(ErrTwoStyles, "credential for style %s, the voter's earlier credentials are for %s", c.BallotStyle, p.BallotStyle)
		case c.IssuedAt+CredentialReorder < p.IssuedAt:
			return refuseAs(ErrCredentialOrder, "issued at %d, a credential earlier on the board at %d (at most %d s before)", c.IssuedAt, p.IssuedAt, CredentialReorder)
		}
		if _, old := s.credStyle[p.Pseudonym]; !old && p.BallotStyle == c.BallotStyle {
			voters[p.Pseudonym] = true
		}
	}
	if _, old := s.credStyle[c.Pseudonym]; !old && !voters[c.Pseudonym] &&
		uint64(s.credVoters[c.BallotStyle])+uint64(len(voters)) >= uint64(s.listed[c.BallotStyle]) {
		return refuseAs(ErrListExceeded, "style %s: the voter list holds %d voters, %d hold credentials already or are being given one", c.BallotStyle, s.listed[c.BallotStyle], uint64(s.credVoters[c.BallotStyle])+uint64(len(voters)))
	}
	return nil
}

func (s *State) applyInPersonMark(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Manifest.IdentityKey, "identity service"); err != nil {
		return err
	}
	if s.Phase != PhaseOpen {
		return refuse("in-person marks are posted only while voting is open (phase %s)", s.Phase)
	}
	m, err := record.DecodeInPersonMark(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if m.ElectionID != s.Manifest.ElectionID {
		return refuse("in-person mark for election %q", m.ElectionID)
	}
	if m.ContextHash != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "in-person mark")
	}
	if err := s.CheckPolling(m.StationID, m.StationKey, m.OfficialID, m.OfficialKey); err != nil {
		return err
	}
	if _, ok := s.Manifest.Style(m.BallotStyle); !ok {
		return refuseAs(ErrMarkStyle, "unknown ballot style %q", m.BallotStyle)
	}
	if st, ok := s.credStyle[m.Pseudonym]; ok && st != m.BallotStyle {
		return refuseAs(ErrMarkStyle, "mark for %s, the voter's credential is for %s", m.BallotStyle, st)
	}
	if err := m.VerifySignatures(); err != nil {
		return refuseAs(ErrSignature, "%w", err)
	}
	if _, dup := s.inPerson[m.Pseudonym]; dup {
		return refuse("voter already marked as having voted in person")
	}
	s.inPerson[m.Pseudonym] = s.Size
	return nil
}

// applyPollingRegistration registers polling stations and officials
// (spec/08-identity.md §8.8.6): posted by the identity service, signed by
// the list official it names, for this election's context, before voting
// opens; an id or a key is registered at most once.
func (s *State) applyPollingRegistration(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Manifest.IdentityKey, "identity service"); err != nil {
		return err
	}
	if s.Phase >= PhaseOpen {
		return refuseAs(ErrRegistrationLate, "phase %s", s.Phase)
	}
	if s.Phase != PhaseReady {
		return refuse("polling registration before the election context (it binds the extended hash)")
	}
	r, err := record.DecodePollingRegistration(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if r.ElectionID != s.Manifest.ElectionID {
		return refuse("polling registration for election %q", r.ElectionID)
	}
	if r.ContextHash != s.Context.ExtendedHash {
		return refuseAs(ErrWrongContext, "polling registration")
	}
	if err := r.VerifySignature(); err != nil {
		return refuseAs(ErrSignature, "%w", err)
	}
	for _, l := range []struct {
		keys []record.PollingKey
		reg  map[string][32]byte
		what string
	}{{r.Stations, s.stations, "station"}, {r.Officials, s.pollers, "official"}} {
		for _, k := range l.keys {
			if _, dup := l.reg[k.ID]; dup {
				return refuse("%s %q is already registered", l.what, k.ID)
			}
			if s.pollKeys[k.Key] {
				return refuse("the key of %s %q is already registered", l.what, k.ID)
			}
		}
	}
	for _, k := range r.Stations {
		s.stations[k.ID], s.pollKeys[k.Key] = k.Key, true
	}
	for _, k := range r.Officials {
		s.pollers[k.ID], s.pollKeys[k.Key] = k.Key, true
	}
	s.Polling = append(s.Polling, r)
	return nil
}

// checkKeygen checks the context's joint key and verification keys against
// the key-generation transcript on the board.
func (s *State) checkKeygen(c *Context) error {
	return s.keygen.check(s, c)
}
