// Command evote-verify checks an election record on its own (spec chapter
// 11): every entry signature and the Merkle tree, consistency with
// checkpoints the auditor saw before, the manifest and key generation, the
// credentials and in-person marks, every ballot and its proofs, audits, the
// cleansing, every mix, every decryption share and the published result.
//
//	evote-verify --fingerprint XXXX-XXXX-… [--checkpoint seen.note]... [--json] RECORD
//
// The fingerprint is the election's, as the officials published it (or
// --manifest FILE, the manifest itself): it is the verifier's only trust
// input; the log's keys, the witnesses and their quorum are taken from the
// manifest that has it. RECORD is an exported record (a directory or a tar
// archive) or the URL of a ballot box (or of its board), from which the
// record is downloaded.
// The record is read once, as a stream (a URL's entries are downloaded as
// they are verified), and never held in memory: what the verifier keeps
// is at most about 1 KB per ballot (spec §11.7). Once it knows the
// record's size it sets a soft memory limit (the Go runtime's, as
// GOMEMLIMIT does) of 128 MiB + 800 bytes per entry, which trims the
// collector's headroom above that for a little more CPU at a million
// ballots; GOMEMLIMIT in the environment, or --memory-limit off, keeps the
// runtime's own.
// The exit code is 0 only if every check holds, 1 if one does not, 2 if the
// record could not be read at all.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"evote/ballot"
	"evote/internal/notefile"
	"evote/verify"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("evote-verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fingerprint := fs.String("fingerprint", "", "the election's fingerprint as the officials published it (short form or 64 hex digits)")
	manifestFile := fs.String("manifest", "", "file with the election's manifest, instead of --fingerprint")
	logKey := fs.String("log-key", "", "file with the log's verifier key(s), one \"origin+keyid+base64\" line each (optional: must equal the manifest's)")
	var earlier multi
	fs.Var(&earlier, "checkpoint", "file with a signed checkpoint seen before (repeatable): the record must extend it; CRLF line ends and one newline too many are forgiven")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	partial := fs.Bool("partial", false, "accept a record that ends before the result (an election in progress)")
	workers := fs.Int("workers", 0, "parallel workers (default: all cores)")
	quiet := fs.Bool("no-progress", false, "no progress bar")
	timeout := fs.Duration("timeout", 10*time.Minute, "timeout of each request to a URL (the download goes on as the verification reads it)")
	memLimit := fs.String("memory-limit", "auto", "the Go runtime's soft memory limit: auto (128 MiB + 800 bytes per entry of the record, once its size is known) or off; GOMEMLIMIT in the environment wins")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: evote-verify (--fingerprint FP | --manifest FILE) [--log-key FILE] [--checkpoint FILE]... [--json] [--partial] RECORD")
		fmt.Fprintln(stderr, "RECORD is a record directory, a record archive (.tar) or a ballot box URL.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || (*fingerprint == "") == (*manifestFile == "") {
		fs.Usage()
		return 2
	}
	fp, err := expectedFingerprint(*fingerprint, *manifestFile)
	if err != nil {
		fmt.Fprintf(stderr, "evote-verify: %v\n", err)
		return 2
	}
	opt := verify.Options{Fingerprint: fp, Partial: *partial, Workers: *workers}
	if *logKey != "" {
		kb, err := os.ReadFile(*logKey)
		if err != nil {
			fmt.Fprintf(stderr, "evote-verify: %v\n", err)
			return 2
		}
		if opt.Log, err = verify.ParseLogKey(string(kb)); err != nil {
			fmt.Fprintf(stderr, "evote-verify: %v\n", err)
			return 2
		}
	}
	for _, f := range earlier {
		// Saved by hand: CRLF or one newline too many is forgiven, the
		// signatures are checked as ever (internal/notefile).
		b, err := notefile.Read(f)
		if err != nil {
			fmt.Fprintf(stderr, "evote-verify: %v\n", err)
			return 2
		}
		opt.Earlier = append(opt.Earlier, b)
	}
	limiter, err := newMemoryLimiter(*memLimit)
	if err != nil {
		fmt.Fprintf(stderr, "evote-verify: %v\n", err)
		return 2
	}
	bar := newBar(stderr, *quiet || *asJSON && !isTerminal(stderr))
	opt.Progress = limiter.progress(bar.update)
	rep, err := verifySource(fs.Arg(0), opt, *timeout)
	bar.done()
	if err != nil {
		fmt.Fprintf(stderr, "evote-verify: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "evote-verify: %v\n", err)
			return 2
		}
	} else {
		rep.WriteText(stdout)
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// expectedFingerprint reads the trust input: the fingerprint as given, or
// the one of a manifest file.
func expectedFingerprint(fp, manifestFile string) (ballot.ExpectedFingerprint, error) {
	if fp != "" {
		return ballot.ParseFingerprint(fp)
	}
	b, err := os.ReadFile(manifestFile)
	if err != nil {
		return ballot.ExpectedFingerprint{}, err
	}
	m, err := ballot.DecodeManifest(b)
	if err != nil {
		return ballot.ExpectedFingerprint{}, fmt.Errorf("%s: %w", manifestFile, err)
	}
	return ballot.ExpectFingerprint(m.Fingerprint()), nil
}

// verifySource verifies the record at src, a directory, an archive or a
// URL, reading it once: the record is never held in memory whole.
func verifySource(src string, opt verify.Options, timeout time.Duration) (*verify.Report, error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		ctx := context.Background()
		client := &http.Client{Timeout: timeout}
		board, err := verify.FindBoard(ctx, client, src, opt.Fingerprint)
		if err != nil {
			return nil, err
		}
		note, entries, err := verify.FetchStream(ctx, client, board, nil)
		if err != nil {
			return nil, err
		}
		return verify.VerifyStream(note, entries, opt)
	}
	rep, err := verify.VerifyPath(src, opt)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such record", src)
	}
	return rep, err
}
