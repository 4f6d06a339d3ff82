package trustee

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/witness"
	"evote/crypto/threshold"
	"evote/election"
	"evote/internal/testrand"
	"evote/record"
	"evote/tally"
)

// memBoard is an in-memory ballot box: it applies every posted entry to
// its own election.State (refusing what the rules refuse, as the server
// does) and answers "posted but invalid" for a mix or share that names a
// culprit.
type memBoard struct {
	mu      sync.Mutex
	cond    *sync.Cond
	log     bulletin.LogID
	entries []*bulletin.Entry
	state   *election.State
	key     *bulletin.LogKey
	// witnesses are honest: each cosigns only checkpoints consistent with
	// what it cosigned before.
	witnesses []*witness.Witness
	// hide makes Entries serve all but the last hide entries, while the
	// checkpoint covers them all: a split view.
	hide int
	// stale, if set, is the checkpoint note served instead of a fresh one.
	stale []byte
	// swallow, if set, makes Post acknowledge an entry at the next
	// position without appending it.
	swallow func(*bulletin.Entry) bool
}

func newMemBoard(t testing.TB, origin string) *memBoard {
	_, k, _ := ed25519.GenerateKey(nil)
	s := bulletin.NewEd25519Signer(k)
	b := &memBoard{log: bulletin.LogIDFor(origin), state: election.NewState(), key: &bulletin.LogKey{Origin: origin, Ed25519: s, Ed25519Public: s.Public()}}
	b.cond = sync.NewCond(&b.mu)
	dir := t.TempDir()
	for i := range 2 {
		_, wk, _ := ed25519.GenerateKey(nil)
		ws := bulletin.NewEd25519Signer(wk)
		w, err := witness.New(witness.Config{Name: fmt.Sprintf("w%d.witness.test", i+1), Key: ws, Public: ws.Public(), Logs: []bulletin.LogVerifier{b.key.Verifier()},
			StatePath: filepath.Join(dir, fmt.Sprintf("w%d.json", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		b.witnesses = append(b.witnesses, w)
	}
	return b
}

// anchors returns what the manifest pins: the log key and both witnesses,
// both required.
func (b *memBoard) anchors() ballot.BoardAnchors {
	a := ballot.BoardAnchors{Origin: b.key.Origin, LogKey: b.key.Ed25519Public, Quorum: uint32(len(b.witnesses))}
	for _, w := range b.witnesses {
		k := w.Key()
		a.Witnesses = append(a.Witnesses, ballot.Witness{Name: k.Name, Key: k.Public})
	}
	return a
}

// Checkpoint signs the tree of every entry on the board and has the
// witnesses cosign it.
func (b *memBoard) Checkpoint(_ context.Context) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stale != nil {
		return b.stale, nil
	}
	return b.cosigned(b.entries)
}

// cosignedNote returns a cosigned checkpoint of the whole board (b.mu
// held).
func (b *memBoard) cosignedNote(t testing.TB) []byte {
	n, err := b.cosigned(b.entries)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cosigned signs the tree of entries with the log key and asks every
// witness to cosign it; a witness that refuses is left out.
func (b *memBoard) cosigned(entries []*bulletin.Entry) ([]byte, error) {
	return cosignEntries(b.key, b.witnesses, entries)
}

// cosignEntries signs the tree of entries with the log key k and asks each
// witness to cosign it, proving consistency from what it cosigned before;
// a witness that refuses (an inconsistent history) is left out, as an
// honest witness's refusal would leave a lying server.
func cosignEntries(k *bulletin.LogKey, witnesses []*witness.Witness, entries []*bulletin.Entry) ([]byte, error) {
	t := bulletin.NewTree()
	for _, e := range entries {
		t.AppendLeaves(bulletin.LeafHash(e.Encode()))
	}
	root, err := t.RootAt(t.Size())
	if err != nil {
		return nil, err
	}
	note, err := bulletin.SignCheckpoint(bulletin.Checkpoint{Origin: k.Origin, Size: t.Size(), Root: root, Time: time.Unix(1, 0).UTC()}, k)
	if err != nil {
		return nil, err
	}
	var sigs []bulletin.NoteSignature
	for _, w := range witnesses {
		old, _, _ := w.Latest(k.Origin)
		if old > t.Size() {
			continue
		}
		var proof [][32]byte
		if old > 0 && old < t.Size() {
			if proof, err = t.ConsistencyProof(old, t.Size()); err != nil {
				return nil, err
			}
		}
		if s, err := w.AddCheckpoint(old, proof, note); err == nil {
			sigs = append(sigs, s...)
		}
	}
	return bulletin.AddSignatures(note, sigs...)
}

func (b *memBoard) Entries(_ context.Context, start uint64) ([]*bulletin.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	end := len(b.entries) - b.hide
	if start > uint64(end) {
		return nil, fmt.Errorf("start %d beyond %d", start, end)
	}
	return append([]*bulletin.Entry(nil), b.entries[start:end]...), nil
}

func (b *memBoard) Post(_ context.Context, e *bulletin.Entry) (*Posted, error) {
	if err := e.Verify(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.swallow != nil && b.swallow(e) {
		return &Posted{Index: uint64(len(b.entries)), Valid: true}, nil
	}
	culprits := len(b.state.Culprits)
	if err := b.state.Apply(e); err != nil {
		return nil, err
	}
	b.entries = append(b.entries, e)
	b.cond.Broadcast()
	p := &Posted{Index: uint64(len(b.entries) - 1), Valid: true}
	if len(b.state.Culprits) > culprits {
		p.Valid, p.Reason = false, b.state.Culprits[culprits].Reason
	}
	return p, nil
}

func (b *memBoard) Wait(ctx context.Context, size uint64) error {
	done := make(chan struct{})
	go func() {
		b.mu.Lock()
		for uint64(len(b.entries)) <= size && ctx.Err() == nil {
			b.cond.Wait()
		}
		b.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

func (b *memBoard) postAs(t *testing.T, k ed25519.PrivateKey, typ bulletin.Type, payload []byte) {
	t.Helper()
	e, err := bulletin.NewEntry(b.log, typ, [32]byte(k.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k), payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Post(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

func (b *memBoard) withState(f func(*election.State)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b.state)
}

// testElection is an election run by the test as authority and identity
// service, with real trustees talking to the board only through Board.
type testElection struct {
	t         *testing.T
	board     *memBoard
	authority ed25519.PrivateKey
	identity  ed25519.PrivateKey
	keys      []*Keys
	rand      io.Reader
	// intended[pseudonym] is what each counted voter meant.
	intended map[[32]byte]ballot.Selection
	styleOf  map[[32]byte]string
	devices  map[[32]byte]ed25519.PrivateKey // by public key
	id       string
	fp       ballot.ExpectedFingerprint // the election's fingerprint, as the trustees are given it
}

// opts returns o with the election's fingerprint, as every trustee's tool
// is run.
func (te *testElection) opts(o Options) Options {
	o.Fingerprint = te.fp
	return o
}

// follower returns a follower of the board that knows the fingerprint.
func (te *testElection) follower() *Follower {
	f := NewFollower(te.board)
	f.Fingerprint = te.fp
	return f
}

func edKey(r io.Reader) ed25519.PrivateKey {
	seed := make([]byte, 32)
	io.ReadFull(r, seed)
	return ed25519.NewKeyFromSeed(seed)
}

// newTestElection posts a sample manifest for n trustees with threshold t
// and mixes mixes.
func newTestElection(t *testing.T, n, th, mixes int) *testElection {
	r := testrand.New(t.Name())
	te := &testElection{t: t, board: newMemBoard(t, "evote.example/"+t.Name()), authority: edKey(r), identity: edKey(r), rand: r,
		intended: map[[32]byte]ballot.Selection{}, styleOf: map[[32]byte]string{}, devices: map[[32]byte]ed25519.PrivateKey{}, id: "test-election"}
	var ts []ballot.Trustee
	for i := range n {
		k, err := GenerateKeys(r)
		if err != nil {
			t.Fatal(err)
		}
		te.keys = append(te.keys, k)
		hp := k.HPKEPublic()
		ts = append(ts, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: k.SigningPublic(), HPKEKey: hp[:]})
	}
	m := ballot.SampleManifest(te.id, ts, uint32(th), [32]byte(te.identity.Public().(ed25519.PublicKey)), te.board.anchors())
	m.Mixes = uint32(mixes)
	te.fp = ballot.ExpectFingerprint(m.Fingerprint())
	te.board.postAs(t, te.authority, bulletin.TypeManifest, m.Encode())
	return te
}

// keygen runs RunKeygen for every trustee concurrently, acting as the
// authority that posts the qualified set once every trustee has
// complained, and the context once every trustee has finished extraction.
func (te *testElection) keygen() { te.keygenWith(nil, 0, 0) }

// keygenWith runs key generation with cheat[i] making trustee i+1
// misbehave; the last absent trustees never show up, and the others wait
// roundWait for them. Afterwards te.keys holds the present trustees' keys.
func (te *testElection) keygenWith(cheat map[int]*misbehaviour, absent int, roundWait time.Duration) {
	t := te.t
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a guard against a hang, not a measure: CI machines are shared
	defer cancel()
	te.keys = te.keys[:len(te.keys)-absent]
	n := len(te.keys)
	steps := make(chan string, 8*n)
	errs := make(chan error, n)
	out := make([]*Keys, n)
	for i, k := range te.keys {
		go func() {
			var err error
			out[i], err = RunKeygen(ctx, te.board, k, cheat[i+1].options(te.opts(Options{Rand: testrand.New(fmt.Sprint(t.Name(), i)), RoundWait: roundWait, OnStep: func(s string) { steps <- s }})))
			errs <- err
		}()
	}
	count := map[string]int{}
	for count[StepExtractionComplaint] < n {
		select {
		case s := <-steps:
			count[s]++
			if s == StepComplained && count[s] == n {
				// The authority waits for the answers to every complaint.
				f := te.follower()
				if err := f.Until(ctx, ComplaintsAnswered); err != nil {
					t.Fatal(err)
				}
				var q *threshold.Qualified
				te.board.withState(func(st *election.State) {
					var err error
					if q, _, err = threshold.ComputeQualified(st.Keygen()); err != nil {
						t.Error(err)
					}
				})
				te.board.postAs(t, te.authority, bulletin.TypeKeygenQualified, q.Bytes())
			}
			if s == StepExtracted && count[s] == n {
				// The authority closes the extraction round.
				te.closeExtraction()
			}
		case err := <-errs:
			t.Fatalf("trustee stopped early: %v", err)
		case <-ctx.Done():
			t.Fatal("key generation timed out")
		}
	}
	var ctxEntry []byte
	te.board.withState(func(st *election.State) {
		res, err := threshold.VerifyTranscript(st.Keygen())
		if err != nil {
			t.Fatal(err)
		}
		base, _ := st.Manifest.BaseHash()
		c := &election.Context{ElectionID: te.id, JointKey: res.JointKey, VerificationKeys: res.VerificationKeys, VoterListCommitment: st.VoterListCommitment()}
		c.ExtendedHash = threshold.ExtendedHash(base, c.JointKey, c.VerificationKeys, c.VoterListCommitment)
		ctxEntry = c.Encode()
	})
	te.board.postAs(t, te.authority, bulletin.TypeElectionContext, ctxEntry)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range out {
		if k.Share == nil || k.Index != i+1 || k.ElectionID != te.id {
			t.Fatalf("trustee %d: keys %+v", i+1, k)
		}
	}
	te.keys = out
}

// closeExtraction posts the authority's closing of the extraction round.
func (te *testElection) closeExtraction() {
	var base [32]byte
	te.board.withState(func(st *election.State) { base, _ = st.Manifest.BaseHash() })
	te.board.postAs(te.t, te.authority, bulletin.TypeKeygenQualified, election.ExtractionClosed(base))
}

func (te *testElection) transition(to election.Phase) {
	typ := map[election.Phase]bulletin.Type{election.PhaseOpen: bulletin.TypeOpen, election.PhaseClosed: bulletin.TypeClose}[to]
	if typ == 0 {
		typ = bulletin.TypeTransition
	}
	te.board.postAs(te.t, te.authority, typ, (&election.Transition{ElectionID: te.id, To: to, Official: "official-1", At: 1}).Encode())
}

// vote opens the election, casts voters ballots (every 4th voter re-votes,
// every 5th audits first, every 7th also votes in person), closes and
// posts the cleansing.
func (te *testElection) vote(voters int) {
	t := te.t
	var el *ballot.Election
	var ks *record.IdentityKeySet
	te.board.withState(func(st *election.State) {
		ks = &record.IdentityKeySet{ElectionID: te.id, ContextHash: st.Context.ExtendedHash, Issuer: "https://idp.evote.example", Audience: "evote-ballot-box",
			Keys: []record.IdentityKey{{KeyID: record.IdentityKeyID(te.identity.Public().(ed25519.PublicKey)), PublicKey: [32]byte(te.identity.Public().(ed25519.PublicKey)), ValidFrom: 1}}}
	})
	te.board.postAs(t, te.identity, bulletin.TypeIdentityKeySet, ks.Encode())
	// The voter list: every voter below is on it.
	list := &record.VoterListChange{ElectionID: te.id, ContextHash: ks.ContextHash, Sequence: 1, Kind: record.ListBuilt, OfficialID: "list-official-1",
		OfficialKey: [32]byte(te.identity.Public().(ed25519.PublicKey)), ChangedAt: 1}
	list.Sign(te.identity)
	te.board.withState(func(st *election.State) {
		for _, s := range st.Manifest.BallotStyles { // sorted by id in the sample manifest
			list.Counts = append(list.Counts, record.StyleCount{BallotStyle: s.ID, Voters: uint32(voters)})
			list.Added += uint32(voters)
		}
	})
	te.board.postAs(t, te.identity, bulletin.TypeVoterListChange, list.Encode())
	// The polling station and official of the marks below, registered
	// before opening (with the authority's and identity service's keys).
	reg := &record.PollingRegistration{ElectionID: te.id, ContextHash: ks.ContextHash, OfficialID: "list-official-1", OfficialKey: [32]byte(te.identity.Public().(ed25519.PublicKey)), RegisteredAt: 1,
		Stations:  []record.PollingKey{{ID: "station-1", Key: [32]byte(te.authority.Public().(ed25519.PublicKey))}},
		Officials: []record.PollingKey{{ID: "official-7", Key: [32]byte(te.identity.Public().(ed25519.PublicKey))}}}
	reg.Sign(te.identity)
	te.board.postAs(t, te.identity, bulletin.TypePollingRegistration, reg.Encode())
	te.transition(election.PhaseOpen)
	te.board.withState(func(st *election.State) { el = st.Election() })
	m := el.Manifest
	credential := func(pseudo [32]byte, style string) ed25519.PrivateKey {
		dev := edKey(te.rand)
		te.devices[[32]byte(dev.Public().(ed25519.PublicKey))] = dev
		var tid [16]byte
		io.ReadFull(te.rand, tid[:])
		c := &record.CredentialIssued{ElectionID: te.id, ContextHash: el.ExtendedHash, Pseudonym: pseudo, BallotStyle: style,
			DeviceKey: [32]byte(dev.Public().(ed25519.PublicKey)), TokenID: tid, KeyID: ks.Keys[0].KeyID, IssuedAt: 1, NotBefore: 1, ExpiresAt: 901}
		te.board.postAs(t, te.identity, bulletin.TypeCredentialIssued, c.Encode())
		return dev
	}
	cast := func(dev ed25519.PrivateKey, style string, sel ballot.Selection) *ballot.PreparedBallot {
		p, err := el.Encrypt(style, [32]byte(dev.Public().(ed25519.PublicKey)), sel, te.rand)
		if err != nil {
			t.Fatal(err)
		}
		te.board.postAs(t, dev, bulletin.TypeBallot, p.Ballot.Encode())
		return p
	}
	for i := range voters {
		var pseudo [32]byte
		io.ReadFull(te.rand, pseudo[:])
		style := m.BallotStyles[i%len(m.BallotStyles)].ID
		te.styleOf[pseudo] = style
		dev := credential(pseudo, style)
		if i%5 == 4 {
			p, err := el.Encrypt(style, [32]byte(dev.Public().(ed25519.PublicKey)), selection(m, i+1, style), te.rand)
			if err != nil {
				t.Fatal(err)
			}
			te.board.postAs(t, te.authority, bulletin.TypeAuditedBallot, p.Audit().Encode())
		}
		sel := selection(m, i, style)
		cast(dev, style, sel)
		if i%4 == 3 {
			sel = selection(m, i+3, style)
			cast(credential(pseudo, style), style, sel)
		}
		te.intended[pseudo] = sel
		if i%7 == 6 {
			mark := &record.InPersonMark{ElectionID: te.id, ContextHash: el.ExtendedHash, Pseudonym: pseudo, BallotStyle: style,
				StationID: "station-1", StationKey: [32]byte(te.authority.Public().(ed25519.PublicKey)), OfficialID: "official-7", OfficialKey: [32]byte(te.identity.Public().(ed25519.PublicKey)), MarkedAt: 1}
			mark.Sign(te.authority, te.identity)
			te.board.postAs(t, te.identity, bulletin.TypeInPersonMark, mark.Encode())
			delete(te.intended, pseudo)
		}
	}
	te.transition(election.PhaseClosed)
	var c *tally.Cleansing
	te.board.withState(func(st *election.State) {
		var err error
		if c, err = st.ComputeCleansing(); err != nil {
			t.Fatal(err)
		}
	})
	te.board.postAs(t, te.authority, bulletin.TypeCleansingResult, c.Encode())
}

// selection is voter i's choice: a candidate or blank in single-choice
// contests, up to the maximum in multi-select ones.
func selection(m *ballot.Manifest, i int, style string) ballot.Selection {
	st, _ := m.Style(style)
	sel := ballot.Selection{}
	for ci, id := range st.Contests {
		c, _ := m.Contest(id)
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
	return sel
}

// expected counts what the voters meant, per contest.
func (te *testElection) expected(m *ballot.Manifest) map[string][]uint64 {
	out := map[string][]uint64{}
	for i := range m.Contests {
		c := &m.Contests[i]
		n := len(c.Candidates)
		if c.Kind == ballot.SingleChoice {
			n++
		}
		counts := make([]uint64, n)
		for p, sel := range te.intended {
			st, _ := m.Style(te.styleOf[p])
			on := false
			for _, id := range st.Contests {
				on = on || id == c.ID
			}
			if !on {
				continue
			}
			chosen := sel[c.ID]
			if c.Kind == ballot.SingleChoice {
				if len(chosen) == 0 {
					counts[0]++
				} else {
					counts[chosen[0]+1]++
				}
				continue
			}
			for _, j := range chosen {
				counts[j]++
			}
		}
		out[c.ID] = counts
	}
	return out
}
