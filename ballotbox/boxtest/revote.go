package boxtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"

	"evote/ballot"
	"evote/ballotbox"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/threshold"
	"evote/crypto/zkp"
	"evote/election"
	"evote/idp/token"
	"evote/tally"
	"evote/tally/revote"
)

// Deniable re-voting (spec chapter 15, §15.16) in the fixture: the
// manifest option, the trustees' tag keys, and the identity service's
// credentials (a voter's with s, the box's dummies), made with the
// functions the identity service uses (package idp, revote.go).

// revoteManifest sets the coercion option: last ballot counts and
// single-choice contests only (the rules refuse multi-select contests in
// this mode, §15.13).
func revoteManifest(m *ballot.Manifest, c ballot.Coercion) {
	m.Revote = ballot.LastBallotCounts
	m.Coercion = c
	keep := map[string]bool{}
	var cs []ballot.Contest
	for _, x := range m.Contests {
		if x.Kind == ballot.SingleChoice {
			cs = append(cs, x)
			keep[x.ID] = true
		}
	}
	m.Contests = cs
	for i := range m.BallotStyles {
		m.BallotStyles[i].Contests = slices.DeleteFunc(slices.Clone(m.BallotStyles[i].Contests), func(id string) bool { return !keep[id] })
	}
}

// PostTagKeys has every trustee post its tag key (spec §15.1), in
// deniable re-voting mode only.
func (f *Fixture) PostTagKeys(ctx context.Context) error {
	var ext [32]byte
	coercion := false
	f.Box.WithState(func(s *election.State) { coercion, ext = s.Coercion(), s.Context.ExtendedHash })
	if !coercion {
		return nil
	}
	for j := 1; j <= len(f.Trustees); j++ {
		k, err := revote.NewTagKey(j, rand.Reader)
		if err != nil {
			return err
		}
		p, err := k.Prove(ext, rand.Reader)
		if err != nil {
			return err
		}
		e := &revote.TagKeyEntry{Context: ext, Trustee: j, Key: k.Public(), Proof: p}
		if _, err := f.postTrusteeTyped(ctx, j, bulletin.TypeRevoteTagKey, e.Encode()); err != nil {
			return fmt.Errorf("tag key of trustee %d: %w", j, err)
		}
		f.TagKeys = append(f.TagKeys, k)
	}
	return nil
}

// credential makes and signs a credential for identifier v (as the
// identity service does): it returns the signed credential and s.
func (f *Fixture) credential(v *group.Element, style string, dev [32]byte, tid [16]byte) (ballotbox.SignedCredential, *group.Scalar, error) {
	var (
		ext [32]byte
		el  *ballot.Election
	)
	f.Box.WithState(func(s *election.State) { ext, el = s.Context.ExtendedHash, s.Election() })
	cid, sc, proof, err := revote.EncryptID(el.PublicKey, revote.IDProofContext(ext, dev), v, rand.Reader)
	if err != nil {
		return ballotbox.SignedCredential{}, nil, err
	}
	c := &revote.Credential{ElectionID: f.ElectionID, Context: ext, ID: cid, Style: style, DeviceKey: dev, TokenID: tid, KeyID: token.KeyID(f.TokenKey.Public().(ed25519.PublicKey)), Proof: proof}
	payload := c.Encode()
	e, err := bulletin.NewEntry(f.Box.Log().ID(), bulletin.TypeRevoteCredential, pub(f.Identity), bulletin.NewEd25519Signer(f.Identity), payload)
	if err != nil {
		return ballotbox.SignedCredential{}, nil, err
	}
	return ballotbox.SignedCredential{Credential: payload, Signature: e.Signature}, sc, nil
}

// DummyCredentials implements ballotbox.CredentialSource as the identity
// service does (spec §15.16.2): a credential for D_{style,index} per item.
func (f *Fixture) DummyCredentials(_ context.Context, electionID string, items []ballotbox.DummyItem) ([]ballotbox.SignedCredential, error) {
	if electionID != f.ElectionID {
		return nil, fmt.Errorf("boxtest: dummy credentials for election %q", electionID)
	}
	out := make([]ballotbox.SignedCredential, len(items))
	for i, it := range items {
		var tid [16]byte
		io.ReadFull(rand.Reader, tid[:])
		c, _, err := f.credential(revote.DummyID(f.ElectionID, it.Style, it.Index), it.Style, it.DeviceKey, tid)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// RevoteVoter is a voter's sign-in in deniable re-voting mode: a device
// key, the token, and the credential with s (spec §15.16.1).
type RevoteVoter struct {
	Pseudonym  [32]byte
	Style      string
	Device     ed25519.PrivateKey
	Token      string
	Credential ballotbox.SignedCredential
	S          *group.Scalar
}

// SignInRevote plays a sign-in of the voter with that pseudonym (random
// if zero) on a new device.
func (f *Fixture) SignInRevote(pseudonym [32]byte, style string) (*RevoteVoter, error) {
	return f.signInRevote(pseudonym, style, false)
}

// MarkSignIn plays the identity service's answer to a polling station's
// mark of the voter (spec §15.16.4): a mark's token (claim "mark") and a
// credential for a new station device, for MarkRow.
func (f *Fixture) MarkSignIn(pseudonym [32]byte, style string) (*RevoteVoter, error) {
	return f.signInRevote(pseudonym, style, true)
}

func (f *Fixture) signInRevote(pseudonym [32]byte, style string, mark bool) (*RevoteVoter, error) {
	if pseudonym == ([32]byte{}) {
		io.ReadFull(rand.Reader, pseudonym[:])
	}
	v := &RevoteVoter{Pseudonym: pseudonym, Style: style, Device: key()}
	if style == "" {
		f.Box.WithState(func(s *election.State) { v.Style = s.Manifest.BallotStyles[0].ID })
	}
	tok, claims, err := f.Issuer.Issue(token.Grant{ElectionID: f.ElectionID, ContextHash: f.Box.View().Context.ExtendedHash, Pseudonym: pseudonym, BallotStyle: v.Style, DeviceKey: v.Device.Public().(ed25519.PublicKey), Mark: mark})
	if err != nil {
		return nil, err
	}
	v.Token = tok
	var tid [16]byte
	if err := decodeJTI(claims.TokenID, &tid); err != nil {
		return nil, err
	}
	v.Credential, v.S, err = f.credential(revote.VoterID(f.ElectionID, pseudonym), v.Style, pub(v.Device), tid)
	return v, err
}

// Row makes the voter's row for selection sel (the device's work, spec
// §15.3): the ballot, the flag f = 1 with its proof, the device's
// signature; it returns the row's canonical encoding.
func (f *Fixture) Row(v *RevoteVoter, sel ballot.Selection) ([]byte, error) {
	return f.RowWith(v, sel, rand.Reader)
}

// RowWith is Row with its randomness drawn from rnd: two rows made from
// readers that give the same bytes carry the same ciphertexts (a device
// copying its own ballot into a second credential's row), with proofs
// and signatures of their own device keys.
func (f *Fixture) RowWith(v *RevoteVoter, sel ballot.Selection, rnd io.Reader) ([]byte, error) {
	p, err := f.PrepareRow(v, sel, revote.FlagBallot, rnd)
	if err != nil {
		return nil, err
	}
	return p.Raw, nil
}

// A PreparedRow is a row as the device prepares it, before it is cast or
// audited: its encoding, and the openings an audit publishes.
type PreparedRow struct {
	Raw      []byte
	Ballot   *ballot.PreparedBallot
	Flag     *elgamal.Ciphertext
	FlagRand *group.Scalar
}

// Audit returns the Benaloh audit of the prepared row (spec §15.9): the
// ballot's openings and the flag's.
func (p *PreparedRow) Audit() *ballot.AuditedBallot {
	return p.Ballot.Audit().WithFlag(p.Flag, p.FlagRand)
}

// PrepareRow makes the voter's row for selection sel with flag f (1 on an
// online ballot; a test plays a device that sets 0), its randomness from
// rnd.
func (f *Fixture) PrepareRow(v *RevoteVoter, sel ballot.Selection, flagValue uint64, rnd io.Reader) (*PreparedRow, error) {
	var (
		ext [32]byte
		el  *ballot.Election
	)
	f.Box.WithState(func(s *election.State) { ext, el = s.Context.ExtendedHash, s.Election() })
	cred, err := revote.DecodeCredential(v.Credential.Credential)
	if err != nil {
		return nil, err
	}
	dev := pub(v.Device)
	p, err := el.Encrypt(v.Style, dev, sel, rnd)
	if err != nil {
		return nil, err
	}
	row := &revote.SignedRow{Credential: v.Credential.Credential, CredentialSig: v.Credential.Signature, Cred: cred, Ballot: p.Ballot.Encode(), B: p.Ballot}
	flag, r, proof, err := revote.EncryptFlagOpening(el.PublicKey, revote.FlagProofContext(ext, dev), flagValue, rnd)
	if err != nil {
		return nil, err
	}
	row.Flag, row.FlagProof = flag, proof.Bytes()
	copy(row.DeviceSig[:], ed25519.Sign(v.Device, revote.RowMessage(f.Box.Log().ID(), row)))
	return &PreparedRow{Raw: row.Encode(), Ballot: p, Flag: flag, FlagRand: r}, nil
}

// decodeJTI turns a token's "jti" back into its 16 bytes.
func decodeJTI(jti string, out *[16]byte) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(jti)
	if err != nil || len(b) != 16 {
		return fmt.Errorf("boxtest: token id %q", jti)
	}
	copy(out[:], b)
	return nil
}

// PaddingCredentials implements ballotbox.CredentialSource as the identity
// service does (spec §15.16.2): a credential for the voter's V per item.
func (f *Fixture) PaddingCredentials(_ context.Context, electionID string, items []ballotbox.PaddingItem) ([]ballotbox.SignedCredential, error) {
	if electionID != f.ElectionID {
		return nil, fmt.Errorf("boxtest: padding credentials for election %q", electionID)
	}
	out := make([]ballotbox.SignedCredential, len(items))
	for i, it := range items {
		var tid [16]byte
		io.ReadFull(rand.Reader, tid[:])
		c, _, err := f.credential(revote.VoterID(f.ElectionID, it.Voter), it.Style, it.DeviceKey, tid)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// PostRoll posts the identity service's roll (spec §15.7): the
// identifiers of the voters given, by style, and made-up ones for the
// rest of each style's listed voters.
func (f *Fixture) PostRoll(ctx context.Context, voters map[[32]byte]string) error {
	var ext [32]byte
	var styles []string
	f.Box.WithState(func(s *election.State) {
		ext = s.Context.ExtendedHash
		for _, st := range s.Manifest.BallotStyles {
			styles = append(styles, st.ID)
		}
	})
	l := &revote.Roll{Context: ext}
	per := map[string]uint32{}
	for p, st := range voters {
		l.Voters = append(l.Voters, revote.RollVoter{ID: revote.VoterID(f.ElectionID, p), Style: st})
		per[st]++
	}
	for _, st := range styles {
		for ; per[st] < f.listed; per[st]++ {
			var p [32]byte
			io.ReadFull(rand.Reader, p[:])
			l.Voters = append(l.Voters, revote.RollVoter{ID: revote.VoterID(f.ElectionID, p), Style: st})
		}
	}
	revote.SortRoll(l.Voters)
	_, err := f.PostIdentity(ctx, bulletin.TypeRevoteRoll, l.Encode())
	return err
}

// MarkRow makes the row of an in-person mark for the voter v of
// MarkSignIn (the station device's work, spec §15.16.4): a blank ballot, the flag f = 0 with its
// proof, the device's signature, and the opening with the station's and
// official's signatures (the fixture's station-1 and official-7).
func (f *Fixture) MarkRow(v *RevoteVoter) ([]byte, *ballotbox.MarkOpening, error) {
	var (
		ext [32]byte
		el  *ballot.Election
	)
	f.Box.WithState(func(s *election.State) { ext, el = s.Context.ExtendedHash, s.Election() })
	cred, err := revote.DecodeCredential(v.Credential.Credential)
	if err != nil {
		return nil, nil, err
	}
	dev := pub(v.Device)
	p, err := el.Encrypt(v.Style, dev, ballot.Selection{}, rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	row := &revote.SignedRow{Credential: v.Credential.Credential, CredentialSig: v.Credential.Signature, Cred: cred, Ballot: p.Ballot.Encode(), B: p.Ballot}
	ct, r, err := el.PublicKey.Encrypt(revote.FlagNone, rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	proof, err := zkp.ProveRange(revote.FlagProofContext(ext, dev), &zkp.RangeStatement{PK: el.PublicKey, Ciphertext: ct, Max: 1}, revote.FlagNone, r, rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	row.Flag, row.FlagProof = ct, proof.Bytes()
	copy(row.DeviceSig[:], ed25519.Sign(v.Device, revote.RowMessage(f.Box.Log().ID(), row)))
	op := &ballotbox.MarkOpening{Randomness: r, StationID: "station-1", StationKey: pub(f.Station), OfficialID: "official-7", OfficialKey: pub(f.Official)}
	stmt := revote.MarkStatement(ext, v.Style, dev, op.StationID, op.OfficialID)
	copy(op.StationSig[:], ed25519.Sign(f.Station, stmt))
	copy(op.OfficialSig[:], ed25519.Sign(f.Official, stmt))
	return row.Encode(), op, nil
}

// RevoteFilter plays the trustees of the filter after the close (spec
// §15.5, §15.7) as the trustee tool will (§15.13 step 5), style after
// style: mixes of X and Y, t blinding steps, t decryption shares of the
// tags, then (once the box posted the filter entry, PostDueSlots) the
// roll call's mixes and shares. The identity service's roll must be on
// the board before the roll call's shares.
func (f *Fixture) RevoteFilter(ctx context.Context) error {
	var tr *threshold.Transcript
	f.Box.WithState(func(s *election.State) { tr = s.Keygen() })
	keys := make([]*threshold.KeyShare, len(f.Threshold))
	for i, th := range f.Threshold {
		ks, _, err := th.Finish(tr)
		if err != nil {
			return err
		}
		keys[i] = ks
	}
	for guard := 0; guard < 1000; guard++ {
		var (
			rs         election.RevoteStyle
			done       bool
			ext        [32]byte
			mixes, t   int
			electionID string
		)
		f.Box.WithState(func(s *election.State) {
			k := s.RevoteCurrent()
			if k < 0 || k >= len(s.RevoteStyles()) {
				done = true
				return
			}
			rs, ext = s.RevoteStyles()[k], s.Context.ExtendedHash
			mixes, t, electionID = int(s.Manifest.Mixes), int(s.Manifest.Threshold), s.Manifest.ElectionID
		})
		if done {
			return nil
		}
		mix := func(chain string, cur *shuffle.Rows, mixers []int) error {
			j := len(mixers) + 1
			e, _, err := tally.Mix(rs.Params.MixParams(chain), uint32(j), cur, nil, rand.Reader)
			if err != nil {
				return err
			}
			_, err = f.postTrusteeTyped(ctx, j, bulletin.TypeMixOutput, e.Encode())
			return err
		}
		share := func(id string, list *shuffle.Rows, j int) error {
			b, err := keys[j-1].DecryptSharesEncoded(ext, list.Encoding(), rand.Reader)
			if err != nil {
				return err
			}
			sh, err := threshold.ParseDecryptionShare(b)
			if err != nil {
				return err
			}
			d := &tally.DecryptionEntry{ElectionID: electionID, ContestID: id, Kind: tally.TargetMixed, Target: tally.TargetDigestRows(list), Share: sh}
			_, err = f.postTrusteeTyped(ctx, j, bulletin.TypeDecryptionShare, d.Encode())
			return err
		}
		var err error
		switch {
		case len(rs.XMixers) < mixes:
			err = mix(revote.ChainX, rs.X, rs.XMixers)
		case len(rs.YMixers) < mixes:
			err = mix(revote.ChainY, rs.Y, rs.YMixers)
		case len(rs.Blinders) < t:
			list := rs.Blinded
			if list == nil {
				if list, err = revote.TagList(rs.X, rs.Y); err != nil {
					return err
				}
			}
			j := len(rs.Blinders) + 1
			step, err2 := f.TagKeys[j-1].Blind(ext, list, rand.Reader)
			if err2 != nil {
				return err2
			}
			be := &revote.BlindEntry{Style: rs.Style, Input: list.Digest(), Step: step}
			_, err = f.postTrusteeTyped(ctx, j, bulletin.TypeRevoteBlind, be.Encode())
		case rs.TagShares < t:
			err = share(election.ShareTags, rs.Blinded, rs.TagShares+1)
		case rs.Kept == nil:
			if err = f.Box.PostDueSlots(ctx); err == nil {
				f.Box.WithState(func(s *election.State) {
					if s.RevoteStyles()[s.RevoteCurrent()].Kept == nil {
						err = fmt.Errorf("boxtest: the box posted no filter entry for style %s", rs.Style)
					}
				})
			}
		case len(rs.RollMixes) < mixes:
			err = mix(revote.ChainRoll, rs.Roll, rs.RollMixes)
		default:
			err = share(election.ShareRoll, rs.Roll, len(rs.RollSharers)+1)
		}
		if err != nil {
			return fmt.Errorf("boxtest: filter of style %s: %w", rs.Style, err)
		}
	}
	return errors.New("boxtest: the filter did not finish")
}
