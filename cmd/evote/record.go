package main

import (
	"archive/tar"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"evote/ballot"
	"evote/bulletin/recordfile"
	"evote/verify"
)

// recordCmd is "evote record export": download an election's public
// record from a ballot box, found by the election's fingerprint, and save
// it as a directory or a tar archive (spec §7.8), with the cosigned
// checkpoint, for evote-verify or anyone's own verifier. It checks the
// record before saving it unless --no-verify.
func recordCmd(ctx context.Context, args []string, out io.Writer) error {
	if err := subcommand("record", args, []string{"export"}); err != nil {
		return err
	}
	fs := flag.NewFlagSet("record export", flag.ContinueOnError)
	server := fs.String("server", "", "ballot box base URL (or the URL of its board)")
	fingerprint := fs.String("fingerprint", "", "the election's fingerprint as the officials published it")
	to := fs.String("out", "", "where to write the record: a directory, or a file ending in .tar")
	partial := fs.Bool("partial", false, "accept a record that ends before the result (an election in progress)")
	noVerify := fs.Bool("no-verify", false, "save without verifying first")
	timeout := fs.Duration("timeout", 10*time.Minute, "download timeout")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := need(fs, "server", "fingerprint", "out"); err != nil {
		return err
	}
	fp, err := ballot.ParseFingerprint(*fingerprint)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	hc := &http.Client{Timeout: *timeout}
	board, err := verify.FindBoard(ctx, hc, *server, fp)
	if err != nil {
		return err
	}
	rec, err := verify.Fetch(ctx, hc, board, nil)
	if err != nil {
		return err
	}
	if !*noVerify {
		rep := verify.Verify(rec, verify.Options{Fingerprint: fp, Partial: *partial})
		if !rep.OK {
			first, _ := rep.First()
			return fmt.Errorf("record export: the record does not verify (%d failures, the first: %s); nothing saved (--no-verify saves it anyway)", rep.FailureCount, first)
		}
	}
	if strings.HasSuffix(*to, ".tar") {
		err = writeTar(*to, rec)
	} else {
		err = rec.WriteDir(*to)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "record of %d entries saved in %s\n", len(rec.Entries), *to)
	return nil
}

// writeTar writes the record as the tar archive of §7.8: checkpoint, then
// entries.bin, nothing else.
func writeTar(path string, rec *verify.Record) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, m := range []struct {
		name string
		data []byte
	}{{recordfile.CheckpointFile, rec.Checkpoint}, {recordfile.EntriesFile, rec.EncodeEntries()}} {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			f.Close()
			return err
		}
		if _, err := tw.Write(m.data); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
