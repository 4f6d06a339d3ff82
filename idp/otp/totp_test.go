package otp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// RFC 6238 Appendix B, SHA-1 rows (8 digits, secret "12345678901234567890").
func TestTOTPVectors(t *testing.T) {
	tp := &TOTP{Secret: []byte("12345678901234567890"), Digits: 8}
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		if got := tp.CodeAt(tp.Step(time.Unix(v.unix, 0))); got != v.code {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.code)
		}
	}
}

func TestTOTPVerify(t *testing.T) {
	secret, err := NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	tp := &TOTP{Secret: secret}
	now := time.Unix(1_800_000_000, 0)
	cur := tp.Step(now)
	step, err := tp.Verify(tp.CodeAt(cur), now, 0)
	if err != nil || step != cur {
		t.Fatalf("current code: %d %v", step, err)
	}
	if _, err := tp.Verify(tp.CodeAt(cur), now, step); !errors.Is(err, ErrTOTP) {
		t.Error("replayed code accepted")
	}
	if _, err := tp.Verify(tp.CodeAt(cur-1), now, 0); err != nil {
		t.Errorf("one step of drift refused: %v", err)
	}
	if _, err := tp.Verify(tp.CodeAt(cur-2), now, 0); !errors.Is(err, ErrTOTP) {
		t.Error("two steps old accepted")
	}
	if _, err := tp.Verify("12345", now, 0); !errors.Is(err, ErrTOTP) {
		t.Error("short code accepted")
	}
	if _, err := (&TOTP{Secret: secret[:8]}).Verify("123456", now, 0); !errors.Is(err, ErrTOTP) {
		t.Error("short secret accepted")
	}
	uri := tp.ProvisioningURI("evote", "kg-2026-parl")
	if !strings.HasPrefix(uri, "otpauth://totp/evote:kg-2026-parl?") || !strings.Contains(uri, "digits=6") {
		t.Errorf("uri %s", uri)
	}
}
