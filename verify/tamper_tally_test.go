package verify

import (
	"testing"

	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/election"
	"evote/internal/testrand"
	"evote/tally"
)

// editMix rewrites the n-th mix entry.
func editMix(n int, mod func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry)) func(*testing.T, *fixture, [][]byte) [][]byte {
	return edit(bulletin.TypeMixOutput, n, func(t *testing.T, f *fixture, e *bulletin.Entry) {
		m, err := tally.DecodeMixEntry(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		mod(t, f, m, e)
		e.Payload = m.Encode()
	})
}

// editShare rewrites the n-th decryption-share entry.
func editShare(n int, mod func(t *testing.T, f *fixture, d *tally.DecryptionEntry, e *bulletin.Entry)) func(*testing.T, *fixture, [][]byte) [][]byte {
	return edit(bulletin.TypeDecryptionShare, n, func(t *testing.T, f *fixture, e *bulletin.Entry) {
		d, err := tally.DecodeDecryptionEntry(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		mod(t, f, d, e)
		e.Payload = d.Encode()
	})
}

// editResult rewrites the result entry.
func editResult(mod func(r *tally.Result)) func(*testing.T, *fixture, [][]byte) [][]byte {
	return edit(bulletin.TypeResult, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
		r, err := tally.DecodeResult(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		mod(r)
		e.Payload = r.Encode()
	})
}

func outputRows(t *testing.T, m *tally.MixEntry) []*elgamal.Ciphertext {
	cts, err := m.Output.Ciphertexts()
	if err != nil {
		t.Fatal(err)
	}
	return cts
}

func setOutput(t *testing.T, m *tally.MixEntry, cts []*elgamal.Ciphertext) {
	r, err := shuffle.NewRows(1, cts)
	if err != nil {
		t.Fatal(err)
	}
	m.Output = r
}

// contestTally returns the final tally of a contest of the honest election.
func (f *fixture) contestTally(t *testing.T, id string) *election.ContestTally {
	for _, c := range f.e.State.Tally {
		if c.Contest.ID == id {
			return c
		}
	}
	t.Fatalf("no contest %s", id)
	return nil
}

// shuffleParams are the parameters of a mix by mixer in the fixture's
// election (spec §6.8).
func (f *fixture) shuffleParams(mixer uint32) *shuffle.Params {
	s := f.e.State
	return &shuffle.Params{ElectionID: []byte(s.Manifest.ElectionID), Context: s.Context.ExtendedHash[:], Mixer: mixer, PublicKey: s.PublicKey}
}

func tallyTamperings() []tampering {
	in := func(name string, want Check, build func(*testing.T, *fixture, [][]byte) [][]byte) tampering {
		return tampering{name: name, want: want, build: build, resign: true}
	}
	return []tampering{
		{name: "bit flip in a mix", want: CheckEntrySignature, build: flip(bulletin.TypeMixOutput, 1)},
		{name: "bit flip in a decryption share", want: CheckEntrySignature, build: flip(bulletin.TypeDecryptionShare, 1)},
		{name: "bit flip in the result", want: CheckEntrySignature, build: flip(bulletin.TypeResult, 0)},
		in("mix drops a row", CheckMixProof, editMix(0, func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry) {
			cts := outputRows(t, m)
			setOutput(t, m, cts[1:])
		})),
		in("mix duplicates a row", CheckMixProof, editMix(1, func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry) {
			cts := outputRows(t, m)
			cts[1] = cts[0]
			setOutput(t, m, cts)
		})),
		in("mix changes a plaintext", CheckMixProof, editMix(2, func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry) {
			cts := outputRows(t, m)
			one := f.e.State.PublicKey.EncryptWithRandomness(new(group.Scalar).SetUint64(1), new(group.Scalar).SetUint64(7))
			cts[0] = new(elgamal.Ciphertext).Add(cts[0], one)
			setOutput(t, m, cts)
		})),
		in("mix proved with generators not derived from the election id", CheckMixProof, editMix(0, func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry) {
			c := f.contestTally(t, m.ContestID)
			rows := c.InputRows()
			p := f.shuffleParams(m.Mixer)
			p.ElectionID = []byte("kg-2027-trapdoor")
			out, proof, err := shuffle.Shuffle(p, rows, testrand.New("trapdoor"))
			if err != nil {
				t.Fatal(err)
			}
			m.Output, m.Proof = out, proof
		})),
		in("mix proof made for another mixer", CheckMixProof, editMix(0, func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry) {
			c := f.contestTally(t, m.ContestID)
			rows := c.InputRows()
			out, proof, err := shuffle.Shuffle(f.shuffleParams(m.Mixer+1), rows, testrand.New("mixer"))
			if err != nil {
				t.Fatal(err)
			}
			m.Output, m.Proof = out, proof
		})),
		in("mix of a list other than the last valid one", CheckMixChain, editMix(3, func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry) {
			m.Input[0] ^= 1
		})),
		in("mix by a non-trustee", CheckMixChain, editMix(0, func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry) {
			e.Author = f.e.State.Authority
		})),
		in("mix signed by another trustee than its mixer", CheckMixChain, editMix(0, func(t *testing.T, f *fixture, m *tally.MixEntry, e *bulletin.Entry) {
			e.Author = pubOf(f.e.Keys.Trustees[2])
		})),
		in("mix removed from the chain", CheckMixChain, func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, bulletin.TypeMixOutput, 0)
			return append(es[:i:i], es[i+1:]...)
		}),
		in("decryption starts before the last trustee mixed", CheckLifecycle, func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			last := 0
			for i, e := range f.entries {
				if e.Type == bulletin.TypeMixOutput {
					last = i
				}
			}
			return append(es[:last-2:last-2], es[last+1:]...)
		}),
		in("decryption share with a proof for another context", CheckDecryptionProof, editShare(0, func(t *testing.T, f *fixture, d *tally.DecryptionEntry, e *bulletin.Entry) {
			c := f.contestTally(t, d.ContestID)
			ext := f.e.State.Context.ExtendedHash
			ext[0] ^= 1
			s, err := f.e.Keys.Shares[d.Share.Trustee-1].DecryptShares(ext, c.Current(), testrand.New("ctx"))
			if err != nil {
				t.Fatal(err)
			}
			s.Context = f.e.State.Context.ExtendedHash
			d.Share = s
		})),
		in("decryption share with a wrong partial decryption", CheckDecryptionProof, editShare(1, func(t *testing.T, f *fixture, d *tally.DecryptionEntry, e *bulletin.Entry) {
			d.Share.D[0] = new(group.Element).Add(d.Share.D[0], group.NewGeneratorElement())
		})),
		in("decryption share of the unmixed list", CheckDecryption, editShare(0, func(t *testing.T, f *fixture, d *tally.DecryptionEntry, e *bulletin.Entry) {
			c := f.contestTally(t, d.ContestID)
			if c.Contest.Kind != 1 {
				t.Fatal("first share is not of a mixed contest")
			}
			d.Target = tally.TargetDigestRows(c.InputRows())
		})),
		in("decryption share signed by another trustee", CheckDecryption, editShare(0, func(t *testing.T, f *fixture, d *tally.DecryptionEntry, e *bulletin.Entry) {
			e.Author = pubOf(f.e.Keys.Trustees[2])
		})),
		in("decryption share before the decryption phase", CheckDecryption, func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, bulletin.TypeDecryptionShare, 0)
			j := f.find(t, bulletin.TypeMixOutput, 0)
			d := es[i]
			es = append(es[:i:i], es[i+1:]...)
			return insert(es, j, d)
		}),
		in("result differing by one vote", CheckResult, editResult(func(r *tally.Result) {
			r.Contests[0].Counts[1]++
			r.Contests[0].Counts[2]--
		})),
		in("result with one vote more", CheckResult, editResult(func(r *tally.Result) {
			r.Contests[1].Counts[0]++
		})),
		in("result withholding a decrypted contest", CheckResult, editResult(func(r *tally.Result) {
			r.Contests[2].Withheld, r.Contests[2].Counts = true, nil
		})),
		in("result posted by a trustee", CheckResult, edit(bulletin.TypeResult, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			e.Author = pubOf(f.e.Keys.Trustees[0])
		})),
		in("record cut before the result", CheckResult, func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			return es[:len(es)-1]
		}),
		in("result without enough decryption shares", CheckResult, func(t *testing.T, f *fixture, es [][]byte) [][]byte {
			i := f.find(t, bulletin.TypeDecryptionShare, 0)
			return append(es[:i:i], es[i+1:]...)
		}),
	}
}
