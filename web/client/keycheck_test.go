package webclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/crypto/group"
	"evote/crypto/threshold"
	"evote/crypto/threshold/contexthash"
	"evote/crypto/zkp"
	"evote/election"
	"evote/internal/wire"
	"evote/store/sqlite"
)

// keygenRun is a key generation run step by step through the box's
// fixture, with the trustees' protocol objects at hand.
type keygenRun struct {
	f    *boxtest.Fixture
	base [32]byte
	ts   []*threshold.Trustee
	// shares[dealer][revealer] are the shares revealed in public.
	shares map[int]map[int]*group.Scalar
}

// runKeygen runs key generation with n trustees and threshold t.
// extract(i, e) may change dealer i's extraction commitments and says
// whether the box puts them on the board (false: it takes the POST and
// drops it). The trustees whose own commitments are on the board reveal
// what the protocol asks; the box then posts the context.
func runKeygen(t *testing.T, n, th int, extract func(i int, e *threshold.ExtractionCommitments) bool) *keygenRun {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st, Witnesses: 1, Trustees: n, Threshold: th})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Registry.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	k := &keygenRun{f: f, shares: map[int]map[int]*group.Scalar{}}
	f.Box.WithState(func(s *election.State) { k.base, _ = s.Manifest.BaseHash() })
	tr := func() (out *threshold.Transcript) {
		f.Box.WithState(func(s *election.State) { out = s.Keygen() })
		return
	}
	peers := make([]threshold.HPKEPublicKey, n)
	for i, h := range f.HPKE {
		peers[i] = h.Public()
	}
	for i := range n {
		x, err := threshold.NewTrustee(threshold.Params{N: n, T: th}, k.base, i+1, f.HPKE[i], peers, nil)
		must(err)
		k.ts = append(k.ts, x)
	}
	for _, x := range k.ts {
		c, s, err := x.Deal()
		must(err)
		must(f.PostTrustee(ctx, x.Index(), c.Bytes()))
		must(f.PostTrustee(ctx, x.Index(), s.Bytes()))
	}
	for _, x := range k.ts { // each checks the shares dealt to it: no complaint
		cs, err := x.Complain(tr())
		must(err)
		if len(cs) != 0 {
			t.Fatalf("trustee %d complains", x.Index())
		}
	}
	_, err = f.Box.Act(ctx, ballotbox.ActionQualified, "official-1")
	must(err)
	posted := map[int]bool{}
	for _, x := range k.ts {
		e, err := x.Extract(tr())
		must(err)
		if posted[x.Index()] = extract(x.Index(), e); posted[x.Index()] {
			must(f.PostTrustee(ctx, x.Index(), e.Bytes()))
		}
	}
	_, err = f.Box.Act(ctx, ballotbox.ActionCloseExtraction, "official-1")
	must(err)
	for _, x := range k.ts {
		if !posted[x.Index()] {
			continue // its tool sees itself excluded and stops
		}
		rs, err := x.Reveal(tr())
		must(err)
		for _, r := range rs {
			must(f.PostTrustee(ctx, x.Index(), r.Bytes()))
			if k.shares[r.Dealer] == nil {
				k.shares[r.Dealer] = map[int]*group.Scalar{}
			}
			k.shares[r.Dealer][r.Revealer] = r.S
		}
	}
	_, err = f.Box.Act(ctx, ballotbox.ActionContext, "official-1")
	must(err)
	return k
}

// entries are the board's entries, canonical.
func (k *keygenRun) entries(t *testing.T) [][]byte {
	l := k.f.Box.Log()
	recs, err := l.Entries(context.Background(), 0, l.Size())
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, r := range recs {
		out = append(out, r.Data)
	}
	return out
}

// TestLoadElectionRefusesCensoredDealers (from a review that attacked the
// key check): the box, alone, withholds dealers 1 and 2's extraction
// commitments and closes the round; trustees 3 and 4 reveal those
// dealers' shares, as the protocol asks, so a_10 and a_20 become public.
// The real key stays secret, but the box showed the page a qualified set
// {1, 2} it signed, the withheld entries (trustee-signed, valid proofs)
// and a context with h' = A_10·A_20, whose secret it knows, and the page
// accepted it. The page now requires every trustee in the qualified set.
func TestLoadElectionRefusesCensoredDealers(t *testing.T) {
	withheld := map[int]*threshold.ExtractionCommitments{}
	k := runKeygen(t, 4, 2, func(i int, e *threshold.ExtractionCommitments) bool {
		if i <= 2 {
			withheld[i] = e
			return false
		}
		return true
	})
	es := k.entries(t)
	l := k.f.Box.Log()
	var real *election.Context
	for _, raw := range es {
		if e, _ := bulletin.DecodeEntry(raw); e.Type == bulletin.TypeElectionContext {
			real, _ = election.DecodeContext(e.Payload)
		}
	}
	if real == nil || k.shares[1][3] == nil || k.shares[2][4] == nil {
		t.Fatal("setup: no context, or dealers 1 and 2 not revealed")
	}
	auth := k.f.Server.Authority
	signed := func(ty bulletin.Type, payload []byte) []byte {
		e, _ := bulletin.NewEntry(l.ID(), ty, [32]byte(auth.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(auth), payload)
		return e.Encode()
	}
	byTrustee := func(i int, payload []byte) []byte {
		e, _ := bulletin.NewEntry(l.ID(), bulletin.TypeKeygenExtraction, [32]byte(k.f.Trustees[i-1].Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k.f.Trustees[i-1]), payload)
		return e.Encode()
	}
	h := new(group.Element).Add(withheld[1].A[0], withheld[2].A[0])
	c := *real
	c.JointKey = h
	c.ExtendedHash = contexthash.Extended(k.base, h, c.VerificationKeys, c.VoterListCommitment)
	view := [][]byte{es[0], signed(bulletin.TypeKeygenQualified, (&threshold.Qualified{BaseHash: k.base, Dealers: []int{1, 2}}).Bytes()),
		byTrustee(1, withheld[1].Bytes()), byTrustee(2, withheld[2].Bytes()), signed(bulletin.TypeElectionContext, c.Encode())}
	if _, err := LoadElection(l.Origin(), view); !errors.Is(err, ErrUncheckedKey) {
		t.Errorf("a qualified set of the censored dealers: %v", err)
	}
}

// TestLoadElectionReconstructedDealer (from the same review): one trustee
// posts an A_10 of its own with a valid proof of knowledge and a consistency
// proof that fails; the protocol reconstructs dealer 1 in public and the
// election is sound, but the posted A_10 is not in the key. The page cannot
// tell this from a key the box chose: it refuses with ErrUncheckedKey too,
// which sends the voter to evote vote, not with "a bad election" alone.
func TestLoadElectionReconstructedDealer(t *testing.T) {
	k := runKeygen(t, 3, 2, func(i int, e *threshold.ExtractionCommitments) bool {
		if i == 1 {
			r := new(group.Scalar).SetUint64(777)
			e.A[0] = new(group.Element).ScalarBaseMult(r)
			w := wire.NewWriter(64)
			w.Fixed(e.BaseHash[:])
			w.String(extractionProofTag)
			w.U16(1)
			var err error
			if e.Proof, err = zkp.ProveSchnorr(w.Bytes(), group.NewGeneratorElement(), e.A[0], r, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		return true
	})
	if _, err := LoadElection(k.f.Box.Log().Origin(), k.entries(t)); !errors.Is(err, ErrUncheckedKey) {
		t.Errorf("an election with a dealer reconstructed in public: %v", err)
	}
}
