package verify

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerifyEntry replaces one entry of the example record by arbitrary
// bytes: the verifier must never panic, and must reject every change.
func FuzzVerifyEntry(f *testing.F) {
	rec, err := Load(exampleDir)
	if err != nil {
		f.Skip("no example record")
	}
	kt, err := os.ReadFile(filepath.Join(exampleDir, logKeyFile))
	if err != nil {
		f.Fatal(err)
	}
	lv, err := ParseLogKey(string(kt))
	if err != nil {
		f.Fatal(err)
	}
	fp := exampleFingerprint(f)
	f.Add(uint16(0), rec.Entries[0][:40])
	f.Add(uint16(30), rec.Entries[30])
	f.Add(uint16(71), rec.Entries[71][:len(rec.Entries[71])-1])
	f.Fuzz(func(t *testing.T, i uint16, b []byte) {
		k := int(i) % len(rec.Entries)
		v := &Record{Checkpoint: rec.Checkpoint, Entries: append([][]byte{}, rec.Entries...)}
		v.Entries[k] = b
		rep := Verify(v, Options{Fingerprint: fp, Log: lv, Workers: 1})
		if rep.OK && !bytes.Equal(b, rec.Entries[k]) {
			t.Fatalf("record with entry %d changed verifies", k)
		}
	})
}
