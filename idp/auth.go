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
}

// Challenge is the answer to a successful first factor: a code was sent.
type Challenge struct {
	ID          string
	ExpiresAt   time.Time
	PhoneHint   string        // masked, e.g. "+996*******56"
	ResendAfter time.Duration // before this, Resend answers ErrResendThrottled
	Method      string        // MethodSMS or MethodTOTP: where the code comes from
}

// Start checks the first factor and sends a one-time code to the phone
// number on record. Failures that suggest guessing (details that do not
// match) count against both the client address and the PIN's backoff; a
// register outage counts against neither and answers ErrRegistryUnavailable
// with a retry time.
func (s *Service) Start(ctx context.Context, client string, r StartRequest) (*Challenge, error) {
	now := s.cfg.Now()
	if err := s.guard.allow(client, now); err != nil {
		s.access(ctx, client, "-", "start", outcomeOf(err))
		return nil, err
	}
	if err := s.open(now); err != nil {
		return nil, err
	}
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
	subj := s.subject(pin)
	_, nextAt, err := s.cfg.Store.Backoff(ctx, subj)
	if err != nil {
		return nil, err
	}
	if wait := time.Unix(nextAt, 0).Sub(now); nextAt != 0 && wait > 0 {
		s.access(ctx, client, subj, "start", "backoff")
		return nil, retry(ErrTryLater, wait)
	}

	lctx, cancel := context.WithTimeout(ctx, s.cfg.RegistryTimeout)
	cit, err := s.cfg.Registry.Lookup(lctx, registry.Query{PIN: pin, DocumentNumber: doc, BirthDate: dob})
	cancel()
	switch {
	case err == nil:
	case registry.IsMismatch(err):
		s.failure(ctx, client, subj, now)
		s.access(ctx, client, subj, "start", "mismatch")
		return nil, ErrNotConfirmed
	case registry.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("population register unavailable", "err", err)
		s.access(ctx, client, subj, "start", "registry_unavailable")
		return nil, retry(ErrRegistryUnavailable, 30*time.Second)
	default:
		s.log.Error("population register lookup failed", "err", err)
		s.access(ctx, client, subj, "start", "registry_error")
		return nil, retry(ErrRegistryUnavailable, 30*time.Second)
	}
	if err := registry.CheckEligibility(cit, s.cfg.ElectionDay); err != nil {
		if errors.Is(err, registry.ErrDeceased) {
			// Someone is using a dead person's documents: answer as for a
			// mismatch and count it as one.
			s.failure(ctx, client, subj, now)
			s.access(ctx, client, subj, "start", "ineligible_deceased")
			return nil, ErrNotConfirmed
		}
		reason := reasonOf(err)
		s.access(ctx, client, subj, "start", "ineligible_"+reason)
		return nil, &DetailError{Err: ErrIneligible, Reason: reason, msg: "idp: not eligible to vote: " + strings.ReplaceAll(reason, "_", " ")}
	}
	ps := s.Pseudonym(pin)
	v, err := s.cfg.Store.Voter(ctx, s.cfg.ElectionID, ps)
	if errors.Is(err, idpstore.ErrNotFound) || err == nil && v.Removed {
		s.access(ctx, client, subj, "start", "not_on_list")
		return nil, ErrNotOnList
	}
	if err != nil {
		return nil, err
	}
	if v.MarkedAt != 0 {
		s.access(ctx, client, subj, "start", "voted_in_person")
		return nil, ErrVotedInPerson
	}
	phone := cit.Phone
	if v.Phone != "" {
		phone = v.Phone // set by a list official through a signed, posted change
	}
	if !voterlist.ValidPhone(phone) {
		s.access(ctx, client, subj, "start", "no_phone")
		return nil, &DetailError{Err: ErrSendFailed, Reason: "no_phone", msg: "idp: no usable phone number on record; contact your consulate"}
	}
	// Notices of credentials go to the register's number as well as to a
	// number a list official recorded: a corrupt official who redirected a
	// voter's codes to a phone of their own is still seen by the voter.
	notify := []string{phone}
	if cit.Phone != phone && voterlist.ValidPhone(cit.Phone) {
		notify = []string{cit.Phone, phone}
	}
	if r.Method != "" && r.Method != MethodSMS && r.Method != MethodTOTP {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "method", msg: "idp: method must be sms or totp"}
	}
	if r.Method == MethodTOTP && s.totpActive(ctx, ps) {
		id, _, exp, err := s.otp.Start(PendingAuth{Pseudonym: ps, BallotStyle: v.BallotStyle, Phone: phone, Notify: notify, Subject: subj, Method: MethodTOTP})
		if err != nil {
			return nil, err
		}
		s.access(ctx, client, subj, "start", "totp_challenge")
		return &Challenge{ID: id, ExpiresAt: exp, Method: MethodTOTP}, nil
	}
	id, code, exp, err := s.otp.Start(PendingAuth{Pseudonym: ps, BallotStyle: v.BallotStyle, Phone: phone, Notify: notify, Subject: subj, Method: MethodSMS})
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Sender.Send(ctx, phone, codeText(code, s.otp.TTL())); err != nil {
		s.log.Warn("code not sent", "err", err)
		s.access(ctx, client, subj, "start", "send_failed")
		return nil, retry(ErrSendFailed, 30*time.Second)
	}
	s.access(ctx, client, subj, "start", "code_sent")
	return &Challenge{ID: id, ExpiresAt: exp, PhoneHint: otp.MaskPhone(phone), ResendAfter: s.otp.RetryAfter(id), Method: MethodSMS}, nil
}

func codeText(code string, ttl time.Duration) string {
	return fmt.Sprintf("evote: your code is %s. It is valid for %d minutes. Never give it to anyone.", code, int(ttl.Minutes()))
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
	switch {
	case errors.Is(err, ErrClientLocked):
		return "client_locked"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	}
	return "refused"
}

// failure counts a guessing-like failure against the client and the PIN.
func (s *Service) failure(ctx context.Context, client, subj string, now time.Time) {
	s.guard.fail(client, now)
	if subj == "" {
		return
	}
	delay := func(n int) int64 { return int64(s.cfg.Abuse.pinDelay(n) / time.Second) }
	if _, _, err := s.cfg.Store.RecordFailure(ctx, subj, now.Unix(), delay); err != nil {
		s.log.Error("backoff write failed", "err", err)
	}
}

// Resend sends a fresh code for challenge id (throttled).
func (s *Service) Resend(ctx context.Context, client, id string) (*Challenge, error) {
	now := s.cfg.Now()
	if err := s.guard.allow(client, now); err != nil {
		return nil, err
	}
	if p, err := s.otp.Peek(id); err == nil && p.Method == MethodTOTP {
		return nil, &DetailError{Err: ErrInvalidInput, Reason: "totp_no_resend", msg: "idp: an authenticator-app sign-in has no code to resend; start again for an SMS"}
	}
	code, exp, p, err := s.otp.Resend(id)
	if err != nil {
		if errors.Is(err, otp.ErrThrottled) || errors.Is(err, otp.ErrSendLimit) {
			return nil, retry(ErrResendThrottled, s.otp.RetryAfter(id))
		}
		s.guard.fail(client, now)
		return nil, otpError(err, 0)
	}
	if err := s.cfg.Sender.Send(ctx, p.Phone, codeText(code, s.otp.TTL())); err != nil {
		s.log.Warn("code not sent", "err", err)
		return nil, retry(ErrSendFailed, 30*time.Second)
	}
	s.access(ctx, client, p.Subject, "resend", "code_sent")
	return &Challenge{ID: id, ExpiresAt: exp, PhoneHint: otp.MaskPhone(p.Phone), ResendAfter: s.otp.RetryAfter(id), Method: MethodSMS}, nil
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
		return s.otp.CodeMatches(r.ChallengeID, code, codeMAC)
	})
	if err != nil {
		if errors.Is(err, otp.ErrLocked) {
			s.failure(ctx, client, p.Subject, now) // a locked challenge counts against the PIN
		} else {
			s.guard.fail(client, now)
		}
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
	ci := &record.CredentialIssued{
		ElectionID: s.cfg.ElectionID, ContextHash: s.cfg.ContextHash, Pseudonym: p.Pseudonym, BallotStyle: p.BallotStyle,
		KeyID: claims.KeyID, IssuedAt: uint64(claims.IssuedAt.Unix()), NotBefore: uint64(claims.NotBefore.Unix()), ExpiresAt: uint64(claims.ExpiresAt.Unix()),
	}
	copy(ci.DeviceKey[:], r.DeviceKey)
	if err := decodeTokenID(claims.TokenID, &ci.TokenID); err != nil {
		return nil, err
	}
	row := &idpstore.Credential{ElectionID: ci.ElectionID, TokenID: ci.TokenID, Pseudonym: ci.Pseudonym, DeviceKey: ci.DeviceKey,
		BallotStyle: ci.BallotStyle, KeyID: ci.KeyID, IssuedAt: int64(ci.IssuedAt), ExpiresAt: int64(ci.ExpiresAt), NotifyPhone: p.Notify[0]}
	if _, err := s.cfg.Store.IssueCredential(ctx, row, entryCredentialIssued, ci.Encode()); err != nil {
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
	if err := s.cfg.Store.ResetFailures(ctx, p.Subject); err != nil {
		s.log.Error("backoff reset failed", "err", err)
	}
	// The voter learns of every credential issued in their name, so one
	// issued by a corrupt service for an abstainer does not go unnoticed.
	note := fmt.Sprintf("evote: a voting credential was issued in your name at %s UTC (reference %s). If this was not you, call the election commission.",
		claims.IssuedAt.UTC().Format("2006-01-02 15:04"), claims.PseudonymHex()[:8])
	for _, ph := range p.Notify {
		if err := s.cfg.Sender.Send(ctx, ph, note); err != nil {
			s.log.Warn("credential notice not sent", "err", err)
		}
	}
	if _, err := s.FlushBoard(ctx); err != nil {
		s.log.Warn("board unavailable; credential queued", "err", err)
		s.access(ctx, client, p.Subject, "verify", "board_unavailable")
		return nil, retry(ErrBoardUnavailable, 30*time.Second)
	}
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
