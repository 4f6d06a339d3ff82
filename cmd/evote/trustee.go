package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"evote/ballot"
	"evote/client"
	"evote/trustee"
	"evote/verify"
)

func trusteeCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("trustee: want init, keygen, mix, decrypt, backup, restore, show or witness")
	}
	if args[0] == "witness" {
		return witnessCmd(ctx, args[1:], out)
	}
	fs := flag.NewFlagSet("trustee "+args[0], flag.ContinueOnError)
	keyPath := fs.String("key", "", "the trustee's key file")
	passFile := fs.String("passphrase-file", "", "file holding the key file's passphrase (else EVOTE_PASSPHRASE)")
	server := fs.String("server", "", "ballot box base URL, e.g. http://127.0.0.1:8080")
	electionID := fs.String("election", "", "election id")
	roundWait := fs.Duration("round-wait", 10*time.Minute, "how long to wait for the other trustees before reporting a round done (nothing is decided on a timer: deadlines are the officials' entries on the board)")
	fingerprint := fs.String("fingerprint", "", "the election's fingerprint as the officials published it (required for keygen, mix and decrypt): the log key, witnesses and quorum come from the manifest that has it")
	evidence := fs.String("evidence", "", "where to write the evidence if the board contradicts its witnessed checkpoints (default: evidence-<time>.json beside the key file)")
	to := fs.String("to", "", "backup: where to write the backup")
	from := fs.String("from", "", "restore: the backup to restore")
	backupPass := fs.String("backup-passphrase-file", "", "file holding the backup's passphrase (else EVOTE_BACKUP_PASSPHRASE)")
	logKey := fs.String("log-key", "", "file with the log's verifier key, obtained out of band (optional: it must equal the one the manifest pins)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pass := func() ([]byte, error) { return secret(*passFile, "EVOTE_PASSPHRASE", "Key file passphrase") }
	load := func() (*trustee.Keys, []byte, error) {
		if err := need(fs, "key"); err != nil {
			return nil, nil, err
		}
		p, err := pass()
		if err != nil {
			return nil, nil, err
		}
		k, err := trustee.LoadFile(*keyPath, p)
		return k, p, err
	}
	// Long waits are announced on standard error, saying on whom.
	wait := startWaiting("evote trustee " + args[0])
	defer wait.stop()
	opts := trustee.Options{RoundWait: *roundWait, OnStep: func(s string) {
		fmt.Fprintf(out, "trustee: %s\n", s)
		wait.set(trusteeWaits(s, *roundWait))
	}}
	board := func() (*client.Board, error) {
		if err := need(fs, "server", "election", "fingerprint"); err != nil {
			return nil, err
		}
		var err error
		if opts.Fingerprint, err = ballot.ParseFingerprint(*fingerprint); err != nil {
			return nil, err
		}
		if *logKey != "" {
			t, err := os.ReadFile(*logKey)
			if err != nil {
				return nil, err
			}
			v, err := verify.ParseLogKey(string(t))
			if err != nil {
				return nil, err
			}
			opts.LogKey = &v
		}
		opts.OnEvidence = func(ev *trustee.Evidence) {
			path := *evidence
			if path == "" {
				path = filepath.Join(filepath.Dir(*keyPath), fmt.Sprintf("evidence-%d.json", time.Now().Unix()))
			}
			b, _ := json.MarshalIndent(ev, "", "  ")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				fmt.Fprintf(out, "trustee: the board contradicts its witnessed checkpoints, and the evidence could not be saved: %v\n", err)
				return
			}
			fmt.Fprintf(out, "trustee: the board contradicts its witnessed checkpoints: evidence saved in %s; give it to the officials and observers\n", path)
		}
		return client.NewBoard(ctx, client.New(*server), *electionID)
	}
	switch args[0] {
	case "init":
		if err := need(fs, "key"); err != nil {
			return err
		}
		p, err := pass()
		if err != nil {
			return err
		}
		k, err := trustee.GenerateKeys(nil)
		if err != nil {
			return err
		}
		if err := k.SaveFile(*keyPath, p, trustee.DefaultKDF, false); err != nil {
			return err
		}
		printPublic(out, k)
		fmt.Fprintf(out, "Give these two public keys to the election officials for the manifest.\nBack the key file up now: evote trustee backup --key %s --to <offline medium>\n", *keyPath)
		return nil
	case "show":
		k, _, err := load()
		if err != nil {
			return err
		}
		printPublic(out, k)
		if k.Share != nil {
			fmt.Fprintf(out, "election:     %s\ntrustee:      %d\nverification: %x\n", k.ElectionID, k.Index, k.Share.VerificationKey().Bytes())
		}
		if k.KeygenState != nil {
			fmt.Fprintf(out, "key generation under way: run evote trustee keygen again to resume it\n")
		}
		return nil
	case "keygen":
		k, p, err := load()
		if err != nil {
			return err
		}
		wait.set(trusteeWaits("", *roundWait))
		b, err := board()
		if err != nil {
			return err
		}
		if k.KeygenState != nil {
			fmt.Fprintf(out, "resuming key generation from the state saved in %s\n", *keyPath)
		}
		// The secret polynomials go into the key file before anything is
		// posted, so that running keygen again after a crash resumes.
		opts.SaveState = func(state []byte) error {
			saved := *k
			saved.KeygenState = state
			return saved.SaveFile(*keyPath, p, trustee.DefaultKDF, true)
		}
		done, err := trustee.RunKeygen(ctx, b, k, opts)
		if err != nil {
			return err
		}
		if err := done.SaveFile(*keyPath, p, trustee.DefaultKDF, true); err != nil {
			return err
		}
		fmt.Fprintf(out, "key share for trustee %d of %s saved in %s; back it up again now\n", done.Index, done.ElectionID, *keyPath)
		return nil
	case "mix", "decrypt":
		k, _, err := load()
		if err != nil {
			return err
		}
		wait.set(trusteeWaits(args[0], *roundWait))
		b, err := board()
		if err != nil {
			return err
		}
		if args[0] == "mix" {
			return trustee.RunMix(ctx, b, k, opts)
		}
		return trustee.RunDecrypt(ctx, b, k, opts)
	case "backup":
		k, _, err := load()
		if err != nil {
			return err
		}
		if err := need(fs, "to"); err != nil {
			return err
		}
		bp, err := secret(*backupPass, "EVOTE_BACKUP_PASSPHRASE", "Backup passphrase")
		if err != nil {
			return err
		}
		if err := k.Backup(*to, bp, trustee.DefaultKDF); err != nil {
			return err
		}
		fmt.Fprintf(out, "backup written to %s (sealed under the backup passphrase)\n", *to)
		return nil
	case "restore":
		if err := need(fs, "from", "key"); err != nil {
			return err
		}
		bp, err := secret(*backupPass, "EVOTE_BACKUP_PASSPHRASE", "Backup passphrase")
		if err != nil {
			return err
		}
		p, err := pass()
		if err != nil {
			return err
		}
		k, err := trustee.Restore(*from, bp, *keyPath, p, trustee.DefaultKDF)
		if err != nil {
			return err
		}
		printPublic(out, k)
		fmt.Fprintf(out, "restored to %s\n", *keyPath)
		return nil
	}
	return fmt.Errorf("trustee: unknown subcommand %q", args[0])
}

func printPublic(out io.Writer, k *trustee.Keys) {
	sp, hp := k.SigningPublic(), k.HPKEPublic()
	fmt.Fprintf(out, "signing key:  %s\nhpke key:     %s\n", hex.EncodeToString(sp[:]), hex.EncodeToString(hp[:]))
}
