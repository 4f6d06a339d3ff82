package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/election"
	"evote/internal/testrand"
	"evote/record"
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
	// The officials publish the fingerprint of a manifest with deniable
	// re-voting (spec §15.1) whose multi-select contest has so many
	// candidates that a row (S, C_id, C_f, ballot …) exceeds a list's
	// width: the filter's lists could not be built, and chapter 15's rules
	// refuse it at the manifest (§15.14.2 rule 1).
	tc := in("manifest with deniable re-voting and rows wider than a list", CheckManifest, edit(bulletin.TypeManifest, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
		m, err := ballot.DecodeManifest(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		m.Revote = ballot.LastBallotCounts
		m.Coercion = ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 16, MaxBallots: 4}
		for i := range m.Contests {
			c := &m.Contests[i]
			if c.Kind != ballot.MultiSelect {
				continue
			}
			for k := len(c.Candidates); k < 62; k++ {
				id := fmt.Sprintf("option-%d", k)
				c.Candidates = append(c.Candidates, ballot.Candidate{ID: id, Name: ballot.Text{Ky: id, Ru: id, Uz: id, En: id}})
			}
		}
		if _, err := ballot.DecodeManifest(m.Encode()); err != nil {
			t.Fatalf("the wide manifest is not valid as a manifest: %v", err)
		}
		e.Payload = m.Encode()
	}))
	tc.published = publishedManifest
	ts = append(ts, tc)
	// Case 5: a voter (or a vote buyer holding the device) casts a ballot
	// whose ciphertext is (1, g^m): its proofs verify, and the vote is in
	// clear on the board, a receipt.
	ts = append(ts, in("ballot with a ciphertext in clear (r = 0)", CheckBallotFormat, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
		v := f.voter(t, 0)
		return [][]byte{f.sign(t, bulletin.TypeBallot, pubOf(v.Device), clearBallot(t, f, v.Style, pubOf(v.Device), 2).Encode())}
	})))
	// Case 1: an identity service inventing voters issues credentials for
	// more distinct pseudonyms of a style than the published list holds
	// (nobody receives an invented voter's SMS notice).
	ts = append(ts, in("credentials for more voters of a style than the voter list holds", CheckCredential, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
		style := f.voter(t, 0).Style
		listed := f.e.State.ListChanges[len(f.e.State.ListChanges)-1]
		var n uint32
		for _, sc := range listed.Counts {
			if sc.BallotStyle == style {
				n = sc.Voters
			}
		}
		seen := map[[32]byte]bool{}
		for _, v := range f.voters {
			if v.Style == style {
				seen[v.Pseudonym] = true
			}
		}
		var out [][]byte
		for i := len(seen); i <= int(n); i++ {
			out = append(out, insiderCredential(t, f, [32]byte{0xee, byte(i)}, style, byte(i)))
		}
		return out
	})))
	// Case 1: the counts of a voter-list change must follow from the
	// previous ones (§8.8.4).
	ts = append(ts,
		in("voter-list change whose total is not the previous plus added minus removed", CheckVoterList, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			c := nextListChange(f, record.ListAdded, 1, 0, func(counts []record.StyleCount) { counts[0].Voters += 5 })
			return [][]byte{f.sign(t, bulletin.TypeVoterListChange, f.e.State.Manifest.IdentityKey, c.Encode())}
		})),
		in("voter-list change counting fewer voters of a style than hold credentials", CheckVoterList, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			c := nextListChange(f, record.ListRemoved, 0, 16, func(counts []record.StyleCount) { counts[0].Voters = 0 })
			return [][]byte{f.sign(t, bulletin.TypeVoterListChange, f.e.State.Manifest.IdentityKey, c.Encode())}
		})),
		// Case 4: a voter-list change bound to another context hash than
		// the election's extended hash.
		in("voter-list change bound to another context", CheckVoterList, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			c := nextListChange(f, record.ListAdded, 0, 0, nil)
			c.ContextHash[0] ^= 1
			c.Sign(f.e.Keys.List)
			return [][]byte{f.sign(t, bulletin.TypeVoterListChange, f.e.State.Manifest.IdentityKey, c.Encode())}
		})),
		// Case 2: one pseudonym credentialed in two ballot styles.
		in("one voter credentialed in two ballot styles", CheckCredential, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			a, b := f.voter(t, 0), f.voter(t, 1)
			if a.Style == b.Style {
				t.Fatal("voters share a style")
			}
			return [][]byte{insiderCredential(t, f, a.Pseudonym, b.Style, 0xf0)}
		})),
		// Case 6: two credentials posted in the reverse order of their
		// issue, more than CredentialReorder seconds apart.
		in("two credentials swapped, issued more than the reorder tolerance apart", CheckCredential, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			return swappedCredentials(t, f, election.CredentialReorder+1)
		})),
		// Found writing §9.8: a transition entry naming phase ready took
		// the election to ready without a context (and the replay on to a
		// nil context).
		in("transition to ready in place of the election context", CheckLifecycle, before(bulletin.TypeElectionContext, 0, func(t *testing.T, f *fixture) [][]byte {
			tr := &election.Transition{ElectionID: f.e.Cfg.ElectionID, To: election.PhaseReady, Official: "official-1", At: fixtureNow}
			return [][]byte{f.sign(t, bulletin.TypeTransition, f.e.State.Authority, tr.Encode())}
		})),
	)
	return ts
}

// swappedCredentials returns two credentials for new voters, the first
// issued gap seconds after the second, posted first.
func swappedCredentials(t *testing.T, f *fixture, gap uint64) [][]byte {
	var out [][]byte
	for i, at := range []uint64{fixtureNow + 100 + gap, fixtureNow + 100} {
		out = append(out, insiderCredential(t, f, [32]byte{0xcc, byte(i)}, f.voter(t, 0).Style, 0xc0+byte(i), func(c *record.CredentialIssued) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = at, at, at+900
		}))
	}
	return out
}

// insiderCredential returns a credential entry for the pseudonym on style
// with a fresh device key (seeded by seed), otherwise as the fixture's
// first credential (then changed by mod, if set), posted by the identity
// service.
func insiderCredential(t *testing.T, f *fixture, pseudonym [32]byte, style string, seed byte, mod ...func(*record.CredentialIssued)) []byte {
	c, err := record.DecodeCredentialIssued(f.entries[f.find(t, bulletin.TypeCredentialIssued, 0)].Payload)
	if err != nil {
		t.Fatal(err)
	}
	c.Pseudonym, c.BallotStyle = pseudonym, style
	c.DeviceKey = pubOf(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed, 0x5e}, 16)))
	c.TokenID[0] ^= seed
	c.TokenID[1] ^= 0x5e
	for _, m := range mod {
		m(c)
	}
	return f.sign(t, bulletin.TypeCredentialIssued, f.e.State.Manifest.IdentityKey, c.Encode())
}

// nextListChange returns the fixture's next voter-list change, signed by
// its list official: the counts of the last one, changed by mod.
func nextListChange(f *fixture, kind uint8, added, removed uint32, mod func([]record.StyleCount)) *record.VoterListChange {
	last := f.e.State.ListChanges[len(f.e.State.ListChanges)-1]
	c := *last
	c.Sequence, c.Kind, c.Added, c.Removed, c.Updated = last.Sequence+1, kind, added, removed, 0
	c.Counts = slices.Clone(last.Counts)
	if mod != nil {
		mod(c.Counts)
	}
	c.Sign(f.e.Keys.List)
	return &c
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

// TestCredentialsSwappedWithinTolerance (case 6): credentials posted out of
// the order of their issue by at most election.CredentialReorder seconds,
// as concurrent issuance posts them, verify.
func TestCredentialsSwappedWithinTolerance(t *testing.T) {
	f := shared(t)
	es := insert(f.encoded(), f.find(t, bulletin.TypeClose, 0), swappedCredentials(t, f, election.CredentialReorder)...)
	if rep := Verify(&Record{Checkpoint: f.checkpoint(t, es), Entries: es}, f.options()); !rep.OK {
		t.Fatalf("credentials swapped within the tolerance: %v", rep.Failures)
	}
}
