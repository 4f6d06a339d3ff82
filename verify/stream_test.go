package verify

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/recordfile"
)

// comparable strips a report of its timings, which differ between runs.
func comparable(r *Report) Report {
	c := *r
	c.Stages, c.Seconds, c.Workers = nil, 0, 0
	c.Checks = nil
	for _, k := range r.Checks {
		k.Seconds = 0
		c.Checks = append(c.Checks, k)
	}
	c.items, c.fails, c.times = nil, nil, nil
	return c
}

func sameReport(t *testing.T, what string, got, want *Report) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no report", what)
	}
	g, w := comparable(got), comparable(want)
	if gb, wb := mustJSON(t, g), mustJSON(t, w); !bytes.Equal(gb, wb) {
		t.Errorf("%s: report differs:\n got %s\nwant %s", what, gb, wb)
	}
}

// TestStreamBatching verifies the honest record and every tampering of the
// corpus with batches of 1 and 5 entries (so that workers check batches
// both before and after the election context is known, and the replay
// prechecks some ballots itself) and as a stream, and requires the report
// of the default batches each time.
func TestStreamBatching(t *testing.T) {
	f := shared(t)
	cases := append([]tampering{{name: "honest"}}, tamperings()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, opt := tampered(t, f, tc)
			want := Verify(rec, opt)
			for _, n := range []int{1, 5} {
				o := opt
				o.batch = n
				sameReport(t, "batch "+string(rune('0'+n)), Verify(rec, o), want)
			}
			got, err := VerifyStream(rec.Checkpoint, bytes.NewReader(rec.EncodeEntries()), opt)
			if err != nil {
				t.Fatal(err)
			}
			sameReport(t, "stream", got, want)
		})
	}
}

// TestVerifyPath verifies a record directory and archive as streams, and
// refuses unreadable ones with ErrLoad and no report.
func TestVerifyPath(t *testing.T) {
	f := shared(t)
	rec := f.record(t)
	opt := f.options()
	want := Verify(rec, opt)
	if !want.OK {
		t.Fatal(want.Failures)
	}
	dir := t.TempDir()
	if err := rec.WriteDir(filepath.Join(dir, "rec")); err != nil {
		t.Fatal(err)
	}
	got, err := VerifyPath(filepath.Join(dir, "rec"), opt)
	if err != nil {
		t.Fatal(err)
	}
	sameReport(t, "directory", got, want)

	archive := func(extra bool) string {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		files := []struct {
			name string
			data []byte
		}{{recordfile.CheckpointFile, rec.Checkpoint}, {recordfile.EntriesFile, rec.EncodeEntries()}}
		if extra {
			files = append(files, files[0])
		}
		for _, fl := range files {
			tw.WriteHeader(&tar.Header{Name: fl.name, Mode: 0o644, Size: int64(len(fl.data)), Typeflag: tar.TypeReg})
			tw.Write(fl.data)
		}
		tw.Close()
		p := filepath.Join(dir, "rec.tar")
		if extra {
			p = filepath.Join(dir, "extra.tar")
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err = VerifyPath(archive(false), opt)
	if err != nil {
		t.Fatal(err)
	}
	sameReport(t, "archive", got, want)
	if rep, err := VerifyPath(archive(true), opt); !errors.Is(err, ErrLoad) || rep != nil {
		t.Errorf("archive with content after the entries: %v, %v", rep, err)
	}
	if rep, err := VerifyPath(filepath.Join(dir, "none"), opt); !errors.Is(err, ErrLoad) || !errors.Is(err, os.ErrNotExist) || rep != nil {
		t.Errorf("missing record: %v, %v", rep, err)
	}
	// A truncated entries file, a length over the limit: no report.
	full := rec.EncodeEntries()
	for name, b := range map[string][]byte{
		"truncated entry":  full[:len(full)-3],
		"truncated length": append(bytes.Clone(full), 0, 0),
		"over the limit":   append(bytes.Clone(full), 0xff, 0xff, 0xff, 0xff),
	} {
		if rep, err := VerifyStream(rec.Checkpoint, bytes.NewReader(b), opt); !errors.Is(err, ErrLoad) || rep != nil {
			t.Errorf("%s: %v, %v", name, rep, err)
		}
		if _, err := ReadEntries(bytes.NewReader(b)); !errors.Is(err, ErrLoad) {
			t.Errorf("%s: ReadEntries: %v", name, err)
		}
	}
	// A record whose manifest is not the published one is not checked
	// further, but its entries are counted, as Verify counts them.
	bad := opt
	bad.Fingerprint = ballot.ExpectFingerprint(ballot.Fingerprint{1})
	got, err = VerifyStream(rec.Checkpoint, bytes.NewReader(full), bad)
	if err != nil {
		t.Fatal(err)
	}
	sameReport(t, "other fingerprint", got, Verify(rec, bad))
	if got.OK || got.Size != uint64(len(rec.Entries)) {
		t.Errorf("other fingerprint: ok %v, size %d", got.OK, got.Size)
	}
}

// TestDecodeEntryAgrees: the verifier's decoding without a copy accepts
// and refuses exactly what bulletin.DecodeEntry does, with its errors.
func TestDecodeEntryAgrees(t *testing.T) {
	f := shared(t)
	var inputs [][]byte
	for _, e := range f.encoded()[:12] {
		inputs = append(inputs, e, e[:len(e)-1], append(bytes.Clone(e), 0), e[:bulletin.HeaderSize], e[:bulletin.HeaderSize-1], nil)
		for _, at := range []int{0, 1, 33, 34, 67, 70, bulletin.HeaderSize, len(e) - 1} {
			m := bytes.Clone(e)
			m[at] ^= 0x80
			inputs = append(inputs, m)
		}
	}
	for i, in := range inputs {
		got, gerr := decodeEntry(in)
		want, werr := bulletin.DecodeEntry(in)
		if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("input %d: error %v, DecodeEntry's %v", i, gerr, werr)
		}
		if gerr == nil && !bytes.Equal(got.Encode(), want.Encode()) {
			t.Fatalf("input %d: decodes differently", i)
		}
	}
}

// TestStreamMemoryBounded verifies records of 2,000 and 4,000 ballots from
// files and measures the heap the verifier holds once it has read every
// entry: what it keeps per ballot for the final checks. Holding the
// entries, their payloads or proofs (about 14 KB per ballot before the
// verifier streamed) fails it.
func TestStreamMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 6,000 ballots")
	}
	// held returns the heap the verifier holds once every entry is
	// consumed, and the most it held after the replay of any entry after
	// the casting (the entry still held), measured after a collection: the
	// close (the casting's state whole), the cleansing, each mix, share
	// and the result. (During the casting the entries read ahead, about
	// 10 MB whatever the size, hide the state's growth at these sizes.)
	// It times nothing.
	held := func(voters int) (end, peak uint64, peakAt bulletin.Type) {
		f := newFixtureCfg(t, "kg-2027-mem", voters, 0, true)
		dir := filepath.Join(t.TempDir(), "rec")
		if err := f.record(t).WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		opt := f.options()
		f = nil
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		heap := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc - min(ms.HeapAlloc, base)
		}
		testHookStreamed = func() { end = heap() }
		testHookReplayed = func(i uint64, typ bulletin.Type) {
			switch typ {
			case bulletin.TypeClose, bulletin.TypeCleansingResult, bulletin.TypeTransition, bulletin.TypeMixOutput,
				bulletin.TypeDecryptionShare, bulletin.TypeResult:
			default:
				return
			}
			if h := heap(); h > peak {
				peak, peakAt = h, typ
			}
		}
		defer func() { testHookStreamed, testHookReplayed = nil, nil }()
		rep, err := VerifyPath(dir, opt)
		if err != nil || !rep.OK {
			t.Fatal(err, rep)
		}
		return end, peak, peakAt
	}
	smallEnd, smallPeak, _ := held(2000)
	largeEnd, largePeak, at := held(4000)
	per := (float64(largeEnd) - float64(smallEnd)) / 2000
	perPeak := (float64(largePeak) - float64(smallPeak)) / 2000
	t.Logf("heap held after the stream: %d KiB at 2,000 ballots, %d KiB at 4,000: %.0f bytes per ballot", smallEnd>>10, largeEnd>>10, per)
	t.Logf("most heap held after an entry: %d KiB at 2,000 ballots, %d KiB at 4,000 (after a %s entry): %.0f bytes per ballot", smallPeak>>10, largePeak>>10, at, perPeak)
	// Once the cleansing is accepted the verifier lets go of the casting
	// rules' state (the credentials, the ballots, their indices): a counted
	// ballot then keeps its leaf hash (for entry.duplicate) and, encoded,
	// its row of the final list and the trustees' decryption shares (50
	// bytes measured between 2,000 and 4,000 ballots; 840 when the casting
	// state was kept to the end, 1.8 KB when the final list, the shares and
	// the mix generators were held decoded). The entries themselves are
	// 2.1 KB per ballot.
	if per > 450 {
		t.Errorf("the verifier holds %.0f bytes per ballot at the end, over 450", per)
	}
	// The most it holds is at the close (a credential, a cast record and
	// the rules' indices per ballot: 1.1 KB at 100,000 ballots, 1.6 KB
	// between 2,000 and 4,000 here, where the maps' doublings weigh more)
	// or during the mixing (a mix entry with its proof, the chain's lists,
	// the commitment generators: under 700 bytes); before, the mixing held
	// the casting state and every ballot's ciphertext decoded as well
	// (about 2.1 KB at 100,000 ballots).
	if perPeak > 2000 {
		t.Errorf("the verifier holds at most %.0f bytes per ballot, over 2,000", perPeak)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSavedCheckpointFile: a record whose checkpoint file went through an
// editor or a shell (CRLF line ends, one newline too many, the last one
// missing) verifies through every reader (Load, LoadDir, LoadArchive,
// VerifyPath on a directory and on an archive), as evote-verify
// --checkpoint reads such a file (internal/notefile); a checkpoint damaged
// otherwise is still reported invalid.
func TestSavedCheckpointFile(t *testing.T) {
	f := shared(t)
	rec := f.record(t)
	opt := f.options()
	want := Verify(rec, opt)
	if !want.OK {
		t.Fatal(want.Failures)
	}
	cp := rec.Checkpoint
	for name, c := range map[string]struct {
		note []byte
		ok   bool
	}{
		"CRLF":                  {bytes.ReplaceAll(cp, []byte("\n"), []byte("\r\n")), true},
		"one newline too many":  {append(bytes.Clone(cp), '\n'), true},
		"final newline missing": {cp[:len(cp)-1], true},
		"a signature removed":   {cp[:bytes.LastIndex(cp[:len(cp)-1], []byte("\n"))+1], false},
		"a line changed":        {bytes.Replace(cp, []byte("\n"), []byte(" \n"), 1), false},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rec")
			if err := rec.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, recordfile.CheckpointFile), c.note, 0o644); err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			for _, fl := range []struct {
				name string
				data []byte
			}{{recordfile.CheckpointFile, c.note}, {recordfile.EntriesFile, rec.EncodeEntries()}} {
				tw.WriteHeader(&tar.Header{Name: fl.name, Mode: 0o644, Size: int64(len(fl.data)), Typeflag: tar.TypeReg})
				tw.Write(fl.data)
			}
			tw.Close()
			arch := dir + ".tar"
			if err := os.WriteFile(arch, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			check := func(what string, rep *Report, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if rep.OK != c.ok {
					t.Errorf("%s: OK %v, want %v (%v)", what, rep.OK, c.ok, rep.Failures)
				}
				if c.ok {
					sameReport(t, what, rep, want)
				}
			}
			for _, p := range []string{dir, arch} {
				r, err := Load(p)
				if err != nil {
					t.Fatalf("Load %s: %v", p, err)
				}
				check("Load "+filepath.Base(p), Verify(r, opt), nil)
				rep, err := VerifyPath(p, opt)
				check("VerifyPath "+filepath.Base(p), rep, err)
			}
		})
	}
}
