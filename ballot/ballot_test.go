package ballot

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

func testElection(t testing.TB) (*Election, *elgamal.PrivateKey) {
	t.Helper()
	sk, err := elgamal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	return &Election{Manifest: m, PublicKey: sk.Public(), ExtendedHash: [32]byte{7}}, sk
}

var credA, credB = [32]byte{0xaa}, [32]byte{0xbb}

func TestEncryptVerifyDecrypt(t *testing.T) {
	e, sk := testElection(t)
	tab := elgamal.NewDLogTable(10)
	sel := Selection{"council-kara-suu": {2}, "priorities": {0, 3}}
	p, err := e.Encrypt("style-kara-suu", credA, sel, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(p.Ballot); err != nil {
		t.Fatalf("honest ballot rejected: %v", err)
	}
	d, err := DecodeBallot(p.Ballot.Encode())
	if err != nil || !bytes.Equal(d.Encode(), p.Ballot.Encode()) || d.TrackingCode() != p.Ballot.TrackingCode() {
		t.Fatalf("round trip: %v", err)
	}
	want := [][]uint64{{3}, {1, 0, 0, 1}}
	for i, c := range p.Ballot.Contests {
		for j, ct := range c.Ciphertexts {
			m, err := tab.Lookup(sk.Decrypt(ct))
			if err != nil || m != want[i][j] {
				t.Errorf("contest %d ciphertext %d decrypts to %d (%v), want %d", i, j, m, err, want[i][j])
			}
		}
	}
	// Blank everywhere.
	blank, err := e.Encrypt("style-ala-archa", credA, nil, nil)
	if err != nil || e.Verify(blank.Ballot) != nil {
		t.Fatalf("blank ballot: %v", err)
	}
}

func TestInvalidSelectionsRefused(t *testing.T) {
	e, _ := testElection(t)
	bad := map[string]Selection{
		"two in single choice": {"council-kara-suu": {0, 1}},
		"three of max two":     {"priorities": {0, 1, 2}},
		"index out of range":   {"council-kara-suu": {5}},
		"repeated":             {"priorities": {1, 1}},
		"contest not on style": {"council-ala-archa": {0}},
	}
	for name, sel := range bad {
		if _, err := e.Encrypt("style-kara-suu", credA, sel, nil); !errors.Is(err, ErrInvalidChoice) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.Encrypt("no-such-style", credA, nil, nil); err == nil {
		t.Error("unknown style accepted")
	}
}

// TestTamperedBallotsRejected covers spec §9.5 rule 4 and the copy attacks
// of ../shared/SECURITY.md #2: a ballot moved to another credential, another
// election context or contest position fails.
func TestTamperedBallotsRejected(t *testing.T) {
	e, _ := testElection(t)
	p, err := e.Encrypt("style-kara-suu", credA, Selection{"council-kara-suu": {1}, "priorities": {2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := p.Ballot.Encode()
	fresh := func() *EncryptedBallot {
		b, err := DecodeBallot(enc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other, _ := e.Encrypt("style-kara-suu", credA, Selection{"council-kara-suu": {3}}, nil)
	cases := map[string]func(b *EncryptedBallot){
		"copied under another credential": func(b *EncryptedBallot) { b.CredentialKey = credB },
		"re-randomised ciphertext": func(b *EncryptedBallot) {
			b.Contests[0].Ciphertexts[0] = e.PublicKey.ReEncrypt(b.Contests[0].Ciphertexts[0], group.RandomScalar())
		},
		"ciphertext swapped from another ballot": func(b *EncryptedBallot) { b.Contests[0].Ciphertexts[0] = other.Ballot.Contests[0].Ciphertexts[0] },
		"proof swapped from another ballot":      func(b *EncryptedBallot) { b.Contests[0].Proof = other.Ballot.Contests[0].Proof },
		"multi-select ciphertext altered": func(b *EncryptedBallot) {
			b.Contests[1].Ciphertexts[2] = e.PublicKey.ReEncrypt(b.Contests[1].Ciphertexts[2], group.RandomScalar())
		},
		"proof byte flipped": func(b *EncryptedBallot) { b.Contests[0].Proof[40] ^= 1 },
		"other ballot style": func(b *EncryptedBallot) { b.Style = "style-tash-dobo" },
		"other election":     func(b *EncryptedBallot) { b.ElectionID = "kg-2027-other" },
		"contest missing":    func(b *EncryptedBallot) { b.Contests = b.Contests[:1] },
		"extra ciphertext": func(b *EncryptedBallot) {
			b.Contests[0].Ciphertexts = append(b.Contests[0].Ciphertexts, other.Ballot.Contests[0].Ciphertexts[0])
		},
		"truncated proof":    func(b *EncryptedBallot) { b.Contests[1].Proof = b.Contests[1].Proof[:50] },
		"contests reordered": func(b *EncryptedBallot) { b.Contests[0], b.Contests[1] = b.Contests[1], b.Contests[0] },
	}
	for name, mut := range cases {
		b := fresh()
		mut(b)
		if err := e.Verify(b); !errors.Is(err, ErrInvalidBallot) {
			t.Errorf("%s: Verify = %v, want ErrInvalidBallot", name, err)
		}
	}
	// Another election context (extended hash).
	e2 := *e
	e2.ExtendedHash[0] ^= 1
	if err := e2.Verify(fresh()); !errors.Is(err, zkp.ErrInvalidProof) {
		t.Errorf("other context: %v", err)
	}
}

func TestDecodeBallotStrict(t *testing.T) {
	e, _ := testElection(t)
	p, _ := e.Encrypt("style-kara-suu", credA, nil, nil)
	enc := p.Ballot.Encode()
	if _, err := DecodeBallot(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrMalformedBallot) {
		t.Error("trailing byte accepted")
	}
	bad := bytes.Clone(enc)
	// First ciphertext's A: after format, two strings and the key.
	off := 1 + 4 + len("kg-2027-test") + 4 + len("style-kara-suu") + 32 + 4 + 4
	copy(bad[off:off+32], bytes.Repeat([]byte{0xff}, 32))
	if _, err := DecodeBallot(bad); !errors.Is(err, ErrMalformedBallot) {
		t.Error("non-canonical ciphertext accepted")
	}
}

func TestAudit(t *testing.T) {
	e, _ := testElection(t)
	p, err := e.Encrypt("style-tash-dobo", credA, Selection{"council-tash-dobo": {4}, "priorities": {1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Audit()
	d, err := DecodeAuditedBallot(a.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(e.Manifest, e.PublicKey); err != nil {
		t.Fatalf("honest audit rejected: %v", err)
	}
	if bytes.Contains(a.Encode(), credA[:8]) {
		t.Error("audited ballot carries the credential key")
	}
	desc, err := d.Describe(e.Manifest, "en")
	if err != nil || !strings.Contains(desc[0], e.Manifest.Contests[2].Candidates[4].Name.En) || !strings.Contains(desc[1], "Drinking water") {
		t.Errorf("Describe = %v, %v", desc, err)
	}
	lie := *d
	lie.Contests = append([]AuditedContest{}, d.Contests...)
	lie.Contests[0].Plaintexts = []uint32{2}
	if err := lie.Verify(e.Manifest, e.PublicKey); !errors.Is(err, ErrAuditMismatch) {
		t.Errorf("audit claiming another choice accepted: %v", err)
	}
	wrongR := *d
	wrongR.Contests = append([]AuditedContest{}, d.Contests...)
	wrongR.Contests[1].Randomness = append([]*group.Scalar{group.RandomScalar()}, d.Contests[1].Randomness[1:]...)
	if err := wrongR.Verify(e.Manifest, e.PublicKey); !errors.Is(err, ErrAuditMismatch) {
		t.Errorf("audit with wrong randomness accepted: %v", err)
	}
}

func TestTrackingCode(t *testing.T) {
	e, _ := testElection(t)
	p, _ := e.Encrypt("style-kara-suu", credA, nil, nil)
	s := p.Ballot.TrackingCode().String()
	if len(s) != 32+7 || strings.Count(s, "-") != 7 {
		t.Errorf("tracking code %q not 8 groups of 4", s)
	}
	q := *p.Ballot
	q.CredentialKey = credB
	if q.TrackingCode() == p.Ballot.TrackingCode() {
		t.Error("tracking code does not bind the credential")
	}
}

func TestShownCode(t *testing.T) {
	e, _ := testElection(t)
	p, _ := e.Encrypt("style-kara-suu", credA, nil, nil)
	c := p.Ballot.TrackingCode()
	text := c.String()
	for _, in := range []string{text, strings.ToLower(text), strings.ReplaceAll(text, "-", ""), strings.ReplaceAll(text, "-", " ")} {
		got, err := ParseShownCode(in)
		if err != nil || got != c.Shown() {
			t.Errorf("ParseShownCode(%q) = %x, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", text[:len(text)-1], text + "A", strings.Replace(text, text[:1], "1", 1), strings.Replace(text, text[:1], "=", 1)} {
		if _, err := ParseShownCode(bad); !errors.Is(err, ErrBadCode) {
			t.Errorf("ParseShownCode(%q): %v, want ErrBadCode", bad, err)
		}
	}
}

func TestAuditOpens(t *testing.T) {
	e, _ := testElection(t)
	p, _ := e.Encrypt("style-kara-suu", credA, nil, nil)
	q, _ := e.Encrypt("style-kara-suu", credA, nil, nil)
	a := p.Audit()
	if !a.Opens(p.Ballot) {
		t.Fatal("an audit does not open its own ballot")
	}
	if a.Opens(q.Ballot) {
		t.Error("an audit opens another ballot")
	}
	swapped := *p.Ballot
	swapped.Contests = append([]ContestBallot{}, p.Ballot.Contests...)
	swapped.Contests[0], swapped.Contests[1] = swapped.Contests[1], swapped.Contests[0]
	if a.Opens(&swapped) {
		t.Error("an audit opens its ballot with contests swapped")
	}
	other := *p.Ballot
	other.Style = "style-other"
	if a.Opens(&other) {
		t.Error("an audit opens a ballot of another style")
	}
}

func FuzzDecodeBallot(f *testing.F) {
	e, _ := testElection(f)
	p, _ := e.Encrypt("style-kara-suu", credA, nil, nil)
	f.Add(p.Ballot.Encode())
	f.Add(p.Audit().Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if x, err := DecodeBallot(b); err == nil && !bytes.Equal(x.Encode(), b) {
			t.Fatal("accepted ballot re-encodes differently")
		}
		if x, err := DecodeAuditedBallot(b); err == nil && !bytes.Equal(x.Encode(), b) {
			t.Fatal("accepted audited ballot re-encodes differently")
		}
	})
}

func BenchmarkEncryptBallot(b *testing.B) {
	e, _ := testElection(b)
	e.PublicKey.Table()
	for b.Loop() {
		if _, err := e.Encrypt("style-kara-suu", credA, Selection{"council-kara-suu": {1}, "priorities": {0}}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyBallotBatch64(b *testing.B) {
	e, _ := testElection(b)
	var ballots []*EncryptedBallot
	for i := 0; i < 64; i++ {
		p, _ := e.Encrypt("style-kara-suu", [32]byte{byte(i)}, Selection{"council-kara-suu": {i % 5}}, nil)
		ballots = append(ballots, p.Ballot)
	}
	b.ResetTimer()
	for b.Loop() {
		batch := zkp.NewBatch()
		for _, x := range ballots {
			if err := e.AddToBatch(batch, x, "b"); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Verify(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/ballot")
}

// BenchmarkMergedVerify times what the ballot box's batcher does per batch
// of n ballots whose equations were built beforehand (in the casts'
// goroutines): merge them and run the one multi-scalar multiplication.
// Reported per ballot and in scalar multiplications (SM) of the same run.
func BenchmarkMergedVerify(b *testing.B) {
	e, _ := testElection(b)
	sm := scalarMultCost(b)
	var parts []*zkp.Batch
	for i := range 256 {
		p, err := e.Encrypt("style-kara-suu", [32]byte{byte(i), byte(i >> 8)}, Selection{"council-kara-suu": {i % 5}, "priorities": {i % 4}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		zb := zkp.NewBatch()
		if err := e.AddToBatch(zb, p.Ballot, "b"); err != nil {
			b.Fatal(err)
		}
		parts = append(parts, zb)
	}
	for _, n := range []int{1, 4, 16, 64, 256} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				merged := zkp.NewBatch()
				for _, p := range parts[:n] {
					merged.Merge(p)
				}
				if err := merged.Verify(); err != nil {
					b.Fatal(err)
				}
			}
			per := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(n)
			b.ReportMetric(per, "ns/ballot")
			b.ReportMetric(per/sm, "SM/ballot")
		})
	}
}

// scalarMultCost is the time of one scalar multiplication, in ns, measured
// now.
func scalarMultCost(b *testing.B) float64 {
	s, p := group.RandomScalar(), group.NewGeneratorElement()
	var q group.Element
	const n = 500
	t0 := time.Now()
	for range n {
		q.ScalarMult(s, p)
	}
	return float64(time.Since(t0).Nanoseconds()) / n
}

// TestAuditFlag: in deniable re-voting mode an audit opens the row's flag
// after the style's contests (spec §15.9): accepted when it opens to 1;
// refused when it opens to 0 (a device that would not count its voter's
// ballot), when it is missing, or when its randomness is wrong; OpensRow
// ties it to the row's flag; Describe shows the contests only. In the
// other modes an audit with a flag has a contest too many.
func TestAuditFlag(t *testing.T) {
	e, _ := testElection(t)
	m := *e.Manifest
	m.Revote = LastBallotCounts
	m.Coercion = Coercion{Mode: DeniableRevoting, SlotSeconds: 60, SlotRows: 8, MaxBallots: 4}
	p, err := e.Encrypt("style-tash-dobo", credA, Selection{"council-tash-dobo": {4}, "priorities": {1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	flag, r, err := e.PublicKey.Encrypt(AuditedFlag, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Audit().WithFlag(flag, r)
	d, err := DecodeAuditedBallot(a.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(&m, e.PublicKey); err != nil {
		t.Fatalf("honest audit with its flag: %v", err)
	}
	if !d.OpensRow(p.Ballot, flag) || d.Opens(p.Ballot) {
		t.Error("OpensRow/Opens")
	}
	other, _, _ := e.PublicKey.Encrypt(AuditedFlag, nil)
	if d.OpensRow(p.Ballot, other) {
		t.Error("opens another row's flag")
	}
	if desc, err := d.Describe(&m, "en"); err != nil || len(desc) != 2 {
		t.Errorf("Describe = %v, %v", desc, err)
	}
	if err := p.Audit().Verify(&m, e.PublicKey); !errors.Is(err, ErrAuditMismatch) {
		t.Errorf("an audit without the flag: %v", err)
	}
	if err := d.Verify(e.Manifest, e.PublicKey); !errors.Is(err, ErrAuditMismatch) {
		t.Errorf("a flag in an election of another mode: %v", err)
	}
	zero, r0, _ := e.PublicKey.Encrypt(0, nil)
	z := p.Audit().WithFlag(zero, r0)
	z.Contests[len(z.Contests)-1].Plaintexts = []uint32{0}
	if err := z.Verify(&m, e.PublicKey); !errors.Is(err, ErrAuditMismatch) || !strings.Contains(err.Error(), "flag") {
		t.Errorf("a flag of 0: %v", err)
	}
	bad := p.Audit().WithFlag(flag, group.RandomScalar())
	if err := bad.Verify(&m, e.PublicKey); !errors.Is(err, ErrAuditMismatch) {
		t.Errorf("a flag's wrong randomness: %v", err)
	}
}
