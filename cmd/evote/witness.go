package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"evote/bulletin"
	"evote/bulletin/witness"
	"evote/verify"
)

// witnessCmd runs a witness (spec chapter 7): it cosigns a log's
// checkpoints only after checking each is consistent with the last one it
// cosigned, so a server cannot show two histories. Trustees, observers and
// parties run one each ("evote trustee witness" is the same command).
func witnessCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("witness", flag.ContinueOnError)
	name := fs.String("name", "", "the witness's name, e.g. witness.example.org/w1")
	keyPath := fs.String("key", "", "file holding the witness's Ed25519 seed in hex (made with --init)")
	init := fs.Bool("init", false, "make a new key file and print the cosigner key")
	state := fs.String("state", "", "file recording the last cosigned checkpoint of each log")
	listen := fs.String("listen", "127.0.0.1:7380", "address to serve POST /add-checkpoint on")
	var logKeys []string
	fs.Func("log-key", "file with a log's verifier key (evote-verify's format); repeat for each log", func(v string) error {
		logKeys = append(logKeys, v)
		return nil
	})
	keysDir := fs.String("log-keys-dir", "", "directory of log key files (*.pub) looked at every --log-keys-every: a new election's key dropped there is followed without a restart")
	keysEvery := fs.Duration("log-keys-every", 5*time.Second, "how often to look in --log-keys-dir")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "name", "key"); err != nil {
		return err
	}
	if err := bulletin.ValidOrigin(*name); err != nil {
		return fmt.Errorf("witness: --name: %w", err)
	}
	if *init {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return err
		}
		f, err := os.OpenFile(*keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(f, hex.EncodeToString(seed)); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	raw, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return errors.New("witness: the key file must hold a 32-byte seed in hex")
	}
	s := bulletin.NewEd25519Signer(ed25519.NewKeyFromSeed(seed))
	pub := s.Public()
	fmt.Fprintf(out, "witness %s, cosigner key %s\n", *name, hex.EncodeToString(pub[:]))
	if *init {
		fmt.Fprintf(out, "for the officials' manifest: --witness %s:%s\n", *name, hex.EncodeToString(pub[:]))
		fmt.Fprintf(out, "for the ballot box's EVOTE_WITNESSES: %s|https://<this witness's address>|%s\n", *name, base64.StdEncoding.EncodeToString(pub[:]))
		return nil
	}
	if err := need(fs, "state"); err != nil {
		return err
	}
	if len(logKeys) == 0 && *keysDir == "" {
		return errors.New("witness: name at least one --log-key, or a --log-keys-dir")
	}
	var logs []bulletin.LogVerifier
	if *keysDir != "" {
		dirLogs, err := logKeysIn(*keysDir)
		if err != nil {
			return err
		}
		logs = append(logs, dirLogs...)
	}
	for _, p := range logKeys {
		t, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		v, err := verify.ParseLogKey(string(t))
		if err != nil {
			return err
		}
		logs = append(logs, v)
	}
	w, err := witness.New(witness.Config{Name: *name, Key: s, Public: pub, Logs: logs, StatePath: *state})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintf(out, "serving POST http://%s/add-checkpoint for %d log(s)\n", ln.Addr(), len(logs))
	if *keysDir != "" {
		go followKeysDir(ctx, w, *keysDir, *keysEvery, logs, out)
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logKeysIn reads every *.pub file of dir as a log key file (the format
// evoted log-key prints).
func logKeysIn(dir string) ([]bulletin.LogVerifier, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, err
	}
	var out []bulletin.LogVerifier
	for _, p := range paths {
		t, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("witness: %w", err)
		}
		v, err := verify.ParseLogKey(string(t))
		if err != nil {
			return nil, fmt.Errorf("witness: %s: %w", p, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// followKeysDir looks in dir every interval and follows each log whose key
// file appeared (issue 19, finding 9: a new election needs no restart). A
// file that does not parse, or names a followed log under another key, is
// reported and skipped; the log keeps its first key.
func followKeysDir(ctx context.Context, w *witness.Witness, dir string, every time.Duration, known []bulletin.LogVerifier, out io.Writer) {
	seen := map[string]bool{}
	for _, v := range known {
		seen[v.Origin] = true
	}
	complained := map[string]bool{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		logs, err := logKeysIn(dir)
		if err != nil {
			if !complained[err.Error()] {
				fmt.Fprintf(out, "witness: %v\n", err)
				complained[err.Error()] = true
			}
			continue
		}
		for _, v := range logs {
			if err := w.AddLog(v); err != nil {
				if !complained[err.Error()] {
					fmt.Fprintf(out, "witness: %v (keeping the first key)\n", err)
					complained[err.Error()] = true
				}
				continue
			}
			if !seen[v.Origin] {
				seen[v.Origin] = true
				fmt.Fprintf(out, "following the new log %s\n", v.Origin)
			}
		}
	}
}
