package revote

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	mrand "math/rand/v2"
	"os"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/threshold"
	"evote/crypto/zkp"
	"evote/internal/testrand"
	"evote/tally"
)

var update = flag.Bool("update", false, "rewrite spec/vectors/revote-filter.json")

const vectorFile = "../../spec/vectors/revote-filter.json"

// The vector file (spec §15.10): one election, one board, an honest filter
// and roll call, and tampered records, each with its expected outcome.
type vectorFileT struct {
	Comment          string       `json:"comment"`
	ElectionID       string       `json:"election_id"`
	Style            string       `json:"ballot_style"`
	Context          string       `json:"context"`
	PublicKey        string       `json:"public_key"`
	Threshold        int          `json:"threshold"`
	MaxDepth         int          `json:"max_depth"`
	Mixes            int          `json:"mixes"`
	VerificationKeys []string     `json:"verification_keys"`
	TagKeys          []string     `json:"tag_keys"`
	TagKeyProofs     []string     `json:"tag_key_proofs"`
	Identifiers      []vectorID   `json:"identifiers"`
	BoardRows        int          `json:"board_rows"` // N; the rows after them are the close's padding
	Rows             []vectorRow  `json:"rows"`
	BlindWeights     []string     `json:"blind_weights_trustee1_first"` // ρ_0, σ_0 of the first step
	XMixes           []string     `json:"x_mixes"`                      // shared by every record
	YMixes           []string     `json:"y_mixes"`
	Records          []vectorCase `json:"records"`
	RollCall         vectorRoll   `json:"roll_call"`
}

type vectorID struct {
	Kind      string `json:"kind"` // "voter" (with pseudonym) or "dummy" (with index)
	Pseudonym string `json:"pseudonym,omitempty"`
	Index     uint64 `json:"index,omitempty"`
	Element   string `json:"element"`
}

type vectorRow struct {
	ID, Depth, Flag string
	Ballot          []string
}

type vectorCase struct {
	Name     string   `json:"name"`
	Blinds   []string `json:"blinds"`
	Shares   []string `json:"shares"`
	Kept     []uint32 `json:"kept"`
	Expected string   `json:"expected"`
}

type vectorRoll struct {
	Mixes    []string `json:"mixes"`
	Shares   []string `json:"shares"`
	Voters   int      `json:"voters"`
	Expected string   `json:"expected"`
}

func hexs(b []byte) string { return hex.EncodeToString(b) }

func encodeCase(name string, rec *Record, expected string) vectorCase {
	c := vectorCase{Name: name, Kept: rec.Kept, Expected: expected}
	for _, b := range rec.Blinds {
		c.Blinds = append(c.Blinds, hexs(b.Bytes()))
	}
	for _, s := range rec.Shares {
		c.Shares = append(c.Shares, hexs(s))
	}
	return c
}

// reason maps a verification error to the vector's expected string.
func reason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrDroppedBallot, "dropped last ballot"},
		{ErrKeptSuperseded, "kept superseded ballot"},
		{ErrBlindProof, "blinding proof does not verify"},
		{ErrDecryption, "too few valid decryption shares"},
		{ErrDuplicateTag, "duplicate current tag"},
		{ErrMixes, "mix chain incomplete"},
		{ErrRollCall, "roll call refused"},
		{ErrDummyGroupCount, "dummy voters differ from the padding rule"},
		{ErrMalformed, "malformed"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	if err == nil {
		return "valid"
	}
	return err.Error()
}

func buildVectors(t *testing.T) *vectorFileT {
	rnd := testrand.New("revote-vectors")
	e := newTestElection(t, rnd, 3)
	s, err := newScenario(mrand.New(mrand.NewPCG(21, 21)), 10, 3, 2, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.rows(t, s, rnd)
	rec := e.run(t, rows, rnd)
	res, err := Verify(e.p, rows, rec)
	if err != nil {
		t.Fatal(err)
	}
	rc := e.rollCall(t, res, rnd)
	v := &vectorFileT{
		Comment:    "spec §15.10: made by go test ./tally/revote -run TestVectors -update (seeded randomness); checked by the same test",
		ElectionID: e.p.ElectionID, Style: e.p.Style, Context: hexs(e.p.Context[:]), PublicKey: hexs(e.p.PublicKey.Bytes()),
		Threshold: e.p.Threshold.T, MaxDepth: e.p.MaxDepth, Mixes: e.p.Mixes, BoardRows: s.board,
	}
	for j, vk := range e.p.VerificationKeys {
		v.VerificationKeys = append(v.VerificationKeys, hexs(vk.Bytes()))
		v.TagKeys = append(v.TagKeys, hexs(e.p.TagKeys[j].Bytes()))
		p, err := e.tagKeys[j].Prove(e.p.Context, rnd)
		if err != nil {
			t.Fatal(err)
		}
		v.TagKeyProofs = append(v.TagKeyProofs, hexs(p.Bytes()))
	}
	for i := 0; i < 3; i++ {
		ps := pseudonym(i)
		v.Identifiers = append(v.Identifiers, vectorID{Kind: "voter", Pseudonym: hexs(ps[:]), Element: hexs(VoterID(e.p.ElectionID, ps).Bytes())})
	}
	for i := uint64(1); i <= 2; i++ {
		v.Identifiers = append(v.Identifiers, vectorID{Kind: "dummy", Index: i, Element: hexs(DummyID(e.p.ElectionID, e.p.Style, i).Bytes())})
	}
	for _, r := range rows {
		vr := vectorRow{ID: hexs(r.ID.Bytes()), Depth: hexs(r.Depth.Bytes()), Flag: hexs(r.Flag.Bytes())}
		for _, c := range r.Ballot {
			vr.Ballot = append(vr.Ballot, hexs(c.Bytes()))
		}
		v.Rows = append(v.Rows, vr)
	}
	list, _ := TagList(rec.XMixes[1].Output, rec.YMixes[1].Output)
	rho, sigma := blindWeightsAt(blindSeed(e.p.Context, 1, e.p.TagKeys[0], list, rec.Blinds[0].Out), 0, 1)
	v.BlindWeights = []string{hexs(rho[0].Bytes()), hexs(sigma[0].Bytes())}

	for _, m := range rec.XMixes {
		v.XMixes = append(v.XMixes, hexs(m.Encode()))
	}
	for _, m := range rec.YMixes {
		v.YMixes = append(v.YMixes, hexs(m.Encode()))
	}
	v.Records = append(v.Records, encodeCase("honest", rec, "valid"))
	dropped := *rec
	dropped.Kept = rec.Kept[1:]
	v.Records = append(v.Records, encodeCase("a last ballot dropped", &dropped, "dropped last ballot"))
	kept := *rec
	for i := uint32(0); ; i++ {
		if !slices.Contains(rec.Kept, i) {
			kept.Kept = append(slices.Clone(rec.Kept), i)
			slices.Sort(kept.Kept)
			break
		}
	}
	v.Records = append(v.Records, encodeCase("a superseded ballot kept", &kept, "kept superseded ballot"))
	forged := *rec
	forged.Blinds = []*BlindStep{forgedBlind(t, e.tagKeys[0], e.p.Context, list, 0), rec.Blinds[1]}
	v.Records = append(v.Records, encodeCase("forged blinding (equality) proof", &forged, "blinding proof does not verify"))
	share := *rec
	share.Shares = [][]byte{rec.Shares[0], forgedShare(t, rec.Shares[1])}
	v.Records = append(v.Records, encodeCase("forged decryption share", &share, "too few valid decryption shares"))

	for _, m := range rc.Mixes {
		v.RollCall.Mixes = append(v.RollCall.Mixes, hexs(m.Encode()))
	}
	for _, s := range rc.Shares {
		v.RollCall.Shares = append(v.RollCall.Shares, hexs(s))
	}
	v.RollCall.Voters = 3
	v.RollCall.Expected = "valid"
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func element(t *testing.T, s string) *group.Element {
	t.Helper()
	e, err := new(group.Element).SetCanonicalBytes(unhex(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ciphertext(t *testing.T, s string) *elgamal.Ciphertext {
	t.Helper()
	c, err := new(elgamal.Ciphertext).SetBytes(unhex(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mixes(t *testing.T, hs []string) []*tally.MixEntry {
	var out []*tally.MixEntry
	for _, h := range hs {
		m, err := tally.DecodeMixEntry(unhex(t, h))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func shares(t *testing.T, hs []string) [][]byte {
	var out [][]byte
	for _, h := range hs {
		b := unhex(t, h)
		if _, err := threshold.ParseDecryptionShare(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkVectors verifies every case of the file from its bytes alone.
func checkVectors(t *testing.T, v *vectorFileT) {
	pk, err := elgamal.ParsePublicKey(unhex(t, v.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	p := &Params{ElectionID: v.ElectionID, Style: v.Style, PublicKey: pk, Threshold: threshold.Params{N: len(v.VerificationKeys), T: v.Threshold}, Mixes: v.Mixes, MaxDepth: v.MaxDepth}
	copy(p.Context[:], unhex(t, v.Context))
	for j := range v.VerificationKeys {
		p.VerificationKeys = append(p.VerificationKeys, element(t, v.VerificationKeys[j]))
		z := element(t, v.TagKeys[j])
		proof, err := zkp.ParseSchnorrProof(unhex(t, v.TagKeyProofs[j]))
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyTagKey(p.Context, j+1, z, proof); err != nil {
			t.Fatal(err)
		}
		p.TagKeys = append(p.TagKeys, z)
	}
	for _, id := range v.Identifiers {
		var got *group.Element
		if id.Kind == "voter" {
			got = VoterID(v.ElectionID, [32]byte(unhex(t, id.Pseudonym)))
		} else {
			got = DummyID(v.ElectionID, v.Style, id.Index)
		}
		if hexs(got.Bytes()) != id.Element {
			t.Fatalf("identifier %+v: got %x", id, got.Bytes())
		}
	}
	var rows []Row
	for _, r := range v.Rows {
		row := Row{ID: ciphertext(t, r.ID), Depth: ciphertext(t, r.Depth), Flag: ciphertext(t, r.Flag)}
		for _, c := range r.Ballot {
			row.Ballot = append(row.Ballot, ciphertext(t, c))
		}
		rows = append(rows, row)
	}
	var honest *Result
	for _, c := range v.Records {
		rec := &Record{XMixes: mixes(t, v.XMixes), YMixes: mixes(t, v.YMixes), Shares: shares(t, c.Shares), Kept: c.Kept}
		for _, b := range c.Blinds {
			s, err := ParseBlindStep(unhex(t, b))
			if err != nil {
				t.Fatal(err)
			}
			rec.Blinds = append(rec.Blinds, s)
		}
		if c.Name == "honest" {
			list, _ := TagList(rec.XMixes[1].Output, rec.YMixes[1].Output)
			rho, sigma := blindWeightsAt(blindSeed(p.Context, 1, p.TagKeys[0], list, rec.Blinds[0].Out), 0, 1)
			if hexs(rho[0].Bytes()) != v.BlindWeights[0] || hexs(sigma[0].Bytes()) != v.BlindWeights[1] {
				t.Fatal("blinding weights differ from the vector")
			}
		}
		res, err := Verify(p, rows, rec)
		if got := reason(err); got != c.Expected {
			t.Fatalf("%s: got %q (%v), want %q", c.Name, got, err, c.Expected)
		}
		if c.Name == "honest" {
			honest = res
		}
	}
	_, r, err := VerifyRollCall(p, honest.Kept, v.BoardRows, &RollCall{Mixes: mixes(t, v.RollCall.Mixes), Shares: shares(t, v.RollCall.Shares)})
	if got := reason(err); got != v.RollCall.Expected || r != v.RollCall.Voters {
		t.Fatalf("roll call: %q, %d voters", got, r)
	}
}

// TestVectors checks spec/vectors/revote-filter.json (or rewrites it with
// -update).
func TestVectors(t *testing.T) {
	if *update {
		v := buildVectors(t)
		b, err := json.MarshalIndent(v, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFileT
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Records) < 5 {
		t.Fatalf("%d cases", len(v.Records))
	}
	checkVectors(t, &v)
}
