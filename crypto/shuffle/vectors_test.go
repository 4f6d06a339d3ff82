package shuffle

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/testrand"
)

var update = flag.Bool("update", false, "rewrite spec/vectors/shuffle-proofs.json")

const vectorsPath = "../../spec/vectors/shuffle-proofs.json"

type vectorFile struct {
	Description string   `json:"description"`
	Vectors     []vector `json:"vectors"`
}

type vector struct {
	Name       string `json:"name"`
	ElectionID string `json:"election_id"`
	Context    string `json:"context"`
	Mixer      uint32 `json:"mixer"`
	PublicKey  string `json:"public_key"`
	Input      string `json:"input"`
	Output     string `json:"output"`
	Proof      string `json:"proof"`
	Expected   string `json:"expected"`
	// For the valid vectors, the transcript's outputs (§6.6): the 64-byte
	// batching seed, the first 16 bytes of each SHA-256(seed || u64(j))
	// (u_j read little-endian) and the challenge c.
	BatchingSeed string   `json:"batching_seed,omitempty"`
	U            []string `json:"u,omitempty"`
	Challenge    string   `json:"challenge,omitempty"`
}

// reason maps a verification result to the vector file's closed set of
// outcomes.
func reason(err error) string {
	var ee *EquationError
	switch {
	case err == nil:
		return "valid"
	case errors.As(err, &ee) && ee.Index >= 0:
		return fmt.Sprintf("invalid proof: %s [%d]", ee.Equation, ee.Index)
	case errors.As(err, &ee):
		return "invalid proof: " + ee.Equation
	case errors.Is(err, ErrRowCount):
		return "row count"
	case errors.Is(err, ErrDuplicateRow):
		return "duplicate row"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	}
	return "error: " + err.Error()
}

// runVector parses and verifies a vector, returning its outcome.
func runVector(t *testing.T, v vector) string {
	dec := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("%s: bad hex: %v", v.Name, err)
		}
		return b
	}
	ctx := dec(v.Context)
	pk, err := elgamal.ParsePublicKey(dec(v.PublicKey))
	if err != nil {
		return reason(fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	in, err := ParseRows(dec(v.Input))
	if err != nil {
		return reason(err)
	}
	out, err := ParseRows(dec(v.Output))
	if err != nil {
		return reason(err)
	}
	proof, err := ParseProof(dec(v.Proof))
	if err != nil {
		return reason(err)
	}
	p := &Params{ElectionID: []byte(v.ElectionID), Context: ctx, Mixer: v.Mixer, PublicKey: pk}
	return reason(Verify(p, in, out, proof))
}

func makeVectors(t *testing.T) []vector {
	r := testrand.New("shuffle-vectors")
	sk, err := elgamal.GenerateKey(r)
	if err != nil {
		t.Fatal(err)
	}
	pk := sk.Public()
	base := func(name string, n, w int) (vector, *Rows, *Rows, *Proof) {
		cts := make([]*elgamal.Ciphertext, n*w)
		for i := range cts {
			if cts[i], _, err = pk.Encrypt(uint64(i+1), r); err != nil {
				t.Fatal(err)
			}
		}
		in, err := NewRows(w, cts)
		if err != nil {
			t.Fatal(err)
		}
		p := &Params{ElectionID: []byte("kg-2027-vectors"), Context: bytes.Repeat([]byte{0xe1}, 32), Mixer: 2, PublicKey: pk}
		out, proof, err := Shuffle(p, in, r)
		if err != nil {
			t.Fatal(err)
		}
		v := vector{Name: name, ElectionID: string(p.ElectionID), Context: hex.EncodeToString(p.Context), Mixer: p.Mixer,
			PublicKey: hex.EncodeToString(pk.Bytes()), Input: hex.EncodeToString(in.Bytes()), Output: hex.EncodeToString(out.Bytes()),
			Proof: hex.EncodeToString(proof.Bytes()), Expected: "valid"}
		return v, in, out, proof
	}
	var vs []vector
	for _, nw := range [][2]int{{1, 1}, {2, 1}, {3, 1}, {2, 2}, {3, 2}} {
		v, in, out, proof := base(fmt.Sprintf("valid: n=%d w=%d", nw[0], nw[1]), nw[0], nw[1])
		// The package's own transcript gives the intermediate values.
		p := &Params{ElectionID: []byte(v.ElectionID), Context: bytes.Repeat([]byte{0xe1}, 32), Mixer: v.Mixer, PublicKey: pk}
		tr := newTranscript(p, in.Digest(), out)
		tr.AppendMessage("permutation-commitments", proof.perm)
		seed := tr.ChallengeBytes("batching")
		v.BatchingSeed = hex.EncodeToString(seed)
		for j := 0; j < in.n; j++ {
			d := sha256.Sum256(binary.BigEndian.AppendUint64(bytes.Clone(seed), uint64(j)))
			v.U = append(v.U, hex.EncodeToString(d[:16]))
		}
		v.Challenge = hex.EncodeToString(finalChallenge(tr, proof).Bytes())
		vs = append(vs, v)
	}
	v, in, out, proof := base("tampering base: n=4 w=2", 4, 2)
	vs = append(vs, v)
	tamper := func(name, expected string, mod func(v *vector)) {
		c := v
		c.Name, c.Expected = "tampered: "+name, expected
		mod(&c)
		vs = append(vs, c)
	}
	hexOf := func(b []byte) string { return hex.EncodeToString(b) }
	withOut := func(f func(o *Rows)) string { o := cloneRows(out); f(o); return hexOf(o.Bytes()) }
	withProof := func(f func(q *Proof)) string { q := cloneProof(t, proof); f(q); return hexOf(q.Bytes()) }
	plusG := func(b []byte) {
		e, _ := new(group.Element).SetCanonicalBytes(b)
		copy(b, e.Add(e, group.NewGeneratorElement()).Bytes())
	}
	plusOne := func(b []byte) {
		s, _ := new(group.Scalar).SetCanonicalBytes(b)
		copy(b, s.Add(s, new(group.Scalar).SetUint64(1)).Bytes())
	}
	tamper("output ciphertext altered", "invalid proof: "+EqPermutationSum, func(v *vector) { v.Output = withOut(func(o *Rows) { plusG(o.element(1, 3)) }) })
	tamper("output row dropped", "row count", func(v *vector) {
		v.Output = hexOf((&Rows{n: 3, w: 2, data: out.data[:3*128]}).Bytes())
	})
	tamper("output row duplicated over another", "duplicate row", func(v *vector) { v.Output = withOut(func(o *Rows) { copy(o.Row(2), o.Row(0)) }) })
	tamper("input altered after proving", "invalid proof: "+EqPermutationSum, func(v *vector) {
		i := cloneRows(in)
		plusG(i.element(0, 1))
		v.Input = hexOf(i.Bytes())
	})
	tamper("other election", "invalid proof: "+EqPermutationSum, func(v *vector) { v.ElectionID = "kg-2027-other" })
	tamper("other mixer", "invalid proof: "+EqPermutationSum, func(v *vector) { v.Mixer = 3 })
	tamper("permutation commitment altered", "invalid proof: "+EqPermutationSum, func(v *vector) { v.Proof = withProof(func(q *Proof) { plusG(elem(q.perm, 2)) }) })
	tamper("chain nonce commitment altered", "invalid proof: "+EqPermutationSum, func(v *vector) { v.Proof = withProof(func(q *Proof) { plusG(elem(q.nonce, 3)) }) })
	tamper("response s2 altered", "invalid proof: "+EqChainEnd, func(v *vector) { v.Proof = withProof(func(q *Proof) { plusOne(elem(q.s, 1)) }) })
	tamper("response s4[1] altered", "invalid proof: "+EqReencryptionA+" [1]", func(v *vector) { v.Proof = withProof(func(q *Proof) { plusOne(elem(q.s, 4)) }) })
	tamper("response ŝ[2] altered", "invalid proof: "+EqChainLink+" [2]", func(v *vector) { v.Proof = withProof(func(q *Proof) { plusOne(elem(q.shat, 2)) }) })
	tamper("proof element not canonical", "malformed", func(v *vector) {
		b := proof.Bytes()
		copy(b[8+32:], bytes.Repeat([]byte{0xff}, 32))
		v.Proof = hexOf(b)
	})
	tamper("proof trailing byte", "malformed", func(v *vector) { v.Proof = hexOf(append(proof.Bytes(), 0)) })
	for _, v := range vs {
		if got := runVector(t, v); got != v.Expected {
			t.Fatalf("generating %s: outcome %q, want %q", v.Name, got, v.Expected)
		}
	}
	return vs
}

// TestVectors checks spec/vectors/shuffle-proofs.json: valid vectors verify,
// each tampered one is rejected for its stated reason. With -update it
// regenerates the file from seeded randomness.
func TestVectors(t *testing.T) {
	if *update {
		f := vectorFile{
			Description: "evote proof-of-shuffle vectors (spec/06-shuffle.md §6.10); made by `go test ./crypto/shuffle -run TestVectors -update` with internal/testrand seed \"shuffle-vectors\"; expected is \"valid\" or the rejection reason",
			Vectors:     makeVectors(t),
		}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	valid, invalid := 0, 0
	for _, v := range f.Vectors {
		if got := runVector(t, v); got != v.Expected {
			t.Errorf("%s: got %q, want %q", v.Name, got, v.Expected)
		}
		if v.BatchingSeed != "" {
			seed, u, c := handTranscript(t, v)
			if hex.EncodeToString(seed) != v.BatchingSeed || !slices.Equal(u, v.U) || c != v.Challenge {
				t.Errorf("%s: the transcript computed by hand from §6.6 differs from the vector's", v.Name)
			}
		}
		if v.Expected == "valid" {
			valid++
		} else {
			invalid++
		}
	}
	if valid < 5 || invalid < 10 {
		t.Fatalf("vector file has %d valid and %d invalid vectors", valid, invalid)
	}
}

// frame is spec §4.1's u16(len(label)) || label || u64(len(data)) || data.
func frame(label string, data []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(label)))
	b = append(b, label...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
	return append(b, data...)
}

// handTranscript recomputes the batching seed, the u_j and the challenge
// of a valid vector byte by byte from spec §6.6, as an independent
// verifier would: labels are framed (§4.1); the election id, the
// generators' label and every list of elements are appended as raw bytes,
// with no length or count of their own.
func handTranscript(t *testing.T, v vector) (seed []byte, u []string, c string) {
	t.Helper()
	dec := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	in, out, pr := dec(v.Input), dec(v.Output), dec(v.Proof)
	n := int(binary.BigEndian.Uint32(in[:4]))
	w := int(binary.BigEndian.Uint32(in[4:8]))
	u64 := func(x int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(x)) }
	tag := "evote-v1/shuffle/rows"
	digest := sha256.Sum256(append(append(binary.BigEndian.AppendUint32(nil, uint32(len(tag))), tag...), in...))
	// Proof = u32(N) || u32(w) || c[N] || ĉ[N] || t̂[N] || t (3 + 2w) || scalars.
	body := pr[8:]
	perm, chain, nonce, ts := body[:32*n], body[32*n:64*n], body[64*n:96*n], body[96*n:96*n+32*(3+2*w)]
	var b []byte
	for _, f := range []struct {
		label string
		data  []byte
	}{
		{"evote-v1/transcript", []byte("evote-v1/shuffle")}, {"context", dec(v.Context)},
		{"election-id", []byte(v.ElectionID)}, {"generators", []byte("evote-v1/shuffle/commitment")},
		{"mixer", u64(int(v.Mixer))}, {"public-key", dec(v.PublicKey)}, {"rows", u64(n)}, {"width", u64(w)},
		{"input", digest[:]}, {"output", out[8:]}, {"permutation-commitments", perm}, {"batching", nil},
	} {
		b = append(b, frame(f.label, f.data)...)
	}
	d := sha512.Sum512(b)
	seed = bytes.Clone(d[:])
	for j := range n {
		h := sha256.Sum256(append(bytes.Clone(seed), u64(j)...))
		u = append(u, hex.EncodeToString(h[:16]))
	}
	b = append(b, frame("evote-v1/challenge", seed)...)
	b = append(b, frame("chain-commitments", chain)...)
	b = append(b, frame("commitments", ts)...)
	b = append(b, frame("chain-nonces", nonce)...)
	b = append(b, frame("challenge", nil)...)
	d = sha512.Sum512(b)
	cs, err := new(group.Scalar).SetUniformBytes(d[:])
	if err != nil {
		t.Fatal(err)
	}
	return seed, u, hex.EncodeToString(cs.Bytes())
}
