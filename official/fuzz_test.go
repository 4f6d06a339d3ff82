package official

import (
	"testing"
	"time"
)

var testNow = time.Unix(1_800_000_000, 0)

// FuzzCheckPassword: the PHC parser never panics and accepts only
// well-formed argon2id strings with bounded costs.
func FuzzCheckPassword(f *testing.F) {
	h, _ := HashPassword("correct horse battery", Argon2Params{Time: 1, Memory: 64, Threads: 1})
	f.Add("correct horse battery", h)
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$AAAA$AAAA")
	f.Add("x", "$argon2id$v=19$m=4294967295,t=1,p=1$AAAA$"+h[len(h)-43:])
	f.Fuzz(func(t *testing.T, pw, phc string) {
		ok, err := checkPassword(pw, phc)
		if ok && err != nil {
			t.Fatal("ok with an error")
		}
	})
}

// FuzzTOTPSecret: secret decoding never panics; a code check with any
// input never panics.
func FuzzTOTPSecret(f *testing.F) {
	f.Add("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "123456")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, secret, code string) {
		key, err := decodeSecret(secret)
		if err != nil {
			return
		}
		totpCheck(key, code, testNow, 0)
	})
}
