package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/testrand"
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
	// Case 5: a voter (or a vote buyer holding the device) casts a ballot
	// whose ciphertext is (1, g^m): its proofs verify, and the vote is in
	// clear on the board, a receipt.
	ts = append(ts, in("ballot with a ciphertext in clear (r = 0)", CheckBallotFormat, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
		v := f.voter(t, 0)
		return [][]byte{f.sign(t, bulletin.TypeBallot, pubOf(v.Device), clearBallot(t, f, v.Style, pubOf(v.Device), 2).Encode())}
	})))
	return ts
}

// clearBallot returns a ballot for the credential key on style whose first
// (single-choice) ciphertext has randomness 0, every proof valid.
func clearBallot(t *testing.T, f *fixture, style string, key [32]byte, choice uint64) *ballot.EncryptedBallot {
	el := f.e.State.Election()
	p := f.ballotFor(t, style, key, 1, testrand.New("clear"))
	st, _ := el.Manifest.Style(style)
	c, _ := el.Manifest.Contest(st.Contests[0])
	zero := group.NewScalar()
	ct := el.PublicKey.EncryptWithRandomness(new(group.Scalar).SetUint64(choice), zero)
	proof, err := zkp.ProveRange(ballot.ContestContext(el.ExtendedHash, key, 0, c.ID), &zkp.RangeStatement{PK: el.PublicKey, Ciphertext: ct, Max: len(c.Candidates)}, choice, zero, testrand.New("clear-proof"))
	if err != nil {
		t.Fatal(err)
	}
	p.Ballot.Contests[0] = ballot.ContestBallot{Ciphertexts: []*elgamal.Ciphertext{ct}, Proof: proof.Bytes()}
	return p.Ballot
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
