package idp

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/token"
)

// Method names of the second factor.
const (
	MethodSMS  = "sms"
	MethodTOTP = "totp"
)

// totpSealTag is the associated-data tag of sealed TOTP secrets.
const totpSealTag = "evote-v1/idp-totp-seal"

// ErrTOTPDisabled is returned when no TOTP key is configured.
var ErrTOTPDisabled = errors.New("idp: authenticator-app factor not enabled")

func (s *Service) totpAEAD() (cipher.AEAD, error) {
	if len(s.cfg.TOTPKey) != 32 {
		return nil, ErrTOTPDisabled
	}
	b, err := aes.NewCipher(s.cfg.TOTPKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// totpAD binds a sealed secret to its election and voter, so a sealed value
// copied to another row does not open.
func (s *Service) totpAD(p [32]byte) []byte {
	var ad []byte
	for _, x := range []string{totpSealTag, s.cfg.ElectionID} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(x)))
		ad = append(ad, x...)
	}
	return append(ad, p[:]...)
}

// seal encrypts a TOTP secret with AES-256-GCM: nonce (12 random bytes) ||
// ciphertext.
func (s *Service) seal(p [32]byte, secret []byte) ([]byte, error) {
	a, err := s.totpAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, secret, s.totpAD(p)), nil
}

func (s *Service) unseal(p [32]byte, sealed []byte) ([]byte, error) {
	a, err := s.totpAEAD()
	if err != nil {
		return nil, err
	}
	if len(sealed) < a.NonceSize() {
		return nil, errors.New("idp: sealed secret too short")
	}
	return a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], s.totpAD(p))
}

// bearer checks a voting token this service issued, as the ballot box
// would.
func (s *Service) bearer(tok string) (*token.Claims, error) {
	v, err := token.NewVerifier(token.VerifierConfig{Keys: s.cfg.Issuer.KeySet(), Issuer: s.cfg.Issuer.Issuer(), Audience: s.cfg.Issuer.Audience(),
		ElectionID: s.cfg.ElectionID, Now: s.cfg.Now})
	if err != nil {
		return nil, err
	}
	c, err := v.Verify(tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotConfirmed, err)
	}
	return c, nil
}

// TOTPEnrolment is a fresh authenticator-app secret for the voter to scan.
type TOTPEnrolment struct {
	Secret []byte
	URI    string // otpauth://totp/…
}

// EnrollTOTP gives a voter who just signed in (bearer is their voting
// token, proof of both factors) a new authenticator-app secret. It becomes
// usable once ConfirmTOTP has seen a code from it.
func (s *Service) EnrollTOTP(ctx context.Context, client, bearer string) (*TOTPEnrolment, error) {
	now := s.cfg.Now()
	if err := s.guard.allow(client, now); err != nil {
		return nil, err
	}
	if _, err := s.totpAEAD(); err != nil {
		return nil, err
	}
	c, err := s.bearer(bearer)
	if err != nil {
		return nil, err
	}
	secret, err := otp.NewTOTPSecret()
	if err != nil {
		return nil, err
	}
	sealed, err := s.seal(c.Pseudonym, secret)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.PutTOTP(ctx, s.cfg.ElectionID, c.Pseudonym, sealed, now.Unix()); err != nil {
		return nil, err
	}
	s.access(ctx, client, "p-"+c.PseudonymHex()[:16], "totp_enroll", "ok")
	t := &otp.TOTP{Secret: secret}
	return &TOTPEnrolment{Secret: secret, URI: t.ProvisioningURI("evote", s.cfg.ElectionID)}, nil
}

// ConfirmTOTP activates the voter's enrolment with a first code.
func (s *Service) ConfirmTOTP(ctx context.Context, client, bearer, code string) error {
	now := s.cfg.Now()
	if err := s.guard.allow(client, now); err != nil {
		return err
	}
	c, err := s.bearer(bearer)
	if err != nil {
		return err
	}
	if !s.totpOK(ctx, c.Pseudonym, code, false) {
		return fmt.Errorf("%w: authenticator code", ErrWrongCode)
	}
	s.access(ctx, client, "p-"+c.PseudonymHex()[:16], "totp_confirm", "ok")
	return nil
}

// totpOK checks an authenticator code for a voter and consumes its time
// step. requireActive refuses an enrolment not yet confirmed.
func (s *Service) totpOK(ctx context.Context, p [32]byte, code string, requireActive bool) bool {
	e, err := s.cfg.Store.TOTP(ctx, s.cfg.ElectionID, p)
	if err != nil || requireActive && !e.Active {
		return false
	}
	secret, err := s.unseal(p, e.Sealed)
	if err != nil {
		s.log.Error("sealed TOTP secret does not open", "err", err)
		return false
	}
	step, err := (&otp.TOTP{Secret: secret}).Verify(code, s.cfg.Now(), e.LastStep)
	if err != nil {
		return false
	}
	ok, err := s.cfg.Store.UseTOTPStep(ctx, s.cfg.ElectionID, p, step)
	return err == nil && ok
}

// totpActive reports whether the voter has a confirmed enrolment.
func (s *Service) totpActive(ctx context.Context, p [32]byte) bool {
	if len(s.cfg.TOTPKey) != 32 {
		return false
	}
	e, err := s.cfg.Store.TOTP(ctx, s.cfg.ElectionID, p)
	if err != nil && !errors.Is(err, idpstore.ErrNotFound) {
		s.log.Error("totp lookup failed", "err", err)
	}
	return err == nil && e.Active
}
