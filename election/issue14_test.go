package election_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
	"evote/record"
)

// Regression tests of issue 14 ("the record is the contract"): records an
// independent verifier written from the spec refuses, which the rules
// accepted.

// clearBallot returns a ballot of voter v whose first (single-choice)
// ciphertext is encrypted with randomness 0, every proof valid.
func clearBallot(t *testing.T, el *ballot.Election, v *sim.Voter, choice uint64) *ballot.EncryptedBallot {
	t.Helper()
	p, err := el.Encrypt(v.Style, [32]byte(v.Device.Public().(ed25519.PublicKey)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := el.Manifest.Style(v.Style)
	c, _ := el.Manifest.Contest(st.Contests[0])
	zero := group.NewScalar()
	ct := el.PublicKey.EncryptWithRandomness(new(group.Scalar).SetUint64(choice), zero)
	ctx := ballot.ContestContext(el.ExtendedHash, p.Ballot.CredentialKey, 0, c.ID)
	proof, err := zkp.ProveRange(ctx, &zkp.RangeStatement{PK: el.PublicKey, Ciphertext: ct, Max: len(c.Candidates)}, choice, zero, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Ballot.Contests[0] = ballot.ContestBallot{Ciphertexts: []*elgamal.Ciphertext{ct}, Proof: proof.Bytes()}
	return p.Ballot
}

// TestBallotInClearRefused (case 5): a ballot whose ciphertext is (1, g^m)
// puts the vote on the public board; its proofs verify, but the rules
// refuse it, so the box and the verifier alike.
func TestBallotInClearRefused(t *testing.T) {
	e := openElection(t, "clear")
	v, err := e.Credential([32]byte{1}, "style-ala-archa")
	if err != nil {
		t.Fatal(err)
	}
	b := clearBallot(t, e.State.Election(), v, 2)
	if err := e.State.Election().Verify(b); !errors.Is(err, ballot.ErrClearCiphertext) {
		t.Fatalf("Verify = %v", err)
	}
	err = e.Post(bulletin.TypeBallot, v.Device, b.Encode())
	if !errors.Is(err, election.ErrRefused) || !errors.Is(err, ballot.ErrClearCiphertext) {
		t.Fatalf("ballot in clear: got %v, want a refusal for a ciphertext in clear", err)
	}
	if _, err := e.Cast(v, e.Selection(1, v.Style)); err != nil {
		t.Fatalf("the voter's honest ballot afterwards: %v", err)
	}
}

// listChange returns the next voter-list change of e, signed by its list
// official, with counts set from the styles' voters after it.
func listChange(e *sim.Election, kind uint8, added, removed uint32, counts map[string]uint32) *record.VoterListChange {
	c := &record.VoterListChange{
		ElectionID: e.Cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash, Sequence: uint64(len(e.State.ListChanges) + 1),
		Kind: kind, OfficialID: "list-official-1", OfficialKey: [32]byte(e.Keys.List.Public().(ed25519.PublicKey)),
		DetailsDigest: sha256.Sum256([]byte("details")), ChangedAt: e.Cfg.Now, Added: added, Removed: removed,
	}
	for _, st := range slices.Sorted(maps.Keys(counts)) {
		c.Counts = append(c.Counts, record.StyleCount{BallotStyle: st, Voters: counts[st]})
	}
	c.Sign(e.Keys.List)
	return c
}

// listed returns the counts of e's voter list as it stands.
func listed(e *sim.Election) map[string]uint32 {
	out := map[string]uint32{}
	last := e.State.ListChanges[len(e.State.ListChanges)-1]
	for _, sc := range last.Counts {
		out[sc.BallotStyle] = sc.Voters
	}
	return out
}

// TestVoterListChangeContext (case 4): a voter-list change is bound to the
// election's extended hash, like every identity statement posted after the
// context; one with any other context hash is refused, and so is a change
// before the context (which it could not bind).
func TestVoterListChangeContext(t *testing.T) {
	e := openElection(t, "list-context")
	c := listChange(e, record.ListAdded, 1, 0, map[string]uint32{"style-ala-archa": 17, "style-kara-suu": 16, "style-tash-dobo": 16})
	c.ContextHash[0] ^= 1
	c.Sign(e.Keys.List)
	if err := e.Post(bulletin.TypeVoterListChange, e.Keys.Identity, c.Encode()); !errors.Is(err, election.ErrWrongContext) {
		t.Errorf("voter-list change bound to another context: got %v, want %v", err, election.ErrWrongContext)
	}
	c.ContextHash[0] ^= 1
	c.Sign(e.Keys.List)
	if err := e.Post(bulletin.TypeVoterListChange, e.Keys.Identity, c.Encode()); err != nil {
		t.Errorf("the same change bound to the extended hash: %v", err)
	}
	// Before the context, in setup: bound to the base hash, it is refused.
	s := election.NewState()
	for _, en := range e.Entries {
		if en.Type == bulletin.TypeElectionContext {
			break
		}
		if err := s.Apply(en); err != nil {
			t.Fatal(err)
		}
	}
	early := listChange(e, record.ListBuilt, 48, 0, map[string]uint32{"style-ala-archa": 16, "style-kara-suu": 16, "style-tash-dobo": 16})
	early.Sequence = 1
	early.ContextHash, _ = s.Manifest.BaseHash()
	early.Sign(e.Keys.List)
	en, err := bulletin.NewEntry(e.Log, bulletin.TypeVoterListChange, [32]byte(e.Keys.Identity.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(e.Keys.Identity), early.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(en); !errors.Is(err, election.ErrWrongContext) {
		t.Errorf("voter-list change in setup: got %v, want %v", err, election.ErrWrongContext)
	}
}

// TestVoterListTotals (case 1): each change's counts must follow from the
// previous ones: the total is the previous total plus added minus removed,
// additions never lower a style's count and removals never raise one, a
// phone update changes no count.
func TestVoterListTotals(t *testing.T) {
	e := openElection(t, "list-totals")
	base := listed(e) // 16 per style
	with := func(style string, d int) map[string]uint32 {
		m := maps.Clone(base)
		m[style] = uint32(int(m[style]) + d)
		return m
	}
	for _, tc := range []struct {
		name           string
		kind           uint8
		added, removed uint32
		counts         map[string]uint32
		ok             bool
	}{
		{"total above previous + added", record.ListAdded, 1, 0, with("style-ala-archa", 2), false},
		{"added but no count grew", record.ListAdded, 3, 0, base, false},
		{"a removal that adds voters", record.ListRemoved, 0, 1, with("style-kara-suu", 1), false},
		{"voters moved between styles by an addition", record.ListAdded, 0, 0, func() map[string]uint32 {
			m := with("style-ala-archa", 5)
			m["style-kara-suu"] -= 5
			return m
		}(), false},
		{"a phone update that changes a count", record.ListContactUpdate, 0, 0, with("style-tash-dobo", 1), false},
		{"an addition counted as a removal", record.ListAdded, 1, 1, base, false},
		{"an honest addition", record.ListAdded, 2, 0, with("style-ala-archa", 2), true},
	} {
		err := e.Post(bulletin.TypeVoterListChange, e.Keys.Identity, listChange(e, tc.kind, tc.added, tc.removed, tc.counts).Encode())
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, election.ErrListCounts) {
			t.Errorf("%s: got %v, want %v", tc.name, err, election.ErrListCounts)
		}
	}
}

// TestCredentialsWithinTheList (case 1): an identity service that invents
// voters (pseudonyms of nobody, so no SMS notice reveals them) issues
// credentials for more distinct pseudonyms of a style than the published
// list holds: the credential beyond the count is refused, and a list
// change that would count fewer voters of a style than hold credentials
// is refused too. Re-votes (second devices) of a voter count once.
func TestCredentialsWithinTheList(t *testing.T) {
	e, err := sim.Setup(sim.Config{ElectionID: "issue14-list-bound", Trustees: 3, Threshold: 2, Listed: 3, Rand: testrand.New("issue14/list-bound"), Now: 1798800000})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Transition(election.PhaseOpen); err != nil {
		t.Fatal(err)
	}
	for i := byte(1); i <= 3; i++ {
		for range 2 { // a second device: the same voter
			if _, err := e.Credential([32]byte{i}, "style-ala-archa"); err != nil {
				t.Fatalf("credential %d of a listed voter: %v", i, err)
			}
		}
	}
	if _, err := e.Credential([32]byte{4}, "style-ala-archa"); !errors.Is(err, election.ErrListExceeded) {
		t.Fatalf("a fourth voter of a style listing three: got %v, want %v", err, election.ErrListExceeded)
	}
	if _, err := e.Credential([32]byte{4}, "style-kara-suu"); err != nil {
		t.Fatalf("a voter of another style: %v", err)
	}
	m := listed(e)
	m["style-ala-archa"]--
	if err := e.Post(bulletin.TypeVoterListChange, e.Keys.Identity, listChange(e, record.ListRemoved, 0, 1, m).Encode()); !errors.Is(err, election.ErrListExceeded) {
		t.Errorf("removal leaving fewer listed than credentialed: got %v, want %v", err, election.ErrListExceeded)
	}
	m["style-ala-archa"] += 2
	if err := e.Post(bulletin.TypeVoterListChange, e.Keys.Identity, listChange(e, record.ListAdded, 1, 0, m).Encode()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Credential([32]byte{5}, "style-ala-archa"); err != nil {
		t.Errorf("a voter added to the list: %v", err)
	}
}

// TestOneStylePerPseudonym (case 2): the list gives each pseudonym one
// ballot style (spec §8.5.2), so a credential for a pseudonym already
// credentialed in another style is refused.
func TestOneStylePerPseudonym(t *testing.T) {
	e := openElection(t, "one-style")
	if _, err := e.Credential([32]byte{1}, "style-ala-archa"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Credential([32]byte{1}, "style-kara-suu"); !errors.Is(err, election.ErrTwoStyles) {
		t.Fatalf("a second ballot style for one pseudonym: got %v, want %v", err, election.ErrTwoStyles)
	}
	if _, err := e.Credential([32]byte{1}, "style-ala-archa"); err != nil {
		t.Fatalf("a second device in the same style: %v", err)
	}
}

// TestCredentialOrder (case 6): credentials are posted in the order the
// identity service issued them, up to its outbox's concurrency: a
// credential may be issued up to CredentialReorder seconds before one
// earlier on the board (two swapped within that are accepted), not more.
// So an insider holding a retired token key cannot backdate a credential
// into the key's window once later credentials are on the board.
func TestCredentialOrder(t *testing.T) {
	e := openElection(t, "order")
	kid := e.State.IdentityKeys.Keys[0].KeyID
	now := e.Cfg.Now
	if err := postCredential(e, [32]byte{1}, kid, now+1000); err != nil {
		t.Fatal(err)
	}
	if err := postCredential(e, [32]byte{2}, kid, now+1000-election.CredentialReorder); err != nil {
		t.Errorf("a credential issued %d s before the previous: %v", election.CredentialReorder, err)
	}
	if err := postCredential(e, [32]byte{3}, kid, now+999-election.CredentialReorder); !errors.Is(err, election.ErrCredentialOrder) {
		t.Errorf("a credential issued %d s before the latest: got %v, want %v", election.CredentialReorder+1, err, election.ErrCredentialOrder)
	}
	if err := postCredential(e, [32]byte{3}, kid, now+1001); err != nil {
		t.Errorf("a later credential: %v", err)
	}
}

// TestPendingCredentials: CheckPendingCredential refuses a credential that
// the rules would refuse once the credentials before it (in flight at the
// ballot box) are applied, and accepts the others.
func TestPendingCredentials(t *testing.T) {
	e, err := sim.Setup(sim.Config{ElectionID: "issue14-pending", Trustees: 3, Threshold: 2, Listed: 3, Rand: testrand.New("issue14/pending"), Now: 1798800000})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Transition(election.PhaseOpen); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Credential([32]byte{1}, "style-ala-archa"); err != nil {
		t.Fatal(err)
	}
	now, kid := e.Cfg.Now, e.State.IdentityKeys.Keys[0].KeyID
	cred := func(p byte, style string, at uint64, dev byte) *record.CredentialIssued {
		return &record.CredentialIssued{ElectionID: e.Cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash, Pseudonym: [32]byte{p}, BallotStyle: style,
			DeviceKey: [32]byte(seededKey(fmt.Sprint("pending", dev)).Public().(ed25519.PublicKey)), KeyID: kid, IssuedAt: at, NotBefore: at, ExpiresAt: at + 900}
	}
	pending := []*record.CredentialIssued{cred(2, "style-ala-archa", now+500, 2), cred(3, "style-ala-archa", now, 3)}
	for _, p := range pending {
		if err := e.State.CheckCredential(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		c    *record.CredentialIssued
		want error
	}{
		{"a fourth voter of a style listing three", cred(4, "style-ala-archa", now+500, 4), election.ErrListExceeded},
		{"a pending voter in another style", cred(2, "style-kara-suu", now+500, 5), election.ErrTwoStyles},
		{"issued long before a pending one", cred(5, "style-kara-suu", now+100, 6), election.ErrCredentialOrder},
		{"a pending device key", cred(2, "style-ala-archa", now+500, 2), election.ErrRefused},
		{"a pending voter's second device", cred(3, "style-ala-archa", now+500, 7), nil},
		{"a credentialed voter's second device", cred(1, "style-ala-archa", now+500, 8), nil},
		{"a voter of another style", cred(6, "style-kara-suu", now+500, 9), nil},
	} {
		err := e.State.CheckPendingCredential(tc.c, pending)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestTransitionToReadyRefused: only the election context enters phase
// ready (spec §9.8); a transition entry naming it is refused, so the
// rules never reach ready without a context.
func TestTransitionToReadyRefused(t *testing.T) {
	e := openElection(t, "to-ready")
	s := election.NewState()
	for _, en := range e.Entries {
		if en.Type == bulletin.TypeElectionContext {
			break
		}
		if err := s.Apply(en); err != nil {
			t.Fatal(err)
		}
	}
	tr := &election.Transition{ElectionID: e.Cfg.ElectionID, To: election.PhaseReady, Official: "official-1", At: e.Cfg.Now}
	en, err := bulletin.NewEntry(e.Log, bulletin.TypeTransition, s.Authority, bulletin.NewEd25519Signer(e.Keys.Authority), tr.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(en); !errors.Is(err, election.ErrRefused) || s.Phase != election.PhaseSetup {
		t.Fatalf("transition to ready: got %v, phase %s", err, s.Phase)
	}
}

// TestVoterListCommitmentIsEmpty: voter-list changes bind the extended
// hash, so none precedes the context, and every context commits to the
// empty list: the value spec §9.2 gives.
func TestVoterListCommitmentIsEmpty(t *testing.T) {
	e := openElection(t, "commitment")
	const want = "86d862b73f0928156903246b543802b9b42c7fee7d30bfa5a57342186399b2a5"
	if got := hex.EncodeToString(e.State.Context.VoterListCommitment[:]); got != want {
		t.Fatalf("voter-list commitment %s, spec §9.2 says %s", got, want)
	}
	if c := election.NewState().VoterListCommitment(); hex.EncodeToString(c[:]) != want {
		t.Fatalf("empty state's commitment %x", c)
	}
}
