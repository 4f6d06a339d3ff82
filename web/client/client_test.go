package webclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"evote/crypto/group"
	"evote/crypto/threshold/contexthash"
	"path/filepath"
	"slices"
	"testing"

	"evote/ballot"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/election"
	"evote/idp/token"
	"evote/internal/testrand"
	"evote/record"
	"evote/store/sqlite"
)

// fixture is an open election in an in-process ballot box with one
// witness, and the board's first entries up to its context.
type fixture struct {
	f       *boxtest.Fixture
	entries [][]byte
	trust   Trust
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st, Witnesses: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Registry.Close() })
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	l := f.Box.Log()
	recs, err := l.Entries(ctx, 0, l.Size())
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{f: f, trust: Trust{Log: l.Verifier(), Witnesses: f.Box.Witnesses(), Quorum: len(f.Box.Witnesses())}}
	for _, r := range recs {
		fx.entries = append(fx.entries, r.Data)
	}
	return fx
}

func TestLoadElectionMatchesReplay(t *testing.T) {
	fx := newFixture(t)
	el, err := LoadElection(fx.f.Box.Log().Origin(), fx.entries)
	if err != nil {
		t.Fatal(err)
	}
	v := fx.f.Box.View()
	if el.Ballot.ExtendedHash != v.Context.ExtendedHash || el.Ballot.PublicKey.Element().Equal(v.Context.JointKey) != 1 {
		t.Fatal("loaded context differs from the ballot box's replay")
	}
	// The page's own context decoder agrees with package election's.
	ce, _ := bulletin.DecodeEntry(fx.entries[el.ContextIndex])
	want, err := election.DecodeContext(ce.Payload)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeContext(ce.Payload)
	if err != nil || got.extendedHash != want.ExtendedHash || got.voterListCommitment != want.VoterListCommitment {
		t.Fatal("decodeContext disagrees with election.DecodeContext")
	}
	if _, err := decodeContext(append(bytes.Clone(ce.Payload), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	cs, err := el.Contests(el.Manifest.BallotStyles[0].ID, "ru")
	if err != nil || len(cs) == 0 || cs[0].Title == "" {
		t.Fatalf("contests: %v %v", cs, err)
	}
}

func TestLoadElectionRejects(t *testing.T) {
	fx := newFixture(t)
	origin := fx.f.Box.Log().Origin()
	el, _ := LoadElection(origin, fx.entries)
	ci := el.ContextIndex
	cases := map[string]func() (string, [][]byte){
		"other origin": func() (string, [][]byte) { return origin + "x", fx.entries },
		"no context":   func() (string, [][]byte) { return origin, fx.entries[:ci] },
		"empty":        func() (string, [][]byte) { return origin, nil },
		"flipped signature": func() (string, [][]byte) {
			es := append([][]byte{}, fx.entries...)
			es[ci] = bytes.Clone(es[ci])
			es[ci][len(es[ci])-1] ^= 1
			return origin, es
		},
		"context by another author": func() (string, [][]byte) {
			es := append([][]byte{}, fx.entries...)
			ce, _ := bulletin.DecodeEntry(es[ci])
			payload := bytes.Clone(ce.Payload)
			e, err := bulletin.NewEntry(ce.Log, ce.Type, [32]byte(fx.f.Identity.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(fx.f.Identity), payload)
			if err != nil {
				t.Fatal(err)
			}
			es[ci] = e.Encode()
			return origin, es
		},
		"manifest not first": func() (string, [][]byte) { return origin, fx.entries[1:] },
	}
	for name, c := range cases {
		o, es := c()
		if _, err := LoadElection(o, es); !errors.Is(err, ErrBadElection) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestVoteAuditCastReceipt(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	el, err := LoadElection(fx.f.Box.Log().Origin(), fx.entries)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDevice(el, testrand.New(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	style := el.Manifest.BallotStyles[0].ID
	if _, err := d.Prepare(nil, nil); err == nil {
		t.Fatal("prepare without a style")
	}
	if err := d.SetStyle("nope"); err == nil {
		t.Fatal("unknown style accepted")
	}
	if err := d.SetStyle(style); err != nil {
		t.Fatal(err)
	}
	// A token for this device, issued the way the identity service does.
	pseudonym := [32]byte{7}
	tok, err := issue(ctx, fx.f, pseudonym, style, d.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	sel := fx.f.Selection(1, style)
	// Audit: the opening verifies and describes the selection; the ballot
	// box accepts it; the prepared ballot is gone.
	if _, err := d.Prepare(sel, nil); err != nil {
		t.Fatal(err)
	}
	audited, shown, desc, err := d.Audit("en")
	if err != nil || len(desc) == 0 {
		t.Fatal(err)
	}
	if _, err := ballot.DecodeBallot(shown); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.f.Box.Audit(ctx, tok, audited, shown); err != nil {
		t.Fatalf("box refused the audit: %v", err)
	}
	if _, err := d.Cast(); !errors.Is(err, ErrNoBallot) {
		t.Fatal("an audited ballot could be cast")
	}
	// Cast a fresh one and check the receipt.
	code, err := d.Prepare(sel, nil)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := d.Cast()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := d.Cast()
	if !bytes.Equal(entry, again) {
		t.Fatal("a retry of Cast signed another entry")
	}
	rc, err := fx.f.Box.Cast(ctx, tok, entry)
	if err != nil {
		t.Fatal(err)
	}
	if rc.TrackingCode != code {
		t.Fatal("tracking code differs")
	}
	r := Receipt{TrackingCode: rc.TrackingCode[:], Index: rc.Index, Checkpoint: string(rc.Checkpoint), InclusionProof: rc.InclusionProof}
	if _, err := d.CheckReceipt(r, fx.trust); err != nil {
		t.Fatal(err)
	}
	// The page's anchors are the manifest's, and they are the box's.
	if tr := el.Trust(); tr.Quorum != 1 || len(tr.Witnesses) != 1 || tr.Witnesses[0] != fx.trust.Witnesses[0] || tr.Log.Ed25519 != fx.trust.Log.Ed25519 {
		t.Fatalf("manifest's trust %+v, the box's %+v", tr, fx.trust)
	}
	if _, err := d.CheckReceipt(r, el.Trust()); err != nil {
		t.Fatal(err)
	}
	bad := r
	bad.Index++
	if _, err := d.CheckReceipt(bad, fx.trust); !errors.Is(err, ErrBadReceipt) {
		t.Fatal("wrong index accepted")
	}
	bad = r
	bad.TrackingCode = make([]byte, 32)
	if _, err := d.CheckReceipt(bad, fx.trust); !errors.Is(err, ErrBadReceipt) {
		t.Fatal("wrong tracking code accepted")
	}
	noWitness := fx.trust
	noWitness.Witnesses = append(noWitness.Witnesses, bulletin.CosignerKey{Name: "absent", Public: [32]byte{1}})
	noWitness.Quorum++
	if _, err := d.CheckReceipt(r, noWitness); !errors.Is(err, ErrBadReceipt) {
		t.Fatal("missing cosignature accepted")
	}
	// The board's entry under the pseudonym checks, and is this device's.
	it, err := el.CheckPseudonymEntry(entry, pseudonym, r, fx.trust, d.Public())
	if err != nil || it.Kind != "ballot" || !it.Mine || it.Code != code {
		t.Fatalf("pseudonym entry: %+v %v", it, err)
	}
	// The credential entries of the pseudonym check too.
	l := fx.f.Box.Log()
	recs, _ := l.Entries(ctx, 0, l.Size())
	cp, _ := l.Checkpoint(ctx)
	n := 0
	for _, rec := range recs {
		if rec.Type != uint16(bulletin.TypeCredentialIssued) {
			continue
		}
		p, err := l.InclusionProof(rec.Index, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		note := string(rc.Checkpoint)
		if cp.Size != rc.CheckpointSize {
			t.Skip("checkpoint moved")
		}
		it, err := el.CheckPseudonymEntry(rec.Data, pseudonym, Receipt{Index: rec.Index, Checkpoint: note, InclusionProof: p}, fx.trust, d.Public())
		if err != nil || it.Kind != "credential" {
			t.Fatalf("credential %d: %v", rec.Index, err)
		}
		n++
		if _, err := el.CheckPseudonymEntry(rec.Data, [32]byte{8}, Receipt{Index: rec.Index, Checkpoint: note, InclusionProof: p}, fx.trust, d.Public()); !errors.Is(err, ErrBadReceipt) {
			t.Fatal("credential accepted under another pseudonym")
		}
	}
	if n == 0 {
		t.Fatal("no credential checked")
	}
}

// TestCheckAudit: the second device checks an audit from the tracking
// code alone, while it is pending (from the ballot box's pool) and once
// published (with its inclusion proof), and refuses what does not match.
func TestCheckAudit(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	el, err := LoadElection(fx.f.Box.Log().Origin(), fx.entries)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDevice(el, nil)
	if err != nil {
		t.Fatal(err)
	}
	style := el.Manifest.BallotStyles[0].ID
	if err := d.SetStyle(style); err != nil {
		t.Fatal(err)
	}
	tok, err := issue(ctx, fx.f, [32]byte{9}, style, d.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	code, err := d.Prepare(fx.f.Selection(2, style), nil)
	if err != nil {
		t.Fatal(err)
	}
	audited, shown, desc, err := d.Audit("ru")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.f.Box.Audit(ctx, tok, audited, shown); err != nil {
		t.Fatal(err)
	}
	av, err := fx.f.Box.AuditByCode(ctx, code.Shown())
	if err != nil || av.Published {
		t.Fatalf("pending audit: %+v %v", av, err)
	}
	ac, err := el.CheckAudit(code.String(), av.Ballot, av.Entry, nil, fx.trust, "ru")
	if err != nil || ac.Published || ac.Code != code || !slices.Equal(ac.Opened, desc) {
		t.Fatalf("pending check: %+v %v, want %v", ac, err, desc)
	}
	// Another code, another ballot, a tampered or foreign entry: refused.
	_, other, _ := fx.f.Prepare(&boxtest.Voter{Style: style, Device: d.key}, fx.f.Selection(3, style))
	otherCode := other.Ballot.TrackingCode()
	tampered := bytes.Clone(av.Entry)
	tampered[len(tampered)-1] ^= 1
	forged, _ := bulletin.NewEntry(el.Log, bulletin.TypeAuditedBallot, [32]byte(fx.f.Identity.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(fx.f.Identity), other.Audit().Encode())
	for name, c := range map[string]struct {
		code          string
		ballot, entry []byte
	}{
		"other code":         {otherCode.String(), av.Ballot, av.Entry},
		"other ballot":       {otherCode.String(), other.Ballot.Encode(), av.Entry},
		"tampered entry":     {code.String(), av.Ballot, tampered},
		"not the authority":  {otherCode.String(), other.Ballot.Encode(), forged.Encode()},
		"not a code":         {"ABCD", av.Ballot, av.Entry},
		"ballot not decoded": {code.String(), []byte{1}, av.Entry},
	} {
		if _, err := el.CheckAudit(c.code, c.ballot, c.entry, nil, fx.trust, "en"); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("%s: got %v, want ErrBadReceipt", name, err)
		}
	}
	// Published at the close: the inclusion proof checks too.
	if _, err := fx.f.Box.Act(ctx, "close", "o"); err != nil {
		t.Fatal(err)
	}
	if av, err = fx.f.Box.AuditByCode(ctx, code.Shown()); err != nil || !av.Published {
		t.Fatalf("published audit: %+v %v", av, err)
	}
	r := &Receipt{Index: av.Index, Checkpoint: string(av.Checkpoint), InclusionProof: av.InclusionProof}
	if ac, err = el.CheckAudit(code.String(), av.Ballot, av.Entry, r, fx.trust, "ru"); err != nil || !ac.Published || ac.Index != av.Index {
		t.Fatalf("published check: %+v %v", ac, err)
	}
	bad := *r
	bad.Index++
	if _, err := el.CheckAudit(code.String(), av.Ballot, av.Entry, &bad, fx.trust, "ru"); !errors.Is(err, ErrBadReceipt) {
		t.Fatalf("wrong position accepted: %v", err)
	}
}

// issue makes a voting token for the device key and posts its credential,
// as the identity service does (boxtest.Fixture.NewVoter with our key).
func issue(ctx context.Context, f *boxtest.Fixture, pseudonym [32]byte, style string, dev ed25519.PublicKey) (string, error) {
	ctxHash := f.Box.View().Context.ExtendedHash
	tok, claims, err := f.Issuer.Issue(token.Grant{ElectionID: f.ElectionID, ContextHash: ctxHash, Pseudonym: pseudonym, BallotStyle: style, DeviceKey: dev})
	if err != nil {
		return "", err
	}
	c := &record.CredentialIssued{ElectionID: f.ElectionID, ContextHash: ctxHash, Pseudonym: pseudonym, BallotStyle: style,
		DeviceKey: [32]byte(dev), TokenID: [16]byte{1}, KeyID: claims.KeyID,
		IssuedAt: uint64(claims.IssuedAt.Unix()), NotBefore: uint64(claims.NotBefore.Unix()), ExpiresAt: uint64(claims.ExpiresAt.Unix())}
	_, err = f.PostIdentity(ctx, bulletin.TypeCredentialIssued, c.Encode())
	return tok, err
}

func TestParseTrackingCode(t *testing.T) {
	var c ballot.TrackingCode
	c[0], c[19] = 0xab, 0xcd
	s := c.String()
	got, err := ParseTrackingCode(" " + s[:5] + " " + bytesLower(s[5:]))
	if err != nil || got != s {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range []string{"", "ABCD", s + "A", s[:len(s)-1] + "1"} {
		if _, err := ParseTrackingCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func bytesLower(s string) string { return string(bytes.ToLower([]byte(s))) }

func FuzzDecodeContext(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 1, 'e'})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeContext(b)
		if err != nil {
			return
		}
		if _, err := election.DecodeContext(b); err != nil {
			t.Fatalf("decodeContext accepted what election.DecodeContext refuses: %v", err)
		}
		_ = c
	})
}

func FuzzLoadElection(f *testing.F) {
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		if el, err := LoadElection("evote.test/board/x", [][]byte{b, b}); err == nil || el != nil {
			t.Fatal("garbage loaded")
		}
	})
}

// TestLoadElectionRefusesTheBoxsOwnKey: the ballot box holds the
// authority's key, so it can sign a context whose election key is its own
// (here g^x, with the extended hash recomputed to match). Before, the page
// took any context signed by the manifest's author and would have
// encrypted every ballot to that key; now the key must be the product of
// the qualified trustees' contributions, each signed by its trustee with a
// proof of knowledge, in a qualified set of at least t dealers.
func TestLoadElectionRefusesTheBoxsOwnKey(t *testing.T) {
	fx := newFixture(t)
	origin := fx.f.Box.Log().Origin()
	el, err := LoadElection(origin, fx.entries)
	if err != nil {
		t.Fatal(err)
	}
	ci := el.ContextIndex
	ce, _ := bulletin.DecodeEntry(fx.entries[ci])
	real, err := election.DecodeContext(ce.Payload)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := el.Manifest.BaseHash()
	authority := fx.f.Server.Authority
	signed := func(ty bulletin.Type, payload []byte) []byte {
		e, err := bulletin.NewEntry(ce.Log, ty, [32]byte(authority.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(authority), payload)
		if err != nil {
			t.Fatal(err)
		}
		return e.Encode()
	}
	contextWith := func(h *group.Element) []byte {
		c := *real
		c.JointKey = h
		c.ExtendedHash = contexthash.Extended(base, h, c.VerificationKeys, c.VoterListCommitment)
		return signed(bulletin.TypeElectionContext, c.Encode())
	}
	x := new(group.Scalar).SetUint64(424242)
	boxKey := new(group.Element).ScalarBaseMult(x)
	es := append([][]byte{}, fx.entries[:ci]...)
	if _, err := LoadElection(origin, append(es, contextWith(boxKey))); !errors.Is(err, ErrBadElection) {
		t.Errorf("a context with the box's own key, signed by the authority: %v", err)
	}
	// A qualified set of one dealer, posted first by the authority, and a
	// context whose key is that dealer's contribution alone: one trustee
	// (with the box) would hold the key.
	var a10 *group.Element
	for _, raw := range fx.entries[:ci] {
		e, _ := bulletin.DecodeEntry(raw)
		if e.Type == bulletin.TypeKeygenExtraction && e.Payload[0] == 6 {
			if a, err := extractionA0(e.Payload, base, 1, int(el.Manifest.Threshold)); err == nil && e.Author == trusteeKey(el.Manifest, 1) {
				a10 = a
			}
		}
	}
	if a10 == nil {
		t.Fatal("no extraction commitments of dealer 1 before the context")
	}
	one := []byte{5}
	one = append(one, base[:]...)
	one = append(one, 0, 0, 0, 1, 0, 1)
	es = append([][]byte{fx.entries[0], signed(bulletin.TypeKeygenQualified, one)}, fx.entries[1:ci]...)
	if _, err := LoadElection(origin, append(es, contextWith(a10))); !errors.Is(err, ErrBadElection) {
		t.Errorf("a qualified set of one dealer: %v", err)
	}
	// The real context still loads, from the same entries.
	if _, err := LoadElection(origin, append(append([][]byte{}, fx.entries[:ci]...), fx.entries[ci])); err != nil {
		t.Errorf("the real context: %v", err)
	}
}
