package main

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"evote/bulletin"
	"evote/bulletin/recordfile"
	"evote/verify"
)

const example = "../../spec/vectors/record-example"

var keyFile = filepath.Join(example, "log.pub")

// fingerprint is the example election's, as the officials would publish it.
func fingerprint(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(example, "fingerprint"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidRecord(t *testing.T) {
	code, out, errs := runCLI(t, "--fingerprint", fingerprint(t), example)
	if code != 0 || !strings.Contains(out, "VALID: every check holds.") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// The example's trustee 3 decrypts nothing (2-of-3): a note, not a
	// failure (spec §11.5).
	for _, want := range []string{"ballot.proof", "mix.proof", "decryption.proof", "result (recomputed", "  council-ala-archa        4 ballots\n    (blank)                          1\n    Asanov Bakyt                     0", "notes (events that break no rule):\n  decryption: trustee 3 has no decryption share of any contest"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

func TestJSONAndArchive(t *testing.T) {
	rec, err := verify.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, f := range []struct {
		name string
		data []byte
	}{{recordfile.CheckpointFile, rec.Checkpoint}, {recordfile.EntriesFile, rec.EncodeEntries()}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
		tw.Write(f.data)
	}
	tw.Close()
	path := filepath.Join(t.TempDir(), "record.tar")
	os.WriteFile(path, tb.Bytes(), 0o644)
	code, out, errs := runCLI(t, "--fingerprint", fingerprint(t), "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep verify.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK || rep.Size != uint64(len(rec.Entries)) {
		t.Fatalf("json report: %v %+v", err, rep)
	}
}

// TestTamperedRecord flips one bit of one entry: exit code 1, and the
// failure names the entry and the check.
func TestTamperedRecord(t *testing.T) {
	rec, err := verify.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	rec.Entries[20] = append([]byte{}, rec.Entries[20]...)
	rec.Entries[20][80] ^= 1
	dir := filepath.Join(t.TempDir(), "rec")
	if err := rec.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "--fingerprint", fingerprint(t), dir)
	if code != 1 || !strings.Contains(out, "INVALID") || !strings.Contains(out, "entry 20: entry.signature") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	if code, _, _ := runCLI(t, example); code != 2 {
		t.Errorf("no fingerprint: exit %d", code)
	}
	if code, _, _ := runCLI(t, "--fingerprint", "ABCD", example); code != 2 {
		t.Errorf("malformed fingerprint: exit %d", code)
	}
	if code, _, _ := runCLI(t, "--fingerprint", fingerprint(t), filepath.Join(t.TempDir(), "none")); code != 2 {
		t.Errorf("missing record: exit %d", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.pub")
	os.WriteFile(bad, []byte("nonsense\n"), 0o644)
	if code, _, _ := runCLI(t, "--fingerprint", fingerprint(t), "--log-key", bad, example); code != 2 {
		t.Errorf("bad log key: exit %d", code)
	}
}

// serve answers the two public board routes the verifier uses (spec
// §10.1) from a record, in pages of at most limit entries.
func serve(t *testing.T, rec *verify.Record, origin string) *httptest.Server {
	id := bulletin.LogIDFor(origin)
	prefix := "/api/v1/board/" + hex.EncodeToString(id[:])
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/board", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"logs":[{"log_id":"%s","origin":"other","size":0},{"log_id":"%x","origin":%q,"size":%d}]}`, strings.Repeat("ab", 32), id, origin, len(rec.Entries))
	})
	mux.HandleFunc(prefix+"/checkpoint/note", func(w http.ResponseWriter, r *http.Request) { w.Write(rec.Checkpoint) })
	mux.HandleFunc(prefix+"/entries", func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		limit = min(limit, 7) // small pages exercise paging
		type view struct {
			Index     int    `json:"index"`
			Canonical string `json:"canonical"`
		}
		page := struct {
			Start   int    `json:"start"`
			Entries []view `json:"entries"`
		}{Start: start}
		for i := start; i < min(start+limit, len(rec.Entries)); i++ {
			page.Entries = append(page.Entries, view{i, base64.StdEncoding.EncodeToString(rec.Entries[i])})
		}
		json.NewEncoder(w).Encode(page)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestURL downloads the record from a board and checks it against an
// earlier checkpoint; a forked earlier checkpoint fails.
func TestURL(t *testing.T) {
	rec, err := verify.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	kt, _ := os.ReadFile(keyFile)
	lv, _ := verify.ParseLogKey(string(kt))
	srv := serve(t, rec, lv.Origin)
	seen := filepath.Join(t.TempDir(), "seen.note")
	os.WriteFile(seen, rec.Checkpoint, 0o644)
	code, out, errs := runCLI(t, "--fingerprint", fingerprint(t), "--checkpoint", seen, srv.URL)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// Saved by an editor (CRLF, a newline more): accepted (issue 19); two
	// blank lines more: refused, saying what is wrong.
	os.WriteFile(seen, append(bytes.ReplaceAll(rec.Checkpoint, []byte("\n"), []byte("\r\n")), '\r', '\n'), 0o644)
	if code, out, errs := runCLI(t, "--fingerprint", fingerprint(t), "--checkpoint", seen, srv.URL); code != 0 {
		t.Fatalf("CRLF checkpoint: exit %d\n%s\n%s", code, out, errs)
	}
	os.WriteFile(seen, append(bytes.Clone(rec.Checkpoint), '\n', '\n'), 0o644)
	if code, _, errs := runCLI(t, "--fingerprint", fingerprint(t), "--checkpoint", seen, srv.URL); code != 2 || !strings.Contains(errs, "blank lines after the signature lines") {
		t.Fatalf("checkpoint with blank lines: exit %d\n%s", code, errs)
	}
	// A checkpoint seen before that the board's log does not extend (the
	// rolled-back variant of spec/vectors/record-tampered.json).
	b, err := os.ReadFile("../../spec/vectors/record-tampered.json")
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Variants []struct {
			Name    string   `json:"name"`
			Earlier []string `json:"earlier"`
		} `json:"variants"`
	}
	json.Unmarshal(b, &tf)
	for _, v := range tf.Variants {
		if strings.HasPrefix(v.Name, "rolled back") {
			os.WriteFile(seen, []byte(v.Earlier[0]), 0o644)
		}
	}
	code, out, _ = runCLI(t, "--fingerprint", fingerprint(t), "--checkpoint", seen, fmt.Sprintf("%s/api/v1/board/%x", srv.URL, bulletin.LogIDFor(lv.Origin)))
	if code != 1 || !strings.Contains(out, "checkpoint.consistency") {
		t.Fatalf("rolled-back board: exit %d\n%s", code, out)
	}
}

// TestFingerprintIsTheAnchor: another election's fingerprint refuses the
// record (exit 1, the anchors check) and finds no board at a URL; the
// manifest file works as the fingerprint; a log key other than the
// manifest's is refused.
func TestFingerprintIsTheAnchor(t *testing.T) {
	other := strings.Repeat("0", 64)
	code, out, _ := runCLI(t, "--fingerprint", other, example)
	if code != 1 || !strings.Contains(out, "anchors") {
		t.Fatalf("another fingerprint: exit %d\n%s", code, out)
	}
	rec, err := verify.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bulletin.DecodeEntry(rec.Entries[0])
	if err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(t.TempDir(), "manifest.bin")
	os.WriteFile(mf, e.Payload, 0o644)
	if code, out, errs := runCLI(t, "--manifest", mf, example); code != 0 {
		t.Fatalf("--manifest: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, _ := runCLI(t, "--manifest", mf, "--fingerprint", other, example); code != 2 {
		t.Errorf("both trust inputs: exit %d", code)
	}
	kt, _ := os.ReadFile(keyFile)
	lv, _ := verify.ParseLogKey(string(kt))
	srv := serve(t, rec, lv.Origin)
	if code, _, errs := runCLI(t, "--fingerprint", other, srv.URL); code != 2 || !strings.Contains(errs, "no election") {
		t.Errorf("URL with another fingerprint: exit %d: %s", code, errs)
	}
	lv.Ed25519[0] ^= 1
	wrong := filepath.Join(t.TempDir(), "wrong.pub")
	os.WriteFile(wrong, []byte(verify.FormatLogKey(lv)), 0o644)
	if code, out, _ := runCLI(t, "--fingerprint", fingerprint(t), "--log-key", wrong, example); code != 1 || !strings.Contains(out, "anchors") {
		t.Errorf("another log key: exit %d\n%s", code, out)
	}
}
