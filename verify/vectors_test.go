package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"evote/ballot"
)

var update = flag.Bool("update", false, "rewrite spec/vectors/record-example and record-tampered.json")

const (
	exampleDir   = "../spec/vectors/record-example"
	tamperedFile = "../spec/vectors/record-tampered.json"
	logKeyFile   = "log.pub"
	// fingerprintFile holds the example election's fingerprint, the
	// verifier's trust anchor.
	fingerprintFile = "fingerprint"
)

// A tamperedVector is one variant of the example record (spec §11.6): the
// entries [From, From+Delete) are replaced by Insert; Checkpoint, if set,
// replaces the record's checkpoint; Earlier are checkpoints the auditor saw
// before; Fingerprint, if set, replaces the example's fingerprint (the
// officials published the tampered manifest's). The verifier must fail,
// with Check as the first failure.
type tamperedVector struct {
	Name        string   `json:"name"`
	Check       Check    `json:"check"`
	From        int      `json:"from"`
	Delete      int      `json:"delete"`
	Insert      []string `json:"insert"`
	Checkpoint  string   `json:"checkpoint,omitempty"`
	Earlier     []string `json:"earlier,omitempty"`
	Fingerprint string   `json:"fingerprint,omitempty"`
}

type tamperedFileT struct {
	Comment  string           `json:"comment"`
	Record   string           `json:"record"`
	Variants []tamperedVector `json:"variants"`
}

func (tv *tamperedVector) apply(t *testing.T, rec *Record) (*Record, [][]byte) {
	t.Helper()
	if tv.From < 0 || tv.Delete < 0 || tv.From+tv.Delete > len(rec.Entries) {
		t.Fatalf("%s: bad range", tv.Name)
	}
	out := &Record{Checkpoint: rec.Checkpoint}
	out.Entries = append(out.Entries, rec.Entries[:tv.From]...)
	for _, s := range tv.Insert {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out.Entries = append(out.Entries, b)
	}
	out.Entries = append(out.Entries, rec.Entries[tv.From+tv.Delete:]...)
	if tv.Checkpoint != "" {
		out.Checkpoint = []byte(tv.Checkpoint)
	}
	var earlier [][]byte
	for _, e := range tv.Earlier {
		earlier = append(earlier, []byte(e))
	}
	return out, earlier
}

// diff expresses variant as a replacement of one range of honest.
func diff(name string, want Check, honest, variant *Record, earlier [][]byte) tamperedVector {
	p := 0
	for p < len(honest.Entries) && p < len(variant.Entries) && bytes.Equal(honest.Entries[p], variant.Entries[p]) {
		p++
	}
	q := 0
	for q < len(honest.Entries)-p && q < len(variant.Entries)-p && bytes.Equal(honest.Entries[len(honest.Entries)-1-q], variant.Entries[len(variant.Entries)-1-q]) {
		q++
	}
	tv := tamperedVector{Name: name, Check: want, From: p, Delete: len(honest.Entries) - q - p, Insert: []string{}}
	for _, e := range variant.Entries[p : len(variant.Entries)-q] {
		tv.Insert = append(tv.Insert, base64.StdEncoding.EncodeToString(e))
	}
	if !bytes.Equal(honest.Checkpoint, variant.Checkpoint) {
		tv.Checkpoint = string(variant.Checkpoint)
	}
	for _, e := range earlier {
		tv.Earlier = append(tv.Earlier, string(e))
	}
	return tv
}

// TestVectors writes (with -update) and checks the example record and its
// tampered variants: the example verifies, every variant fails with its
// check first.
func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	rec, err := Load(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	kt, err := os.ReadFile(filepath.Join(exampleDir, logKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	lv, err := ParseLogKey(string(kt))
	if err != nil {
		t.Fatal(err)
	}
	fp := exampleFingerprint(t)
	if rep := Verify(rec, Options{Fingerprint: fp, Log: lv}); !rep.OK {
		t.Fatalf("example record fails: %v", rep.Failures)
	}
	b, err := os.ReadFile(tamperedFile)
	if err != nil {
		t.Fatal(err)
	}
	var tf tamperedFileT
	if err := json.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	if len(tf.Variants) < 40 {
		t.Fatalf("%d variants", len(tf.Variants))
	}
	for _, tv := range tf.Variants {
		t.Run(tv.Name, func(t *testing.T) {
			v, earlier := tv.apply(t, rec)
			vfp := fp
			if tv.Fingerprint != "" {
				var err error
				if vfp, err = ballot.ParseFingerprint(tv.Fingerprint); err != nil {
					t.Fatal(err)
				}
			}
			rep := Verify(v, Options{Fingerprint: vfp, Log: lv, Earlier: earlier})
			first, ok := rep.First()
			if rep.OK || !ok || first.Check != tv.Check {
				t.Errorf("first failure %v, want %s", first, tv.Check)
			}
		})
	}
}

// exampleFingerprint reads the example record's fingerprint file.
func exampleFingerprint(tb testing.TB) ballot.ExpectedFingerprint {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(exampleDir, fingerprintFile))
	if err != nil {
		tb.Fatal(err)
	}
	fp, err := ballot.ParseFingerprint(string(b))
	if err != nil {
		tb.Fatal(err)
	}
	return fp
}

func writeVectors(t *testing.T) {
	f := shared(t)
	honest := f.record(t)
	if err := os.RemoveAll(exampleDir); err != nil {
		t.Fatal(err)
	}
	if err := honest.WriteDir(exampleDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(exampleDir, logKeyFile), []byte(FormatLogKey(f.log.Verifier())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(exampleDir, fingerprintFile), []byte(f.e.State.Manifest.Fingerprint().Hex()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tf := tamperedFileT{
		Comment:  "Tampered variants of record-example (spec/11-verifying.md §11.6): replace entries [from, from+delete) by insert (standard base64 of canonical entries), replace the checkpoint if given, verify with the earlier checkpoints if given; the first failure must be the named check; a variant with a fingerprint is verified against it instead of the example's (the officials published a tampered manifest's). Generated by go test ./verify -run TestVectors -update.",
		Record:   "record-example",
		Variants: []tamperedVector{},
	}
	for _, tc := range tamperings() {
		rec := f.record(t)
		if tc.build != nil {
			rec.Entries = tc.build(t, f, f.encoded())
		}
		if tc.resign {
			rec.Checkpoint = f.checkpoint(t, rec.Entries)
		}
		if tc.note != nil {
			rec.Checkpoint = tc.note(t, f, rec.Checkpoint)
		}
		var earlier [][]byte
		if tc.earlier != nil {
			earlier = tc.earlier(t, f)
		}
		tv := diff(tc.name, tc.want, honest, rec, earlier)
		if tc.published != nil {
			tv.Fingerprint = tc.published(t, rec.Entries).Hex()
		}
		tf.Variants = append(tf.Variants, tv)
	}
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tamperedFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
