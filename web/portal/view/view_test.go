package view

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/verify"
)

func example(t *testing.T) *verify.Record {
	t.Helper()
	rec, err := verify.Load("../../../spec/vectors/record-example")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestDescribeAndEntries decodes the spec's example record: the manifest
// as an election with its fingerprint, every entry into its human fields,
// ballots named by the pseudonym of the credential decoded before, and the
// result as tables and CSV equal to the verifier's recomputed result.
func TestDescribeAndEntries(t *testing.T) {
	rec := example(t)
	m0, err := bulletin.DecodeEntry(rec.Entries[0])
	if err != nil {
		t.Fatal(err)
	}
	el, err := Describe(m0.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if el.ElectionID != "kg-2027-verify" || len(el.Fingerprint) != 39 || len(el.FingerprintHex) != 64 || len(el.Trustees) == 0 || len(el.Witnesses) == 0 || el.Authority.Name["en"] == "" {
		t.Fatalf("election %+v", el)
	}
	d, err := NewDecoder(m0.Payload)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	var result []byte
	named := 0
	for i, raw := range rec.Entries {
		v, err := d.Entry(uint64(i), raw)
		if err != nil {
			t.Fatal(err)
		}
		if v.Error != "" || !v.Signed {
			t.Fatalf("entry %d (%s): %s signed %v", i, v.Type, v.Error, v.Signed)
		}
		types[v.Type]++
		for k := range v.Fields {
			if !slices.Contains(FieldNames, k) {
				t.Errorf("entry %d: field %q not in FieldNames", i, k)
			}
		}
		if !slices.Contains(Roles, v.Role) {
			t.Errorf("entry %d: role %q not in Roles", i, v.Role)
		}
		switch v.Type {
		case "ballot":
			if len(v.Fields["tracking_code"].(string)) != 39 || v.Role != "voter" {
				t.Errorf("ballot %d: %+v", i, v)
			}
			if v.Fields["pseudonym"] != nil {
				named++
			}
		case "mix-output", "decryption-share":
			if v.Role != "trustee" || v.Who == "" || v.Fields["contest"] == "" {
				t.Errorf("%s %d: %+v", v.Type, i, v)
			}
		case "result":
			e, _ := bulletin.DecodeEntry(raw)
			result = e.Payload
		}
	}
	if types["ballot"] == 0 || types["mix-output"] == 0 || types["decryption-share"] == 0 || result == nil || named != types["ballot"] {
		t.Fatalf("types %v, ballots named %d", types, named)
	}
	// A payload that does not decode is shown as such, not refused.
	if _, err := d.Entry(0, []byte("not an entry")); err == nil {
		t.Error("garbage decoded")
	}

	rs, err := Result(m0.Payload, result)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := ballotFingerprint(el.Fingerprint)
	rep := verify.Verify(rec, verify.Options{Fingerprint: fp, Workers: 1})
	if !rep.OK {
		t.Fatal(rep.Failures)
	}
	for i, c := range rep.Result {
		got := rs.Contests[i]
		if got.ID != c.Contest || got.Withheld != c.Withheld {
			t.Fatalf("contest %d: %+v vs %+v", i, got, c)
		}
		var counts []uint64
		if got.Blank != nil {
			counts = append(counts, *got.Blank)
		}
		for _, r := range got.Rows {
			counts = append(counts, r.Votes)
		}
		if !c.Withheld && !equal(counts, c.Counts) {
			t.Errorf("contest %s: %v, verifier %v", c.Contest, counts, c.Counts)
		}
		if len(got.Constituencies) == 0 {
			t.Errorf("contest %s in no constituency", c.Contest)
		}
	}
	lines, err := csv.NewReader(bytes.NewReader(rs.CSV("ru"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 2 || strings.Join(lines[0], ",") != "contest_id,contest,constituencies,candidate_id,candidate,votes,ballots" {
		t.Fatalf("csv %v", lines)
	}
	// A result for a contest the manifest does not have is refused.
	if _, err := Result(m0.Payload, []byte{1, 0, 0, 0, 1, 'x'}); err == nil {
		t.Error("foreign result laid out")
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestImports: the package runs in the portal's module beside the
// verifier, so it may depend only on what the verifier may.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dep, "evote/") {
			continue
		}
		ok := false
		for _, a := range []string{"evote/crypto/", "evote/ballot", "evote/ballot/revoterow", "evote/bulletin", "evote/tally", "evote/election", "evote/record", "evote/internal/wire", "evote/internal/parallel", "evote/tally/revote", "evote/verify", "evote/web/portal/view"} {
			if dep == strings.TrimSuffix(a, "/") || strings.HasPrefix(dep, a) && (strings.HasSuffix(a, "/") || dep == a) {
				ok = true
			}
		}
		if dep == "evote/bulletin/board" || dep == "evote/bulletin/witness" || dep == "evote/election/sim" {
			ok = false
		}
		if !ok {
			t.Errorf("depends on %s", dep)
		}
	}
}

func ballotFingerprint(s string) (ballot.ExpectedFingerprint, error) {
	return ballot.ParseFingerprint(s)
}

// TestCheckpointAndProofs: the example record's checkpoint is valid under
// its manifest's anchors and names its cosigners; a changed root is not;
// inclusion and consistency proofs computed over the record verify, and a
// wrong leaf does not.
func TestCheckpointAndProofs(t *testing.T) {
	rec := example(t)
	m0, _ := bulletin.DecodeEntry(rec.Entries[0])
	cp, err := CheckCheckpoint(m0.Payload, rec.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	signed := 0
	for _, c := range cp.Cosigners {
		if c.Signed {
			signed++
		}
	}
	if !cp.Valid || cp.Size != uint64(len(rec.Entries)) || signed < int(cp.Quorum) || cp.Quorum == 0 {
		t.Fatalf("checkpoint %+v", cp)
	}
	lines := strings.SplitN(string(rec.Checkpoint), "\n", 4)
	lines[2] = "AAAA" + lines[2][4:] // the root line
	if cp2, err := CheckCheckpoint(m0.Payload, []byte(strings.Join(lines, "\n"))); err == nil && cp2.Valid {
		t.Error("checkpoint with another root is valid")
	}
	tree := bulletin.NewTree()
	var leaves [][32]byte
	for _, e := range rec.Entries {
		leaves = append(leaves, bulletin.LeafHash(e))
	}
	tree.AppendLeaves(leaves...)
	n := tree.Size()
	p, err := tree.InclusionProof(3, n)
	if err != nil {
		t.Fatal(err)
	}
	hexes := func(p [][32]byte) []string {
		var out []string
		for _, h := range p {
			out = append(out, hex.EncodeToString(h[:]))
		}
		return out
	}
	if err := CheckInclusion(rec.Entries[3], 3, n, hexes(p), cp.Root); err != nil {
		t.Errorf("inclusion: %v", err)
	}
	// The attack the page's check let through: the server shows entry 4
	// (say, a ballot it left out of its log) with entry 3's proof, which
	// verifies for entry 3's leaf hash, given by the server beside it.
	// The leaf is now the hash of the bytes shown.
	if err := CheckInclusion(rec.Entries[4], 3, n, hexes(p), cp.Root); err == nil {
		t.Error("another entry is proven included with entry 3's proof")
	}
	r5, _ := tree.RootAt(5)
	cons, err := tree.ConsistencyProof(5, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckConsistency(5, n, hexes(cons), hex.EncodeToString(r5[:]), cp.Root); err != nil {
		t.Errorf("consistency: %v", err)
	}
	if err := CheckConsistency(5, n, hexes(cons), cp.Root, cp.Root); err == nil {
		t.Error("consistency with a wrong first root verifies")
	}
}

// resign returns entry raw signed again by a fresh key (its author): a
// well-formed, validly signed entry of the log that the election
// authority did not sign.
func resign(t *testing.T, raw []byte) []byte {
	t.Helper()
	e, err := bulletin.DecodeEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	f, err := bulletin.NewEntry(e.Log, e.Type, [32]byte(k.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k), e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return f.Encode()
}

// TestAuthorityByKey: the explorer names an entry the authority's by its
// key, the author of the manifest entry, never by its type. Before, a
// result (or any authority type) signed by anybody was shown as the
// election authority's, with a valid signature.
func TestAuthorityByKey(t *testing.T) {
	rec := example(t)
	m0 := mustEntry(t, rec.Entries[0])
	last := len(rec.Entries) - 1
	if mustEntry(t, rec.Entries[last]).Type != bulletin.TypeResult {
		t.Fatal("the example record does not end with its result")
	}
	forged := resign(t, rec.Entries[last])
	d, _ := NewDecoder(m0.Payload)
	// A page that does not start at the manifest: no authority known yet.
	if v, _ := d.Entry(uint64(last), rec.Entries[last]); v.Role != "unknown" {
		t.Errorf("the result before the authority is known: role %q", v.Role)
	}
	if err := d.SetManifestEntry(rec.Entries[1]); err == nil {
		t.Error("another entry accepted as the manifest entry")
	}
	if err := d.SetManifestEntry(rec.Entries[0]); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Entry(uint64(last), rec.Entries[last]); v.Role != "authority" {
		t.Errorf("the authority's result: role %q", v.Role)
	}
	if v, _ := d.Entry(uint64(last), forged); v.Role == "authority" || !v.Signed {
		t.Errorf("a result signed by another key: role %q, signed %v", v.Role, v.Signed)
	}
	// Decoding an entry at position 0 teaches nothing: the page gives the
	// first entry only once it is checked in a cosigned checkpoint.
	d2, _ := NewDecoder(m0.Payload)
	d2.Entry(0, rec.Entries[0])
	if v, _ := d2.Entry(uint64(last), rec.Entries[last]); v.Role != "unknown" {
		t.Errorf("a decoded entry 0 taught the authority: role %q", v.Role)
	}
}

// TestCheckManifestEntry: the board's first entry is the authority's
// only as the log's first entry in the cosigned tree. A server could
// serve, as "entry 0", the manifest signed by a key of its own: its
// signature and payload check, and before, its author then passed for
// the authority in the results, lifecycle, rows and explorer (the
// review's TestAttackForgedManifestEntry).
func TestCheckManifestEntry(t *testing.T) {
	rec := example(t)
	m0 := mustEntry(t, rec.Entries[0])
	tree := recordTree(rec.Entries)
	root, _ := tree.RootAt(tree.Size())
	r := hex.EncodeToString(root[:])
	if err := CheckManifestEntry(m0.Payload, rec.Entries[0], tree.Size(), r, proofOf(t, tree, 0)); err != nil {
		t.Fatal(err)
	}
	forged := resign(t, rec.Entries[0])
	if err := CheckManifestEntry(m0.Payload, forged, tree.Size(), r, proofOf(t, tree, 0)); err == nil {
		t.Error("a first entry signed by another key passed")
	}
	if err := CheckManifestEntry(m0.Payload, rec.Entries[0], 0, r, nil); err == nil {
		t.Error("a first entry with no checkpoint passed")
	}
	if err := CheckManifestEntry(m0.Payload, rec.Entries[1], tree.Size(), r, proofOf(t, tree, 1)); err == nil {
		t.Error("another entry passed as the first")
	}
}

// TestCheckBallotCode: the look-up's answer must be the ballot looked
// up, by its whole code or the code shown; before, a server could answer
// with another voter's ballot, truly on the board, and the page said the
// ballot was included.
func TestCheckBallotCode(t *testing.T) {
	rec := example(t)
	var ballots [][]byte
	for _, raw := range rec.Entries {
		if mustEntry(t, raw).Type == bulletin.TypeBallot {
			ballots = append(ballots, raw)
		}
	}
	if len(ballots) < 2 {
		t.Fatal("the example record has fewer than two ballots")
	}
	code := ballot.TrackingCodeOf(mustEntry(t, ballots[0]).Payload)
	for _, typed := range []string{code.String(), strings.ToLower(code.String()), hex.EncodeToString(code[:])} {
		if err := CheckBallotCode(ballots[0], typed); err != nil {
			t.Errorf("%s: %v", typed, err)
		}
		if err := CheckBallotCode(ballots[1], typed); err == nil {
			t.Errorf("another ballot passed for %s", typed)
		}
	}
	if err := CheckBallotCode(rec.Entries[0], code.String()); err == nil {
		t.Error("the manifest entry passed for a ballot")
	}
}

// TestForgedCredentialNamesNothing: only the identity service's own
// credential entries name the ballots of a device key; before, any
// entry claiming a pseudonym for a device key named real ballots with it
// (the review's TestAttackForgedCredentialNamesBallot). An entry of
// another log is not decoded at all.
func TestForgedCredentialNamesNothing(t *testing.T) {
	rec := example(t)
	m0 := mustEntry(t, rec.Entries[0])
	var cred []byte
	for _, raw := range rec.Entries {
		if mustEntry(t, raw).Type == bulletin.TypeCredentialIssued {
			cred = raw
			break
		}
	}
	d, _ := NewDecoder(m0.Payload)
	d.Entry(1, resign(t, cred))
	for dk := range d.devices {
		t.Fatalf("a forged credential named device key %x", dk)
	}
	d.Entry(1, cred)
	if len(d.devices) != 1 {
		t.Fatalf("the identity service's credential named %d device keys", len(d.devices))
	}
	e := mustEntry(t, cred)
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := bulletin.NewEntry(bulletin.LogIDFor("evote.test/board/another"), e.Type, [32]byte(k.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k), e.Payload)
	if v, _ := d.Entry(2, other.Encode()); v.Error == "" || len(v.Fields) != 0 {
		t.Errorf("an entry of another log was decoded: %+v", v)
	}
}

// TestResultEntry: the results view shows a result only from the result
// entry's own bytes, signed by the election authority. Before, the page
// laid out the server's JSON "payload" of whatever entry the server
// named: any numbers a server chose.
func TestResultEntry(t *testing.T) {
	rec := example(t)
	m0 := mustEntry(t, rec.Entries[0])
	last := len(rec.Entries) - 1
	r, err := ResultEntry(m0.Payload, rec.Entries[0], rec.Entries[last])
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Result(m0.Payload, mustEntry(t, rec.Entries[last]).Payload)
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("result %+v, want %+v", r, want)
	}
	flipped := bytes.Clone(rec.Entries[last])
	flipped[len(flipped)-70] ^= 1 // in the payload's counts, under the signature
	for name, bad := range map[string][]byte{
		"signed by another key":      resign(t, rec.Entries[last]),
		"a payload byte changed":     flipped,
		"an entry that is no result": rec.Entries[last-1],
	} {
		if _, err := ResultEntry(m0.Payload, rec.Entries[0], bad); err == nil {
			t.Errorf("%s: laid out", name)
		}
	}
	if _, err := ResultEntry(m0.Payload, rec.Entries[1], rec.Entries[last]); err == nil {
		t.Error("a result checked against another entry as the manifest entry")
	}
}
