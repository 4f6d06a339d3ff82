package token

import "testing"

// FuzzVerify: arbitrary strings never panic the verifier and are never
// accepted (only the issuer's key can sign).
func FuzzVerify(f *testing.F) {
	now := t0
	iss, ver, g := setup(f, &now)
	good, _, _ := iss.Issue(g)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(good[:len(good)-2])
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ver.Verify(s)
		if err == nil && s != good {
			// A different string can only verify if it is the same token in
			// another encoding, which strict decoding forbids.
			t.Fatalf("accepted a token the issuer did not produce: %q (%+v)", s, c)
		}
	})
}
