package idp

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/record"
)

// StartRequest is the first factor: what the voter types.
type StartRequest struct {
	PIN            string
	DocumentNumber string
	BirthDate      string // YYYY-MM-DD
	// Method asks for the second factor: MethodSMS (default) or MethodTOTP
	// for a voter who enrolled an authenticator app; without a confirmed
	// enrolment the code goes by SMS.
	Method string
	// Lang is the language of the texts to the voter (the code, notices):
	// one of Languages, or empty for DefaultLang. The voting page sends the
	// voter's chosen language.
	Lang string
}

// Challenge is the answer to a first factor: a challenge to send the code
// to. When Unconfirmed, the answer does not say whether the details
// matched (spec/08-identity.md §8.11): if they did, a code is on its way
// to the phone on record; if not, no code opens the challenge.
type Challenge struct {
	ID          string
	ExpiresAt   time.Time
	PhoneHint   string        // masked, e.g. "+996*******56"; empty when Unconfirmed
	ResendAfter time.Duration // before this, Resend answers ErrResendThrottled
	Method      string        // MethodSMS or MethodTOTP: where the code comes from
	Unconfirmed bool
}

// Start checks the first factor and sends a one-time code to the phone
// number on record (spec/08-identity.md §8.11 has the reasoning):
//
//   - correct details are never refused for what others did: no limit keyed
//     on the PIN or the address gates the register lookup, only the
//     address's token bucket, which refuses traffic beyond its rate;
//   - an answer that tells whether details match costs a unit of the PIN's
//     answer budget; without one (or when the address has failed too
//     often) the answer is unconfirmed, alike whatever the register said,
//     and only the phone learns of a match;
//   - every code texted costs a unit of the PIN's code budget, which only
//     matching details reach.
//
// A register outage answers ErrRegistryUnavailable with a retry time and
// counts against nobody.
func (s *Service) Start(ctx context.Context, client string, r StartRequest) (*Challenge, error) {
	arrived := time.Now()
	now := s.cfg.Now()
	if err := s.guard.allow(client, now); err != nil {
		s.access(ctx, client, "-", "start", outcomeOf(err))
		return nil, err
	}
	if err := s.open(now); err != nil {
		return nil, err
	}
	a, err := s.newAttempt(client, r, now)
	if err != nil {
		return nil, err
	}
	ch, err := a.run(ctx)
	switch {
	case !a.decided:
		// A register outage: said plainly, it tells nothing.
	case a.plain && err == nil:
		s.guard.refund(client, now)
	case !a.plain:
		// Every unconfirmed answer counts against the address, match or
		// not, so that the address's state does not tell them apart.
		s.guard.failed(client, now)
		s.padUnconfirmed(ctx, arrived)
	}
	return ch, err
}

// attempt is one first factor on its way through Start.
type attempt struct {
	s      *Service
	client string
	subj   string // the PIN's opaque subject
	q      registry.Query
	method string
	lang   string // of the texts to the voter
	now    time.Time
	// decided: the register answered and decide ran. plain: the answer may
	// tell whether the details match; it took a unit of the PIN's answer
	// budget. Otherwise the answer is unconfirmed.
	decided, plain bool
}

// newAttempt checks the form of the request; its errors tell nothing about
// the register.
func (s *Service) newAttempt(client string, r StartRequest, now time.Time) (*attempt, error) {
	pin, err := registry.ParsePIN(strings.TrimSpace(r.PIN), now)
	if err != nil {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "pin_format", msg: "idp: the PIN must be 14 digits: sex, date of birth (DDMMYYYY), 5-digit number"}
	}
	doc, err := registry.NormalizeDocument(r.DocumentNumber)
	if err != nil {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "document_format", msg: "idp: the document number is 2 letters and 7 digits, e.g. ID1234567"}
	}
	dob, err := registry.ParseBirthDate(strings.TrimSpace(r.BirthDate))
	if err != nil {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "birth_date_format", msg: "idp: the date of birth is YYYY-MM-DD"}
	}
	if !dob.Equal(pin.BirthDate()) {
		// The PIN embeds the date of birth: this is a typing error, not a
		// register answer, so it reveals nothing.
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "birth_date_pin", msg: "idp: the date of birth does not match the one in the PIN"}
	}
	if r.Method != "" && r.Method != MethodSMS && r.Method != MethodTOTP {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "method", msg: "idp: method must be sms or totp"}
	}
	lang := r.Lang
	if lang == "" {
		lang = DefaultLang
	} else if !ValidLang(lang) {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "lang", msg: "idp: lang must be ky, ru, uz or en"}
	}
	return &attempt{s: s, client: client, subj: s.subject(pin), q: registry.Query{PIN: pin, DocumentNumber: doc, BirthDate: dob}, method: r.Method, lang: lang, now: now}, nil
}

// The PIN's budgets (§8.11), kept in the store by subject.
func (s *Service) answerBudget() idpstore.Budget {
	c := &s.cfg.Abuse
	return idpstore.Budget{Kind: "answers", Size: int64(c.PINAnswers), Interval: int64(max(c.PINAnswerInterval/time.Second, 1))}
}

func (s *Service) codeBudget() idpstore.Budget {
	c := &s.cfg.Abuse
	return idpstore.Budget{Kind: "codes", Size: int64(c.PINCodes), Interval: int64(max(c.PINCodeInterval/time.Second, 1))}
}

// decide takes, in one statement, a unit of the PIN's answer budget
// (unless the address has failed too often) and, withCode, one of its code
// budget. The answer is plain if it got the answer unit. Deciding with an
// atomic take means a flood of concurrent guesses gets no more plain
// answers than units, whatever the register says to each. It returns the
// wait for a code unit (0: taken).
func (a *attempt) decide(ctx context.Context, withCode bool) (codeWait int64, err error) {
	a.decided = true
	var bs []idpstore.Budget
	answering := a.s.guard.answering(a.client, a.now)
	if answering {
		bs = append(bs, a.s.answerBudget())
	}
	if withCode {
		bs = append(bs, a.s.codeBudget())
	}
	waits, err := a.s.cfg.Store.Take(ctx, a.subj, a.now.Unix(), bs...)
	if err != nil {
		return 0, err
	}
	if answering {
		a.plain, waits = waits[0] == 0, waits[1:]
	}
	if withCode {
		return waits[0], nil
	}
	return 0, nil
}

// run asks the register and answers.
func (a *attempt) run(ctx context.Context) (*Challenge, error) {
	s := a.s
	lctx, cancel := context.WithTimeout(ctx, s.cfg.RegistryTimeout)
	cit, err := s.cfg.Registry.Lookup(lctx, a.q)
	cancel()
	switch {
	case err == nil:
	case registry.IsMismatch(err):
		return a.refuse(ctx, "mismatch", ErrNotConfirmed)
	default:
		// An outage tells nothing about the details: said plainly, and no
		// budget is touched.
		if registry.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("population register unavailable", "err", err)
			s.access(ctx, a.client, a.subj, "start", "registry_unavailable")
		} else {
			s.log.Error("population register lookup failed", "err", err)
			s.access(ctx, a.client, a.subj, "start", "registry_error")
		}
		return nil, retry(ErrRegistryUnavailable, 30*time.Second)
	}
	if err := registry.CheckEligibility(cit, s.cfg.ElectionDay); err != nil {
		if errors.Is(err, registry.ErrDeceased) {
			// Someone is using a dead person's documents: answer as for a
			// mismatch and count it as one.
			return a.refuse(ctx, "ineligible_deceased", ErrNotConfirmed)
		}
		reason := reasonOf(err)
		return a.refuseNotified(ctx, "ineligible_"+reason, &DetailError{Err: ErrIneligible, Reason: reason, msg: "idp: not eligible to vote: " + strings.ReplaceAll(reason, "_", " ")},
			cit.Phone, ineligibleText(a.lang, reason))
	}
	ps := s.Pseudonym(a.q.PIN)
	v, err := s.cfg.Store.Voter(ctx, s.cfg.ElectionID, ps)
	if errors.Is(err, idpstore.ErrNotFound) || err == nil && v.Removed {
		return a.refuseNotified(ctx, "not_on_list", ErrNotOnList,
			cit.Phone, notListedText(a.lang))
	}
	if err != nil {
		return a.internal(ctx, err)
	}
	if v.MarkedAt != 0 {
		return a.refuseNotified(ctx, "voted_in_person", ErrVotedInPerson,
			cit.Phone, votedInPersonText(a.lang))
	}
	phone := cit.Phone
	if v.Phone != "" {
		phone = v.Phone // set by a list official through a signed, posted change
	}
	if !voterlist.ValidPhone(phone) {
		return a.refuse(ctx, "no_phone", &DetailError{Err: ErrSendFailed, Reason: "no_phone", msg: "idp: no usable phone number on record; contact your consulate"})
	}
	// Notices of credentials go to the register's number as well as to a
	// number a list official recorded: a corrupt official who redirected a
	// voter's codes to a phone of their own is still seen by the voter.
	notify := []string{phone}
	if cit.Phone != phone && voterlist.ValidPhone(cit.Phone) {
		notify = []string{cit.Phone, phone}
	}
	return a.challenge(ctx, PendingAuth{Pseudonym: ps, BallotStyle: v.BallotStyle, Phone: phone, Notify: notify, Subject: a.subj, Method: MethodSMS, Lang: a.lang})
}

// challenge opens the second factor for a voter whose details matched:
// an authenticator-app challenge if asked for and enrolled (plain answers
// only), otherwise a code texted to p.Phone. Either costs a unit of the
// PIN's code budget, taken with the answer's.
func (a *attempt) challenge(ctx context.Context, p PendingAuth) (*Challenge, error) {
	s := a.s
	wait, err := a.decide(ctx, true)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return a.refuse(ctx, "code_limit", retry(ErrTryLater, time.Duration(wait)*time.Second))
	}
	if a.plain && a.method == MethodTOTP && s.totpActive(ctx, p.Pseudonym) {
		p.Method = MethodTOTP
	}
	p.Unconfirmed = !a.plain
	id, code, exp, err := s.otp.Start(p)
	if err != nil {
		return nil, err
	}
	if p.Method == MethodTOTP {
		s.access(ctx, a.client, a.subj, "start", "totp_challenge")
		return &Challenge{ID: id, ExpiresAt: exp, Method: MethodTOTP}, nil
	}
	text := codeText(p.Lang, code, s.otp.TTL())
	if !a.plain {
		// Sent in the background, so that the answer's timing does not
		// depend on the SMS gateway.
		s.sendLater(p.Phone, text)
		s.access(ctx, a.client, a.subj, "start", "code_sent_unconfirmed")
		return &Challenge{ID: id, ExpiresAt: exp, ResendAfter: s.otp.RetryAfter(id), Method: MethodSMS, Unconfirmed: true}, nil
	}
	if err := s.cfg.Sender.Send(ctx, p.Phone, text); err != nil {
		s.log.Warn("code not sent", "err", err)
		s.access(ctx, a.client, a.subj, "start", "send_failed")
		if err := s.cfg.Store.GiveBack(ctx, a.subj, s.codeBudget()); err != nil {
			s.log.Error("code budget not given back", "err", err)
		}
		return nil, retry(ErrSendFailed, 30*time.Second)
	}
	s.access(ctx, a.client, a.subj, "start", "code_sent")
	return &Challenge{ID: id, ExpiresAt: exp, PhoneHint: otp.MaskPhone(p.Phone), ResendAfter: s.otp.RetryAfter(id), Method: MethodSMS}, nil
}

// refuse answers a first factor that opens no challenge: with err when the
// answer is plain, and otherwise with a decoy, an unconfirmed challenge
// that no code opens, shaped and timed like a real one. A plain "not
// confirmed" counts against the address (Start counts every unconfirmed
// answer, whatever the register said).
func (a *attempt) refuse(ctx context.Context, outcome string, err error) (*Challenge, error) {
	if !a.decided {
		if _, derr := a.decide(ctx, false); derr != nil {
			return nil, derr
		}
	}
	if a.plain {
		if errors.Is(err, ErrNotConfirmed) {
			a.s.guard.failed(a.client, a.now)
		}
		a.s.access(ctx, a.client, a.subj, "start", outcome)
		return nil, err
	}
	a.s.access(ctx, a.client, a.subj, "start", outcome+"_unconfirmed")
	id, _, exp, serr := a.s.otp.Start(PendingAuth{Subject: a.subj, Method: MethodSMS, Unconfirmed: true, Decoy: true})
	if serr != nil {
		return nil, serr
	}
	return &Challenge{ID: id, ExpiresAt: exp, ResendAfter: a.s.otp.RetryAfter(id), Method: MethodSMS, Unconfirmed: true}, nil
}

// refuseNotified is refuse for a voter whose details matched but who
// cannot vote online: when the answer cannot say why (unconfirmed), the
// reason is texted to phone, if a unit of the PIN's code budget is left.
func (a *attempt) refuseNotified(ctx context.Context, outcome string, err error, phone, text string) (*Challenge, error) {
	if _, derr := a.decide(ctx, false); derr != nil {
		return nil, derr
	}
	if !a.plain && voterlist.ValidPhone(phone) {
		if w, terr := a.s.cfg.Store.Take(ctx, a.subj, a.now.Unix(), a.s.codeBudget()); terr == nil && w[0] == 0 {
			a.s.sendLater(phone, text)
		}
	}
	return a.refuse(ctx, outcome, err)
}

// internal answers a store failure after a match: plainly a server error,
// and unconfirmed a decoy, since only a match reaches it.
func (a *attempt) internal(ctx context.Context, err error) (*Challenge, error) {
	if !a.decided {
		if _, derr := a.decide(ctx, false); derr != nil {
			return nil, derr
		}
	}
	if a.plain {
		return nil, err
	}
	a.s.log.Error("first factor failed after a match", "err", err)
	return a.refuse(ctx, "internal", err)
}

// sendLater texts phone in the background, within 30 s.
func (s *Service) sendLater(phone, text string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.cfg.Sender.Send(ctx, phone, text); err != nil {
			s.log.Warn("text not sent", "err", err)
		}
	}()
}

// padUnconfirmed holds an unconfirmed answer until UnconfirmedFloor after
// the request arrived, so that the register's and the store's timing do not
// tell a match from a mismatch.
func (s *Service) padUnconfirmed(ctx context.Context, arrived time.Time) {
	d := s.cfg.Abuse.UnconfirmedFloor - time.Since(arrived)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, registry.ErrNotCitizen):
		return "not_citizen"
	case errors.Is(err, registry.ErrUnderAge):
		return "under_age"
	case errors.Is(err, registry.ErrRightsSuspended):
		return "rights_suspended"
	}
	return "other"
}

func outcomeOf(err error) string {
	if errors.Is(err, ErrRateLimited) {
		return "rate_limited"
	}
	return "refused"
}

// Resend sends a fresh code for challenge id: throttled per challenge, and
// costing a unit of the PIN's code budget. Unconfirmed challenges, real or
// decoy, cannot be resent (the voter starts again), so a resend cannot tell
// them apart.
func (s *Service) Resend(ctx context.Context, client, id string) (*Challenge, error) {
	now := s.cfg.Now()
	if err := s.guard.allow(client, now); err != nil {
		return nil, err
	}
	p, err := s.otp.Peek(id)
	if err != nil {
		return nil, otpError(err, 0)
	}
	switch {
	case p.Method == MethodTOTP:
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "totp_no_resend", msg: "idp: an authenticator-app sign-in has no code to resend; start again for an SMS"}
	case p.Unconfirmed:
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "unconfirmed_no_resend", msg: "idp: this sign-in cannot be resent; start again for a new code"}
	}
	if wait := s.otp.RetryAfter(id); wait > 0 {
		return nil, retry(ErrResendThrottled, wait)
	}
	subj := p.Subject
	waits, err := s.cfg.Store.Take(ctx, subj, now.Unix(), s.codeBudget())
	if err != nil {
		return nil, err
	}
	if waits[0] > 0 {
		s.access(ctx, client, subj, "resend", "code_limit")
		return nil, retry(ErrResendThrottled, time.Duration(waits[0])*time.Second)
	}
	code, exp, p, err := s.otp.Resend(id)
	if err != nil {
		s.giveBackCode(ctx, subj)
		if errors.Is(err, otp.ErrThrottled) || errors.Is(err, otp.ErrSendLimit) {
			return nil, retry(ErrResendThrottled, s.otp.RetryAfter(id))
		}
		return nil, otpError(err, 0)
	}
	if err := s.cfg.Sender.Send(ctx, p.Phone, codeText(p.Lang, code, s.otp.TTL())); err != nil {
		s.log.Warn("code not sent", "err", err)
		return nil, retry(ErrSendFailed, 30*time.Second)
	}
	s.guard.refund(client, now)
	s.access(ctx, client, p.Subject, "resend", "code_sent")
	return &Challenge{ID: id, ExpiresAt: exp, PhoneHint: otp.MaskPhone(p.Phone), ResendAfter: s.otp.RetryAfter(id), Method: MethodSMS}, nil
}

func (s *Service) giveBackCode(ctx context.Context, subj string) {
	if err := s.cfg.Store.GiveBack(ctx, subj, s.codeBudget()); err != nil {
		s.log.Error("code budget not given back", "err", err)
	}
}

func otpError(err error, left int) error {
	switch {
	case errors.Is(err, otp.ErrWrongCode):
		return &DetailError{Err: ErrWrongCode, AttemptsLeft: left, msg: fmt.Sprintf("idp: wrong code, %d attempts left", left)}
	case errors.Is(err, otp.ErrExpired):
		return ErrCodeExpired
	case errors.Is(err, otp.ErrUsed):
		return ErrCodeUsed
	case errors.Is(err, otp.ErrLocked):
		return ErrChallengeLocked
	}
	return ErrUnknownChallenge
}

// VerifyRequest is the second factor and the device's public key.
type VerifyRequest struct {
	ChallengeID string
	Code        string
	DeviceKey   []byte // Ed25519 public key generated on the voter's device
}

// Credential is an issued voting token.
type Credential struct {
	Token  string
	Claims *token.Claims
	// Revote is the credential of an election in deniable re-voting mode
	// (spec §15.16.1) with the randomness s that opens its identifier;
	// nil in the other modes.
	Revote *RevoteCredential
}

// Verify checks the code and issues a voting token bound to the device
// key. The credential is recorded and posted to the board (as
// CredentialIssued) before the token is returned, and the voter is told by
// SMS. If the board is down the credential stays queued (it will be posted)
// but no token is returned: ErrBoardUnavailable, sign in again later.
func (s *Service) Verify(ctx context.Context, client string, r VerifyRequest) (*Credential, error) {
	now := s.cfg.Now()
	if err := s.guard.allow(client, now); err != nil {
		s.access(ctx, client, "-", "verify", outcomeOf(err))
		return nil, err
	}
	if err := s.open(now); err != nil {
		return nil, err
	}
	if len(r.DeviceKey) != ed25519.PublicKeySize || !record.ValidEd25519Key(r.DeviceKey) {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "device_key", msg: "idp: the device key is not a valid Ed25519 public key"}
	}
	// A key already bound is refused before the code is spent (the store
	// checks again atomically when the credential is recorded).
	if bound, err := s.cfg.Store.DeviceKeyBound(ctx, [32]byte(r.DeviceKey)); err != nil {
		return nil, err
	} else if bound {
		return nil, ErrDeviceKeyBound
	}
	code := strings.TrimSpace(r.Code)
	p, left, err := s.otp.VerifyWith(r.ChallengeID, func(codeMAC [32]byte, p PendingAuth) bool {
		if p.Method == MethodTOTP {
			return s.totpOK(ctx, p.Pseudonym, code, true)
		}
		// A decoy's code was never sent: nothing opens it, after the same
		// work as a real check.
		return s.otp.CodeMatches(r.ChallengeID, code, codeMAC) && !p.Decoy
	})
	if err != nil {
		// Wrong codes cost nobody else anything: each challenge allows
		// MaxAttempts, and each challenge cost the PIN's code budget.
		subj := p.Subject
		if subj == "" {
			subj = "-"
		}
		s.access(ctx, client, subj, "verify", otpOutcome(err))
		return nil, otpError(err, left)
	}
	g := token.Grant{ElectionID: s.cfg.ElectionID, ContextHash: s.cfg.ContextHash, Pseudonym: p.Pseudonym, BallotStyle: p.BallotStyle, DeviceKey: r.DeviceKey}
	tok, claims, err := s.cfg.Issuer.Issue(g)
	if err != nil {
		return nil, err
	}
	if err := s.checkTokenKey(claims.KeyID, claims.IssuedAt); err != nil {
		return nil, err
	}
	if s.cfg.Revote != nil {
		return s.issueRevote(ctx, client, now, p, tok, claims)
	}
	ci := &record.CredentialIssued{
		ElectionID: s.cfg.ElectionID, ContextHash: s.cfg.ContextHash, Pseudonym: p.Pseudonym, BallotStyle: p.BallotStyle,
		KeyID: claims.KeyID, IssuedAt: uint64(claims.IssuedAt.Unix()), NotBefore: uint64(claims.NotBefore.Unix()), ExpiresAt: uint64(claims.ExpiresAt.Unix()),
	}
	copy(ci.DeviceKey[:], r.DeviceKey)
	if err := decodeTokenID(claims.TokenID, &ci.TokenID); err != nil {
		return nil, err
	}
	row := &idpstore.Credential{ElectionID: ci.ElectionID, TokenID: ci.TokenID, Pseudonym: ci.Pseudonym, DeviceKey: ci.DeviceKey,
		BallotStyle: ci.BallotStyle, KeyID: ci.KeyID, IssuedAt: int64(ci.IssuedAt), ExpiresAt: int64(ci.ExpiresAt), NotifyPhone: p.Notify[0], NotifyLang: p.Lang}
	queued, err := s.cfg.Store.IssueCredential(ctx, row, entryCredentialIssued, ci.Encode())
	if err != nil {
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
	// The voter learns of every credential issued in their name, so one
	// issued by a corrupt service for an abstainer does not go unnoticed.
	note := credentialText(p.Lang, claims.IssuedAt, claims.PseudonymHex()[:8])
	for _, ph := range p.Notify {
		if err := s.cfg.Sender.Send(ctx, ph, note); err != nil {
			s.log.Warn("credential notice not sent", "err", err)
		}
	}
	if err := s.awaitPosted(ctx, queued); err != nil {
		s.log.Warn("board unavailable; credential queued", "err", err)
		s.access(ctx, client, p.Subject, "verify", "board_unavailable")
		return nil, retry(ErrBoardUnavailable, 30*time.Second)
	}
	s.guard.refund(client, now)
	s.access(ctx, client, p.Subject, "verify", "token_issued")
	return &Credential{Token: tok, Claims: claims}, nil
}

// decodeTokenID turns a token's "jti" back into its 16 bytes.
func decodeTokenID(jti string, out *[16]byte) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(jti)
	if err != nil || len(b) != 16 {
		return errors.New("idp: issued token has a malformed jti")
	}
	copy(out[:], b)
	return nil
}

func otpOutcome(err error) string {
	switch {
	case errors.Is(err, otp.ErrWrongCode):
		return "wrong_code"
	case errors.Is(err, otp.ErrExpired):
		return "code_expired"
	case errors.Is(err, otp.ErrUsed):
		return "code_used"
	case errors.Is(err, otp.ErrLocked):
		return "challenge_locked"
	}
	return "unknown_challenge"
}
