// Package boxtest drives a ballot box through a whole election the way the
// real parties would, for tests, benchmarks and the development server:
// trustees run key generation and post every message as signed entries,
// officials ask for the qualified set, the context and the transitions,
// an identity service posts its key set and credentials and issues voting
// tokens, and voters encrypt and sign ballots. It uses only the ballot
// box's public API (package ballotbox), so it exercises the same paths as
// the HTTP handlers. Not for production: its keys live in memory.
package boxtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/bulletin"
	"evote/bulletin/witness"
	"evote/crypto/sig"
	"evote/crypto/threshold"
	"evote/election"
	"evote/idp/token"
	"evote/record"
	"evote/store"
	"evote/tally"
	"evote/tally/revote"
)

// ServerKeys are the ballot box's own keys.
type ServerKeys struct {
	Authority ed25519.PrivateKey
	LogEd     ed25519.PrivateKey
	LogMLDSA  *sig.MLDSAPrivateKey // nil: no post-quantum checkpoint signature
	// Witnesses are the keys of in-process witnesses (LocalWitnesses);
	// in reality each belongs to an independent party.
	Witnesses []ed25519.PrivateKey
}

// WitnessName is the name of the i-th (0-based) in-process witness.
func WitnessName(i int) string { return fmt.Sprintf("witness-%d.evote.test", i+1) }

// Anchors returns the board anchors a manifest pins for a log with that
// origin signed by these keys: every in-process witness, all required.
func (k *ServerKeys) Anchors(origin string) ballot.BoardAnchors {
	a := ballot.BoardAnchors{Origin: origin, LogKey: pub(k.LogEd), Quorum: uint32(len(k.Witnesses))}
	if k.LogMLDSA != nil {
		a.LogMLDSAKey = k.LogMLDSA.PublicKey()
	}
	for i, w := range k.Witnesses {
		a.Witnesses = append(a.Witnesses, ballot.Witness{Name: WitnessName(i), Key: pub(w)})
	}
	return a
}

// NewServerKeys generates fresh server keys (with ML-DSA if pq) and the
// keys of witnesses in-process witnesses.
func NewServerKeys(pq bool, witnesses int) (*ServerKeys, error) {
	_, a, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	_, l, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k := &ServerKeys{Authority: a, LogEd: l}
	for range witnesses {
		_, w, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		k.Witnesses = append(k.Witnesses, w)
	}
	if pq {
		if k.LogMLDSA, err = sig.GenerateMLDSAKey(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// LogKey returns the log signing identity for an origin.
func (k *ServerKeys) LogKey(origin string) (*bulletin.LogKey, error) {
	s := bulletin.NewEd25519Signer(k.LogEd)
	lk := &bulletin.LogKey{Origin: origin, Ed25519: s, Ed25519Public: s.Public()}
	if k.LogMLDSA != nil {
		lk.MLDSA, lk.MLDSAPublic = bulletin.NewMLDSASigner(k.LogMLDSA), k.LogMLDSA.PublicKey()
	}
	return lk, nil
}

// LocalWitnesses returns a Witnesses function for a RegistryConfig that
// runs one in-process witness per key for each log, named WitnessName(i),
// keeping their state under dir; all of them form the quorum.
func LocalWitnesses(dir string, keys []ed25519.PrivateKey) func(bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error) {
	return func(v bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error) {
		var out []ballotbox.Cosigner
		for i, sk := range keys {
			s := bulletin.NewEd25519Signer(sk)
			name := WitnessName(i)
			w, err := witness.New(witness.Config{Name: name, Key: s, Public: s.Public(), Logs: []bulletin.LogVerifier{v},
				StatePath: WitnessStatePath(dir, v.Origin, i)})
			if err != nil {
				return nil, 0, err
			}
			out = append(out, &ballotbox.LocalWitness{W: w})
		}
		return out, len(keys), nil
	}
}

// WitnessStatePath is where LocalWitnesses keeps the state of the i-th
// (0-based) in-process witness of the log named origin, so that a test
// can serve that witness over HTTP and have it go on from what it
// cosigned in-process.
func WitnessStatePath(dir, origin string, i int) string {
	id := bulletin.LogIDFor(origin)
	return filepath.Join(dir, fmt.Sprintf("witness-%x-%d.json", id[:8], i+1))
}

// Fixture is an election hosted by a Registry, with every party's keys.
type Fixture struct {
	Registry   *ballotbox.Registry
	Box        *ballotbox.Box
	ElectionID string
	Server     *ServerKeys
	Identity   ed25519.PrivateKey // the identity service's board key (manifest identity key)
	TokenKey   ed25519.PrivateKey // its token signing key
	Issuer     *token.Issuer
	Trustees   []ed25519.PrivateKey
	HPKE       []*threshold.HPKEPrivateKey
	Threshold  []*threshold.Trustee
	Station    ed25519.PrivateKey // polling station "station-1"
	Official   ed25519.PrivateKey // polling official "official-7"
	List       ed25519.PrivateKey // list official "list-official-1", who registers them and posts the voter list
	Now        func() time.Time
	listed     uint32
	cfg        ballotbox.RegistryConfig // the registry's, for Instance
	// TagKeys are the trustees' tag keys in deniable re-voting mode
	// (posted by Setup).
	TagKeys []*revote.TagKey
}

// Options shape a fixture.
type Options struct {
	ElectionID string
	Trustees   int // default 3
	Threshold  int // default 2
	Revote     ballot.RevotePolicy
	Witnesses  int // in-process witnesses (default 1; a manifest needs one)
	Dir        string
	Store      store.Store
	Catalog    ballotbox.Catalog
	PQ         bool // ML-DSA checkpoint signatures
	Now        func() time.Time
	// AuditEvery and AuditMinBatch schedule the audits' publication
	// (ballotbox.Config; 0: the defaults).
	AuditEvery    uint64
	AuditMinBatch int
	// Listed is how many voters the voter list Setup posts holds per
	// ballot style (default DefaultListed).
	Listed uint32
	// WrapWitness, if set, wraps each in-process witness (a test makes
	// one fail).
	WrapWitness func(ballotbox.Cosigner) ballotbox.Cosigner
	// Coercion, if its mode is set, makes the election one in deniable
	// re-voting mode (spec chapter 15): last ballot counts, single-choice
	// contests only, and the fixture plays the identity service's dummy
	// credentials (revote.go). Credentials, if set, replaces it.
	Coercion    ballot.Coercion
	Credentials ballotbox.CredentialSource
}

// DefaultListed is the default number of listed voters per ballot style:
// more than any test or benchmark credentials.
const DefaultListed = 1 << 22

// Audience and Issuer of the fixture's tokens.
const (
	Audience = "evote-ballot-box"
	IssuerID = "https://idp.evote.test"
)

func key() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }

// New opens a registry over o.Store and creates an election in it, ready
// to be set up (Setup) and opened.
func New(ctx context.Context, o Options) (*Fixture, error) {
	if o.ElectionID == "" {
		o.ElectionID = "test-election"
	}
	if o.Trustees == 0 {
		o.Trustees, o.Threshold = 3, 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Catalog == nil {
		o.Catalog = &ballotbox.MemoryCatalog{}
	}
	if o.Witnesses == 0 {
		o.Witnesses = 1
	}
	if o.Dir == "" {
		return nil, errors.New("boxtest: Options.Dir is needed for the witnesses' state")
	}
	sk, err := NewServerKeys(o.PQ, o.Witnesses)
	if err != nil {
		return nil, err
	}
	if o.Listed == 0 {
		o.Listed = DefaultListed
	}
	f := &Fixture{ElectionID: o.ElectionID, Server: sk, Identity: key(), TokenKey: key(), Station: key(), Official: key(), List: key(), Now: o.Now, listed: o.Listed}
	cfg := ballotbox.RegistryConfig{Store: o.Store, Catalog: o.Catalog, OriginPrefix: "evote.test/board", LogKey: sk.LogKey, Authority: sk.Authority, Audience: Audience, Now: o.Now,
		AuditEvery: o.AuditEvery, AuditMinBatch: o.AuditMinBatch}
	if o.Coercion.Mode != ballot.NoCoercionResistance {
		cfg.Credentials = o.Credentials
		if cfg.Credentials == nil {
			cfg.Credentials = f
		}
	}
	cfg.Witnesses = LocalWitnesses(o.Dir, sk.Witnesses)
	if o.WrapWitness != nil {
		local := cfg.Witnesses
		cfg.Witnesses = func(v bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error) {
			ws, q, err := local(v)
			for i := range ws {
				ws[i] = o.WrapWitness(ws[i])
			}
			return ws, q, err
		}
	}
	cfg.Witnesses = shareCosigners(cfg.Witnesses)
	f.cfg = cfg
	if f.Registry, err = ballotbox.OpenRegistry(ctx, cfg); err != nil {
		return nil, err
	}
	var trustees []ballot.Trustee
	for i := range o.Trustees {
		tk := key()
		hk, err := threshold.GenerateHPKEKey(nil)
		if err != nil {
			return nil, err
		}
		f.Trustees, f.HPKE = append(f.Trustees, tk), append(f.HPKE, hk)
		hp := hk.Public()
		trustees = append(trustees, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: pub(tk), HPKEKey: hp[:]})
	}
	m := ballot.SampleManifest(o.ElectionID, trustees, uint32(o.Threshold), pub(f.Identity), sk.Anchors(cfg.OriginPrefix+"/"+o.ElectionID))
	if o.Revote != 0 {
		m.Revote = o.Revote
	}
	if o.Coercion.Mode != ballot.NoCoercionResistance {
		revoteManifest(m, o.Coercion)
	}
	if f.Box, err = f.Registry.Create(ctx, m.Encode()); err != nil {
		return nil, err
	}
	return f, nil
}

// shareCosigners makes every registry of a fixture (Instance) reach the
// same witnesses: one set of cosigners per log.
func shareCosigners(ws func(bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error)) func(bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error) {
	type set struct {
		cs []ballotbox.Cosigner
		q  int
	}
	var mu sync.Mutex
	made := map[string]set{}
	return func(v bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error) {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := made[v.Origin]; ok {
			return s.cs, s.q, nil
		}
		cs, q, err := ws(v)
		if err == nil {
			made[v.Origin] = set{cs, q}
		}
		return cs, q, err
	}
}

// Cosigners returns the witnesses of the election's log, as the
// fixture's registries reach them (in-process: each a
// *ballotbox.LocalWitness, whose witness a test may also serve over HTTP
// to other processes).
func (f *Fixture) Cosigners() ([]ballotbox.Cosigner, error) {
	lk, err := f.cfg.LogKey(f.Box.Log().Origin())
	if err != nil {
		return nil, err
	}
	cs, _, err := f.cfg.Witnesses(lk.Verifier())
	return cs, err
}

// Instance opens another ballot-box instance of the fixture's elections
// on st (the same database as the fixture's store, through another
// connection: a second evoted), with the same keys, catalog and
// witnesses, and returns the election's Box there. The caller closes the
// registry.
func (f *Fixture) Instance(ctx context.Context, st store.Store) (*ballotbox.Registry, *ballotbox.Box, error) {
	cfg := f.cfg
	cfg.Store = st
	r, err := ballotbox.OpenRegistry(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	b, err := r.Get(f.ElectionID)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, b, nil
}

func (f *Fixture) trusteeEntry(i int, msg []byte) ([]byte, error) {
	typ, ok := election.KeygenEntryType(msg)
	if !ok {
		return nil, errors.New("boxtest: unknown key-generation message")
	}
	e, err := bulletin.NewEntry(f.Box.Log().ID(), typ, pub(f.Trustees[i-1]), bulletin.NewEd25519Signer(f.Trustees[i-1]), msg)
	if err != nil {
		return nil, err
	}
	return e.Encode(), nil
}

// PostTrustee posts trustee i's (1-based) message.
func (f *Fixture) PostTrustee(ctx context.Context, i int, msg []byte) error {
	raw, err := f.trusteeEntry(i, msg)
	if err != nil {
		return err
	}
	_, err = f.Box.PostTrustee(ctx, raw)
	return err
}

// Keygen runs distributed key generation through the box: every trustee
// message is posted as a signed entry, the qualified set and the context
// by officials' actions.
func (f *Fixture) Keygen(ctx context.Context) error {
	var (
		tr   *threshold.Transcript
		base [32]byte
		p    threshold.Params
	)
	f.Box.WithState(func(s *election.State) {
		base, _ = s.Manifest.BaseHash()
		p = threshold.Params{N: len(s.Manifest.Trustees), T: int(s.Manifest.Threshold)}
	})
	transcript := func() *threshold.Transcript {
		f.Box.WithState(func(s *election.State) { tr = s.Keygen() })
		return tr
	}
	peers := make([]threshold.HPKEPublicKey, p.N)
	for i, k := range f.HPKE {
		peers[i] = k.Public()
	}
	f.Threshold = nil
	for i := range p.N {
		t, err := threshold.NewTrustee(p, base, i+1, f.HPKE[i], peers, nil)
		if err != nil {
			return err
		}
		f.Threshold = append(f.Threshold, t)
	}
	for _, t := range f.Threshold {
		c, s, err := t.Deal()
		if err != nil {
			return err
		}
		if err := f.PostTrustee(ctx, t.Index(), c.Bytes()); err != nil {
			return err
		}
		if err := f.PostTrustee(ctx, t.Index(), s.Bytes()); err != nil {
			return err
		}
	}
	for _, t := range f.Threshold {
		cs, err := t.Complain(transcript())
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := f.PostTrustee(ctx, t.Index(), c.Bytes()); err != nil {
				return err
			}
		}
	}
	for _, t := range f.Threshold {
		for _, a := range t.Answer(transcript()) {
			if err := f.PostTrustee(ctx, t.Index(), a.Bytes()); err != nil {
				return err
			}
		}
	}
	if _, err := f.Box.Act(ctx, ballotbox.ActionQualified, "official-1"); err != nil {
		return err
	}
	for _, t := range f.Threshold {
		x, err := t.Extract(transcript())
		if err != nil {
			return err
		}
		if err := f.PostTrustee(ctx, t.Index(), x.Bytes()); err != nil {
			return err
		}
	}
	if _, err := f.Box.Act(ctx, ballotbox.ActionCloseExtraction, "official-1"); err != nil {
		return err
	}
	_, err := f.Box.Act(ctx, ballotbox.ActionContext, "official-1")
	return err
}

// PostIdentity signs payload with the identity service's board key and
// posts it.
func (f *Fixture) PostIdentity(ctx context.Context, t bulletin.Type, payload []byte) (*ballotbox.Posted, error) {
	e, err := bulletin.NewEntry(f.Box.Log().ID(), t, pub(f.Identity), bulletin.NewEd25519Signer(f.Identity), payload)
	if err != nil {
		return nil, err
	}
	return f.Box.PostIdentity(ctx, e.Encode())
}

// Setup runs key generation, posts the identity key set, the voter list
// (Options.Listed voters per ballot style) and the registration of the
// polling station and official, and opens voting.
func (f *Fixture) Setup(ctx context.Context) error {
	if err := f.Keygen(ctx); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := f.SetupIdentity(ctx); err != nil {
		return err
	}
	if err := f.PostTagKeys(ctx); err != nil {
		return err
	}
	if _, err := f.Box.Act(ctx, ballotbox.ActionOpen, "official-1"); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	return nil
}

// SetupIdentity plays the identity service once the context is on the
// board: it posts the identity key set, the voter list and the
// registration of the polling station and official, leaving the election
// ready to open. A copy of the fixture with another Box and ElectionID
// (an election whose manifest names the fixture's identity key) sets up
// that election.
func (f *Fixture) SetupIdentity(ctx context.Context) error {
	v := f.Box.View()
	iss, err := token.NewIssuer(token.IssuerConfig{Issuer: IssuerID, Audience: Audience, TTL: 15 * time.Minute, Now: f.Now}, f.TokenKey)
	if err != nil {
		return err
	}
	f.Issuer = iss
	ks := &record.IdentityKeySet{ElectionID: f.ElectionID, ContextHash: v.Context.ExtendedHash, Issuer: IssuerID, Audience: Audience,
		Keys: []record.IdentityKey{{KeyID: token.KeyID(f.TokenKey.Public().(ed25519.PublicKey)), PublicKey: pub(f.TokenKey), ValidFrom: uint64(f.Now().Unix())}}}
	if _, err := f.PostIdentity(ctx, bulletin.TypeIdentityKeySet, ks.Encode()); err != nil {
		return fmt.Errorf("identity key set: %w", err)
	}
	list := &record.VoterListChange{ElectionID: f.ElectionID, ContextHash: v.Context.ExtendedHash, Sequence: 1, Kind: record.ListBuilt,
		OfficialID: "list-official-1", OfficialKey: pub(f.List), DetailsDigest: sha256.Sum256([]byte("boxtest/voter-list")), ChangedAt: uint64(f.Now().Unix())}
	list.Sign(f.List)
	f.Box.WithState(func(s *election.State) {
		for _, st := range s.Manifest.BallotStyles {
			list.Counts = append(list.Counts, record.StyleCount{BallotStyle: st.ID, Voters: f.listed})
			list.Added += f.listed
		}
	})
	slices.SortFunc(list.Counts, func(a, b record.StyleCount) int { return strings.Compare(a.BallotStyle, b.BallotStyle) })
	if _, err := f.PostIdentity(ctx, bulletin.TypeVoterListChange, list.Encode()); err != nil {
		return fmt.Errorf("voter list: %w", err)
	}
	r := &record.PollingRegistration{ElectionID: f.ElectionID, ContextHash: v.Context.ExtendedHash, OfficialID: "list-official-1",
		OfficialKey: pub(f.List), RegisteredAt: uint64(f.Now().Unix()),
		Stations: []record.PollingKey{{ID: "station-1", Key: pub(f.Station)}}, Officials: []record.PollingKey{{ID: "official-7", Key: pub(f.Official)}}}
	r.Sign(f.List)
	if _, err := f.PostIdentity(ctx, bulletin.TypePollingRegistration, r.Encode()); err != nil {
		return fmt.Errorf("polling registration: %w", err)
	}
	return nil
}

// Voter is a voter with one device key and its token.
type Voter struct {
	Pseudonym [32]byte
	Style     string
	Device    ed25519.PrivateKey
	Token     string
}

// DeviceKey returns the voter's device public key.
func (v *Voter) DeviceKey() [32]byte { return pub(v.Device) }

// NewVoter issues a credential (posted to the board) and a token for a new
// device of the voter with that pseudonym (random if zero).
func (f *Fixture) NewVoter(ctx context.Context, pseudonym [32]byte, style string) (*Voter, error) {
	if pseudonym == ([32]byte{}) {
		io.ReadFull(rand.Reader, pseudonym[:])
	}
	v := &Voter{Pseudonym: pseudonym, Style: style, Device: key()}
	if style == "" {
		f.Box.WithState(func(s *election.State) { v.Style = s.Manifest.BallotStyles[0].ID })
	}
	ctxHash := f.Box.View().Context.ExtendedHash
	tok, claims, err := f.Issuer.Issue(token.Grant{ElectionID: f.ElectionID, ContextHash: ctxHash, Pseudonym: pseudonym, BallotStyle: v.Style, DeviceKey: v.Device.Public().(ed25519.PublicKey)})
	if err != nil {
		return nil, err
	}
	v.Token = tok
	var tid [16]byte
	io.ReadFull(rand.Reader, tid[:])
	c := &record.CredentialIssued{ElectionID: f.ElectionID, ContextHash: ctxHash, Pseudonym: pseudonym, BallotStyle: v.Style,
		DeviceKey: pub(v.Device), TokenID: tid, KeyID: claims.KeyID,
		IssuedAt: uint64(claims.IssuedAt.Unix()), NotBefore: uint64(claims.NotBefore.Unix()), ExpiresAt: uint64(claims.ExpiresAt.Unix())}
	if _, err := f.PostIdentity(ctx, bulletin.TypeCredentialIssued, c.Encode()); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	return v, nil
}

// Prepare encrypts sel for the voter and returns the signed ballot entry
// (canonical bytes) and the prepared ballot with its opening.
func (f *Fixture) Prepare(v *Voter, sel ballot.Selection) ([]byte, *ballot.PreparedBallot, error) {
	var el *ballot.Election
	f.Box.WithState(func(s *election.State) { el = s.Election() })
	p, err := el.Encrypt(v.Style, pub(v.Device), sel, nil)
	if err != nil {
		return nil, nil, err
	}
	raw, err := f.SignBallot(v, p.Ballot.Encode())
	return raw, p, err
}

// PreparedVoter is a voter with a credential on the board and a signed
// ballot entry ready to cast (Raw, decoded as Entry).
type PreparedVoter struct {
	Voter *Voter
	Raw   []byte
	Entry *bulletin.Entry
}

// PrepareVoters makes n fresh voters, each with a credential and a ballot
// of Selection(i, style), on four goroutines (the encryption and proofs
// dominate), for load tests that cast them all afterwards.
func (f *Fixture) PrepareVoters(ctx context.Context, n int) ([]PreparedVoter, error) {
	out := make([]PreparedVoter, n)
	var mu sync.Mutex
	var first error
	var next int
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				pv, err := f.prepareVoter(ctx, i)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("boxtest: voter %d: %w", i, err)
				}
				out[i] = pv
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, first
}

func (f *Fixture) prepareVoter(ctx context.Context, i int) (PreparedVoter, error) {
	v, err := f.NewVoter(ctx, [32]byte{}, "")
	if err != nil {
		return PreparedVoter{}, err
	}
	raw, _, err := f.Prepare(v, f.Selection(i, v.Style))
	if err != nil {
		return PreparedVoter{}, err
	}
	e, err := bulletin.DecodeEntry(raw)
	if err != nil {
		return PreparedVoter{}, err
	}
	return PreparedVoter{Voter: v, Raw: raw, Entry: e}, nil
}

// Audit posts the Benaloh audit of a prepared ballot of the voter.
func (f *Fixture) Audit(ctx context.Context, v *Voter, p *ballot.PreparedBallot) (*ballotbox.AuditReceipt, error) {
	return f.Box.Audit(ctx, v.Token, p.Audit().Encode(), p.Ballot.Encode())
}

// SignBallot signs a ballot payload with the voter's device key.
func (f *Fixture) SignBallot(v *Voter, payload []byte) ([]byte, error) {
	e, err := bulletin.NewEntry(f.Box.Log().ID(), bulletin.TypeBallot, pub(v.Device), bulletin.NewEd25519Signer(v.Device), payload)
	if err != nil {
		return nil, err
	}
	return e.Encode(), nil
}

// MarkInPerson posts an in-person mark for the voter.
func (f *Fixture) MarkInPerson(ctx context.Context, v *Voter) error {
	m := &record.InPersonMark{ElectionID: f.ElectionID, ContextHash: f.Box.View().Context.ExtendedHash, Pseudonym: v.Pseudonym, BallotStyle: v.Style,
		StationID: "station-1", StationKey: pub(f.Station), OfficialID: "official-7", OfficialKey: pub(f.Official), MarkedAt: uint64(f.Now().Unix())}
	m.Sign(f.Station, f.Official)
	_, err := f.PostIdentity(ctx, bulletin.TypeInPersonMark, m.Encode())
	return err
}

// Selection returns a valid selection for the style, varied by i.
func (f *Fixture) Selection(i int, style string) ballot.Selection {
	sel := ballot.Selection{}
	f.Box.WithState(func(s *election.State) {
		st, _ := s.Manifest.Style(style)
		for ci, id := range st.Contests {
			c, _ := s.Manifest.Contest(id)
			if c.Kind == ballot.SingleChoice {
				if k := (i*7 + ci) % (len(c.Candidates) + 1); k > 0 {
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
	})
	return sel
}

// Hooks let tests make a trustee misbehave during the tally.
type Hooks struct {
	// Mix, if set, may replace trustee's mix entry before it is posted;
	// other is a second, independent mix of the same list.
	Mix func(trustee int, m, other *tally.MixEntry) *tally.MixEntry
	// Share, if set, may replace trustee's decryption entry.
	Share func(trustee int, d *tally.DecryptionEntry) *tally.DecryptionEntry
}

// TrusteePosted records the answers to the trustees' tally entries.
type TrusteePosted struct {
	Trustee int
	Type    bulletin.Type
	Posted  *ballotbox.Posted
}

func (f *Fixture) postTrusteeTyped(ctx context.Context, i int, t bulletin.Type, payload []byte) (*ballotbox.Posted, error) {
	e, err := bulletin.NewEntry(f.Box.Log().ID(), t, pub(f.Trustees[i-1]), bulletin.NewEd25519Signer(f.Trustees[i-1]), payload)
	if err != nil {
		return nil, err
	}
	return f.Box.PostTrustee(ctx, e.Encode())
}

// Tally runs the end of the election through officials' actions and
// trustees' entries: close, cleanse, start mixing, every single-choice
// contest mixed by trustees in turn (an invalid mix is posted and a later
// trustee mixes instead), start decrypting, decryption shares, result.
func (f *Fixture) Tally(ctx context.Context, h Hooks) (*tally.Result, []TrusteePosted, error) {
	var out []TrusteePosted
	for _, a := range []string{ballotbox.ActionClose, ballotbox.ActionCleanse, ballotbox.ActionStartMixing} {
		if _, err := f.Box.Act(ctx, a, "official-1"); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", a, err)
		}
	}
	mixed, err := f.MixAll(ctx, h)
	out = append(out, mixed...)
	if err != nil {
		return nil, out, err
	}
	if _, err := f.Box.Act(ctx, ballotbox.ActionStartDecrypting, "official-1"); err != nil {
		return nil, out, fmt.Errorf("start-decrypting: %w", err)
	}
	shares, err := f.DecryptAll(ctx, h)
	out = append(out, shares...)
	if err != nil {
		return nil, out, err
	}
	if _, err := f.Box.Act(ctx, ballotbox.ActionTally, "official-1"); err != nil {
		return nil, out, fmt.Errorf("tally: %w", err)
	}
	var res *tally.Result
	f.Box.WithState(func(s *election.State) { res = s.Result })
	return res, out, nil
}

// MixAll has every trustee in turn post a mix of each single-choice
// contest that still needs one (two rounds: a trustee whose mix was
// invalid mixes again), as trustees do once mixing has started.
func (f *Fixture) MixAll(ctx context.Context, h Hooks) ([]TrusteePosted, error) {
	var out []TrusteePosted
	n := len(f.Trustees)
	// Two rounds: a trustee whose mix was invalid mixes again.
	for round := 0; round < 2; round++ {
		for t := 1; t <= n; t++ {
			var entries [][]byte
			var merr error
			f.Box.WithState(func(s *election.State) {
				for _, c := range s.Tally {
					if c.Contest.Kind != ballot.SingleChoice || c.Withheld || len(c.Mixers) >= int(s.Manifest.Mixes) || slices.Contains(c.Mixers, t) {
						continue
					}
					m, _, err := tally.Mix(s.MixParams(c), uint32(t), c.CurrentRows(), nil, nil)
					if err != nil {
						merr = err
						return
					}
					if h.Mix != nil {
						other, _, err := tally.Mix(s.MixParams(c), uint32(t), c.CurrentRows(), nil, nil)
						if err != nil {
							merr = err
							return
						}
						m = h.Mix(t, m, other)
					}
					entries = append(entries, m.Encode())
				}
			})
			if merr != nil {
				return out, fmt.Errorf("trustee %d mixing: %w", t, merr)
			}
			for _, m := range entries {
				p, err := f.postTrusteeTyped(ctx, t, bulletin.TypeMixOutput, m)
				if err != nil {
					return out, fmt.Errorf("trustee %d mix: %w", t, err)
				}
				out = append(out, TrusteePosted{t, bulletin.TypeMixOutput, p})
			}
		}
	}
	return out, nil
}

// DecryptAll has the trustees post decryption shares of every contest
// that still needs them, as trustees do once decryption has started, in
// passes until one posts nothing: a multi-select contest in deniable
// re-voting mode is decrypted in two rounds (its flags, then its sums),
// and a hook's invalid share leaves a list short.
func (f *Fixture) DecryptAll(ctx context.Context, h Hooks) ([]TrusteePosted, error) {
	var out []TrusteePosted
	var tr *threshold.Transcript
	f.Box.WithState(func(s *election.State) { tr = s.Keygen() })
	for pass, posted := 0, -1; posted != len(out) && pass <= 2*len(f.Threshold); pass++ {
		posted = len(out)
		for ti, th := range f.Threshold {
			ks, _, err := th.Finish(tr)
			if err != nil {
				return out, err
			}
			var entries [][]byte
			var derr error
			f.Box.WithState(func(s *election.State) {
				for _, c := range s.Tally {
					_, done := c.Shares[ti+1]
					if c.Withheld || c.FlagsRefused() != nil || done || len(c.Shares) >= int(s.Manifest.Threshold) {
						continue
					}
					current := c.Current()
					share, err := ks.DecryptShares(s.Context.ExtendedHash, current, nil)
					if err != nil {
						derr = err
						return
					}
					d := &tally.DecryptionEntry{ElectionID: s.Manifest.ElectionID, ContestID: c.Contest.ID, Kind: c.TargetKind(), Target: tally.TargetDigest(current), Share: share}
					if h.Share != nil {
						d = h.Share(ti+1, d)
					}
					entries = append(entries, d.Encode())
				}
			})
			if derr != nil {
				return out, derr
			}
			for _, d := range entries {
				p, err := f.postTrusteeTyped(ctx, ti+1, bulletin.TypeDecryptionShare, d)
				if err != nil {
					return out, fmt.Errorf("trustee %d share: %w", ti+1, err)
				}
				out = append(out, TrusteePosted{ti + 1, bulletin.TypeDecryptionShare, p})
			}
		}
	}
	return out, nil
}
