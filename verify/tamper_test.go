package verify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/group"
	"evote/crypto/threshold"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
	"evote/record"
	"evote/tally"
)

// A tampering changes the honest record; the verifier must reject the
// result with want as the first failure in report order.
type tampering struct {
	name string
	want Check
	// build returns the tampered entries and, if resign, the record gets a
	// fresh checkpoint from the log's key (an insider who also runs the
	// log); otherwise the honest checkpoint stays (an outsider).
	build   func(t *testing.T, f *fixture, es [][]byte) [][]byte
	resign  bool
	earlier func(t *testing.T, f *fixture) [][]byte
	note    func(t *testing.T, f *fixture, note []byte) []byte
	// published, if set, is the fingerprint the officials publish for the
	// tampered record (an insider who publishes a bad manifest's
	// fingerprint); otherwise the honest manifest's.
	published func(t *testing.T, es [][]byte) ballot.Fingerprint
}

// flip flips one bit of the payload of entry i (an outsider: no keys).
func flip(typ bulletin.Type, n int) func(*testing.T, *fixture, [][]byte) [][]byte {
	return func(t *testing.T, f *fixture, es [][]byte) [][]byte {
		i := f.find(t, typ, n)
		b := append([]byte{}, es[i]...)
		b[71+len(f.entries[i].Payload)/2] ^= 0x10
		es[i] = b
		return es
	}
}

// edit decodes entry i, lets mod change it and re-signs it with its
// author's key (or the key mod names).
func edit(typ bulletin.Type, n int, mod func(t *testing.T, f *fixture, e *bulletin.Entry)) func(*testing.T, *fixture, [][]byte) [][]byte {
	return func(t *testing.T, f *fixture, es [][]byte) [][]byte {
		i := f.find(t, typ, n)
		e, err := bulletin.DecodeEntry(es[i])
		if err != nil {
			t.Fatal(err)
		}
		mod(t, f, e)
		es[i] = f.sign(t, e.Type, e.Author, e.Payload)
		return es
	}
}

// before inserts entries made by mk just before the n-th entry of type typ.
func before(typ bulletin.Type, n int, mk func(t *testing.T, f *fixture) [][]byte) func(*testing.T, *fixture, [][]byte) [][]byte {
	return func(t *testing.T, f *fixture, es [][]byte) [][]byte {
		return insert(es, f.find(t, typ, n), mk(t, f)...)
	}
}

// dropBallot returns the honest entries without the n-th ballot.
func dropBallot(t *testing.T, f *fixture, n int) [][]byte {
	es := f.encoded()
	i := f.find(t, bulletin.TypeBallot, n)
	return append(es[:i:i], es[i+1:]...)
}

// logSigned returns a checkpoint over entries signed by the log's key
// alone, with no witness cosignature.
func (f *fixture) logSigned(t *testing.T, entries [][]byte) []byte {
	tree := bulletin.NewTree()
	for _, e := range entries {
		tree.AppendLeaves(bulletin.LeafHash(e))
	}
	root, _ := tree.RootAt(uint64(len(entries)))
	note, err := bulletin.SignCheckpoint(bulletin.Checkpoint{Origin: f.log.Origin, Size: uint64(len(entries)), Root: root, Time: time.Unix(fixtureNow+3600, 0).UTC()}, f.log)
	if err != nil {
		t.Fatal(err)
	}
	return note
}

// validBallot returns a ballot entry for voter v's device on style.
func validBallot(t *testing.T, f *fixture, dev ed25519.PrivateKey, style string, seed string) []byte {
	p := f.ballotFor(t, style, pubOf(dev), 3, testrand.New(seed))
	return f.sign(t, bulletin.TypeBallot, pubOf(dev), p.Ballot.Encode())
}

func tamperings() []tampering {
	B := bulletin.TypeBallot
	var ts []tampering
	// Outsiders: one flipped bit in each kind of entry.
	for _, k := range []struct {
		t bulletin.Type
		n int
	}{
		{bulletin.TypeManifest, 0}, {bulletin.TypeKeygenCommitment, 1}, {bulletin.TypeKeygenEncryptedShare, 2},
		{bulletin.TypeKeygenQualified, 0}, {bulletin.TypeKeygenExtraction, 0}, {bulletin.TypeElectionContext, 0},
		{bulletin.TypeIdentityKeySet, 0}, {bulletin.TypeOpen, 0}, {bulletin.TypeCredentialIssued, 3},
		{bulletin.TypeInPersonMark, 0}, {B, 4}, {bulletin.TypeAuditedBallot, 1}, {bulletin.TypeClose, 0},
		{bulletin.TypeCleansingResult, 0},
	} {
		want := CheckEntrySignature
		if k.t == bulletin.TypeManifest {
			want = CheckAnchors // the manifest no longer has the published fingerprint
		}
		ts = append(ts, tampering{name: "bit flip in " + k.t.String(), want: want, build: flip(k.t, k.n)})
	}
	ts = append(ts,
		tampering{name: "bit flip in a signature", want: CheckEntrySignature, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, B, 2)
			es[i] = append([]byte{}, es[i]...)
			es[i][len(es[i])-40] ^= 1
			return es
		}},
		tampering{name: "ballot re-attributed to another author", want: CheckEntrySignature, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, B, 2)
			es[i] = append([]byte{}, es[i]...)
			a := f.voter(t, 5).Device.Public().(ed25519.PublicKey)
			copy(es[i][35:67], a)
			return es
		}},
		tampering{name: "unregistered entry type", want: CheckEntryFormat, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, B, 1)
			es[i] = append([]byte{}, es[i]...)
			binary.BigEndian.PutUint16(es[i][33:35], 0x7777)
			return es
		}},
		tampering{name: "truncated entry", want: CheckEntryFormat, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, B, 1)
			es[i] = es[i][:len(es[i])-1]
			return es
		}},
		tampering{name: "entry of another log, signed by its author", want: CheckEntryFormat, resign: true, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, bulletin.TypeCredentialIssued, 0)
			e := f.entries[i]
			o, err := bulletin.NewEntry(bulletin.LogIDFor("evote.example/other"), e.Type, e.Author, bulletin.NewEd25519Signer(f.keys[e.Author]), e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			es[i] = o.Encode()
			return es
		}},
		tampering{name: "ballot removed (checkpoint kept)", want: CheckTree, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, B, 3)
			return append(es[:i:i], es[i+1:]...)
		}},
		tampering{name: "two entries swapped", want: CheckTree, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i, j := f.find(t, B, 3), f.find(t, B, 4)
			es[i], es[j] = es[j], es[i]
			return es
		}},
		tampering{name: "entry replayed at the end", want: CheckEntryDuplicate, resign: true, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			return append(es, es[f.find(t, B, 0)])
		}},
		tampering{name: "checkpoint signature flipped", want: CheckCheckpointSig, note: func(t *testing.T, f *fixture, note []byte) []byte {
			n := append([]byte{}, note...)
			n[len(n)-10] ^= 1
			return n
		}},
		tampering{name: "checkpoint signed by another key", want: CheckCheckpointSig, note: func(t *testing.T, f *fixture, note []byte) []byte {
			k := ed25519.NewKeyFromSeed(make([]byte, 32))
			lk := &bulletin.LogKey{Origin: f.log.Origin, Ed25519: bulletin.NewEd25519Signer(k), Ed25519Public: pubOf(k)}
			cp, _, err := bulletin.VerifyCheckpoint(note, f.log.Verifier())
			if err != nil {
				t.Fatal(err)
			}
			n, err := bulletin.SignCheckpoint(cp, lk)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}},
		tampering{name: "forked log: an earlier checkpoint shows another ballot", want: CheckConsistency, earlier: func(t *testing.T, f *fixture) [][]byte {
			es := f.encoded()
			i := f.find(t, B, 2)
			fork := es[:i+1]
			fork[i] = validBallot(t, f, f.voter(t, 0).Device, f.voter(t, 0).Style, "fork")
			return [][]byte{f.checkpoint(t, fork)}
		}},
		tampering{name: "rolled back: an earlier checkpoint is larger", want: CheckConsistency, earlier: func(t *testing.T, f *fixture) [][]byte {
			es := f.encoded()
			more := append(es, validBallot(t, f, f.voter(t, 0).Device, f.voter(t, 0).Style, "later"))
			return [][]byte{f.checkpoint(t, more)}
		}},
		tampering{name: "earlier checkpoint with a bad signature", want: CheckCheckpointSig, earlier: func(t *testing.T, f *fixture) [][]byte {
			n := f.checkpoint(t, f.encoded()[:10])
			n[len(n)-5] ^= 1
			return [][]byte{n}
		}},
		// Issue 12 finding 3: a log signature alone is the server's word.
		// The log operator forks the record to drop a voter's ballot (and
		// so change the result) and signs it: without the witnesses'
		// cosignatures, or with cosignatures of witnesses it made up, it
		// is refused.
		tampering{name: "fork dropping a ballot, signed by the log alone", want: CheckCheckpointSig, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, B, 3)
			return append(es[:i:i], es[i+1:]...)
		}, note: func(t *testing.T, f *fixture, _ []byte) []byte {
			return f.logSigned(t, dropBallot(t, f, 3))
		}},
		tampering{name: "fork dropping a ballot, cosigned by witnesses of the server's making", want: CheckCheckpointSig, build: func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, B, 3)
			return append(es[:i:i], es[i+1:]...)
		}, note: func(t *testing.T, f *fixture, _ []byte) []byte {
			note := f.logSigned(t, dropBallot(t, f, 3))
			fake := sim.Keys{Witnesses: []ed25519.PrivateKey{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))}}
			n, err := fake.Cosign(note, time.Unix(fixtureNow+3600, 0))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}},
		tampering{name: "checkpoint with one witness cosignature corrupted", want: CheckCheckpointSig, note: func(t *testing.T, f *fixture, note []byte) []byte {
			n, err := bulletin.ParseNote(note)
			if err != nil {
				t.Fatal(err)
			}
			last := &n.Sigs[len(n.Sigs)-1]
			last.Sig = append([]byte{}, last.Sig...)
			last.Sig[20] ^= 1
			return n.Bytes()
		}},
		tampering{name: "checkpoint missing one witness of the quorum", want: CheckCheckpointSig, note: func(t *testing.T, f *fixture, note []byte) []byte {
			n, err := bulletin.ParseNote(note)
			if err != nil {
				t.Fatal(err)
			}
			n.Sigs = n.Sigs[:len(n.Sigs)-1]
			return n.Bytes()
		}},
		tampering{name: "earlier checkpoint dated after the record's", want: CheckConsistency, earlier: func(t *testing.T, f *fixture) [][]byte {
			note, err := f.e.Keys.SignCheckpoint(f.e.Cfg.ElectionID, f.encoded()[:10], time.Unix(fixtureNow+7200, 0))
			if err != nil {
				t.Fatal(err)
			}
			return [][]byte{note}
		}},
	)
	// Insiders who hold the authors' keys and re-sign; the log operator
	// re-signs the checkpoint too.
	in := func(name string, want Check, build func(*testing.T, *fixture, [][]byte) [][]byte) tampering {
		return tampering{name: name, want: want, build: build, resign: true}
	}
	ts = append(ts,
		in("manifest with threshold above the trustees", CheckAnchors, edit(bulletin.TypeManifest, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			m, _ := ballot.DecodeManifest(e.Payload)
			m.Threshold = 9
			e.Payload = m.Encode()
		})),
		in("second manifest", CheckManifest, before(bulletin.TypeOpen, 0, func(t *testing.T, f *fixture) [][]byte {
			m, _ := ballot.DecodeManifest(f.entries[0].Payload)
			m.Title.En += " (amended)"
			return [][]byte{f.sign(t, bulletin.TypeManifest, f.e.State.Authority, m.Encode())}
		})),
		in("keygen commitment altered", CheckKeygen, edit(bulletin.TypeKeygenCommitment, 1, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			e.Payload = append([]byte{}, e.Payload...)
			e.Payload[len(e.Payload)-40] ^= 1
		})),
		in("keygen commitment posted by another trustee", CheckKeygen, edit(bulletin.TypeKeygenCommitment, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			e.Author = pubOf(f.e.Keys.Trustees[1])
		})),
		in("context with a joint key not from the transcript", CheckContext, edit(bulletin.TypeElectionContext, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			c, _ := election.DecodeContext(e.Payload)
			x, _ := new(group.Scalar).SetRandom(testrand.New("joint"))
			c.JointKey = new(group.Element).ScalarBaseMult(x)
			base, _ := f.e.State.Manifest.BaseHash()
			c.ExtendedHash = threshold.ExtendedHash(base, c.JointKey, c.VerificationKeys, c.VoterListCommitment)
			e.Payload = c.Encode()
		})),
		in("context with a wrong extended hash", CheckContext, edit(bulletin.TypeElectionContext, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			c, _ := election.DecodeContext(e.Payload)
			c.ExtendedHash[0] ^= 1
			e.Payload = c.Encode()
		})),
		in("identity key set bound to another context", CheckIdentityKeys, edit(bulletin.TypeIdentityKeySet, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			ks, _ := record.DecodeIdentityKeySet(e.Payload)
			ks.ContextHash[3] ^= 1
			e.Payload = ks.Encode()
		})),
		in("open signed by the identity service", CheckLifecycle, edit(bulletin.TypeOpen, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			e.Author = pubOf(f.e.Keys.Identity)
		})),
		in("mixing started before the cleansing", CheckLifecycle, before(bulletin.TypeCleansingResult, 0, func(t *testing.T, f *fixture) [][]byte {
			tr := &election.Transition{ElectionID: f.e.Cfg.ElectionID, To: election.PhaseMixing, Official: "official-1", At: fixtureNow - 1}
			return [][]byte{f.sign(t, bulletin.TypeTransition, f.e.State.Authority, tr.Encode())}
		})),
		in("credential for a device key already bound", CheckCredential, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			c, _ := record.DecodeCredentialIssued(f.entries[f.find(t, bulletin.TypeCredentialIssued, 0)].Payload)
			c.TokenID[0] ^= 1
			c.Pseudonym[0] ^= 1
			return [][]byte{f.sign(t, bulletin.TypeCredentialIssued, f.e.State.Manifest.IdentityKey, c.Encode())}
		})),
		in("credential for an unknown ballot style", CheckCredential, edit(bulletin.TypeCredentialIssued, 2, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			c, _ := record.DecodeCredentialIssued(e.Payload)
			c.BallotStyle = "style-nowhere"
			e.Payload = c.Encode()
		})),
		in("credential naming a token key outside the key set", CheckCredential, edit(bulletin.TypeCredentialIssued, 2, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			c, _ := record.DecodeCredentialIssued(e.Payload)
			c.KeyID = "not-a-key"
			e.Payload = c.Encode()
		})),
		in("credential issued under a retired token key", CheckCredential, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			// Issue 12, finding 7: the identity service retires its key and
			// goes on issuing credentials under it.
			ks, k2 := retireTokenKey(t, f)
			c, _ := record.DecodeCredentialIssued(f.entries[f.find(t, bulletin.TypeCredentialIssued, 0)].Payload)
			c.Pseudonym[0] ^= 1
			c.DeviceKey = pubOf(ed25519.NewKeyFromSeed(make([]byte, 32)))
			c.IssuedAt, c.NotBefore, c.ExpiresAt = k2.ValidFrom+60, k2.ValidFrom+60, k2.ValidFrom+960
			return [][]byte{
				f.sign(t, bulletin.TypeIdentityKeySet, f.e.State.Manifest.IdentityKey, ks.Encode()),
				f.sign(t, bulletin.TypeCredentialIssued, f.e.State.Manifest.IdentityKey, c.Encode()),
			}
		})),
		in("identity key set reopening a retired key", CheckIdentityKeys, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			ks, _ := retireTokenKey(t, f)
			reopened := *ks
			reopened.Keys = slices.Clone(ks.Keys)
			for i := range reopened.Keys {
				reopened.Keys[i].RetiredAt = 0
				if reopened.Keys[i].ValidFrom > fixtureNow {
					reopened.Keys[i].RetiredAt = fixtureNow + 120
				}
			}
			return [][]byte{
				f.sign(t, bulletin.TypeIdentityKeySet, f.e.State.Manifest.IdentityKey, ks.Encode()),
				f.sign(t, bulletin.TypeIdentityKeySet, f.e.State.Manifest.IdentityKey, reopened.Encode()),
			}
		})),
		in("identity key set dropping a key earlier credentials name", CheckIdentityKeys, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			ks, _ := retireTokenKey(t, f)
			dropped := *ks
			dropped.Keys = slices.Clone(ks.Keys[1:])
			return [][]byte{
				f.sign(t, bulletin.TypeIdentityKeySet, f.e.State.Manifest.IdentityKey, ks.Encode()),
				f.sign(t, bulletin.TypeIdentityKeySet, f.e.State.Manifest.IdentityKey, dropped.Encode()),
			}
		})),
		in("credential issued by the authority", CheckCredential, edit(bulletin.TypeCredentialIssued, 2, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			e.Author = f.e.State.Authority
		})),
		in("in-person mark with a bad station signature", CheckInPerson, edit(bulletin.TypeInPersonMark, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			m, _ := record.DecodeInPersonMark(e.Payload)
			m.StationSig[5] ^= 1
			e.Payload = m.Encode()
		})),
		in("second in-person mark for the same voter", CheckInPerson, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			m, _ := record.DecodeInPersonMark(f.entries[f.find(t, bulletin.TypeInPersonMark, 0)].Payload)
			m.MarkedAt++
			m.Sign(f.e.Keys.Station, f.e.Keys.Official)
			return [][]byte{f.sign(t, bulletin.TypeInPersonMark, f.e.State.Manifest.IdentityKey, m.Encode())}
		})),
		// Issue 12, finding 6: an identity-service insider cancels chosen
		// voters' ballots with validly signed marks.
		in("in-person mark with a station key the identity service made up", CheckInPerson, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			v := f.voter(t, 0)
			return [][]byte{insiderMark(t, f, v.Pseudonym, v.Style, rogueKey(1), f.e.Keys.Official, nil)}
		})),
		in("in-person mark with an official key the identity service made up", CheckInPerson, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			v := f.voter(t, 0)
			return [][]byte{insiderMark(t, f, v.Pseudonym, v.Style, f.e.Keys.Station, rogueKey(2), nil)}
		})),
		in("in-person mark bound to another election context", CheckInPerson, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			v := f.voter(t, 0)
			return [][]byte{insiderMark(t, f, v.Pseudonym, v.Style, f.e.Keys.Station, f.e.Keys.Official, func(m *record.InPersonMark) { m.ContextHash[0] ^= 1 })}
		})),
		in("in-person mark of another ballot style than the credential's", CheckInPerson, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			a, b := f.voter(t, 0), f.voter(t, 1)
			if a.Style == b.Style {
				t.Fatal("voters share a style")
			}
			return [][]byte{insiderMark(t, f, a.Pseudonym, b.Style, f.e.Keys.Station, f.e.Keys.Official, nil)}
		})),
		in("polling registration posted after voting opened", CheckPolling, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			v := f.voter(t, 0)
			r := pollingRegistration(f, []record.PollingKey{{ID: "station-late", Key: pubOf(rogueKey(1))}}, []record.PollingKey{{ID: "official-late", Key: pubOf(rogueKey(2))}})
			m := insiderMark(t, f, v.Pseudonym, v.Style, rogueKey(1), rogueKey(2), func(m *record.InPersonMark) { m.StationID, m.OfficialID = "station-late", "official-late" })
			return [][]byte{f.sign(t, bulletin.TypePollingRegistration, f.e.State.Manifest.IdentityKey, r.Encode()), m}
		})),
		in("polling registration signed by the authority", CheckPolling, edit(bulletin.TypePollingRegistration, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			e.Author = f.e.State.Authority
		})),
		in("polling registration not signed by its list official", CheckPolling, edit(bulletin.TypePollingRegistration, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			r, _ := record.DecodePollingRegistration(e.Payload)
			r.Stations[0].Key = pubOf(rogueKey(1))
			e.Payload = r.Encode()
		})),
		in("audited ballot opened to another plaintext", CheckAudit, edit(bulletin.TypeAuditedBallot, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			a, _ := ballot.DecodeAuditedBallot(e.Payload)
			a.Contests[0].Plaintexts[0] ^= 1
			e.Payload = a.Encode()
		})),
		in("audited ballot repeating its own ciphertext", CheckAudit, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			// Issue 12, finding 8: the rules refused it only when the box did.
			v := f.voter(t, 0)
			p, err := f.e.State.Election().Encrypt(v.Style, pubOf(v.Device), nil, testrand.New("audit-repeat"))
			if err != nil {
				t.Fatal(err)
			}
			a := p.Audit()
			ac := &a.Contests[1] // the multi-select contest, all blank
			ac.Ciphertexts[1], ac.Randomness[1] = ac.Ciphertexts[0], ac.Randomness[0]
			return [][]byte{f.sign(t, bulletin.TypeAuditedBallot, f.e.State.Authority, a.Encode())}
		})),
		in("cleansing drops a counted ballot", CheckCleansing, edit(bulletin.TypeCleansingResult, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			c, _ := tally.DecodeCleansing(e.Payload)
			c.Counted = c.Counted[1:]
			e.Payload = c.Encode()
		})),
		in("cleansing counts a cancelled ballot", CheckCleansing, edit(bulletin.TypeCleansingResult, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			c, _ := tally.DecodeCleansing(e.Payload)
			c.Counted = append(c.Counted, c.Cancelled[0])
			slicesSort(c.Counted)
			c.Cancelled = c.Cancelled[1:]
			e.Payload = c.Encode()
		})),
		in("ballot removed (log re-signed)", CheckCleansing, func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, B, 3)
			return append(es[:i:i], es[i+1:]...)
		}),
		in("entry type outside the protocol", CheckProtocol, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			return [][]byte{f.sign(t, bulletin.TypeWitnessKeySet, f.e.State.Authority, []byte{1})}
		})),
		// Ballots.
		in("ballot proof altered", CheckBallotProof, edit(B, 2, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			b, _ := ballot.DecodeBallot(e.Payload)
			p := append([]byte{}, b.Contests[0].Proof...)
			p[len(p)-33] ^= 1
			b.Contests[0].Proof = p
			e.Payload = b.Encode()
		})),
		in("ballot ciphertext altered", CheckBallotProof, edit(B, 5, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			b, _ := ballot.DecodeBallot(e.Payload)
			b.Contests[0].Ciphertexts[0] = b.Contests[1].Ciphertexts[0]
			e.Payload = b.Encode()
		})),
		in("ballot replayed under another voter's credential", CheckBallotProof, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			a, b := f.voter(t, 0), f.voter(t, 2)
			p := f.ballotFor(t, a.Style, pubOf(a.Device), 1, testrand.New("replay"))
			p.Ballot.CredentialKey = pubOf(b.Device)
			return [][]byte{f.sign(t, B, pubOf(b.Device), p.Ballot.Encode())}
		})),
		in("ballot with a valid proof under an unissued credential", CheckBallotCred, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			k := ed25519.NewKeyFromSeed(make([]byte, 32))
			f.keys[pubOf(k)] = k
			return [][]byte{validBallot(t, f, k, f.voter(t, 0).Style, "unissued")}
		})),
		in("ballot signed by a device other than its credential key", CheckBallotCred, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			a, b := f.voter(t, 0), f.voter(t, 1)
			p := f.ballotFor(t, a.Style, pubOf(a.Device), 1, testrand.New("other-author"))
			return [][]byte{f.sign(t, B, pubOf(b.Device), p.Ballot.Encode())}
		})),
		in("ballot after an in-person vote", CheckBallotCred, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			v := f.markedVoter(t)
			return [][]byte{validBallot(t, f, v.Device, v.Style, "in-person")}
		})),
		in("ballot of another style than its credential's", CheckBallotStyle, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			a, b := f.voter(t, 0), f.voter(t, 1)
			if a.Style == b.Style {
				t.Fatal("voters share a style")
			}
			return [][]byte{validBallot(t, f, a.Device, b.Style, "style")}
		})),
		in("ballot for an unknown ballot style", CheckBallotStyle, edit(B, 1, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			b, _ := ballot.DecodeBallot(e.Payload)
			b.Style = "style-nowhere"
			e.Payload = b.Encode()
		})),
		in("ballot after close", CheckBallotPeriod, before(bulletin.TypeCleansingResult, 0, func(t *testing.T, f *fixture) [][]byte {
			v := f.voter(t, 0)
			return [][]byte{validBallot(t, f, v.Device, v.Style, "late")}
		})),
		in("ballot before open", CheckBallotPeriod, before(bulletin.TypeOpen, 0, func(t *testing.T, f *fixture) [][]byte {
			v := f.voter(t, 0)
			return [][]byte{validBallot(t, f, v.Device, v.Style, "early")}
		})),
		in("ballot reusing another ballot's ciphertexts", CheckBallotUnique, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			a := f.voter(t, 0)
			b := f.voter(t, 1)
			for n := 2; b.Style != a.Style; n++ {
				b = f.voter(t, n)
			}
			return [][]byte{validBallot(t, f, a.Device, a.Style, "same"), validBallot(t, f, b.Device, a.Style, "same")}
		})),
		in("cast ballot containing an audited ciphertext", CheckBallotUnique, before(bulletin.TypeClose, 0, func(t *testing.T, f *fixture) [][]byte {
			v := f.voter(t, 1)
			p := f.ballotFor(t, v.Style, pubOf(v.Device), 2, testrand.New("audited"))
			return [][]byte{
				f.sign(t, bulletin.TypeAuditedBallot, f.e.State.Authority, p.Audit().Encode()),
				f.sign(t, B, pubOf(v.Device), p.Ballot.Encode()),
			}
		})),
		in("ballot with another election id", CheckBallotFormat, edit(B, 3, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			b, _ := ballot.DecodeBallot(e.Payload)
			b.ElectionID = "kg-2027-other"
			e.Payload = b.Encode()
		})),
		in("ballot with a trailing byte", CheckBallotFormat, edit(B, 3, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			e.Payload = append(append([]byte{}, e.Payload...), 0)
		})),
		in("ballot missing a contest", CheckBallotFormat, edit(B, 3, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			b, _ := ballot.DecodeBallot(e.Payload)
			b.Contests = b.Contests[1:]
			e.Payload = b.Encode()
		})),
	)
	ts = append(ts, tallyTamperings()...)
	ts = append(ts, issue14Tamperings()...)
	ts = append(ts, rulesTamperings()...)
	return ts
}

func rogueKey(i byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xa0 + i}, 32))
}

// insiderMark returns an in-person mark entry, signed by the station and
// official keys given under the ids the fixture registered (mod may change
// it before signing), posted by the identity service.
func insiderMark(t *testing.T, f *fixture, pseudonym [32]byte, style string, station, official ed25519.PrivateKey, mod func(*record.InPersonMark)) []byte {
	m := &record.InPersonMark{ElectionID: f.e.Cfg.ElectionID, ContextHash: f.e.State.Context.ExtendedHash, Pseudonym: pseudonym, BallotStyle: style,
		StationID: "station-bishkek-1", StationKey: pubOf(station), OfficialID: "official-7", OfficialKey: pubOf(official), MarkedAt: fixtureNow}
	if mod != nil {
		mod(m)
	}
	m.Sign(station, official)
	return f.sign(t, bulletin.TypeInPersonMark, f.e.State.Manifest.IdentityKey, m.Encode())
}

// pollingRegistration returns a registration signed by the fixture's list
// official.
func pollingRegistration(f *fixture, stations, officials []record.PollingKey) *record.PollingRegistration {
	r := &record.PollingRegistration{ElectionID: f.e.Cfg.ElectionID, ContextHash: f.e.State.Context.ExtendedHash,
		OfficialID: "list-official-1", OfficialKey: pubOf(f.e.Keys.List), RegisteredAt: fixtureNow, Stations: stations, Officials: officials}
	r.Sign(f.e.Keys.List)
	return r
}

// retireTokenKey returns an identity key set in which the fixture's token
// key retired at fixtureNow+10 and a new key k2 is current from then on.
func retireTokenKey(t *testing.T, f *fixture) (*record.IdentityKeySet, record.IdentityKey) {
	ks := *f.e.State.IdentityKeys
	k1 := ks.Keys[0]
	k1.RetiredAt = fixtureNow + 10
	p := pubOf(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)))
	k2 := record.IdentityKey{KeyID: record.IdentityKeyID(p[:]), PublicKey: p, ValidFrom: fixtureNow + 10}
	ks.Keys = []record.IdentityKey{k1, k2}
	slices.SortFunc(ks.Keys, func(a, b record.IdentityKey) int { return strings.Compare(a.KeyID, b.KeyID) })
	return &ks, k2
}

func slicesSort(s []uint64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func runTampering(t *testing.T, f *fixture, tc tampering) (*Report, *Record) {
	t.Helper()
	rec, opt := tampered(t, f, tc)
	return Verify(rec, opt), rec
}

// tampered returns the record of a tampering and the options to verify it
// with.
func tampered(t *testing.T, f *fixture, tc tampering) (*Record, Options) {
	t.Helper()
	rec := f.record(t)
	if tc.build != nil {
		rec.Entries = tc.build(t, f, f.encoded())
	}
	if tc.resign {
		rec.Checkpoint = f.checkpoint(t, rec.Entries)
	}
	if tc.note != nil {
		rec.Checkpoint = tc.note(t, f, rec.Checkpoint)
	}
	opt := f.options()
	if tc.earlier != nil {
		opt.Earlier = tc.earlier(t, f)
	}
	if tc.published != nil {
		opt.Fingerprint = ballot.ExpectFingerprint(tc.published(t, rec.Entries))
	}
	return rec, opt
}

// TestTamperCorpus checks that every tampering is caught, by the check the
// corpus names (the first failure in report order).
func TestTamperCorpus(t *testing.T) {
	f := shared(t)
	ts := tamperings()
	if len(ts) < 40 {
		t.Fatalf("only %d tamperings", len(ts))
	}
	names := map[string]bool{}
	for _, tc := range ts {
		if names[tc.name] {
			t.Fatalf("duplicate tampering name %q", tc.name)
		}
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			rep, rec := runTampering(t, f, tc)
			if rep.OK {
				t.Fatal("tampered record verifies")
			}
			first, _ := rep.First()
			if first.Check != tc.want {
				t.Errorf("first failure %v, want check %s (all: %v)", first, tc.want, rep.Failures)
			}
			// An entry's failure must be at the tampered entries: within
			// the replaced range, or after the point of a deletion.
			d := diff(tc.name, tc.want, f.record(t), rec, nil)
			if first.Entry != NoEntry {
				lo, hi := int64(d.From), int64(d.From+len(d.Insert))
				if len(d.Insert) == 0 {
					hi = int64(len(rec.Entries))
				}
				if first.Entry < lo || first.Entry >= hi {
					t.Errorf("first failure at entry %d, tampered entries [%d, %d)", first.Entry, lo, hi)
				}
			}
		})
	}
}

// TestPolicyTampering: under the one-ballot policy, a second ballot of the
// same voter (valid proofs, re-signed log) fails ballot.policy.
func TestPolicyTampering(t *testing.T) {
	f := newFixture(t, "kg-2027-once", 9, ballot.SingleBallot)
	if rep := Verify(f.record(t), f.options()); !rep.OK {
		t.Fatalf("honest one-ballot record fails: %v", rep.Failures)
	}
	v := f.voter(t, 0)
	es := insert(f.encoded(), f.find(t, bulletin.TypeClose, 0), validBallot(t, f, v.Device, v.Style, "twice"))
	rep := Verify(&Record{Checkpoint: f.checkpoint(t, es), Entries: es}, f.options())
	if first, _ := rep.First(); rep.OK || first.Check != CheckBallotPolicy {
		t.Fatalf("first failure %v, want %s", first, CheckBallotPolicy)
	}
}
