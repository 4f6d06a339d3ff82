// Package sim runs a complete election in one process, through the same
// rules as the ballot box (package election), and returns its public
// record as bulletin-board entries together with what every simulated voter
// meant to vote. Tests, the specification's example record, the verifier's
// tamper corpus and its benchmarks use it; the real system runs the same
// steps across the server, the identity service and the trustees' machines.
//
// Randomness comes from the Config's reader: a seeded reader
// (internal/testrand) makes a whole record reproducible, which the spec
// vectors rely on; nil means crypto/rand.
package sim

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/sig"
	"evote/crypto/threshold"
	"evote/election"
	"evote/record"
	"evote/tally/revote"
)

// Config chooses the size and behaviours of a simulated election.
type Config struct {
	ElectionID string
	Trustees   int
	Threshold  int
	Voters     int
	// Every RevoteEvery-th voter casts twice (0: nobody), AuditEvery-th
	// audits a ballot first, InPersonEvery-th also votes in person (their
	// online ballot is cancelled).
	RevoteEvery, AuditEvery, InPersonEvery int
	// Listed is how many voters the voter list holds per ballot style
	// (default: Voters, and at least 16); credentials for more distinct
	// voters of a style than it holds are refused (spec §8.8.4).
	Listed int
	// Revote is the manifest's policy (default: the last ballot counts).
	Revote ballot.RevotePolicy
	// Mixes is the number of valid mixes required (default: every trustee).
	Mixes int
	// SingleChoiceOnly drops the sample manifest's multi-select contest, so
	// that every ballot has one 5-candidate single-choice contest (the
	// verifier's benchmark, spec §11.7).
	SingleChoiceOnly bool
	// MultiSelectFirst puts each ballot style's multi-select contests
	// before its single-choice ones (the sample puts them last), so that
	// a contest's ciphertexts start after another's several.
	MultiSelectFirst bool
	// PostQuantum gives the log an ML-DSA-65 key besides its Ed25519 key
	// (pinned in the manifest; checkpoints then carry both signatures).
	PostQuantum bool
	// Coercion runs the election in deniable re-voting mode (spec chapter
	// 15; RunRevote): SlotRows is the manifest's B (default 8), MaxBallots
	// its M (default 4), and the box posts a slot of each style after
	// every SlotEvery voters (default 1).
	Coercion   bool
	SlotRows   uint32
	MaxBallots uint8
	SlotEvery  int
	// NoTagKeys leaves the trustees' tag keys to their own tools (package
	// trustee's tests, spec §15.15): Setup posts none, and the election
	// opens once the tools have posted them.
	NoTagKeys bool
	Rand      io.Reader
	// Now is the Unix time written into time fields.
	Now uint64
}

// Keys are the secret keys of the simulated parties.
type Keys struct {
	Authority ed25519.PrivateKey
	Identity  ed25519.PrivateKey
	Station   ed25519.PrivateKey // polling station "station-bishkek-1"
	Official  ed25519.PrivateKey // polling official "official-7"
	List      ed25519.PrivateKey // list official "list-official-1", who registers both
	Trustees  []ed25519.PrivateKey
	HPKE      []*threshold.HPKEPrivateKey
	// HPKESeeds are the seeds of HPKE (RFC 9180 DeriveKeyPair), from
	// which a trustee's tool derives the same keys (package trustee's
	// tests).
	HPKESeeds [][32]byte
	Shares    []*threshold.KeyShare
	// Log signs the board's checkpoints; Witnesses cosign them (all of
	// them form the manifest's quorum). They are derived from the election
	// id, not drawn from the Config's reader, so that adding them left
	// every other simulated key as it was.
	Log       ed25519.PrivateKey
	LogMLDSA  *sig.MLDSAPrivateKey // nil unless Config.PostQuantum
	Witnesses []ed25519.PrivateKey
	// TagKeys are the trustees' tag keys in coercion mode (spec §15.1).
	TagKeys []*revote.TagKey
}

// simWitnesses is how many witnesses a simulated election has; all of
// them must cosign.
const simWitnesses = 2

// derivedKey returns a key derived from the election id and a label.
func derivedKey(electionID, label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("evote-sim/" + label + "/" + electionID))
	return ed25519.NewKeyFromSeed(seed[:])
}

// Origin returns the log origin of a simulated election.
func Origin(electionID string) string { return "evote.example/" + electionID }

// Anchors returns the board anchors the manifest pins: the log's key and
// the witnesses', with a quorum of all of them.
func (k *Keys) Anchors(electionID string) ballot.BoardAnchors {
	a := ballot.BoardAnchors{Origin: Origin(electionID), LogKey: pub(k.Log), Quorum: uint32(len(k.Witnesses))}
	if k.LogMLDSA != nil {
		a.LogMLDSAKey = k.LogMLDSA.PublicKey()
	}
	for i, w := range k.Witnesses {
		a.Witnesses = append(a.Witnesses, ballot.Witness{Name: witnessName(i), Key: pub(w)})
	}
	return a
}

func witnessName(i int) string { return fmt.Sprintf("w%d.witness.example", i+1) }

// LogKey returns the log's signing identity.
func (k *Keys) LogKey(electionID string) *bulletin.LogKey {
	s := bulletin.NewEd25519Signer(k.Log)
	lk := &bulletin.LogKey{Origin: Origin(electionID), Ed25519: s, Ed25519Public: s.Public()}
	if k.LogMLDSA != nil {
		lk.MLDSA, lk.MLDSAPublic = bulletin.NewMLDSASigner(k.LogMLDSA), k.LogMLDSA.PublicKey()
	}
	return lk
}

// SignCheckpoint signs a checkpoint over the given encoded entries at time
// t with the log's key and has every witness cosign it, as a record's
// checkpoint is.
func (k *Keys) SignCheckpoint(electionID string, entries [][]byte, t time.Time) ([]byte, error) {
	tree := bulletin.NewTree()
	for _, e := range entries {
		tree.AppendLeaves(bulletin.LeafHash(e))
	}
	root, err := tree.RootAt(uint64(len(entries)))
	if err != nil {
		return nil, err
	}
	cp := bulletin.Checkpoint{Origin: Origin(electionID), Size: uint64(len(entries)), Root: root, Time: t.UTC()}
	note, err := bulletin.SignCheckpoint(cp, k.LogKey(electionID))
	if err != nil {
		return nil, err
	}
	return k.Cosign(note, t)
}

// Cosign adds every witness's cosignature, made at time t, to a signed
// checkpoint note (it checks nothing: a test may cosign what an honest
// witness would refuse).
func (k *Keys) Cosign(note []byte, t time.Time) ([]byte, error) {
	n, err := bulletin.ParseNote(note)
	if err != nil {
		return nil, err
	}
	var sigs []bulletin.NoteSignature
	for i, w := range k.Witnesses {
		s, err := bulletin.Cosign(n.Body, bulletin.CosignerKey{Name: witnessName(i), Public: pub(w)}, bulletin.NewEd25519Signer(w), t)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, s)
	}
	return bulletin.AddSignatures(note, sigs...)
}

// Election is a simulated election in progress.
type Election struct {
	Cfg     Config
	Keys    Keys
	Log     bulletin.LogID
	Entries []*bulletin.Entry
	State   *election.State
	// Intended[pseudonym] is the selection that counts for each voter who
	// voted online and was not cancelled.
	Intended map[[32]byte]ballot.Selection
	voters   []simVoter
	rand     io.Reader
}

type simVoter struct {
	pseudonym [32]byte
	style     string
}

func (e *Election) key() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(e.rand, seed); err != nil {
		panic(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func pub(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }

// Post signs an entry of type t with key k, applies it to the state and
// appends it to the record.
func (e *Election) Post(t bulletin.Type, k ed25519.PrivateKey, payload []byte) error {
	entry, err := bulletin.NewEntry(e.Log, t, pub(k), bulletin.NewEd25519Signer(k), payload)
	if err != nil {
		return err
	}
	return e.Append(entry)
}

// Append applies an entry signed elsewhere (a trustee's tool's) to the
// state, as the ballot box does, and appends it to the record; an entry
// the rules refuse is not appended.
func (e *Election) Append(entry *bulletin.Entry) error {
	if err := entry.Verify(); err != nil {
		return err
	}
	if err := e.State.Apply(entry); err != nil {
		return err
	}
	e.Entries = append(e.Entries, entry)
	return nil
}

// Setup posts the manifest, runs key generation among the trustees, and
// posts the election context, the identity key set, the voter list and the
// registration of a polling station and official: the election is then
// ready to open.
func Setup(cfg Config) (*Election, error) {
	e := &Election{Cfg: cfg, State: election.NewState(), Intended: map[[32]byte]ballot.Selection{}, rand: cfg.Rand}
	if e.rand == nil {
		e.rand = cryptoRand{}
	}
	e.Log = bulletin.LogIDFor(Origin(cfg.ElectionID))
	e.Keys.Log = derivedKey(cfg.ElectionID, "log")
	for i := range simWitnesses {
		e.Keys.Witnesses = append(e.Keys.Witnesses, derivedKey(cfg.ElectionID, witnessName(i)))
	}
	if cfg.PostQuantum {
		var err error
		if e.Keys.LogMLDSA, err = sig.NewMLDSAKeyFromSeed(derivedKey(cfg.ElectionID, "log-ml-dsa").Seed()); err != nil {
			return nil, err
		}
	}
	e.Keys.Authority, e.Keys.Identity = e.key(), e.key()
	e.Keys.Station, e.Keys.Official, e.Keys.List = e.key(), e.key(), e.key()
	var trustees []ballot.Trustee
	for i := 0; i < cfg.Trustees; i++ {
		sk := e.key()
		// As threshold.GenerateHPKEKey, keeping the seed.
		var seed [32]byte
		if _, err := io.ReadFull(e.rand, seed[:]); err != nil {
			return nil, err
		}
		hk, err := threshold.NewHPKEPrivateKey(seed[:])
		if err != nil {
			return nil, err
		}
		e.Keys.Trustees, e.Keys.HPKE = append(e.Keys.Trustees, sk), append(e.Keys.HPKE, hk)
		e.Keys.HPKESeeds = append(e.Keys.HPKESeeds, seed)
		hp := hk.Public()
		trustees = append(trustees, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: pub(sk), HPKEKey: hp[:]})
	}
	m := ballot.SampleManifest(cfg.ElectionID, trustees, uint32(cfg.Threshold), pub(e.Keys.Identity), e.Keys.Anchors(cfg.ElectionID))
	if cfg.Revote != 0 {
		m.Revote = cfg.Revote
	}
	if cfg.Mixes != 0 {
		m.Mixes = uint32(cfg.Mixes)
	}
	if cfg.SingleChoiceOnly {
		singleChoiceOnly(m)
	}
	if cfg.MultiSelectFirst {
		for i := range m.BallotStyles {
			ids := slices.Clone(m.BallotStyles[i].Contests)
			slices.SortStableFunc(ids, func(a, b string) int {
				multi := func(id string) int {
					if c, _ := m.Contest(id); c.Kind == ballot.MultiSelect {
						return 0
					}
					return 1
				}
				return multi(a) - multi(b)
			})
			m.BallotStyles[i].Contests = ids
		}
	}
	if cfg.Coercion {
		revoteManifest(cfg, m)
	}
	if err := e.Post(bulletin.TypeManifest, e.Keys.Authority, m.Encode()); err != nil {
		return nil, err
	}
	if err := e.keygen(); err != nil {
		return nil, err
	}
	ks := &record.IdentityKeySet{
		ElectionID:  cfg.ElectionID,
		ContextHash: e.State.Context.ExtendedHash,
		Issuer:      "https://idp.evote.example",
		Audience:    "evote-ballot-box",
		Keys:        []record.IdentityKey{{KeyID: record.IdentityKeyID(e.Keys.Identity.Public().(ed25519.PublicKey)), PublicKey: pub(e.Keys.Identity), ValidFrom: cfg.Now}},
	}
	if err := e.Post(bulletin.TypeIdentityKeySet, e.Keys.Identity, ks.Encode()); err != nil {
		return nil, err
	}
	if err := e.postVoterList(); err != nil {
		return nil, err
	}
	// The list official registers the polling station and official whose
	// marks MarkInPerson posts.
	r := &record.PollingRegistration{
		ElectionID: cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash,
		OfficialID: "list-official-1", OfficialKey: pub(e.Keys.List), RegisteredAt: cfg.Now,
		Stations:  []record.PollingKey{{ID: "station-bishkek-1", Key: pub(e.Keys.Station)}},
		Officials: []record.PollingKey{{ID: "official-7", Key: pub(e.Keys.Official)}},
	}
	r.Sign(e.Keys.List)
	if err := e.Post(bulletin.TypePollingRegistration, e.Keys.Identity, r.Encode()); err != nil {
		return nil, err
	}
	if cfg.Coercion && !cfg.NoTagKeys {
		if err := e.postTagKeys(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// postVoterList posts the voter list as the identity service does once a
// list official has built it from the register: Listed voters per ballot
// style (the details, which PINs, stay with the service; the sim has none,
// so its details digest is a constant).
func (e *Election) postVoterList() error {
	n := e.Cfg.Listed
	if n == 0 {
		n = max(e.Cfg.Voters, 16)
	}
	c := &record.VoterListChange{
		ElectionID: e.Cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash, Sequence: 1, Kind: record.ListBuilt,
		OfficialID: "list-official-1", OfficialKey: pub(e.Keys.List), DetailsDigest: sha256.Sum256([]byte("evote-sim/voter-list")),
		ChangedAt: e.Cfg.Now,
	}
	c.Sign(e.Keys.List)
	for _, st := range e.State.Manifest.BallotStyles {
		c.Counts = append(c.Counts, record.StyleCount{BallotStyle: st.ID, Voters: uint32(n)})
		c.Added += uint32(n)
	}
	slices.SortFunc(c.Counts, func(a, b record.StyleCount) int { return strings.Compare(a.BallotStyle, b.BallotStyle) })
	return e.Post(bulletin.TypeVoterListChange, e.Keys.Identity, c.Encode())
}

// keygen runs the trustees' distributed key generation (chapter 5) with
// every message posted on the board, then posts the election context.
func (e *Election) keygen() error {
	m := e.State.Manifest
	base, err := m.BaseHash()
	if err != nil {
		return err
	}
	p := threshold.Params{N: len(m.Trustees), T: int(m.Threshold)}
	peers := make([]threshold.HPKEPublicKey, p.N)
	for i, k := range e.Keys.HPKE {
		peers[i] = k.Public()
	}
	var ts []*threshold.Trustee
	for i := range p.N {
		t, err := threshold.NewTrustee(p, base, i+1, e.Keys.HPKE[i], peers, e.rand)
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	post := func(i int, msg interface{ Bytes() []byte }) error {
		b := msg.Bytes()
		typ, _ := election.KeygenEntryType(b)
		k := e.Keys.Authority
		if i > 0 {
			k = e.Keys.Trustees[i-1]
		}
		return e.Post(typ, k, b)
	}
	for _, t := range ts {
		c, s, err := t.Deal()
		if err != nil {
			return err
		}
		if err := post(t.Index(), c); err != nil {
			return err
		}
		if err := post(t.Index(), s); err != nil {
			return err
		}
	}
	for _, t := range ts {
		cs, err := t.Complain(e.State.Keygen())
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := post(t.Index(), c); err != nil {
				return err
			}
		}
	}
	for _, t := range ts {
		for _, a := range t.Answer(e.State.Keygen()) {
			if err := post(t.Index(), a); err != nil {
				return err
			}
		}
	}
	q, _, err := threshold.ComputeQualified(e.State.Keygen())
	if err != nil {
		return err
	}
	if err := post(0, q); err != nil {
		return err
	}
	for _, t := range ts {
		x, err := t.Extract(e.State.Keygen())
		if err != nil {
			return err
		}
		if err := post(t.Index(), x); err != nil {
			return err
		}
	}
	if err := e.Post(bulletin.TypeKeygenQualified, e.Keys.Authority, election.ExtractionClosed(base)); err != nil {
		return err
	}
	var res *threshold.Result
	for _, t := range ts {
		ks, r, err := t.Finish(e.State.Keygen())
		if err != nil {
			return err
		}
		e.Keys.Shares, res = append(e.Keys.Shares, ks), r
	}
	ctx := &election.Context{ElectionID: m.ElectionID, JointKey: res.JointKey, VerificationKeys: res.VerificationKeys, VoterListCommitment: e.State.VoterListCommitment()}
	ctx.ExtendedHash = threshold.ExtendedHash(base, ctx.JointKey, ctx.VerificationKeys, ctx.VoterListCommitment)
	return e.Post(bulletin.TypeElectionContext, e.Keys.Authority, ctx.Encode())
}

// Transition posts a lifecycle entry moving the election to phase to.
func (e *Election) Transition(to election.Phase) error {
	t := map[election.Phase]bulletin.Type{election.PhaseOpen: bulletin.TypeOpen, election.PhaseClosed: bulletin.TypeClose}[to]
	if t == 0 {
		t = bulletin.TypeTransition
	}
	return e.Post(t, e.Keys.Authority, (&election.Transition{ElectionID: e.Cfg.ElectionID, To: to, Official: "official-1", At: e.Cfg.Now}).Encode())
}

// A Voter is a simulated voter with one device.
type Voter struct {
	Pseudonym [32]byte
	Style     string
	Device    ed25519.PrivateKey
}

// Credential issues a credential for a new device of the voter, as the
// identity service does after both factors.
func (e *Election) Credential(pseudonym [32]byte, style string) (*Voter, error) {
	v := &Voter{Pseudonym: pseudonym, Style: style, Device: e.key()}
	var tid [16]byte
	io.ReadFull(e.rand, tid[:])
	c := &record.CredentialIssued{
		ElectionID: e.Cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash, Pseudonym: pseudonym, BallotStyle: style,
		DeviceKey: pub(v.Device), TokenID: tid, KeyID: e.State.IdentityKeys.Keys[0].KeyID,
		IssuedAt: e.Cfg.Now, NotBefore: e.Cfg.Now, ExpiresAt: e.Cfg.Now + 900,
	}
	return v, e.Post(bulletin.TypeCredentialIssued, e.Keys.Identity, c.Encode())
}

// Cast encrypts sel on the voter's device and posts the ballot.
func (e *Election) Cast(v *Voter, sel ballot.Selection) (*ballot.PreparedBallot, error) {
	p, err := e.State.Election().Encrypt(v.Style, pub(v.Device), sel, e.rand)
	if err != nil {
		return nil, err
	}
	if err := e.Post(bulletin.TypeBallot, v.Device, p.Ballot.Encode()); err != nil {
		return nil, err
	}
	e.Intended[v.Pseudonym] = sel
	return p, nil
}

// Audit encrypts sel and posts the Benaloh opening instead of casting.
func (e *Election) Audit(v *Voter, sel ballot.Selection) error {
	p, err := e.State.Election().Encrypt(v.Style, pub(v.Device), sel, e.rand)
	if err != nil {
		return err
	}
	return e.Post(bulletin.TypeAuditedBallot, e.Keys.Authority, p.Audit().Encode())
}

// MarkInPerson posts a polling station's in-person mark for the voter.
func (e *Election) MarkInPerson(pseudonym [32]byte, style string) error {
	m := &record.InPersonMark{
		ElectionID: e.Cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash, Pseudonym: pseudonym, BallotStyle: style,
		StationID: "station-bishkek-1", StationKey: pub(e.Keys.Station), OfficialID: "official-7", OfficialKey: pub(e.Keys.Official), MarkedAt: e.Cfg.Now,
	}
	m.Sign(e.Keys.Station, e.Keys.Official)
	if err := e.Post(bulletin.TypeInPersonMark, e.Keys.Identity, m.Encode()); err != nil {
		return err
	}
	delete(e.Intended, pseudonym)
	return nil
}

// Selection returns voter i's deterministic choice for the style: a
// candidate (or blank) in each single-choice contest and up to the maximum
// in each multi-select contest.
func (e *Election) Selection(i int, style string) ballot.Selection {
	m := e.State.Manifest
	st, _ := m.Style(style)
	sel := ballot.Selection{}
	for ci, id := range st.Contests {
		c, _ := m.Contest(id)
		if c.Kind == ballot.SingleChoice {
			k := (i*7 + ci) % (len(c.Candidates) + 1)
			if k > 0 {
				sel[id] = []int{k - 1}
			}
			continue
		}
		var chosen []int
		for j := range c.Candidates {
			if (i+j)%3 == 0 && uint32(len(chosen)) < c.MaxSelections {
				chosen = append(chosen, j)
			}
		}
		sel[id] = chosen
	}
	return sel
}

// Vote runs the voting phase: opens, lets every voter authenticate and
// cast (with the configured re-votes, audits and in-person votes), closes
// and posts the cleansing.
func (e *Election) Vote() error {
	if err := e.Transition(election.PhaseOpen); err != nil {
		return err
	}
	m := e.State.Manifest
	every := func(n, i int) bool { return n > 0 && i%n == n-1 }
	for i := 0; i < e.Cfg.Voters; i++ {
		var pseudo [32]byte
		io.ReadFull(e.rand, pseudo[:])
		style := m.BallotStyles[i%len(m.BallotStyles)].ID
		e.voters = append(e.voters, simVoter{pseudo, style})
		v, err := e.Credential(pseudo, style)
		if err != nil {
			return fmt.Errorf("voter %d credential: %w", i, err)
		}
		if every(e.Cfg.AuditEvery, i) {
			if err := e.Audit(v, e.Selection(i+1, style)); err != nil {
				return fmt.Errorf("voter %d audit: %w", i, err)
			}
		}
		if _, err := e.Cast(v, e.Selection(i, style)); err != nil {
			return fmt.Errorf("voter %d cast: %w", i, err)
		}
		if every(e.Cfg.RevoteEvery, i) {
			// Re-vote from a second device: a new credential, the same pseudonym.
			v2, err := e.Credential(pseudo, style)
			if err != nil {
				return err
			}
			if _, err := e.Cast(v2, e.Selection(i+3, style)); err != nil {
				return fmt.Errorf("voter %d re-vote: %w", i, err)
			}
		}
		if every(e.Cfg.InPersonEvery, i) {
			if err := e.MarkInPerson(pseudo, style); err != nil {
				return fmt.Errorf("voter %d in person: %w", i, err)
			}
		}
	}
	if err := e.Transition(election.PhaseClosed); err != nil {
		return err
	}
	c, err := e.State.ComputeCleansing()
	if err != nil {
		return err
	}
	return e.Post(bulletin.TypeCleansingResult, e.Keys.Authority, c.Encode())
}

// singleChoiceOnly removes the multi-select contests from m and its
// ballot styles.
func singleChoiceOnly(m *ballot.Manifest) {
	keep := map[string]bool{}
	var cs []ballot.Contest
	for _, c := range m.Contests {
		if c.Kind == ballot.SingleChoice {
			cs = append(cs, c)
			keep[c.ID] = true
		}
	}
	m.Contests = cs
	for i := range m.BallotStyles {
		var ids []string
		for _, id := range m.BallotStyles[i].Contests {
			if keep[id] {
				ids = append(ids, id)
			}
		}
		m.BallotStyles[i].Contests = ids
	}
}

type cryptoRand struct{}

func (cryptoRand) Read(b []byte) (int, error) {
	return cryptoRandRead(b)
}
