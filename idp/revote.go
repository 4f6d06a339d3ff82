package idp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/idp/boxauth"
	"evote/idp/idpstore"
	"evote/idp/token"
	"evote/record"
	"evote/tally/revote"
)

// The identity service in an election with coercion: deniable-revoting
// (spec §15.16.1–§15.16.2). A sign-in returns, with the token, a
// credential carrying an encryption of the voter's identifier and the
// randomness s that opens it; the credential is not posted (it is
// published inside its row of a slot, by the ballot box), and the voter
// is told by SMS of the first credential only (§15.8). The ballot box
// obtains the credentials of its dummy rows here, signed like a voter's,
// for dummy identifiers only.

// RevoteConfig configures the service for an election in deniable
// re-voting mode.
type RevoteConfig struct {
	// PublicKey is the election key h (from the board's context entry);
	// the credential's identifier is encrypted under it.
	PublicKey *elgamal.PublicKey
	// Signer signs credentials with the identity service's board key.
	Signer CredentialSigner
	// Styles are the manifest's ballot styles (dummy identifiers exist
	// for these only).
	Styles []string
	// BoxKey is the ballot box's authority key (the author of the slots on
	// the board): it signs the box's credential requests.
	BoxKey ed25519.PublicKey
	// MaxBallots is the manifest's M: a voter's padding credentials are at
	// most M − 1.
	MaxBallots int
	// Rand is the source of s and of the proofs (default crypto/rand).
	Rand io.Reader
}

// CredentialSigner signs a credential of spec §15.14.1 as an entry of type
// revote-credential of the election's log with the identity service's
// board key (the manifest's IdentityKey), without posting it.
// client.IdentityBoard implements it.
type CredentialSigner interface {
	SignCredential(payload []byte) ([64]byte, error)
}

// RevoteCredential is a credential of spec §15.2 with the identity
// service's signature, and, for a voter's, the randomness s of its
// encrypted identifier (nil for the box's: the box never learns it).
type RevoteCredential struct {
	Credential []byte
	Signature  [64]byte
	S          *group.Scalar
}

// Errors of the box's credential requests.
var (
	// ErrNotADummy: a dummy credential was asked for an identifier that is
	// not D_{style,i} (spec §15.16.2), in particular a voter's.
	ErrNotADummy = errors.New("idp: the identifier is not a dummy identifier of that ballot style")
	// ErrBoxRequest: the request is not signed by the ballot box, is stale
	// or too large.
	ErrBoxRequest = errors.New("idp: ballot box request refused")
)

func (c *RevoteConfig) check() error {
	if c.PublicKey == nil || c.Signer == nil || len(c.Styles) == 0 || len(c.BoxKey) != ed25519.PublicKeySize || c.MaxBallots < 2 {
		return errors.New("idp: revote mode needs the election key, a credential signer, the ballot styles, the box's key and M ≥ 2")
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return nil
}

// credential makes and signs a credential for identifier v (spec §15.2):
// C_id = (g^s, h^s·v) with its proof of knowledge of s under the device
// key's context.
func (s *Service) credential(v *group.Element, style string, deviceKey [32]byte, tid [16]byte, kid string) (*RevoteCredential, error) {
	rc := s.cfg.Revote
	ext := s.cfg.ContextHash
	cid, sc, proof, err := revote.EncryptID(rc.PublicKey, revote.IDProofContext(ext, deviceKey), v, rc.Rand)
	if err != nil {
		return nil, err
	}
	c := &revote.Credential{ElectionID: s.cfg.ElectionID, Context: ext, ID: cid, Style: style, DeviceKey: deviceKey, TokenID: tid, KeyID: kid, Proof: proof}
	payload := c.Encode()
	sig, err := rc.Signer.SignCredential(payload)
	if err != nil {
		return nil, fmt.Errorf("idp: signing a credential: %w", err)
	}
	return &RevoteCredential{Credential: payload, Signature: sig, S: sc}, nil
}

// BoxItem is one credential the ballot box asks for (boxauth.Item).
type BoxItem = boxauth.Item

// Kinds of BoxItem.
const (
	BoxDummy   = boxauth.Dummy
	BoxPadding = boxauth.Padding
)

// BoxRequest is the ballot box's request for credentials (spec
// §15.16.2), signed with the box's authority key over BoxRequestMessage.
type BoxRequest struct {
	ElectionID string
	At         int64 // unix seconds
	Items      []BoxItem
	Signature  [64]byte
}

// MaxBoxItems bounds the items of one box request.
const MaxBoxItems = boxauth.MaxItems

// boxRequestMaxAge bounds how far a box request's time may be from now.
const boxRequestMaxAge = 2 * time.Minute

// BoxRequestMessage is what the box signs (boxauth.Message, spec §15.16.2).
func BoxRequestMessage(electionID string, at int64, items []BoxItem) []byte {
	return boxauth.Message(electionID, at, items)
}

// BoxCredentials issues the credentials the ballot box asks for its dummy
// and padding rows (spec §15.16.2): the request must be signed by the
// box's key and recent; a dummy item's identifier must be exactly
// D_{style,index} of a ballot style of the election (ErrNotADummy
// otherwise: a voter's identifier is never put in a dummy credential); a
// padding item is for a listed voter of that style, only after the close,
// at most M − 1 per voter in all. The credentials carry a random token id
// and the current token key id; no SMS, no board entry.
func (s *Service) BoxCredentials(ctx context.Context, client string, r *BoxRequest) ([]*RevoteCredential, error) {
	rc := s.cfg.Revote
	if rc == nil {
		return nil, fmt.Errorf("%w: the election is not in deniable re-voting mode", ErrBoxRequest)
	}
	now := s.cfg.Now()
	if r.ElectionID != s.cfg.ElectionID || len(r.Items) == 0 || len(r.Items) > MaxBoxItems {
		return nil, fmt.Errorf("%w: election %q, %d items (1 to %d)", ErrBoxRequest, r.ElectionID, len(r.Items), MaxBoxItems)
	}
	if d := now.Sub(time.Unix(r.At, 0)); d > boxRequestMaxAge || d < -boxRequestMaxAge {
		return nil, fmt.Errorf("%w: request time %d is %v from now", ErrBoxRequest, r.At, d)
	}
	if !ed25519.Verify(rc.BoxKey, BoxRequestMessage(r.ElectionID, r.At, r.Items), r.Signature[:]) {
		s.access(ctx, client, "-", "box-credentials", "bad_signature")
		return nil, fmt.Errorf("%w: not signed by the ballot box's key", ErrBoxRequest)
	}
	padding := map[[32]byte][]BoxItem{}
	for i, it := range r.Items {
		if !record.ValidEd25519Key(it.DeviceKey[:]) {
			return nil, fmt.Errorf("%w: item %d: device key", ErrBoxRequest, i)
		}
		switch it.Kind {
		case BoxDummy:
			if !slices.Contains(rc.Styles, it.Style) || it.Index == 0 {
				return nil, fmt.Errorf("%w: item %d: style %q, index %d", ErrNotADummy, i, it.Style, it.Index)
			}
			if want := revote.DummyID(s.cfg.ElectionID, it.Style, it.Index).Bytes(); [32]byte(want) != it.Identifier {
				s.access(ctx, client, "-", "box-credentials", "not_a_dummy")
				return nil, fmt.Errorf("%w: item %d is not D_{%s,%d}", ErrNotADummy, i, it.Style, it.Index)
			}
		case BoxPadding:
			// Padding only once voting is over: before, a voter's
			// identifier in a credential the box holds could cast.
			if !s.closedAt(now) {
				return nil, fmt.Errorf("%w: padding credentials only after the close", ErrBoxRequest)
			}
			padding[it.Pseudonym] = append(padding[it.Pseudonym], it)
		default:
			return nil, fmt.Errorf("%w: item %d: kind %d", ErrBoxRequest, i, it.Kind)
		}
	}
	for p, its := range padding {
		keys := make([][32]byte, len(its))
		for i, it := range its {
			if it.Style != its[0].Style {
				return nil, fmt.Errorf("%w: padding of one voter in two styles", ErrBoxRequest)
			}
			keys[i] = it.DeviceKey
		}
		if err := s.cfg.Store.IssuePadding(ctx, s.cfg.ElectionID, p, its[0].Style, keys, rc.MaxBallots-1, now.Unix()); err != nil {
			switch {
			case errors.Is(err, idpstore.ErrNotOnList):
				return nil, fmt.Errorf("%w: padding for a voter not listed with style %s", ErrBoxRequest, its[0].Style)
			case errors.Is(err, idpstore.ErrPaddingExhausted), errors.Is(err, idpstore.ErrDeviceKeyBound):
				return nil, fmt.Errorf("%w: %w", ErrBoxRequest, err)
			}
			return nil, err
		}
	}
	kid := s.cfg.Issuer.CurrentKeyID()
	if err := s.checkTokenKey(kid, now); err != nil {
		return nil, err
	}
	out := make([]*RevoteCredential, len(r.Items))
	for i, it := range r.Items {
		var tid [16]byte
		if _, err := io.ReadFull(rc.Rand, tid[:]); err != nil {
			return nil, err
		}
		id := revote.VoterID(s.cfg.ElectionID, it.Pseudonym)
		if it.Kind == BoxDummy {
			id = revote.DummyID(s.cfg.ElectionID, it.Style, it.Index)
		}
		c, err := s.credential(id, it.Style, it.DeviceKey, tid, kid)
		if err != nil {
			return nil, err
		}
		c.S = nil // the box never learns s
		out[i] = c
	}
	s.access(ctx, client, "-", "box-credentials", "issued")
	return out, nil
}

// issueRevote completes a sign-in in deniable re-voting mode (spec
// §15.16.1): the credential for the voter's identifier V, recorded like
// any credential (the voter on the list, no in-person mark, the device key
// unbound) but not posted, returned with the token and s; the SMS notice
// for the voter's first credential only.
func (s *Service) issueRevote(ctx context.Context, client string, now time.Time, p PendingAuth, tok string, claims *token.Claims) (*Credential, error) {
	var tid [16]byte
	if err := decodeTokenID(claims.TokenID, &tid); err != nil {
		return nil, err
	}
	prior, err := s.cfg.Store.Credentials(ctx, s.cfg.ElectionID, p.Pseudonym)
	if err != nil {
		return nil, err
	}
	rc, err := s.credential(revote.VoterID(s.cfg.ElectionID, p.Pseudonym), p.BallotStyle, [32]byte(claims.DeviceKey), tid, claims.KeyID)
	if err != nil {
		return nil, err
	}
	row := &idpstore.Credential{ElectionID: s.cfg.ElectionID, TokenID: tid, Pseudonym: p.Pseudonym, DeviceKey: [32]byte(claims.DeviceKey),
		BallotStyle: p.BallotStyle, KeyID: claims.KeyID, IssuedAt: claims.IssuedAt.Unix(), ExpiresAt: claims.ExpiresAt.Unix(), NotifyPhone: p.Notify[0], NotifyLang: p.Lang}
	if _, err := s.cfg.Store.IssueCredential(ctx, row, 0, nil); err != nil {
		switch {
		case errors.Is(err, idpstore.ErrDeviceKeyBound):
			s.access(ctx, client, p.Subject, "verify", "device_key_bound")
			return nil, ErrDeviceKeyBound
		case errors.Is(err, idpstore.ErrVotedInPerson):
			s.access(ctx, client, p.Subject, "verify", "voted_in_person")
			return nil, ErrVotedInPerson
		case errors.Is(err, idpstore.ErrNotOnList):
			s.access(ctx, client, p.Subject, "verify", "not_on_list")
			return nil, ErrNotOnList
		}
		return nil, err
	}
	// A notice per credential would tell whoever holds the phone that the
	// voter signed in again (spec §15.8): the first one only.
	if len(prior) == 0 {
		note := credentialText(p.Lang, claims.IssuedAt, claims.PseudonymHex()[:8])
		for _, ph := range p.Notify {
			if err := s.cfg.Sender.Send(ctx, ph, note); err != nil {
				s.log.Warn("credential notice not sent", "err", err)
			}
		}
	}
	s.guard.refund(client, now)
	s.access(ctx, client, p.Subject, "verify", "token_issued")
	return &Credential{Token: tok, Claims: claims, Revote: rc}, nil
}

// VotingOver reports whether voting is over (the configured end passed or
// the board holds the close entry).
func (s *Service) VotingOver() bool { return s.closedAt(s.cfg.Now()) }

// closedAt reports whether voting is over: the configured end passed or
// the board holds the close entry.
func (s *Service) closedAt(now time.Time) bool {
	if !s.cfg.VotingCloses.IsZero() && !now.Before(s.cfg.VotingCloses) {
		return true
	}
	return s.votingClosed(now)
}

// entryRevoteRoll is the type code of revote-roll (spec §15.14.1).
const entryRevoteRoll uint16 = 0x0609

// PostRoll posts the roll (spec §15.7): the identifier and ballot style of
// every listed voter, sorted by identifier, once voting is over. The
// entry is the same bytes every time (a retry is the identical entry).
func (s *Service) PostRoll(ctx context.Context) error {
	if s.cfg.Revote == nil {
		return fmt.Errorf("%w: the election is not in deniable re-voting mode", ErrConflict)
	}
	now := s.cfg.Now()
	if !s.closedAt(now) {
		return ErrVotingClosed
	}
	vs, err := s.cfg.Store.ListedVoters(ctx, s.cfg.ElectionID)
	if err != nil {
		return err
	}
	l := &revote.Roll{Context: s.cfg.ContextHash}
	for _, v := range vs {
		l.Voters = append(l.Voters, revote.RollVoter{ID: revote.VoterID(s.cfg.ElectionID, v.Pseudonym), Style: v.BallotStyle})
	}
	revote.SortRoll(l.Voters)
	id, err := s.cfg.Store.Enqueue(ctx, entryRevoteRoll, l.Encode(), now.Unix())
	if err != nil {
		return err
	}
	return s.awaitPosted(ctx, id)
}

// MarkRevote records a signed in-person mark in deniable re-voting mode
// (spec §15.16.4): the checks of MarkInPerson, then a mark's token (claim
// "mark": the box takes it for the mark's row only, never for an online
// row) and a credential for the voter's identifier bound to the station
// device's key, for the mark's row (a blank ballot, flag 0) that the station's
// device casts with the mark's signatures; no board entry is posted (the
// row is published in a slot). From then on the voter cannot sign in.
// The credential is recorded before the mark (it must precede it: a
// marked voter gets no credential), so a failed mark leaves a credential
// that carries no mark.
func (s *Service) MarkRevote(ctx context.Context, client string, m *record.InPersonMark, deviceKey []byte) (*Credential, error) {
	if s.cfg.Revote == nil {
		return nil, fmt.Errorf("%w: the election is not in deniable re-voting mode", ErrConflict)
	}
	if len(deviceKey) != ed25519.PublicKeySize || !record.ValidEd25519Key(deviceKey) {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "device_key", msg: "idp: the device key is not a valid Ed25519 public key"}
	}
	v, err := s.checkMark(ctx, client, m)
	if err != nil {
		return nil, err
	}
	tok, claims, err := s.cfg.Issuer.Issue(token.Grant{ElectionID: s.cfg.ElectionID, ContextHash: s.cfg.ContextHash, Pseudonym: m.Pseudonym, BallotStyle: m.BallotStyle, DeviceKey: deviceKey, Mark: true})
	if err != nil {
		return nil, err
	}
	if err := s.checkTokenKey(claims.KeyID, claims.IssuedAt); err != nil {
		return nil, err
	}
	var tid [16]byte
	if err := decodeTokenID(claims.TokenID, &tid); err != nil {
		return nil, err
	}
	rc, err := s.credential(revote.VoterID(s.cfg.ElectionID, m.Pseudonym), m.BallotStyle, [32]byte(deviceKey), tid, claims.KeyID)
	if err != nil {
		return nil, err
	}
	cred := &idpstore.Credential{ElectionID: s.cfg.ElectionID, TokenID: tid, Pseudonym: m.Pseudonym, DeviceKey: [32]byte(deviceKey),
		BallotStyle: m.BallotStyle, KeyID: claims.KeyID, IssuedAt: claims.IssuedAt.Unix(), ExpiresAt: claims.ExpiresAt.Unix()}
	if _, err := s.cfg.Store.IssueCredential(ctx, cred, 0, nil); err != nil {
		switch {
		case errors.Is(err, idpstore.ErrDeviceKeyBound):
			return nil, ErrDeviceKeyBound
		case errors.Is(err, idpstore.ErrVotedInPerson):
			return nil, fmt.Errorf("%w: voter already marked", ErrConflict)
		}
		return nil, err
	}
	mk := &idpstore.Mark{ElectionID: m.ElectionID, Pseudonym: m.Pseudonym, StationID: m.StationID, OfficialID: m.OfficialID, MarkedAt: int64(m.MarkedAt)}
	if _, err := s.cfg.Store.MarkInPerson(ctx, mk, 0, nil); err != nil {
		if errors.Is(err, idpstore.ErrAlreadyMarked) {
			return nil, fmt.Errorf("%w: voter already marked", ErrConflict)
		}
		return nil, err
	}
	s.access(ctx, client, "official:"+m.OfficialID, "mark", "ok")
	note := markedInPersonText(v.NotifyLang, m.StationID, time.Unix(int64(m.MarkedAt), 0))
	for _, phone := range distinct(v.Phone, v.NotifyPhone) {
		if err := s.cfg.Sender.Send(ctx, phone, note); err != nil {
			s.log.Warn("in-person notice not sent", "err", err)
		}
	}
	return &Credential{Token: tok, Claims: claims, Revote: rc}, nil
}
