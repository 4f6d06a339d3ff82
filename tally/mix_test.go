package tally

import (
	"errors"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
)

func mixFixture(t *testing.T, n, w int) (*MixParams, *elgamal.PrivateKey, *shuffle.Rows, []uint64) {
	t.Helper()
	sk, err := elgamal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cts := make([]*elgamal.Ciphertext, n*w)
	msgs := make([]uint64, n*w)
	for i := range cts {
		msgs[i] = uint64(i % 7)
		if cts[i], _, err = sk.Public().Encrypt(msgs[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	in, err := shuffle.NewRows(w, cts)
	if err != nil {
		t.Fatal(err)
	}
	p := &MixParams{ElectionID: "kg-2027-test", ContestID: "president", Context: []byte("extended hash"), PublicKey: sk.Public()}
	return p, sk, in, msgs
}

// plaintexts decrypts every ciphertext of rows (values below 7) and returns
// them sorted.
func plaintexts(t *testing.T, sk *elgamal.PrivateKey, r *shuffle.Rows) []uint64 {
	t.Helper()
	cts, err := r.Ciphertexts()
	if err != nil {
		t.Fatal(err)
	}
	tab := elgamal.NewDLogTable(7)
	var out []uint64
	for _, c := range cts {
		m, err := tab.Lookup(sk.Decrypt(c))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// TestMixChain runs four trustees' mixes in turn, each verifying the chain
// before mixing, with one bad mix and several misplaced entries in between,
// and checks the whole chain end to end.
func TestMixChain(t *testing.T) {
	p, sk, in, msgs := mixFixture(t, 20, 2)
	var entries []*MixEntry
	post := func(mixer uint32) *MixEntry {
		t.Helper()
		m, _, err := Mix(p, mixer, in, entries, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Round trip through the board encoding.
		d, err := DecodeMixEntry(m.Encode())
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, d)
		return d
	}
	post(1)
	// Trustee 2 posts a mix whose output has one ciphertext altered.
	bad := post(2)
	cts, _ := bad.Output.Ciphertexts()
	cts[3] = p.PublicKey.ReEncrypt(cts[3], group.RandomScalar())
	bad.Output, _ = shuffle.NewRows(2, cts)
	// Trustee 3 mixes after it: it must start from trustee 1's output.
	m3 := post(3)
	if m3.Input != entries[0].Output.Digest() {
		t.Fatal("trustee 3 did not mix the last valid list")
	}
	// Trustee 3's entry presented as trustee 4's, in its place: the proof
	// binds the mixer's trustee index, not a position.
	stolen := *m3
	stolen.Mixer = 4
	if res := VerifyMixChain(p, in, []*MixEntry{entries[0], &stolen}); len(res.Failures) != 1 || !errors.Is(res.Failures[0], shuffle.ErrInvalidProof) {
		t.Fatalf("relabelled mix: %v", res.Failures)
	}
	// Trustee 1 again, an entry for another contest, and one on a stale input.
	dup, _, err := Mix(p, 1, in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dup.Input = m3.Output.Digest()
	other := *m3
	other.ContestID = "mayor"
	stale := post(4)
	stale2 := *stale
	entries = append(entries, dup, &other, &stale2)
	post(2)

	res := VerifyMixChain(p, in, entries)
	if !slices.Equal(res.Mixers, []uint32{1, 3, 4, 2}) {
		t.Fatalf("valid mixers %v, want [1 3 4 2]", res.Mixers)
	}
	want := map[int]error{1: shuffle.ErrInvalidProof, 4: ErrDuplicateMixer, 5: ErrWrongContest, 6: ErrDuplicateMixer}
	if len(res.Failures) != len(want) {
		t.Fatalf("failures %v", res.Failures)
	}
	for _, f := range res.Failures {
		if !errors.Is(f, want[f.Index]) {
			t.Errorf("entry %d: got %v, want %v", f.Index, f.Err, want[f.Index])
		}
	}
	if res.Output != entries[len(entries)-1].Output {
		t.Fatal("chain output is not the last valid mix's")
	}
	if !slices.Equal(plaintexts(t, sk, res.Output), func() []uint64 { s := slices.Clone(msgs); slices.Sort(s); return s }()) {
		t.Fatal("mixed plaintexts differ from the input's")
	}
	if err := res.Complete(4); err != nil {
		t.Fatal(err)
	}
	if err := res.Complete(5); !errors.Is(err, ErrTooFewMixes) {
		t.Fatalf("got %v", err)
	}
	// A mix whose input is not the last valid list is skipped.
	stale3 := *entries[0]
	stale3.Mixer = 5
	res2 := VerifyMixChain(p, in, []*MixEntry{entries[0], &stale3})
	if len(res2.Failures) != 1 || !errors.Is(res2.Failures[0], ErrInputMismatch) {
		t.Fatalf("stale input: %v", res2.Failures)
	}
	// Trustee 1 refuses to mix twice.
	if _, _, err := Mix(p, 1, in, entries, nil); !errors.Is(err, ErrDuplicateMixer) {
		t.Fatalf("second mix by trustee 1: %v", err)
	}
	// The chain binds the election: verified under another election id, no
	// mix is valid.
	q := *p
	q.ElectionID = "kg-2027-other"
	if res := VerifyMixChain(&q, in, entries); len(res.Mixers) != 0 {
		t.Fatalf("mixes valid under another election: %v", res.Mixers)
	}
}
