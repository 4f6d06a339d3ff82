// Package idp is evote's identity service (spec/08-identity.md): it checks a
// voter against the population register (PIN, identity document, date of
// birth), sends a one-time code to the phone number on record, and issues a
// short-lived voting token bound to the voter's pseudonym, ballot style and
// device key. Every credential, in-person mark, voter-list change and
// signing key is posted to the bulletin board. It runs as its own service
// (idp/idpapi) with its own keys, a trust domain apart from the ballot box,
// or embedded in one process for the demo.
//
// Most callers use Service through idpapi; the ballot box uses only
// idp/token.
package idp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/record"
)

// Config configures a Service. Keys are secrets: they come from files or a
// secret store, never from defaults.
type Config struct {
	ElectionID   string
	ContextHash  [32]byte  // the election's context hash, from the election package
	ElectionDay  time.Time // for the age check
	PseudonymKey []byte    // 32 random bytes; held by the identity service only
	// VotingOpens and VotingCloses bound online sign-in and in-person marks
	// (marks are posted while voting is open). Zero values leave that side
	// unbounded, for list preparation before the dates are fixed.
	VotingOpens, VotingCloses time.Time
	// TOTPKey (32 bytes) seals voters' authenticator-app secrets; without it
	// the authenticator-app factor is off and codes go by SMS only.
	TOTPKey []byte

	Registry        registry.Registry
	RegistryTimeout time.Duration // per lookup; default 5 s
	Sender          otp.Sender
	OTP             otp.Config // policy of the default in-memory challenges
	Challenges      Challenges // optional; default in memory
	Store           *idpstore.Store
	Board           Board
	Issuer          *token.Issuer
	Authority       *voterlist.Authority // stations and officials

	// Revote, if set, runs the service for an election in deniable
	// re-voting mode (spec §15.16, revote.go).
	Revote *RevoteConfig

	Abuse              AbuseConfig
	AccessLogRetention time.Duration // default 90 days
	Logger             *slog.Logger  // default slog.Default()
	Now                func() time.Time
}

// PendingAuth is what a challenge carries between the two factors: the
// voter's pseudonym and ballot style, the number the code went to, the
// numbers notices go to, the opaque subject of the PIN, and the method.
type PendingAuth struct {
	Pseudonym   [32]byte
	BallotStyle string
	Phone       string   // where the code goes
	Notify      []string // where notices go: the register's number and, if different, Phone
	Subject     string
	Method      string // MethodSMS or MethodTOTP
	Lang        string // the language of the texts to the voter (Languages; empty: DefaultLang)
	// Unconfirmed: the first factor's answer did not say whether the
	// details matched (§8.11); such a challenge cannot be resent.
	Unconfirmed bool
	// Decoy: the details did not match (or the voter may not vote online);
	// no code opens the challenge. Always Unconfirmed.
	Decoy bool
}

// Challenges keeps second-factor challenges. The default is an in-memory
// *otp.Manager[PendingAuth] (why in memory: see package otp); a deployment
// of several instances without sticky routing supplies a shared
// implementation with the same semantics: codes stored only as MACs,
// attempts counted before the check, single use, throttled resend.
type Challenges interface {
	Start(v PendingAuth) (id, code string, expires time.Time, err error)
	Resend(id string) (code string, expires time.Time, v PendingAuth, err error)
	RetryAfter(id string) time.Duration
	VerifyWith(id string, check func(codeMAC [32]byte, v PendingAuth) bool) (PendingAuth, int, error)
	CodeMatches(id, code string, codeMAC [32]byte) bool
	Peek(id string) (PendingAuth, error)
	TTL() time.Duration
}

var _ Challenges = (*otp.Manager[PendingAuth])(nil)

// Service is the identity service.
type Service struct {
	cfg    Config
	otp    Challenges
	guard  *clientGuard
	log    *slog.Logger
	poster poster // posts the outbox (outbox.go)
	keySet sync.Mutex
	// keys is the signing-key history as last published, by kid.
	keys atomic.Pointer[map[string]idpstore.Key]
	// The board's voting state (board.go): closed once seen closed.
	closed  atomic.Bool
	stateMu sync.Mutex
	stateAt time.Time
}

// New checks cfg, records the issuer's current key in the key history and
// queues the key set for the board.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if !token.ValidElectionID(cfg.ElectionID) || cfg.ElectionDay.IsZero() {
		return nil, errors.New("idp: election id and election day are required")
	}
	if len(cfg.PseudonymKey) != voterlist.PseudonymKeySize {
		return nil, fmt.Errorf("idp: pseudonym key must be %d bytes", voterlist.PseudonymKeySize)
	}
	if cfg.Registry == nil || cfg.Sender == nil || cfg.Store == nil || cfg.Board == nil || cfg.Issuer == nil || cfg.Authority == nil {
		return nil, errors.New("idp: registry, sender, store, board, issuer and authority are required")
	}
	if cfg.Authority.ElectionID != cfg.ElectionID || cfg.Authority.ContextHash != cfg.ContextHash {
		return nil, errors.New("idp: authority configured for another election")
	}
	if !cfg.VotingOpens.IsZero() && !cfg.VotingCloses.IsZero() && !cfg.VotingOpens.Before(cfg.VotingCloses) {
		return nil, errors.New("idp: voting must open before it closes")
	}
	if cfg.Revote != nil {
		rc := *cfg.Revote
		if err := rc.check(); err != nil {
			return nil, err
		}
		cfg.Revote = &rc
	}
	if cfg.TOTPKey != nil && len(cfg.TOTPKey) != 32 {
		return nil, errors.New("idp: TOTP key must be 32 bytes")
	}
	if cfg.RegistryTimeout == 0 {
		cfg.RegistryTimeout = 5 * time.Second
	}
	if cfg.AccessLogRetention == 0 {
		cfg.AccessLogRetention = 90 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OTP.Now == nil {
		cfg.OTP.Now = cfg.Now
	}
	cfg.Abuse.fill()
	ch := cfg.Challenges
	if ch == nil {
		m, err := otp.NewManager[PendingAuth](cfg.OTP)
		if err != nil {
			return nil, err
		}
		ch = m
	}
	s := &Service{cfg: cfg, otp: ch, log: cfg.Logger.With("component", "idp", "election", cfg.ElectionID)}
	s.guard = newClientGuard(&s.cfg.Abuse)
	if err := s.PublishKeys(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// PublishKeys records the issuer's keys in the key history (a new current
// key retires the previous one) and, when that changed the history, queues
// and posts an IdentityKeySet with every key. Call it after rotating the
// issuer's key.
func (s *Service) PublishKeys(ctx context.Context) error {
	s.keySet.Lock()
	defer s.keySet.Unlock()
	before, err := s.cfg.Store.Keys(ctx)
	if err != nil {
		return err
	}
	kid := s.cfg.Issuer.CurrentKeyID()
	pub := s.cfg.Issuer.KeySet()[kid]
	if err := s.cfg.Store.AddKey(ctx, idpstore.Key{KeyID: kid, PublicKey: pub, ValidFrom: s.cfg.Now().Unix()}); err != nil {
		return err
	}
	after, err := s.cfg.Store.Keys(ctx)
	if err != nil {
		return err
	}
	byID := make(map[string]idpstore.Key, len(after))
	for _, k := range after {
		byID[k.KeyID] = k
	}
	s.keys.Store(&byID)
	if len(after) == len(before) {
		return nil
	}
	ks := &record.IdentityKeySet{ElectionID: s.cfg.ElectionID, ContextHash: s.cfg.ContextHash, Issuer: s.cfg.Issuer.Issuer(), Audience: s.cfg.Issuer.Audience()}
	for _, k := range after {
		ik := record.IdentityKey{KeyID: k.KeyID, ValidFrom: uint64(k.ValidFrom), RetiredAt: uint64(k.RetiredAt)}
		copy(ik.PublicKey[:], k.PublicKey)
		ks.Keys = append(ks.Keys, ik)
	}
	sort.Slice(ks.Keys, func(i, j int) bool { return ks.Keys[i].KeyID < ks.Keys[j].KeyID })
	payload := ks.Encode()
	if _, err := record.DecodeIdentityKeySet(payload); err != nil {
		return fmt.Errorf("idp: key set: %w", err)
	}
	if _, err := s.cfg.Store.Enqueue(ctx, entryIdentityKeySet, payload, s.cfg.Now().Unix()); err != nil {
		return err
	}
	_, err = s.FlushBoard(ctx)
	if err != nil {
		s.log.Warn("board unavailable; key set queued", "err", err)
	}
	return nil
}

// checkTokenKey reports whether the key kid may sign at t by the key
// history the service publishes: the rules refuse a credential issued
// outside its key's window (spec/08-identity.md §8.8.1), and an entry the
// board refuses would block the outbox.
func (s *Service) checkTokenKey(kid string, t time.Time) error {
	var k idpstore.Key
	ok := false
	if m := s.keys.Load(); m != nil {
		k, ok = (*m)[kid]
	}
	u := t.Unix()
	if !ok || u < k.ValidFrom || k.RetiredAt != 0 && u > k.RetiredAt {
		return fmt.Errorf("idp: token key %s is not published with a validity window containing %d: call PublishKeys after rotating the issuer's key", kid, u)
	}
	return nil
}

// subject is the opaque name of a PIN in the budgets and the access
// log: the first 16 bytes of HMAC-SHA-256 under the pseudonym key of a tag
// and the PIN, in hex.
func (s *Service) subject(pin registry.PIN) string {
	m := hmac.New(sha256.New, s.cfg.PseudonymKey)
	m.Write([]byte("evote-v1/idp-subject\x00"))
	m.Write([]byte(pin.Digits()))
	return "s-" + hex.EncodeToString(m.Sum(nil)[:16])
}

// access writes one access-log event and an info log line; neither holds a
// PIN, name or phone number.
func (s *Service) access(ctx context.Context, client, subject, event, outcome string) {
	now := s.cfg.Now()
	if err := s.cfg.Store.LogAccess(ctx, idpstore.AccessEvent{At: now.Unix(), Client: client, Subject: subject, Event: event, Outcome: outcome}); err != nil {
		s.log.Error("access log write failed", "err", err)
	}
	s.log.Info("auth event", "event", event, "outcome", outcome, "client", client)
}

// PurgeAccessLog deletes access-log events older than the retention period
// and the per-PIN budgets that are full again; run it daily.
func (s *Service) PurgeAccessLog(ctx context.Context) (int64, error) {
	before := s.cfg.Now().Add(-s.cfg.AccessLogRetention).Unix()
	n, err := s.cfg.Store.PurgeAccessLog(ctx, before)
	if err != nil {
		return 0, err
	}
	if _, err := s.cfg.Store.PurgeBudgets(ctx, s.cfg.Now().Unix()); err != nil {
		return n, err
	}
	return n, nil
}

// CancelledPseudonyms returns the pseudonyms of voters marked as having
// voted in person: cleansing cancels every online ballot cast under them.
func (s *Service) CancelledPseudonyms(ctx context.Context) ([][32]byte, error) {
	marks, err := s.cfg.Store.Marks(ctx, s.cfg.ElectionID)
	if err != nil {
		return nil, err
	}
	out := make([][32]byte, len(marks))
	for i, m := range marks {
		out[i] = m.Pseudonym
	}
	return out, nil
}

// open reports whether voting is open at now: within the configured
// window, and the board not holding the close entry (board.go).
func (s *Service) open(now time.Time) error {
	if !s.cfg.VotingOpens.IsZero() && now.Before(s.cfg.VotingOpens) || !s.cfg.VotingCloses.IsZero() && !now.Before(s.cfg.VotingCloses) {
		return ErrVotingClosed
	}
	if s.votingClosed(now) {
		return ErrVotingClosed
	}
	return nil
}

// Pseudonym returns the voter's pseudonym in this election.
func (s *Service) Pseudonym(pin registry.PIN) [32]byte {
	return voterlist.Pseudonym(s.cfg.PseudonymKey, s.cfg.ElectionID, pin)
}
