package trustee

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"evote/crypto/group"
	"evote/crypto/threshold"
	"evote/internal/testrand"
	"evote/tally/revote"
)

// fastKDF keeps tests quick; files written by the tool use DefaultKDF.
var fastKDF = KDFParams{Time: 1, Memory: minMemory, Threads: 1}

func testKeys(t *testing.T, withShare bool) *Keys {
	t.Helper()
	k, err := GenerateKeys(testrand.New(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if withShare {
		x, err := new(group.Scalar).SetRandom(testrand.New("share"))
		if err != nil {
			t.Fatal(err)
		}
		if k.Share, err = threshold.NewKeyShare(2, x); err != nil {
			t.Fatal(err)
		}
		k.ElectionID, k.Index = "pilot-2027", 2
	}
	return k
}

func sameKeys(t *testing.T, a, b *Keys) {
	t.Helper()
	if a.SignSeed != b.SignSeed || a.HPKESeed != b.HPKESeed || a.ElectionID != b.ElectionID || a.Index != b.Index {
		t.Fatal("keys differ after the round trip")
	}
	if (a.Share == nil) != (b.Share == nil) {
		t.Fatal("share lost or invented")
	}
	if a.Share != nil && a.Share.VerificationKey().Equal(b.Share.VerificationKey()) != 1 {
		t.Fatal("share differs")
	}
	if a.SigningPublic() != b.SigningPublic() || a.HPKEPublic() != b.HPKEPublic() {
		t.Fatal("derived public keys differ")
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	for _, share := range []bool{false, true} {
		k := testKeys(t, share)
		f, err := k.Seal([]byte("correct horse"), fastKDF)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenKeys(f, []byte("correct horse"))
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, k, got)
		// Fresh salt and nonce every time.
		f2, _ := k.Seal([]byte("correct horse"), fastKDF)
		if bytes.Equal(f, f2) {
			t.Fatal("two seals of the same keys are identical")
		}
	}
}

// A key-generation state round-trips through the sealed file, and a
// version-1 file (written before the state existed) still opens.
func TestKeyFileKeygenState(t *testing.T) {
	k := testKeys(t, false)
	k.KeygenState = bytes.Repeat([]byte{0xa5}, threshold.MaxStateSize)
	f, err := k.Seal([]byte("correct horse"), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) > maxFileSize {
		t.Fatalf("file with the largest state is %d bytes, above %d", len(f), maxFileSize)
	}
	path := filepath.Join(t.TempDir(), "trustee.key")
	if err := k.SaveFile(path, []byte("correct horse"), fastKDF, false); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, k, got)
	if !bytes.Equal(got.KeygenState, k.KeygenState) {
		t.Fatal("state differs after the round trip")
	}
	got.KeygenState = nil
	f, err = got.Seal([]byte("correct horse"), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := OpenKeys(f, []byte("correct horse")); err != nil || again.KeygenState != nil {
		t.Fatalf("state cleared: %v, %d bytes", err, len(again.KeygenState))
	}
	for _, share := range []bool{false, true} {
		k := testKeys(t, share)
		f, err := k.seal([]byte("old pass"), fastKDF, rand.Reader, plainFormatV1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenKeys(f, []byte("old pass"))
		if err != nil {
			t.Fatalf("version 1 file: %v", err)
		}
		sameKeys(t, k, got)
		if got.KeygenState != nil {
			t.Fatal("state invented")
		}
	}
}

func TestKeyFileWrongPassphrase(t *testing.T) {
	k := testKeys(t, true)
	f, err := k.Seal([]byte("correct horse"), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"correct hors", "Correct horse", "correct horse ", "x"} {
		if _, err := OpenKeys(f, []byte(p)); !errors.Is(err, ErrPassphrase) {
			t.Errorf("passphrase %q: %v", p, err)
		}
	}
	if _, err := k.Seal(nil, fastKDF); err == nil {
		t.Error("empty passphrase accepted")
	}
}

// Every single-bit change anywhere in the file is rejected: the header is
// the AEAD's associated data.
func TestKeyFileTampered(t *testing.T) {
	k := testKeys(t, true)
	pass := []byte("correct horse")
	f, err := k.Seal(pass, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f {
		// Every header byte, every tag byte, and a stride through the
		// ciphertext (each derivation costs 8 MiB of Argon2id).
		if i >= headerSize && i < len(f)-16 && i%8 != 0 {
			continue
		}
		g := bytes.Clone(f)
		g[i] ^= 0x01
		_, err := OpenKeys(g, pass)
		if !errors.Is(err, ErrPassphrase) && !errors.Is(err, ErrKeyFile) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
		if err == nil {
			t.Fatalf("byte %d changed: accepted", i)
		}
	}
	for name, g := range map[string][]byte{
		"truncated": f[:len(f)-1],
		"trailing":  append(bytes.Clone(f), 0),
		"header":    f[:headerSize],
		"empty":     nil,
	} {
		if _, err := OpenKeys(g, pass); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A header asking for absurd KDF costs is refused before any derivation.
func TestKeyFileKDFBounds(t *testing.T) {
	k := testKeys(t, false)
	for _, p := range []KDFParams{{0, minMemory, 1}, {1, minMemory - 1, 1}, {1, maxMemory + 1, 1}, {maxTime + 1, minMemory, 1}, {1, minMemory, 0}} {
		if _, err := k.Seal([]byte("p"), p); !errors.Is(err, ErrKeyFile) {
			t.Errorf("seal with %+v: %v", p, err)
		}
	}
	f, _ := k.Seal([]byte("p"), fastKDF)
	g := bytes.Clone(f)
	copy(g[len(fileMagic)+5:], []byte{0xff, 0xff, 0xff, 0xff}) // memory 4 TiB
	if _, err := OpenKeys(g, []byte("p")); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("huge memory: %v", err)
	}
}

func TestKeyFileSaveBackupRestore(t *testing.T) {
	dir := t.TempDir()
	k := testKeys(t, true)
	path := filepath.Join(dir, "trustee.key")
	if err := k.SaveFile(path, []byte("work pass"), fastKDF, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	if err := k.SaveFile(path, []byte("work pass"), fastKDF, false); err == nil {
		t.Fatal("overwrote an existing key file")
	}
	loaded, err := LoadFile(path, []byte("work pass"))
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, k, loaded)

	backup := filepath.Join(dir, "usb", "trustee-backup.key")
	os.MkdirAll(filepath.Dir(backup), 0o700)
	if err := loaded.Backup(backup, []byte("offline pass"), fastKDF); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(backup, []byte("work pass")); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("backup opened with the working passphrase: %v", err)
	}
	os.Remove(path) // the machine is lost
	restored, err := Restore(backup, []byte("offline pass"), path, []byte("new pass"), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, k, restored)
	again, err := LoadFile(path, []byte("new pass"))
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, k, again)
}

func TestKeyContentStrict(t *testing.T) {
	k := testKeys(t, true)
	plain := k.encodePlainVersion(plainFormatV1)
	if _, err := decodePlain(plain); err != nil {
		t.Fatal(err)
	}
	withState := *k
	withState.KeygenState = []byte{1, 2, 3}
	plain2 := withState.encodePlain()
	if got, err := decodePlain(plain2); err != nil || !bytes.Equal(got.KeygenState, withState.KeygenState) {
		t.Fatalf("version 2 with state: %v", err)
	}
	noState := k.encodePlain() // ends in has-state 0
	stateAt := len(plain2) - 3 - 4 - 1
	bad := map[string][]byte{
		"trailing":                append(bytes.Clone(plain), 0),
		"truncated":               plain[:len(plain)-1],
		"format 3":                append([]byte{3}, plain[1:]...),
		"format 2, no state flag": append([]byte{2}, plain[1:]...),
		"share flag 2":            func() []byte { b := bytes.Clone(plain); b[len(b)-33] = 2; return b }(),
		"v2 trailing":             append(bytes.Clone(noState), 0),
		"state flag 2":            func() []byte { b := bytes.Clone(noState); b[len(b)-1] = 2; return b }(),
		"state flag 0 with state": func() []byte { b := bytes.Clone(plain2); b[stateAt] = 0; return b }(),
		"state truncated":         plain2[:len(plain2)-1],
		"state trailing":          append(bytes.Clone(plain2), 0),
		"state length 0":          func() []byte { b := bytes.Clone(plain2[:stateAt+1]); return append(b, 0, 0, 0, 0) }(),
		"state too long": func() []byte {
			b := bytes.Clone(plain2[:stateAt+1])
			b = binary.BigEndian.AppendUint32(b, threshold.MaxStateSize+1)
			return append(b, make([]byte, threshold.MaxStateSize+1)...)
		}(),
	}
	// A non-canonical scalar (≥ ℓ): all 0xff.
	nc := bytes.Clone(plain)
	copy(nc[len(nc)-32:], bytes.Repeat([]byte{0xff}, 32))
	bad["non-canonical share"] = nc
	for name, b := range bad {
		if _, err := decodePlain(b); !errors.Is(err, ErrKeyFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzKeyContent(f *testing.F) {
	k, _ := GenerateKeys(testrand.New("fuzz"))
	f.Add(k.encodePlain())
	x, _ := new(group.Scalar).SetRandom(testrand.New("fuzz-share"))
	k.Share, _ = threshold.NewKeyShare(1, x)
	k.Index, k.ElectionID = 1, "e"
	f.Add(k.encodePlain())
	f.Add(k.encodePlainVersion(plainFormatV1))
	k.KeygenState = []byte{1, 2, 3}
	f.Add(k.encodePlain())
	k.TagKey, _ = revote.NewTagKey(1, testrand.New("fuzz-tag-key"))
	f.Add(k.encodePlain())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodePlain(b)
		if err != nil {
			return
		}
		if !bytes.Equal(got.encodePlainVersion(b[0]), b) {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

func FuzzKeyFileHeader(f *testing.F) {
	k, _ := GenerateKeys(testrand.New("fuzz"))
	file, _ := k.Seal([]byte("p"), fastKDF)
	f.Add(file)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, salt, nonce, err := parseHeader(b)
		if err != nil {
			return
		}
		if p.check() != nil || len(salt) != saltSize || len(nonce) != 24 {
			t.Fatal("accepted a bad header")
		}
	})
}

// withTagKey returns k (after key generation) with a fresh tag key.
func withTagKey(t *testing.T, k *Keys) *Keys {
	t.Helper()
	tk, err := revote.NewTagKey(k.Index, testrand.New(t.Name()+"/tag-key"))
	if err != nil {
		t.Fatal(err)
	}
	out := *k
	out.TagKey = tk
	return &out
}

// A tag key (spec §15.15) round-trips through the sealed file, which is
// then written in plaintext version 3; a file without one stays version 2,
// readable by earlier versions of the tool.
func TestKeyFileTagKey(t *testing.T) {
	k := withTagKey(t, testKeys(t, true))
	dir := t.TempDir()
	path := filepath.Join(dir, "trustee.key")
	if err := k.SaveFile(path, []byte("correct horse"), fastKDF, false); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, k, got)
	if got.TagKey == nil || got.TagKey.Trustee != k.Index || got.TagKey.Public().Equal(k.TagKey.Public()) != 1 {
		t.Fatal("tag key lost or changed by the round trip")
	}
	if v := k.encodePlain()[0]; v != plainFormatTagKey {
		t.Fatalf("a plaintext with a tag key is version %d", v)
	}
	if v := testKeys(t, true).encodePlain()[0]; v != plainFormat {
		t.Fatalf("a plaintext without a tag key is version %d", v)
	}
	// Keys whose tag key is another trustee's, or that belong to no
	// election yet, are not written.
	other := *k
	other.Index = 3
	if _, err := other.Seal([]byte("p"), fastKDF); err == nil {
		t.Fatal("sealed trustee 2's tag key as trustee 3's")
	}
}

// The version-3 plaintext is decoded strictly: the tag-key flag must be 1,
// the scalar canonical and not zero, and a tag key needs an election and
// an index.
func TestKeyContentTagKeyStrict(t *testing.T) {
	k := withTagKey(t, testKeys(t, true))
	plain := k.encodePlain()
	if _, err := decodePlain(plain); err != nil {
		t.Fatal(err)
	}
	at := len(plain) - 33 // the has-tag-key byte
	before := *k
	before.ElectionID, before.Index, before.Share = "", 0, nil
	bad := map[string][]byte{
		"tag-key flag 0":     func() []byte { b := bytes.Clone(plain); b[at] = 0; return b }(),
		"tag-key flag 2":     func() []byte { b := bytes.Clone(plain); b[at] = 2; return b }(),
		"version 3, no key":  append(bytes.Clone(plain[:at]), 0),
		"zero tag key":       func() []byte { b := bytes.Clone(plain); clear(b[at+1:]); return b }(),
		"non-canonical":      func() []byte { b := bytes.Clone(plain); copy(b[at+1:], bytes.Repeat([]byte{0xff}, 32)); return b }(),
		"truncated":          plain[:len(plain)-1],
		"trailing":           append(bytes.Clone(plain), 0),
		"before key gen":     before.encodePlainVersion(plainFormatTagKey),
		"version 2 with key": append([]byte{plainFormat}, plain[1:]...),
	}
	for name, b := range bad {
		if _, err := decodePlain(b); !errors.Is(err, ErrKeyFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
