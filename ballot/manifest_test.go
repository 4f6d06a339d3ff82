package ballot

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/quick"

	"evote/crypto/threshold"
)

func testTrustees(n int) []Trustee {
	ts := make([]Trustee, n)
	for i := range ts {
		ts[i] = Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), HPKEKey: bytes.Repeat([]byte{byte(i + 1)}, 32)}
		ts[i].SignKey[0] = byte(i + 1)
	}
	return ts
}

func TestManifestRoundTrip(t *testing.T) {
	m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	enc := m.Encode()
	d, err := DecodeManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Encode(), enc) || d.Hash() != m.Hash() || mustBase(t, d) != mustBase(t, m) {
		t.Fatal("round trip changed the manifest")
	}
	if _, err := DecodeManifest(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrInvalidManifest) {
		t.Error("trailing byte accepted")
	}
	for cut := 0; cut < len(enc); cut += 97 {
		if _, err := DecodeManifest(enc[:cut]); err == nil {
			t.Errorf("truncated manifest (%d bytes) accepted", cut)
		}
	}
}

func TestManifestValidation(t *testing.T) {
	mutations := map[string]func(m *Manifest){
		"bad election id":         func(m *Manifest) { m.ElectionID = "Bad ID" },
		"missing translation":     func(m *Manifest) { m.Contests[0].Candidates[1].Name.Uz = "" },
		"repeated candidate":      func(m *Manifest) { m.Contests[0].Candidates[1].ID = m.Contests[0].Candidates[0].ID },
		"single choice max 2":     func(m *Manifest) { m.Contests[0].MaxSelections = 2 },
		"multi max too large":     func(m *Manifest) { m.Contests[3].MaxSelections = 9 },
		"unknown kind":            func(m *Manifest) { m.Contests[0].Kind = 7 },
		"style unknown contest":   func(m *Manifest) { m.BallotStyles[0].Contests[0] = "nope" },
		"two styles one district": func(m *Manifest) { m.BallotStyles[1].Constituency = m.BallotStyles[0].Constituency },
		"period reversed":         func(m *Manifest) { m.VotingEnd = m.VotingStart },
		"threshold above n":       func(m *Manifest) { m.Threshold = 4 },
		"mixes below threshold":   func(m *Manifest) { m.Mixes = 1 },
		"trustee index order":     func(m *Manifest) { m.Trustees[1].Index = 5 },
		"trustee key repeated":    func(m *Manifest) { m.Trustees[1].SignKey = m.Trustees[0].SignKey },
		"unknown revote policy":   func(m *Manifest) { m.Revote = 0 },
		"zero anonymity":          func(m *Manifest) { m.MinAnonymity = 0 },
		"no identity key":         func(m *Manifest) { m.IdentityKey = [32]byte{} },
		"bad log origin":          func(m *Manifest) { m.Board.Origin = "evote test" },
		"small-order log key":     func(m *Manifest) { m.Board.LogKey = [32]byte{1} },
		"short ML-DSA key":        func(m *Manifest) { m.Board.LogMLDSAKey = m.Board.LogMLDSAKey[:100] },
		"no witness":              func(m *Manifest) { m.Board.Witnesses, m.Board.Quorum = nil, 0 },
		"zero quorum":             func(m *Manifest) { m.Board.Quorum = 0 },
		"quorum above witnesses":  func(m *Manifest) { m.Board.Quorum = 3 },
		"minority quorum":         func(m *Manifest) { m.Board.Quorum = 1 },
		"repeated witness key":    func(m *Manifest) { m.Board.Witnesses[1].Key = m.Board.Witnesses[0].Key },
		"repeated witness name":   func(m *Manifest) { m.Board.Witnesses[1].Name = m.Board.Witnesses[0].Name },
		"witness is the log key":  func(m *Manifest) { m.Board.Witnesses[1].Key = m.Board.LogKey },
		"small-order witness key": func(m *Manifest) { m.Board.Witnesses[0].Key = [32]byte{} },
		"no authority name":       func(m *Manifest) { m.Authority.Name.Uz = "" },
		"no help in Kyrgyz":       func(m *Manifest) { m.Authority.Help.Ky = "" },
		"emblem not an image":     func(m *Manifest) { m.Authority.Emblem = []byte("<script>alert(1)</script>") },
		"emblem too large":        func(m *Manifest) { m.Authority.Emblem = append(pngMagic[:8:8], make([]byte, maxEmblemSize)...) },
		"emblem html before svg":  func(m *Manifest) { m.Authority.Emblem = []byte("<html><svg></svg></html>") },
		"emblem invalid UTF-8":    func(m *Manifest) { m.Authority.Emblem = []byte("<svg>\xff</svg>") },
		"unused contest": func(m *Manifest) {
			m.BallotStyles[0].Contests = m.BallotStyles[0].Contests[:1]
			m.BallotStyles[1].Contests = m.BallotStyles[1].Contests[:1]
			m.BallotStyles[2].Contests = m.BallotStyles[2].Contests[:1]
		},
	}
	for name, mut := range mutations {
		m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
		mut(m)
		if err := m.Validate(); !errors.Is(err, ErrInvalidManifest) {
			t.Errorf("%s: Validate = %v", name, err)
		}
		if _, err := DecodeManifest(m.Encode()); err == nil {
			t.Errorf("%s: DecodeManifest accepted", name)
		}
	}
}

func TestBaseHashBindsEverything(t *testing.T) {
	a := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	b := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	if mustBase(t, a) != mustBase(t, b) {
		t.Fatal("base hash not deterministic")
	}
	b.Trustees[2].HPKEKey[0] ^= 1
	c := SampleManifest("kg-2027-other", testTrustees(3), 2, testIdentityKey, testAnchors)
	d := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	d.ClientHash[0] = 1
	e := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	e.IdentityKey[5] ^= 1
	g := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	g.Board.Witnesses = g.Board.Witnesses[:1]
	g.Board.Quorum = 1
	for name, x := range map[string]*Manifest{"trustee key": b, "election id": c, "client hash": d, "identity key": e, "witnesses": g} {
		if mustBase(t, x) == mustBase(t, a) {
			t.Errorf("base hash ignores %s", name)
		}
	}
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add(SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors).Encode())
	f.Add([]byte{1})
	m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	m.Coercion = testCoercion
	f.Add(m.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err == nil && !bytes.Equal(m.Encode(), b) {
			t.Fatal("accepted manifest re-encodes differently")
		}
	})
}

var testIdentityKey = [32]byte{0x1d, 0x1d}

// testAnchors pins a log and two witnesses with fixed keys (the ML-DSA key
// is any 1952 bytes: the manifest only carries it).
var testAnchors = BoardAnchors{
	Origin:      "evote.test/kg-2027",
	LogKey:      testPublicKey("log"),
	LogMLDSAKey: bytes.Repeat([]byte{0x4c}, mldsaKeySize),
	Witnesses:   []Witness{{Name: "w1.evote.test", Key: testPublicKey("w1")}, {Name: "w2.evote.test", Key: testPublicKey("w2")}},
	Quorum:      2,
}

func testPublicKey(seed string) [32]byte {
	s := sha256.Sum256([]byte(seed))
	return [32]byte(ed25519.NewKeyFromSeed(s[:]).Public().(ed25519.PublicKey))
}

func mustBase(t *testing.T, m *Manifest) [32]byte {
	t.Helper()
	h, err := m.BaseHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestBaseHashAgreesWithThreshold: the manifest's base hash is the one key
// generation uses (spec §5.2), computed by crypto/threshold with the HPKE
// keys validated.
func TestBaseHashAgreesWithThreshold(t *testing.T) {
	var trustees []Trustee
	var keys []threshold.TrusteeKeys
	for i := 0; i < 3; i++ {
		hk, err := threshold.GenerateHPKEKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		pub := hk.Public()
		tr := Trustee{Index: uint32(i + 1), Name: "t", HPKEKey: pub[:]}
		tr.SignKey[0] = byte(i + 1)
		trustees = append(trustees, tr)
		keys = append(keys, threshold.TrusteeKeys{SigningKey: tr.SignKey, HPKEKey: pub})
	}
	m := SampleManifest("kg-2027-test", trustees, 2, testIdentityKey, testAnchors)
	want, err := threshold.BaseHash(m.Hash(), threshold.Params{N: 3, T: 2}, keys)
	if err != nil {
		t.Fatal(err)
	}
	if mustBase(t, m) != want {
		t.Fatal("ballot and threshold disagree on the base hash")
	}
}

// badHPKEKeys are trustee HPKE keys the manifest must refuse (spec §9.1,
// §5.1): the points of small order of RFC 7748 §6.1 (whose X25519 product
// with any scalar is all zero, so no share could be encrypted to them),
// some in non-canonical encodings, and non-canonical encodings of valid
// keys (u ≥ 2^255 − 19, or the top bit set).
var badHPKEKeys = map[string]string{
	"all zero (u = 0)":           "0000000000000000000000000000000000000000000000000000000000000000",
	"u = 1":                      "0100000000000000000000000000000000000000000000000000000000000000",
	"order 8":                    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"order 8, the other":         "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"u = p − 1 (order 2)":        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"u = p (≡ 0, non-canonical)": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"u = p + 1 (≡ 1)":            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"u = 2^255 − 1 (≡ 18)":       "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"top bit set (≡ u = 0)":      "0000000000000000000000000000000000000000000000000000000000000080",
}

// TestManifestRefusesBadHPKEKeys: a trustee HPKE key of small order or
// non-canonical is refused by Validate and DecodeManifest, with the
// trustee named; every small-order key is also one crypto/threshold
// refuses, so the manifest never admits a key key generation would stall on.
func TestManifestRefusesBadHPKEKeys(t *testing.T) {
	for name, h := range badHPKEKeys {
		k, err := hex.DecodeString(h)
		if err != nil || len(k) != 32 {
			t.Fatalf("%s: bad test key", name)
		}
		m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
		m.Trustees[1].HPKEKey = k
		if err := m.Validate(); !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), "trustee 2") {
			t.Errorf("%s: Validate = %v", name, err)
		}
		if _, err := DecodeManifest(m.Encode()); !errors.Is(err, ErrInvalidManifest) {
			t.Errorf("%s: DecodeManifest = %v", name, err)
		}
	}
	// The small-order ones are those threshold refuses; it reduces
	// non-canonical encodings, which the manifest refuses besides.
	for _, h := range []string{badHPKEKeys["all zero (u = 0)"], badHPKEKeys["order 8"], badHPKEKeys["u = p (≡ 0, non-canonical)"]} {
		var k threshold.HPKEPublicKey
		hex.Decode(k[:], []byte(h))
		if k.Validate() == nil {
			t.Errorf("threshold accepts %s", h)
		}
	}
	for i := 0; i < 8; i++ {
		m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
		hk, err := threshold.GenerateHPKEKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		pub := hk.Public()
		m.Trustees[0].HPKEKey = pub[:]
		if err := m.Validate(); err != nil {
			t.Errorf("an honest key %x is refused: %v", pub, err)
		}
	}
}

// TestHPKEKeyCheckAgreesWithX25519: the manifest's list of small-order
// keys refuses exactly what an X25519 product refuses, on the list itself
// and on random canonical keys (whose products are never zero).
func TestHPKEKeyCheckAgreesWithX25519(t *testing.T) {
	probe, _ := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{0x5a}, 32))
	zero := func(k []byte) bool {
		pub, err := ecdh.X25519().NewPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		_, err = probe.ECDH(pub)
		return err != nil
	}
	for _, u := range x25519SmallOrder {
		if !zero(u[:]) || checkHPKEKey(u[:]) == nil {
			t.Errorf("%x: X25519 product zero %v, manifest check %v", u, zero(u[:]), checkHPKEKey(u[:]))
		}
	}
	f := func(k [32]byte) bool {
		k[31] &= 0x3f // canonical
		return zero(k[:]) == (checkHPKEKey(k[:]) != nil)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 2000}); err != nil {
		t.Error(err)
	}
}

func TestAuthorityEmblem(t *testing.T) {
	m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	if got := m.Authority.EmblemType(); got != "image/svg+xml" {
		t.Fatalf("sample emblem type %q", got)
	}
	for emblem, want := range map[string]string{
		"":                      "",
		"\x89PNG\r\n\x1a\nxxxx": "image/png",
		`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`: "image/svg+xml",
		"<!-- emblem -->\n<svg viewBox='0 0 1 1'></svg>":                 "image/svg+xml",
	} {
		m.Authority.Emblem = []byte(emblem)
		if err := m.Validate(); err != nil {
			t.Errorf("emblem %q refused: %v", emblem, err)
		}
		if got := m.Authority.EmblemType(); got != want {
			t.Errorf("emblem %q: type %q, want %q", emblem, got, want)
		}
		d, err := DecodeManifest(m.Encode())
		if err != nil || !bytes.Equal(d.Authority.Emblem, m.Authority.Emblem) || d.Authority.Name != m.Authority.Name || d.Authority.Help != m.Authority.Help {
			t.Errorf("emblem %q: round trip %v", emblem, err)
		}
	}
}

// TestSampleUzbekOrthography: the sample's Uzbek texts are in the official
// Latin alphabet, whose oʻ and gʻ take the turned comma U+02BB, never an
// ASCII apostrophe.
func TestSampleUzbekOrthography(t *testing.T) {
	m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	texts := []Text{m.Title, m.Authority.Name, m.Authority.Help}
	for _, c := range m.Contests {
		texts = append(texts, c.Title)
		for _, k := range c.Candidates {
			texts = append(texts, k.Name)
		}
	}
	for _, c := range m.Constituencies {
		texts = append(texts, c.Name)
	}
	for _, x := range texts {
		if strings.ContainsAny(x.Uz, "'`’") {
			t.Errorf("Uzbek text %q: an apostrophe where the alphabet has ʻ (U+02BB)", x.Uz)
		}
	}
}

// testCoercion is a valid deniable re-voting option (spec §15.1).
var testCoercion = Coercion{Mode: DeniableRevoting, SlotSeconds: 60, SlotRows: 128, MaxBallots: 8}

// TestCoercionManifest: a manifest with deniable re-voting is written in
// format 4 with the option after the emblem and round-trips; one without
// stays format 3, byte for byte what it was (its fingerprint unchanged); a
// format-4 manifest saying "none" is not canonical and refused.
func TestCoercionManifest(t *testing.T) {
	plain := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	plainEnc := plain.Encode()
	if plainEnc[0] != 3 {
		t.Fatalf("manifest without coercion written in format %d, want 3", plainEnc[0])
	}
	m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
	m.Coercion = testCoercion
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	enc := m.Encode()
	want := append([]byte{4}, plainEnc[1:]...)
	want = append(want, 1, 0, 0, 0, 60, 0, 0, 0, 128, 8)
	if !bytes.Equal(enc, want) {
		t.Fatalf("format 4 encoding:\n got %x\nwant %x", enc, want)
	}
	d, err := DecodeManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	if d.Coercion != testCoercion || !bytes.Equal(d.Encode(), enc) {
		t.Fatalf("round trip gave %+v", d.Coercion)
	}
	if m.Hash() == plain.Hash() {
		t.Fatal("the coercion option is not under the manifest hash")
	}
	refused := map[string][]byte{
		"format 4 with coercion 0":    append(append([]byte{4}, plainEnc[1:]...), 0),
		"format 4 without coercion":   append([]byte{4}, plainEnc[1:]...),
		"format 3 with coercion":      append([]byte{3}, enc[1:]...),
		"format 4 truncated":          enc[:len(enc)-1],
		"format 4 trailing byte":      append(bytes.Clone(enc), 0),
		"format 4 unknown coercion":   append(append([]byte{4}, plainEnc[1:]...), 2),
		"format 5":                    append([]byte{5}, enc[1:]...),
		"format 2 (before authority)": append([]byte{2}, plainEnc[1:]...),
	}
	for name, b := range refused {
		if _, err := DecodeManifest(b); !errors.Is(err, ErrInvalidManifest) {
			t.Errorf("%s: DecodeManifest = %v", name, err)
		}
	}
	if _, err := DecodeManifest(append(append([]byte{4}, plainEnc[1:]...), 0)); err == nil || !strings.Contains(err.Error(), "not canonical") {
		t.Errorf("format 4 with coercion 0: %v, want a not-canonical error", err)
	}
}

// TestCoercionValidation: every bound of spec §15.1 on both sides, the
// revote rule, an unknown mode and parameters without the mode.
func TestCoercionValidation(t *testing.T) {
	cases := []struct {
		name   string
		mut    func(m *Manifest)
		ok     bool
		errHas string
	}{
		{"smallest", func(m *Manifest) { m.Coercion = Coercion{DeniableRevoting, 10, 1, 2} }, true, ""},
		{"largest", func(m *Manifest) { m.Coercion = Coercion{DeniableRevoting, 3600, 1 << 20, 64} }, true, ""},
		{"slot 9 s", func(m *Manifest) { m.Coercion.SlotSeconds = 9 }, false, "slot seconds 9 outside 10..3600"},
		{"slot 3601 s", func(m *Manifest) { m.Coercion.SlotSeconds = 3601 }, false, "slot seconds 3601 outside 10..3600"},
		{"no rows", func(m *Manifest) { m.Coercion.SlotRows = 0 }, false, "slot rows 0 outside 1..1048576"},
		{"rows 2^20+1", func(m *Manifest) { m.Coercion.SlotRows = 1<<20 + 1 }, false, "slot rows 1048577 outside 1..1048576"},
		{"max ballots 1", func(m *Manifest) { m.Coercion.MaxBallots = 1 }, false, "max ballots 1 outside 2..64"},
		{"max ballots 65", func(m *Manifest) { m.Coercion.MaxBallots = 65 }, false, "max ballots 65 outside 2..64"},
		{"one ballot only", func(m *Manifest) { m.Revote = SingleBallot }, false, "needs revote policy 1"},
		{"unknown mode", func(m *Manifest) { m.Coercion.Mode = 2 }, false, "unknown coercion mode 2"},
		{"parameters without mode", func(m *Manifest) { m.Coercion.Mode = NoCoercionResistance }, false, "coercion none has slot seconds 60"},
	}
	for _, c := range cases {
		m := SampleManifest("kg-2027-test", testTrustees(3), 2, testIdentityKey, testAnchors)
		m.Coercion = testCoercion
		c.mut(m)
		err := m.Validate()
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			} else if _, err := DecodeManifest(m.Encode()); err != nil {
				t.Errorf("%s: DecodeManifest: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("%s: Validate = %v, want %q", c.name, err, c.errHas)
		}
		// Parameters without the mode are not encoded (format 3 has no
		// place for them): only the struct is invalid.
		if _, err := DecodeManifest(m.Encode()); err == nil && m.Coercion.Mode != NoCoercionResistance {
			t.Errorf("%s: DecodeManifest accepted", c.name)
		}
	}
}
