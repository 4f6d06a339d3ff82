package ballotbox_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/election"
	"evote/idp"
	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/record"
	"evote/tally/revote"
)

// idpBoard is the identity service's side of the board in-process: it
// signs with the identity service's board key and posts through the box
// (as client.IdentityBoard does over HTTP), signs credentials as
// revote-credential entries, and reports the close.
type idpBoard struct {
	f *boxtest.Fixture
}

func (b *idpBoard) Post(ctx context.Context, typ uint16, payload []byte) (uint64, error) {
	p, err := b.f.PostIdentity(ctx, bulletin.Type(typ), payload)
	if err != nil {
		return 0, err
	}
	return p.Index, nil
}

func (b *idpBoard) SignCredential(payload []byte) ([64]byte, error) {
	e, err := bulletin.NewEntry(b.f.Box.Log().ID(), bulletin.TypeRevoteCredential, [32]byte(b.f.Identity.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(b.f.Identity), payload)
	if err != nil {
		return [64]byte{}, err
	}
	return e.Signature, nil
}

func (b *idpBoard) VotingClosed(context.Context) (bool, error) {
	return b.f.Box.View().Phase >= election.PhaseClosed, nil
}

// idpSource is the box's credential source in-process: requests signed
// with the box's authority key, answered by the identity service (as
// over POST /v1/revote/box-credentials).
type idpSource struct {
	svc *idp.Service
	key ed25519.PrivateKey
	now func() time.Time
}

func (s *idpSource) ask(ctx context.Context, electionID string, items []idp.BoxItem) ([]ballotbox.SignedCredential, error) {
	r := &idp.BoxRequest{ElectionID: electionID, At: s.now().Unix(), Items: items}
	copy(r.Signature[:], ed25519.Sign(s.key, idp.BoxRequestMessage(electionID, r.At, items)))
	cs, err := s.svc.BoxCredentials(ctx, "box", r)
	if err != nil {
		return nil, err
	}
	out := make([]ballotbox.SignedCredential, len(cs))
	for i, c := range cs {
		out[i] = ballotbox.SignedCredential{Credential: c.Credential, Signature: c.Signature}
	}
	return out, nil
}

func (s *idpSource) DummyCredentials(ctx context.Context, electionID string, items []ballotbox.DummyItem) ([]ballotbox.SignedCredential, error) {
	var its []idp.BoxItem
	for _, it := range items {
		its = append(its, idp.BoxItem{Kind: idp.BoxDummy, Style: it.Style, Index: it.Index, Identifier: [32]byte(revote.DummyID(electionID, it.Style, it.Index).Bytes()), DeviceKey: it.DeviceKey})
	}
	return s.ask(ctx, electionID, its)
}

func (s *idpSource) PaddingCredentials(ctx context.Context, electionID string, items []ballotbox.PaddingItem) ([]ballotbox.SignedCredential, error) {
	var its []idp.BoxItem
	for _, it := range items {
		its = append(its, idp.BoxItem{Kind: idp.BoxPadding, Style: it.Style, Pseudonym: it.Voter, DeviceKey: it.DeviceKey})
	}
	return s.ask(ctx, electionID, its)
}

var codeRe = regexp.MustCompile(`code is (\d{6})\.`)

// TestRevoteWithIdentityService: an election in deniable re-voting mode
// through the ballot box and the identity service (in-process): the
// identity service publishes its keys, the voter list and the polling
// registration; voters sign in and get credentials with s, cast and
// re-vote; a third online ballot is refused; a voter who voted online
// votes in person (the mark's row from the station's device; a forged
// signature refused; no sign-in after it); the box's dummies and padding
// carry the identity service's credentials; the close posts padding,
// depths, marks and the identity service's roll; the trustees' filter
// over the box's board keeps each voter's last row and the box posts the
// filter entry; the tally counts the re-vote, not the superseded ballot
// nor the marked voter's online one; a fresh election.State accepts every
// entry (spec §15.16).
func TestRevoteWithIdentityService(t *testing.T) {
	for name, open := range revoteStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{}
			clk.set(votingStart.Add(-time.Hour))
			src := &idpSource{now: clk.now}
			f, err := boxtest.New(ctx, boxtest.Options{Store: open(t), Dir: t.TempDir(), Now: clk.now, Credentials: src,
				Coercion: ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 9, MaxBallots: 3}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Registry.Close() })
			src.key = f.Server.Authority
			if err := f.Keygen(ctx); err != nil {
				t.Fatal(err)
			}
			var (
				ext    [32]byte
				styles []string
				el     *ballot.Election
			)
			f.Box.WithState(func(s *election.State) {
				ext, el = s.Context.ExtendedHash, s.Election()
				for _, st := range s.Manifest.BallotStyles {
					styles = append(styles, st.ID)
				}
			})

			// The identity service, configured for this election.
			sim, err := registry.NewSimulated(registry.SimulatedConfig{Seed: "revote", Constituencies: styles, PerConstituency: 10, ElectionDay: votingStart})
			if err != nil {
				t.Fatal(err)
			}
			ist, err := idpstore.Open(ctx, "sqlite", "file:"+filepath.Join(t.TempDir(), "idp.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ist.Close() })
			iss, err := token.NewIssuer(token.IssuerConfig{Issuer: boxtest.IssuerID, Audience: boxtest.Audience, Now: clk.now}, f.TokenKey)
			if err != nil {
				t.Fatal(err)
			}
			f.Issuer = iss
			pkey := sha256.Sum256([]byte("revote pseudonym key"))
			sms := &otp.Recorder{}
			brd := &idpBoard{f: f}
			svc, err := idp.New(ctx, idp.Config{ElectionID: f.ElectionID, ContextHash: ext, ElectionDay: votingStart, PseudonymKey: pkey[:],
				Registry: sim, Sender: sms, Store: ist, Board: brd, Issuer: iss, Now: clk.now,
				Authority: &voterlist.Authority{ElectionID: f.ElectionID, ContextHash: ext, List: map[string]ed25519.PublicKey{"list-official-1": f.List.Public().(ed25519.PublicKey)},
					Stations: map[string]ed25519.PublicKey{"station-1": f.Station.Public().(ed25519.PublicKey)},
					Polling:  map[string]ed25519.PublicKey{"official-7": f.Official.Public().(ed25519.PublicKey)}},
				Revote: &idp.RevoteConfig{PublicKey: el.PublicKey, Signer: brd, Styles: styles, BoxKey: f.Server.Authority.Public().(ed25519.PublicKey), MaxBallots: 3}})
			if err != nil {
				t.Fatal(err)
			}
			src.svc = svc
			var people []registry.Citizen
			for _, p := range sim.People() {
				people = append(people, p.Citizen)
			}
			items := voterlist.FromRegister(people, votingStart)
			var salt [32]byte
			rand.Read(salt[:])
			stmt := record.VoterListChange{ElectionID: f.ElectionID, ContextHash: ext, Sequence: 1, Kind: record.ListBuilt, OfficialID: "list-official-1",
				OfficialKey: [32]byte(f.List.Public().(ed25519.PublicKey)), DetailsDigest: voterlist.DetailsDigest(salt, items), ChangedAt: uint64(clk.now().Unix())}
			stmt.Sign(f.List)
			if _, err := svc.ChangeVoterList(ctx, "official", &voterlist.ChangeRequest{Statement: stmt, Salt: salt, Items: items}); err != nil {
				t.Fatal(err)
			}
			reg := &record.PollingRegistration{ElectionID: f.ElectionID, ContextHash: ext, OfficialID: "list-official-1", OfficialKey: [32]byte(f.List.Public().(ed25519.PublicKey)),
				RegisteredAt: uint64(clk.now().Unix()), Stations: []record.PollingKey{{ID: "station-1", Key: [32]byte(f.Station.Public().(ed25519.PublicKey))}},
				Officials: []record.PollingKey{{ID: "official-7", Key: [32]byte(f.Official.Public().(ed25519.PublicKey))}}}
			reg.Sign(f.List)
			if err := svc.RegisterPolling(ctx, "official", reg); err != nil {
				t.Fatal(err)
			}
			if err := f.PostTagKeys(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Box.Act(ctx, ballotbox.ActionOpen, "official-1"); err != nil {
				t.Fatal(err)
			}
			clk.set(votingStart.Add(time.Second))

			// Voters sign in with the identity service and cast rows.
			signIn := func(p *registry.SimPerson) *boxtest.RevoteVoter {
				t.Helper()
				ch, err := svc.Start(ctx, "10.0.0.1", idp.StartRequest{PIN: p.PIN.Digits(), DocumentNumber: p.DocumentNumber, BirthDate: p.BirthDate.Format(time.DateOnly)})
				if err != nil {
					t.Fatal(err)
				}
				msgs := sms.Messages(p.Phone)
				m := codeRe.FindStringSubmatch(msgs[len(msgs)-1].Text)
				if m == nil {
					t.Fatalf("no code in %q", msgs[len(msgs)-1].Text)
				}
				_, dev, _ := ed25519.GenerateKey(rand.Reader)
				c, err := svc.Verify(ctx, "10.0.0.1", idp.VerifyRequest{ChallengeID: ch.ID, Code: m[1], DeviceKey: dev.Public().(ed25519.PublicKey)})
				if err != nil {
					t.Fatal(err)
				}
				cred, err := revote.DecodeCredential(c.Revote.Credential)
				if err != nil || !revote.OpensTo(el.PublicKey, cred.ID, c.Revote.S, revote.VoterID(f.ElectionID, c.Claims.Pseudonym)) {
					t.Fatalf("the credential does not open to the voter's identifier: %v", err)
				}
				return &boxtest.RevoteVoter{Pseudonym: c.Claims.Pseudonym, Style: c.Claims.BallotStyle, Device: dev, Token: c.Token,
					Credential: ballotbox.SignedCredential{Credential: c.Revote.Credential, Signature: c.Revote.Signature}, S: c.Revote.S}
			}
			cast := func(v *boxtest.RevoteVoter, i int) (*ballotbox.RowAnswer, error) {
				row, err := f.Row(v, f.Selection(i, v.Style))
				if err != nil {
					t.Fatal(err)
				}
				return f.Box.CastRow(ctx, v.Token, row)
			}
			var eligible []*registry.SimPerson
			for _, p := range sim.People() {
				if p.Reason == nil {
					eligible = append(eligible, p)
				}
			}
			var rows [][32]byte
			for i, p := range []*registry.SimPerson{eligible[0], eligible[1], eligible[0]} {
				clk.add(time.Second)
				a, err := cast(signIn(p), i)
				if err != nil {
					t.Fatalf("cast %d: %v", i, err)
				}
				rows = append(rows, a.RowHash)
			}
			clk.add(time.Second)
			if _, err := cast(signIn(eligible[0]), 5); !errors.Is(err, ballotbox.ErrRevoteLimit) {
				t.Fatalf("a third online ballot with M = 3: %v", err)
			}
			// Voter 1, who voted online, then votes in person: the mark is
			// a row from the station's device, with its opening; it is
			// the voter's last row, and no online row may follow it.
			p1 := eligible[1]
			// A sign-in's token cannot carry a mark (the mark's row needs
			// a mark's token).
			v1 := signIn(p1)
			if vrow, vop, err := f.MarkRow(v1); err != nil {
				t.Fatal(err)
			} else if _, err := f.Box.CastMark(ctx, v1.Token, vrow, vop); !errors.Is(err, ballotbox.ErrTokenInvalid) {
				t.Fatalf("a mark's row with a sign-in's token: %v", err)
			}
			m := &record.InPersonMark{ElectionID: f.ElectionID, ContextHash: ext, Pseudonym: svc.Pseudonym(p1.PIN), BallotStyle: p1.Constituency,
				StationID: "station-1", StationKey: [32]byte(f.Station.Public().(ed25519.PublicKey)), OfficialID: "official-7",
				OfficialKey: [32]byte(f.Official.Public().(ed25519.PublicKey)), MarkedAt: uint64(clk.now().Unix())}
			m.Sign(f.Station, f.Official)
			_, sdev, _ := ed25519.GenerateKey(rand.Reader)
			mc, err := svc.MarkRevote(ctx, "station", m, sdev.Public().(ed25519.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			sv := &boxtest.RevoteVoter{Pseudonym: m.Pseudonym, Style: m.BallotStyle, Device: sdev, Token: mc.Token,
				Credential: ballotbox.SignedCredential{Credential: mc.Revote.Credential, Signature: mc.Revote.Signature}}
			// The mark's token casts the mark's row only: an online row
			// with it (a ballot the station's device chose, which would
			// be the marked voter's last row) is refused.
			if orow, err := f.Row(sv, f.Selection(7, sv.Style)); err != nil {
				t.Fatal(err)
			} else if _, err := f.Box.CastRow(ctx, sv.Token, orow); !errors.Is(err, ballotbox.ErrTokenInvalid) {
				t.Fatalf("an online row with a mark's token: %v", err)
			}
			mrow, op, err := f.MarkRow(sv)
			if err != nil {
				t.Fatal(err)
			}
			bad := *op
			bad.StationSig[0] ^= 1
			if _, err := f.Box.CastMark(ctx, sv.Token, mrow, &bad); !errors.Is(err, ballotbox.ErrMarkInvalid) {
				t.Fatalf("a mark with a bad signature: %v", err)
			}
			ma, err := f.Box.CastMark(ctx, sv.Token, mrow, op)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, ma.RowHash)
			if _, err := svc.Start(ctx, "10.0.0.2", idp.StartRequest{PIN: p1.PIN.Digits(), DocumentNumber: p1.DocumentNumber, BirthDate: p1.BirthDate.Format(time.DateOnly)}); !errors.Is(err, idp.ErrVotedInPerson) {
				t.Errorf("sign-in after the mark: %v", err)
			}
			// Two more voters of voter 0's style, so that its contests
			// reach the manifest's min_anonymity (3) and are tallied.
			style0 := eligible[0].Constituency
			var more []*registry.SimPerson
			for _, p := range eligible[2:] {
				if p.Constituency == style0 && len(more) < 2 {
					more = append(more, p)
				}
			}
			for i, p := range more {
				clk.add(time.Second)
				a, err := cast(signIn(p), 10+i)
				if err != nil {
					t.Fatal(err)
				}
				rows = append(rows, a.RowHash)
			}
			for slot := 1; slot < 5; slot++ {
				clk.set(votingStart.Add(time.Duration(slot) * time.Minute))
				if err := f.Box.PostDueSlots(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, h := range rows {
				if a, err := f.Box.RowStatus(ctx, h); err != nil || !a.Published {
					t.Fatalf("row not published after 4 slots: %+v, %v", a, err)
				}
			}
			if _, err := f.Box.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
				t.Fatal(err)
			}
			clk.add(2 * time.Second)
			if err := f.Box.PostDueSlots(ctx); err != nil {
				t.Fatal(err)
			}
			if err := svc.PostRoll(ctx); err != nil {
				t.Fatal(err)
			}
			f.Box.WithState(func(s *election.State) {
				for _, rs := range s.RevoteStyles() {
					if !rs.Padded || !rs.HasDepths || !rs.HasMarks || rs.Rows.Len()%3 != 0 {
						t.Errorf("style %s after the close: padded %v, depths %v, marks %v, %d rows", rs.Style, rs.Padded, rs.HasDepths, rs.HasMarks, rs.Rows.Len())
					}
				}
			})
			// The trustees' filter (played by the fixture) over the box's
			// board: it keeps exactly each voter's last row, which checks
			// the box's padding and depths; the box posts the filter entry.
			if err := f.RevoteFilter(ctx); err != nil {
				t.Fatal(err)
			}
			f.Box.WithState(func(s *election.State) {
				voters := 0
				for _, rs := range s.RevoteStyles() {
					if !rs.Done {
						t.Errorf("style %s: filter not done", rs.Style)
					}
					voters += rs.Voters
				}
				if voters != 4 {
					t.Errorf("the roll call counts %d voters with rows, want 4", voters)
				}
			})
			// The tally of the kept rows: voter 0's re-vote counts; voter
			// 1's in-person vote is counted on paper (its row has f = 0).
			for _, a := range []string{ballotbox.ActionStartMixing} {
				if _, err := f.Box.Act(ctx, a, "official-1"); err != nil {
					t.Fatalf("%s: %v", a, err)
				}
			}
			if _, err := f.MixAll(ctx, boxtest.Hooks{}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Box.Act(ctx, ballotbox.ActionStartDecrypting, "official-1"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.DecryptAll(ctx, boxtest.Hooks{}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Box.Act(ctx, ballotbox.ActionTally, "official-1"); err != nil {
				t.Fatal(err)
			}
			wants := []ballot.Selection{f.Selection(2, style0), f.Selection(10, style0), f.Selection(11, style0)}
			f.Box.WithState(func(s *election.State) {
				st, _ := s.Manifest.Style(style0)
				shown := 0
				for _, cr := range s.Result.Contests {
					if cr.Withheld {
						continue
					}
					shown++
					expect := make([]uint64, len(cr.Counts))
					ballots := uint64(0)
					if slices.Contains(st.Contests, cr.ContestID) {
						for _, want := range wants {
							// Counts[0] are the blank votes, Counts[k+1]
							// candidate k's (single choice).
							ballots++
							if len(want[cr.ContestID]) == 0 {
								expect[0]++
							}
							for _, k := range want[cr.ContestID] {
								expect[k+1]++
							}
						}
					}
					if cr.Ballots != ballots || !slices.Equal(cr.Counts, expect) {
						t.Errorf("contest %s: %d ballots %v, want %d %v", cr.ContestID, cr.Ballots, cr.Counts, ballots, expect)
					}
				}
				if shown == 0 {
					t.Error("every contest withheld: the result checks nothing")
				}
			})
			replayBoard(t, f.Box)
			// The marks entries open exactly the one mark.
			marks := 0
			recs, err := f.Box.Log().Entries(ctx, 0, f.Box.Log().Size())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if e, err := bulletin.DecodeEntry(r.Data); err == nil && e.Type == bulletin.TypeRevoteMarks {
					ms, err := revote.DecodeMarks(e.Payload)
					if err != nil {
						t.Fatal(err)
					}
					marks += len(ms.Marks)
				}
			}
			if marks != 1 {
				t.Errorf("%d marks opened at the close, want 1", marks)
			}
		})
	}
}
