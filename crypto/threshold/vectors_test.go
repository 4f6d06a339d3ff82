package threshold

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/testrand"
)

var update = flag.Bool("update", false, "rewrite spec/vectors/threshold-dkg.json")

const vectorPath = "../../spec/vectors/threshold-dkg.json"

// reasons maps sentinels to the outcome strings of the vectors; wrapping
// errors come first.
var reasons = []struct {
	err    error
	reason string
}{
	{ErrBadAnswer, "bad answer"},
	{ErrBadExtraction, "bad extraction"},
	{ErrExtractionCheating, "extraction complaint"},
	{ErrTooManyComplaints, "too many complaints"},
	{ErrEquivocation, "equivocation"},
	{ErrMissingMessage, "missing message"},
	{ErrInvalidMessage, "invalid message"},
	{ErrTooFewQualified, "too few qualified"},
	{ErrReconstruction, "reconstruction failed"},
	{ErrQualifiedMismatch, "qualified mismatch"},
	{ErrMalformed, "malformed"},
	{ErrInvalidShare, "invalid share"},
}

func reasonOf(err error) string {
	if err == nil {
		return "valid"
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "unknown: " + err.Error()
}

type vecTrustee struct {
	Index      int    `json:"index"`
	SigningKey string `json:"signing_key"`
	HPKESeed   string `json:"hpke_seed"`
	HPKEPublic string `json:"hpke_public"`
}

type vecTranscript struct {
	Commitments          []string `json:"commitments"`
	EncryptedShares      []string `json:"encrypted_shares"`
	Complaints           []string `json:"complaints"`
	Answers              []string `json:"answers"`
	Qualified            string   `json:"qualified"`
	Extraction           []string `json:"extraction"`
	ExtractionComplaints []string `json:"extraction_complaints"`
	Reveals              []string `json:"reveals"`
}

type vecCulprit struct {
	Trustee int    `json:"trustee"`
	Reason  string `json:"reason"`
}

type vecDKGCase struct {
	Name             string        `json:"name"`
	Transcript       vecTranscript `json:"transcript"`
	Expected         string        `json:"expected"`
	Qualified        []int         `json:"qualified,omitempty"`
	Disqualified     []vecCulprit  `json:"disqualified,omitempty"`
	Reconstructed    []vecCulprit  `json:"reconstructed,omitempty"`
	JointKey         string        `json:"joint_key,omitempty"`
	VerificationKeys []string      `json:"verification_keys,omitempty"`
}

type vecShare struct {
	Name     string `json:"name"`
	Share    string `json:"share"`
	Expected string `json:"expected"`
	Trustee  int    `json:"trustee,omitempty"`
}

// vecBatch gives the intermediate values of one share's batched proof
// (spec §5.10).
type vecBatch struct {
	Trustee int      `json:"trustee"`
	Weights []string `json:"weights"`
	AStar   string   `json:"a_star"`
	DStar   string   `json:"d_star"`
	Context string   `json:"context"`
}

type vecCombine struct {
	Trustees   []int    `json:"trustees"`
	Plaintexts []uint64 `json:"plaintexts"`
}

type vecDecryption struct {
	VoterListCommitment string       `json:"voter_list_commitment"`
	ExtendedHash        string       `json:"extended_hash"`
	KeyShares           []string     `json:"key_shares"`
	Ciphertexts         []string     `json:"ciphertexts"`
	Plaintexts          []uint64     `json:"plaintexts"`
	Shares              []vecShare   `json:"shares"`
	Batch               vecBatch     `json:"batch"`
	Combine             []vecCombine `json:"combine"`
}

type vecDecode struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Hex      string `json:"hex"`
	Expected string `json:"expected"`
}

// vecConsistency gives the intermediate values of one dealer's
// consistency proof in the honest transcript (spec §5.6).
type vecConsistency struct {
	Dealer  int      `json:"dealer"`
	Weights []string `json:"weights"`
	D       string   `json:"d"`
	Context string   `json:"context"`
}

type vecFile struct {
	Comment      string           `json:"comment"`
	N            int              `json:"n"`
	T            int              `json:"t"`
	ManifestHash string           `json:"manifest_hash"`
	Trustees     []vecTrustee     `json:"trustees"`
	BaseHash     string           `json:"base_hash"`
	PedersenH    string           `json:"pedersen_h"`
	DKG          []vecDKGCase     `json:"dkg"`
	Consistency  []vecConsistency `json:"consistency"`
	Decryption   vecDecryption    `json:"decryption"`
	Decode       []vecDecode      `json:"decode"`
}

func hexes[M interface{ Bytes() []byte }](ms []M) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, hex.EncodeToString(m.Bytes()))
	}
	return out
}

func toVecTranscript(tr *Transcript) vecTranscript {
	v := vecTranscript{
		Commitments:          hexes(tr.Commitments),
		EncryptedShares:      hexes(tr.EncryptedShares),
		Complaints:           hexes(tr.Complaints),
		Answers:              hexes(tr.Answers),
		Extraction:           hexes(tr.Extraction),
		ExtractionComplaints: hexes(tr.ExtractionComplaints),
		Reveals:              hexes(tr.Reveals),
	}
	if tr.Qualified != nil {
		v.Qualified = hex.EncodeToString(tr.Qualified.Bytes())
	}
	return v
}

func parseAll[M any](t *testing.T, hs []string, parse func([]byte) (M, error)) []M {
	t.Helper()
	var out []M
	for _, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parse(b)
		if err != nil {
			t.Fatalf("vector message does not parse: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func fromVecTranscript(t *testing.T, p Params, base [32]byte, v vecTranscript) *Transcript {
	tr := &Transcript{
		Params:               p,
		BaseHash:             base,
		Commitments:          parseAll(t, v.Commitments, ParseCommitments),
		EncryptedShares:      parseAll(t, v.EncryptedShares, ParseEncryptedShares),
		Complaints:           parseAll(t, v.Complaints, ParseComplaint),
		Answers:              parseAll(t, v.Answers, ParseComplaintAnswer),
		Extraction:           parseAll(t, v.Extraction, ParseExtractionCommitments),
		ExtractionComplaints: parseAll(t, v.ExtractionComplaints, ParseExtractionComplaint),
		Reveals:              parseAll(t, v.Reveals, ParseExtractionReveal),
	}
	if v.Qualified != "" {
		tr.Qualified = parseAll(t, []string{v.Qualified}, ParseQualified)[0]
	}
	return tr
}

// outcome runs VerifyTranscript and summarises the result as in a vector.
func outcome(tr *Transcript) vecDKGCase {
	res, err := VerifyTranscript(tr)
	c := vecDKGCase{Expected: reasonOf(err)}
	if err != nil {
		return c
	}
	c.Qualified = res.Qualified
	for _, d := range res.Disqualified {
		c.Disqualified = append(c.Disqualified, vecCulprit{d.Trustee, reasonOf(d.Reason)})
	}
	for _, d := range res.Reconstructed {
		c.Reconstructed = append(c.Reconstructed, vecCulprit{d.Trustee, reasonOf(d.Reason)})
	}
	c.JointKey = hex.EncodeToString(res.JointKey.Bytes())
	c.VerificationKeys = hexes(res.VerificationKeys)
	return c
}

const vecSeed = "threshold vectors"

// generateVectors runs the n=3, t=2 key generation honestly and with each
// misbehaviour, all from the same seed, then decrypts.
func generateVectors(t *testing.T) *vecFile {
	p := Params{N: 3, T: 2}
	cases := []struct {
		name string
		h    func(d *dkg) hooks
		edit func(d *dkg)
	}{
		{"honest", func(d *dkg) hooks { return hooks{} }, nil},
		{"dealer 1 sends trustee 2 a bad share and answers the complaint correctly", func(d *dkg) hooks {
			return hooks{deal: badShareTo(d, 1, 2)}
		}, nil},
		{"dealer 1 sends trustee 2 a bad share and answers with a bad share", func(d *dkg) hooks {
			return hooks{deal: badShareTo(d, 1, 2), answer: func(i int, as []*ComplaintAnswer) []*ComplaintAnswer {
				for _, a := range as {
					if i == 1 {
						a.S = new(group.Scalar).Add(a.S, new(group.Scalar).SetUint64(1))
					}
				}
				return as
			}}
		}, nil},
		{"dealer 1 sends trustee 2 a bad share and does not answer", func(d *dkg) hooks {
			return hooks{deal: badShareTo(d, 1, 2), answer: func(i int, as []*ComplaintAnswer) []*ComplaintAnswer {
				if i == 1 {
					return nil
				}
				return as
			}}
		}, nil},
		{"dealer 3 silent in the extraction phase: its secret is reconstructed", func(d *dkg) hooks {
			return hooks{extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
				if i == 3 {
					return nil
				}
				return e
			}}
		}, nil},
		{"dealer 2 publishes extraction commitments inconsistent with its shares", func(d *dkg) hooks {
			return hooks{extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
				if i == 2 {
					e.A[1] = new(group.Element).Add(e.A[1], group.NewGeneratorElement())
				}
				return e
			}}
		}, nil},
		{"dealer 2's consistency proof does not verify (its extraction commitments are honest): its secret is reconstructed", func(d *dkg) hooks {
			return hooks{extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
				if i == 2 {
					e.Consistency.Z.Add(&e.Consistency.Z, new(group.Scalar).SetUint64(1))
				}
				return e
			}}
		}, nil},
		{"dealer 2 posts dealer 1's consistency proof: its secret is reconstructed", func(d *dkg) hooks {
			return hooks{extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
				if i == 2 {
					e.Consistency = d.tr.Extraction[0].Consistency
				}
				return e
			}}
		}, nil},
		{"dealer 2 posts commitments of another election", func(d *dkg) hooks {
			return hooks{deal: func(i int, c *Commitments, e *EncryptedShares) (*Commitments, *EncryptedShares) {
				if i == 2 {
					c.BaseHash[0] ^= 1
				}
				return c, e
			}}
		}, nil},
		{"published QUAL omits dealer 3", func(d *dkg) hooks { return hooks{} }, func(d *dkg) {
			d.tr.Qualified = &Qualified{BaseHash: d.base, Dealers: []int{1, 2}}
		}},
		{"dealer 3's secret must be reconstructed but nobody reveals", func(d *dkg) hooks {
			return hooks{
				extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
					if i == 3 {
						return nil
					}
					return e
				},
				keepReveal: func(int) bool { return false },
			}
		}, func(d *dkg) { d.tr.ExtractionComplaints = nil }},
	}
	var f *vecFile
	var honest *dkg
	for _, c := range cases {
		d := newDKG(t, p, vecSeed)
		_ = d.run(c.h(d))
		if c.edit != nil {
			c.edit(d)
		}
		if f == nil {
			honest = d
			f = &vecFile{
				Comment: "evote threshold key generation and decryption, spec/05-keygen.md. n=3, t=2; every case uses the same trustee keys and base hash. " +
					"dkg: each transcript's expected outcome of VerifyTranscript (\"valid\" with QUAL, culprits, joint key and verification keys, or the rejection reason). " +
					"consistency: for each dealer of the honest transcript, the weights, D and context of its consistency proof (spec §5.6). " +
					"decryption: key shares are the trustees' secrets (for checking only), shares are DecryptionShare encodings under extended_hash. " +
					"signing_key is a placeholder for the trustee's Ed25519 key. Generated by go test ./crypto/threshold -run TestVectors -update.",
				N: p.N, T: p.T,
				ManifestHash: hex.EncodeToString(d.manifest[:]),
				BaseHash:     hex.EncodeToString(d.base[:]),
				PedersenH:    hex.EncodeToString(PedersenGenerator().Bytes()),
			}
			for i := range p.N {
				f.Trustees = append(f.Trustees, vecTrustee{i + 1, hex.EncodeToString(d.signing[i][:]), hex.EncodeToString(d.seeds[i]), hex.EncodeToString(d.keys[i].pub[:])})
			}
		}
		v := outcome(d.tr)
		v.Name = c.name
		v.Transcript = toVecTranscript(d.tr)
		f.DKG = append(f.DKG, v)
	}

	f.Consistency = consistencyVectors(honest.tr)

	// Decryption with the honest key.
	rnd := testrand.New(vecSeed + " decryption")
	var vl [32]byte
	copy(vl[:], "test voter list commitment")
	ext := ExtendedHash(honest.base, honest.res.JointKey, honest.res.VerificationKeys, vl)
	pk, _ := elgamal.NewPublicKey(honest.res.JointKey)
	dec := vecDecryption{VoterListCommitment: hex.EncodeToString(vl[:]), ExtendedHash: hex.EncodeToString(ext[:])}
	var cts []*elgamal.Ciphertext
	for _, m := range []uint64{0, 1, 5} {
		c, _, err := pk.Encrypt(m, rnd)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, c)
		dec.Ciphertexts = append(dec.Ciphertexts, hex.EncodeToString(c.Bytes()))
		dec.Plaintexts = append(dec.Plaintexts, m)
	}
	for _, k := range honest.shares {
		dec.KeyShares = append(dec.KeyShares, hex.EncodeToString(k.x.Bytes()))
	}
	share := func(j int) *DecryptionShare {
		s, err := honest.shares[j-1].DecryptShares(ext, cts, rnd)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	add := func(name string, s *DecryptionShare) {
		err := VerifyDecryptionShare(ext, honest.res.VerificationKeys, cts, s)
		v := vecShare{Name: name, Share: hex.EncodeToString(s.Bytes()), Expected: reasonOf(err)}
		var se *ShareError
		if errors.As(err, &se) {
			v.Trustee = se.Trustee
		}
		dec.Shares = append(dec.Shares, v)
	}
	for j := 1; j <= p.N; j++ {
		add(fmt.Sprintf("trustee %d", j), share(j))
	}
	first := share(1)
	dec.Batch = batchVector(ext, first, honest.res.VerificationKeys[0], cts)
	bad := share(2)
	bad.D[1] = new(group.Element).Add(bad.D[1], group.NewGeneratorElement())
	add("trustee 2, share of ciphertext 1 altered", bad)
	badB := share(3)
	badB.D[2] = new(group.Element).Add(badB.D[2], group.NewGeneratorElement())
	add("trustee 3, share of ciphertext 2 altered", badB)
	swapped := share(3)
	swapped.D[0], swapped.D[1] = swapped.D[1], swapped.D[0]
	add("trustee 3, shares of ciphertexts 0 and 1 swapped", swapped)
	other := share(1)
	other.Context[0] ^= 1
	add("trustee 1, share made under another extended hash", other)
	claimed := share(1)
	claimed.Trustee = 3
	add("trustee 1's share presented as trustee 3's", claimed)
	for _, sub := range [][]int{{1, 2}, {1, 3}, {2, 3}} {
		ms, err := Combine(p, cts, []*DecryptionShare{share(sub[0]), share(sub[1])})
		if err != nil {
			t.Fatal(err)
		}
		table := elgamal.NewDLogTable(10)
		var out []uint64
		for _, m := range ms {
			v, err := table.Lookup(m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		dec.Combine = append(dec.Combine, vecCombine{sub, out})
	}
	f.Decryption = dec

	// Decoder cases.
	c0, _ := hex.DecodeString(f.DKG[0].Transcript.Commitments[0])
	nonCanon := slices.Clone(c0)
	copy(nonCanon[len(nonCanon)-32:], bytes.Repeat([]byte{0xff}, 32))
	q, _ := hex.DecodeString(f.DKG[0].Transcript.Qualified)
	unsorted := slices.Clone(q)
	unsorted[len(unsorted)-1], unsorted[len(unsorted)-3] = unsorted[len(unsorted)-3], unsorted[len(unsorted)-1]
	ans, _ := hex.DecodeString(f.DKG[1].Transcript.Answers[0])
	bigScalar := slices.Clone(ans)
	copy(bigScalar[len(bigScalar)-32:], bytes.Repeat([]byte{0xff}, 32))
	ds, _ := hex.DecodeString(dec.Shares[0].Share)
	ex, _ := hex.DecodeString(f.DKG[0].Transcript.Extraction[0])
	exBadZ := slices.Clone(ex)
	copy(exBadZ[len(exBadZ)-32:], bytes.Repeat([]byte{0xff}, 32))
	f.Decode = []vecDecode{
		{"commitments, valid", "commitments", hex.EncodeToString(c0), "valid"},
		{"commitments, trailing byte", "commitments", hex.EncodeToString(append(slices.Clone(c0), 0)), "malformed"},
		{"commitments, truncated", "commitments", hex.EncodeToString(c0[:len(c0)-1]), "malformed"},
		{"commitments, non-canonical element", "commitments", hex.EncodeToString(nonCanon), "malformed"},
		{"commitments parsed as a complaint", "complaint", hex.EncodeToString(c0), "malformed"},
		{"qualified, dealers not increasing", "qualified", hex.EncodeToString(unsorted), "malformed"},
		{"complaint answer, scalar not below the group order", "complaint-answer", hex.EncodeToString(bigScalar), "malformed"},
		{"decryption share, valid", "decryption-share", hex.EncodeToString(ds), "valid"},
		{"decryption share, trailing byte", "decryption-share", hex.EncodeToString(append(slices.Clone(ds), 0)), "malformed"},
		{"decryption share without its proof", "decryption-share", hex.EncodeToString(ds[:len(ds)-96]), "malformed"},
		{"decryption share followed by per-ciphertext proofs (the format before issue 14)", "decryption-share", hex.EncodeToString(legacyShareBytes(first, []*zkp.DLEQProof{first.Proof, first.Proof, first.Proof})), "malformed"},
		{"decryption share of no ciphertext", "decryption-share", hex.EncodeToString(slices.Concat(ds[:1+32+2], []byte{0, 0, 0, 0}, ds[len(ds)-96:])), "malformed"},
		{"extraction commitments, valid", "extraction-commitments", hex.EncodeToString(ex), "valid"},
		{"extraction commitments without the consistency proof", "extraction-commitments", hex.EncodeToString(ex[:len(ex)-64]), "malformed"},
		{"extraction commitments, trailing byte", "extraction-commitments", hex.EncodeToString(append(slices.Clone(ex), 0)), "malformed"},
		{"extraction commitments, consistency response not below the group order", "extraction-commitments", hex.EncodeToString(exBadZ), "malformed"},
	}
	return f
}

// consistencyVectors computes the weights, D and context of every
// dealer's consistency proof in tr (spec §5.6).
func consistencyVectors(tr *Transcript) []vecConsistency {
	commits := map[int][]*group.Element{}
	for _, c := range tr.Commitments {
		commits[c.Dealer] = c.C
	}
	var out []vecConsistency
	for _, e := range tr.Extraction {
		cs := commits[e.Dealer]
		rho, ctx := consistencyStatement(tr.BaseHash, e.Dealer, cs, e.A)
		v := vecConsistency{Dealer: e.Dealer, Context: hex.EncodeToString(ctx)}
		d := group.NewIdentityElement()
		for k, r := range rho {
			v.Weights = append(v.Weights, hex.EncodeToString(r.Bytes()))
			d.Add(d, new(group.Element).ScalarMult(r, new(group.Element).Subtract(cs[k], e.A[k])))
		}
		v.D = hex.EncodeToString(d.Bytes())
		out = append(out, v)
	}
	return out
}

// batchVector gives the weights, A*, D* and context of s's batched proof.
func batchVector(ext [32]byte, s *DecryptionShare, vk *group.Element, cts []*elgamal.Ciphertext) vecBatch {
	list := NewCiphertextList(cts)
	w := batchWeights(ext, s.Trustee, vk, len(cts), list.aEnc, appendElements(nil, s.D))
	v := vecBatch{Trustee: s.Trustee, Context: hex.EncodeToString(batchContext(ext, s.Trustee, len(cts)))}
	for _, x := range w {
		v.Weights = append(v.Weights, hex.EncodeToString(x.Bytes()))
	}
	v.AStar = hex.EncodeToString(new(group.Element).VarTimeMultiScalarMult(w, list.as).Bytes())
	v.DStar = hex.EncodeToString(new(group.Element).VarTimeMultiScalarMult(w, s.D).Bytes())
	return v
}

var decoders = map[string]func([]byte) error{
	"commitments":            func(b []byte) error { _, err := ParseCommitments(b); return err },
	"complaint":              func(b []byte) error { _, err := ParseComplaint(b); return err },
	"complaint-answer":       func(b []byte) error { _, err := ParseComplaintAnswer(b); return err },
	"qualified":              func(b []byte) error { _, err := ParseQualified(b); return err },
	"decryption-share":       func(b []byte) error { _, err := ParseDecryptionShare(b); return err },
	"extraction-commitments": func(b []byte) error { _, err := ParseExtractionCommitments(b); return err },
}

func TestVectors(t *testing.T) {
	gen := generateVectors(t)
	out, err := json.MarshalIndent(gen, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	if *update {
		if err := os.WriteFile(vectorPath, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, out) {
		t.Errorf("%s is stale or was edited; regenerate with -update and review", vectorPath)
	}
	var f vecFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	checkVectorFile(t, &f)
}

// checkVectorFile checks the file on its own terms: every transcript gives
// its expected outcome, every share its expected verdict.
func checkVectorFile(t *testing.T, f *vecFile) {
	p := Params{N: f.N, T: f.T}
	var manifest [32]byte
	mustHex(t, f.ManifestHash, manifest[:])
	var keys []TrusteeKeys
	for _, tv := range f.Trustees {
		var k TrusteeKeys
		mustHex(t, tv.SigningKey, k.SigningKey[:])
		seed := make([]byte, 32)
		mustHex(t, tv.HPKESeed, seed)
		hk, err := NewHPKEPrivateKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(hk.pub[:]) != tv.HPKEPublic {
			t.Fatalf("trustee %d: hpke public key does not match its seed", tv.Index)
		}
		k.HPKEKey = hk.pub
		keys = append(keys, k)
	}
	base, err := BaseHash(manifest, p, keys)
	if err != nil || hex.EncodeToString(base[:]) != f.BaseHash {
		t.Fatalf("base hash: %v", err)
	}
	if hex.EncodeToString(PedersenGenerator().Bytes()) != f.PedersenH {
		t.Fatal("pedersen generator differs")
	}
	for _, c := range f.DKG {
		tr := fromVecTranscript(t, p, base, c.Transcript)
		got := outcome(tr)
		got.Name, got.Transcript = c.Name, c.Transcript
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(c)
		if !bytes.Equal(gj, wj) {
			t.Errorf("%s: outcome %s, want %s", c.Name, gj, wj)
		}
	}
	var honest vecDKGCase
	for _, c := range f.DKG {
		if c.Name == "honest" {
			honest = c
		}
	}
	checkHonestTranscript(t, p, base, f, honest)
	gotC, _ := json.Marshal(consistencyVectors(fromVecTranscript(t, p, base, honest.Transcript)))
	wantC, _ := json.Marshal(f.Consistency)
	if !bytes.Equal(gotC, wantC) {
		t.Errorf("consistency proof values: got %s, want %s", gotC, wantC)
	}
	var vks []*group.Element
	for _, h := range honest.VerificationKeys {
		e := new(group.Element)
		b, _ := hex.DecodeString(h)
		if _, err := e.SetCanonicalBytes(b); err != nil {
			t.Fatal(err)
		}
		vks = append(vks, e)
	}
	dec := f.Decryption
	for j, h := range dec.KeyShares {
		b, _ := hex.DecodeString(h)
		x, err := new(group.Scalar).SetCanonicalBytes(b)
		if err != nil || new(group.Element).ScalarBaseMult(x).Equal(vks[j]) != 1 {
			t.Fatalf("key share %d does not match verification key", j+1)
		}
	}
	var cts []*elgamal.Ciphertext
	for _, h := range dec.Ciphertexts {
		b, _ := hex.DecodeString(h)
		c, err := new(elgamal.Ciphertext).SetBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, c)
	}
	var ext [32]byte
	mustHex(t, dec.ExtendedHash, ext[:])
	var vl [32]byte
	mustHex(t, dec.VoterListCommitment, vl[:])
	jk := new(group.Element)
	b, _ := hex.DecodeString(honest.JointKey)
	jk.SetCanonicalBytes(b)
	if ExtendedHash(base, jk, vks, vl) != ext {
		t.Fatal("extended hash differs")
	}
	byTrustee := map[int]*DecryptionShare{}
	for _, v := range dec.Shares {
		b, _ := hex.DecodeString(v.Share)
		s, err := ParseDecryptionShare(b)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		err = VerifyDecryptionShare(ext, vks, cts, s)
		var se *ShareError
		got := vecShare{Name: v.Name, Share: v.Share, Expected: reasonOf(err)}
		if errors.As(err, &se) {
			got.Trustee = se.Trustee
		}
		if got != v {
			t.Errorf("%s: got %+v", v.Name, got)
		}
		if err == nil && byTrustee[s.Trustee] == nil {
			byTrustee[s.Trustee] = s
		}
	}
	if byTrustee[1] == nil {
		t.Fatal("no valid share of trustee 1")
	}
	if got := batchVector(ext, byTrustee[1], vks[0], cts); !reflect.DeepEqual(got, dec.Batch) {
		t.Errorf("batched proof's intermediate values differ: %+v", got)
	}
	table := elgamal.NewDLogTable(10)
	for _, c := range dec.Combine {
		ms, err := Combine(p, cts, []*DecryptionShare{byTrustee[c.Trustees[0]], byTrustee[c.Trustees[1]]})
		if err != nil {
			t.Fatal(err)
		}
		for l, m := range ms {
			v, err := table.Lookup(m)
			if err != nil || v != c.Plaintexts[l] || v != dec.Plaintexts[l] {
				t.Errorf("combine %v: ciphertext %d gives %d (%v)", c.Trustees, l, v, err)
			}
		}
	}
	for _, v := range f.Decode {
		b, _ := hex.DecodeString(v.Hex)
		if got := reasonOf(decoders[v.Kind](b)); got != v.Expected {
			t.Errorf("%s: %s, want %s", v.Name, got, v.Expected)
		}
	}
}

func mustHex(t *testing.T, h string, out []byte) {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(out) {
		t.Fatalf("bad hex %q", h)
	}
	copy(out, b)
}

// checkHonestTranscript feeds the honest transcript through Transcript.Add
// in board order and opens every encrypted share with the recipients' HPKE
// seeds, checking each against its dealer's commitments (spec §5.4).
func checkHonestTranscript(t *testing.T, p Params, base [32]byte, f *vecFile, c vecDKGCase) {
	tr := &Transcript{Params: p, BaseHash: base}
	v := c.Transcript
	for _, msgs := range [][]string{v.Commitments, v.EncryptedShares, v.Complaints, v.Answers, {v.Qualified}, v.Extraction, v.ExtractionComplaints, v.Reveals} {
		for _, h := range msgs {
			b, _ := hex.DecodeString(h)
			if err := tr.Add(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err := VerifyTranscript(tr)
	if err != nil || hex.EncodeToString(res.JointKey.Bytes()) != c.JointKey {
		t.Fatalf("honest transcript through Add: %v", err)
	}
	commits := map[int][]*group.Element{}
	for _, m := range tr.Commitments {
		commits[m.Dealer] = m.C
	}
	opened := 0
	for _, es := range tr.EncryptedShares {
		for _, e := range es.Shares {
			seed := make([]byte, 32)
			mustHex(t, f.Trustees[e.Recipient-1].HPKESeed, seed)
			k, _ := NewHPKEPrivateKey(seed)
			s, s2, err := openShare(k, base, es.Dealer, e.Recipient, e.Enc[:], e.Ciphertext[:])
			if err != nil || !checkPedersenShare(commits[es.Dealer], e.Recipient, s, s2) {
				t.Fatalf("share %d→%d: %v", es.Dealer, e.Recipient, err)
			}
			opened++
		}
	}
	if opened != p.N*(p.N-1) {
		t.Fatalf("opened %d shares", opened)
	}
}
