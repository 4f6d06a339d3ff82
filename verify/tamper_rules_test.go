package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"evote/ballot"
	"evote/bulletin"
)

// rulesTamperings are insiders' records that the rules used to accept
// (issue 14, "the record is the contract"): each is validly signed by the
// authors' keys and the log's, and must fail the named check.
func rulesTamperings() []tampering {
	in := func(name string, want Check, build func(*testing.T, *fixture, [][]byte) [][]byte) tampering {
		return tampering{name: name, want: want, build: build, resign: true}
	}
	var ts []tampering
	// Case 3: the officials publish the fingerprint of a manifest whose
	// trustee HPKE key is of small order (no share can be encrypted to it:
	// every honest dealer's key generation stalls).
	for _, k := range []struct{ name, key string }{
		{"all zero", "0000000000000000000000000000000000000000000000000000000000000000"},
		{"of order 8", "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"},
	} {
		tc := in("manifest with a trustee HPKE key "+k.name, CheckAnchors, edit(bulletin.TypeManifest, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			m, err := ballot.DecodeManifest(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			m.Trustees[1].HPKEKey = mustHex(t, k.key)
			e.Payload = m.Encode()
		}))
		tc.published = publishedManifest
		ts = append(ts, tc)
	}
	return ts
}

// publishedManifest returns the fingerprint of the record's first entry as
// spec §9.2 defines it, SHA-256(frame("evote-v1/manifest-hash") ||
// frame(manifest)), computed here from the bytes alone: an invalid
// manifest has one too.
func publishedManifest(t *testing.T, es [][]byte) ballot.Fingerprint {
	e, err := bulletin.DecodeEntry(es[0])
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, p := range [][]byte{[]byte(ballot.ManifestHashTag), e.Payload} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(p))))
		h.Write(p)
	}
	return ballot.Fingerprint(h.Sum(nil))
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
