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

// trusteeCmd is "evote trustee SUBCOMMAND": the trustee's key file
// (init, show, backup, restore) and the trustee's parts of an election
// (keygen, tag-key, mix, decrypt), one method of trusteeRun each. In an
// election in deniable re-voting mode (spec §15.15) keygen also posts the
// tag key (tag-key posts it alone, to resume), and mix first runs the
// trustee's part of every ballot style's filter and roll call.
func trusteeCmd(ctx context.Context, args []string, out io.Writer) error {
	if err := subcommand("trustee", args, []string{"init", "keygen", "tag-key", "mix", "decrypt", "backup", "restore", "show", "witness"}); err != nil {
		return err
	}
	if args[0] == "witness" {
		return witnessCmd(ctx, args[1:], out)
	}
	r := &trusteeRun{sub: args[0], out: out}
	if err := r.parse(args[1:]); err != nil {
		return err
	}
	// The flags a command needs are checked before its passphrase is asked.
	if r.sub == "keygen" || r.sub == "tag-key" || r.sub == "mix" || r.sub == "decrypt" {
		if err := need(r.fs, "key", "server", "election", "fingerprint"); err != nil {
			return err
		}
	}
	// Long waits are announced on standard error, saying on whom.
	r.wait = startWaiting("evote trustee " + r.sub)
	defer r.wait.stop()
	r.opts = trustee.Options{RoundWait: r.roundWait, OnStep: func(s string) {
		fmt.Fprintf(out, "trustee: %s\n", s)
		r.wait.set(trusteeWaits(s, r.roundWait))
	}}
	switch r.sub {
	case "init":
		return r.initKeys()
	case "show":
		return r.show()
	case "keygen":
		return r.keygen(ctx)
	case "tag-key":
		return r.tagKey(ctx)
	case "mix", "decrypt":
		return r.tally(ctx)
	case "backup":
		return r.backup()
	case "restore":
		return r.restore()
	}
	return fmt.Errorf("trustee: unknown subcommand %q", r.sub)
}

// trusteeRun is one run of a trustee subcommand: its flags, and the
// options and waiting notice of a run against the board.
type trusteeRun struct {
	sub  string
	out  io.Writer
	fs   *flag.FlagSet
	opts trustee.Options
	wait *waiting

	keyPath, passFile, server, electionID, fingerprint, evidence string
	to, from, backupPass, logKey                                 string
	roundWait                                                    time.Duration
}

func (r *trusteeRun) parse(args []string) error {
	fs := flag.NewFlagSet("trustee "+r.sub, flag.ContinueOnError)
	fs.StringVar(&r.keyPath, "key", "", "the trustee's key file")
	fs.StringVar(&r.passFile, "passphrase-file", "", "file holding the key file's passphrase (else EVOTE_PASSPHRASE)")
	fs.StringVar(&r.server, "server", "", "ballot box base URL, e.g. http://127.0.0.1:8080")
	fs.StringVar(&r.electionID, "election", "", "election id")
	fs.DurationVar(&r.roundWait, "round-wait", 10*time.Minute, "how long to wait for the other trustees before reporting a round done (nothing is decided on a timer: deadlines are the officials' entries on the board)")
	fs.StringVar(&r.fingerprint, "fingerprint", "", "the election's fingerprint as the officials published it (required for keygen, mix and decrypt): the log key, witnesses and quorum come from the manifest that has it")
	fs.StringVar(&r.evidence, "evidence", "", "where to write the evidence if the board contradicts its witnessed checkpoints (default: evidence-<time>.json beside the key file)")
	fs.StringVar(&r.to, "to", "", "backup: where to write the backup")
	fs.StringVar(&r.from, "from", "", "restore: the backup to restore")
	fs.StringVar(&r.backupPass, "backup-passphrase-file", "", "file holding the backup's passphrase (else EVOTE_BACKUP_PASSPHRASE)")
	fs.StringVar(&r.logKey, "log-key", "", "file with the log's verifier key, obtained out of band (optional: it must equal the one the manifest pins)")
	r.fs = fs
	return fs.Parse(args)
}

// pass reads the key file's passphrase.
func (r *trusteeRun) pass() ([]byte, error) {
	return secret(r.passFile, "EVOTE_PASSPHRASE", "Key file passphrase")
}

// load opens the key file, returning the keys and its passphrase.
func (r *trusteeRun) load() (*trustee.Keys, []byte, error) {
	if err := need(r.fs, "key"); err != nil {
		return nil, nil, err
	}
	// A missing key file is named before its passphrase is asked.
	if _, err := os.Stat(r.keyPath); err != nil {
		return nil, nil, err
	}
	p, err := r.pass()
	if err != nil {
		return nil, nil, err
	}
	k, err := trustee.LoadFile(r.keyPath, p)
	return k, p, err
}

// board reaches the election's board, setting the options that check it:
// the fingerprint, the log key if given, where evidence goes.
func (r *trusteeRun) board(ctx context.Context) (*client.Board, error) {
	var err error
	if r.opts.Fingerprint, err = ballot.ParseFingerprint(r.fingerprint); err != nil {
		return nil, err
	}
	if r.logKey != "" {
		t, err := os.ReadFile(r.logKey)
		if err != nil {
			return nil, err
		}
		v, err := verify.ParseLogKey(string(t))
		if err != nil {
			return nil, err
		}
		r.opts.LogKey = &v
	}
	r.opts.OnEvidence = r.saveEvidence
	return client.NewBoard(ctx, client.New(r.server), r.electionID)
}

// saveEvidence writes the proof that the board contradicts its witnessed
// checkpoints, for the officials and observers.
func (r *trusteeRun) saveEvidence(ev *trustee.Evidence) {
	path := r.evidence
	if path == "" {
		path = filepath.Join(filepath.Dir(r.keyPath), fmt.Sprintf("evidence-%d.json", time.Now().Unix()))
	}
	b, _ := json.MarshalIndent(ev, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fmt.Fprintf(r.out, "trustee: the board contradicts its witnessed checkpoints, and the evidence could not be saved: %v\n", err)
		return
	}
	fmt.Fprintf(r.out, "trustee: the board contradicts its witnessed checkpoints: evidence saved in %s; give it to the officials and observers\n", path)
}

func (r *trusteeRun) initKeys() error {
	if err := need(r.fs, "key"); err != nil {
		return err
	}
	p, err := r.pass()
	if err != nil {
		return err
	}
	k, err := trustee.GenerateKeys(nil)
	if err != nil {
		return err
	}
	if err := k.SaveFile(r.keyPath, p, trustee.DefaultKDF, false); err != nil {
		return err
	}
	printPublic(r.out, k)
	fmt.Fprintf(r.out, "Give these two public keys to the election officials for the manifest.\nBack the key file up now: evote trustee backup --key %s --to <offline medium>\n", r.keyPath)
	return nil
}

func (r *trusteeRun) show() error {
	k, _, err := r.load()
	if err != nil {
		return err
	}
	printPublic(r.out, k)
	if k.Share != nil {
		fmt.Fprintf(r.out, "election:     %s\ntrustee:      %d\nverification: %x\n", k.ElectionID, k.Index, k.Share.VerificationKey().Bytes())
	}
	if k.KeygenState != nil {
		fmt.Fprintf(r.out, "key generation under way: run evote trustee keygen again to resume it\n")
	}
	if k.TagKey != nil {
		fmt.Fprintf(r.out, "tag key:      %x (deniable re-voting: kept until the blinding at the close)\n", k.TagKey.Public().Bytes())
	}
	return nil
}

func (r *trusteeRun) keygen(ctx context.Context) error {
	k, p, err := r.load()
	if err != nil {
		return err
	}
	r.wait.set(trusteeWaits("", r.roundWait))
	b, err := r.board(ctx)
	if err != nil {
		return err
	}
	if k.KeygenState != nil {
		fmt.Fprintf(r.out, "resuming key generation from the state saved in %s\n", r.keyPath)
	}
	// The secret polynomials go into the key file before anything is
	// posted, so that running keygen again after a crash resumes.
	r.opts.SaveState = func(state []byte) error {
		saved := *k
		saved.KeygenState = state
		return saved.SaveFile(r.keyPath, p, trustee.DefaultKDF, true)
	}
	done, err := trustee.RunKeygen(ctx, b, k, r.opts)
	if err != nil {
		return err
	}
	if err := done.SaveFile(r.keyPath, p, trustee.DefaultKDF, true); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "key share for trustee %d of %s saved in %s; back it up again now\n", done.Index, done.ElectionID, r.keyPath)
	// In deniable re-voting mode the tag key follows (nothing otherwise).
	if err := r.postTagKey(ctx, b, done, p); err != nil {
		return fmt.Errorf("the key share is saved; the tag key is not posted (run evote trustee tag-key to resume): %w", err)
	}
	return nil
}

// tagKey posts the trustee's tag key of an election in deniable re-voting
// mode, if it is not on the board yet (keygen does it; this resumes it).
func (r *trusteeRun) tagKey(ctx context.Context) error {
	k, p, err := r.load()
	if err != nil {
		return err
	}
	r.wait.set(trusteeWaits(r.sub, r.roundWait))
	b, err := r.board(ctx)
	if err != nil {
		return err
	}
	return r.postTagKey(ctx, b, k, p)
}

// postTagKey runs trustee.RunTagKey with the key file as the durable
// store of a fresh tag key: it is written (atomically) before its entry
// is posted.
func (r *trusteeRun) postTagKey(ctx context.Context, b trustee.Board, k *trustee.Keys, p []byte) error {
	o := r.opts
	o.SaveKeys = func(k *trustee.Keys) error { return k.SaveFile(r.keyPath, p, trustee.DefaultKDF, true) }
	out, err := trustee.RunTagKey(ctx, b, k, o)
	if err != nil {
		return err
	}
	if out.TagKey != nil {
		fmt.Fprintf(r.out, "tag key of trustee %d is on the board and saved in %s; back the key file up again now: the blinding at the close needs it\n", out.Index, r.keyPath)
	}
	return nil
}

// tally is mix or decrypt.
func (r *trusteeRun) tally(ctx context.Context) error {
	k, _, err := r.load()
	if err != nil {
		return err
	}
	r.wait.set(trusteeWaits(r.sub, r.roundWait))
	b, err := r.board(ctx)
	if err != nil {
		return err
	}
	if r.sub == "mix" {
		// One replay for the filter (deniable re-voting mode; nothing
		// otherwise) and the mixes.
		f := trustee.NewFollower(b)
		f.Lean = true
		r.opts.Replay = f
		if err := trustee.RunFilter(ctx, b, k, r.opts); err != nil {
			return err
		}
		return trustee.RunMix(ctx, b, k, r.opts)
	}
	return trustee.RunDecrypt(ctx, b, k, r.opts)
}

func (r *trusteeRun) backup() error {
	k, _, err := r.load()
	if err != nil {
		return err
	}
	if err := need(r.fs, "to"); err != nil {
		return err
	}
	bp, err := secret(r.backupPass, "EVOTE_BACKUP_PASSPHRASE", "Backup passphrase")
	if err != nil {
		return err
	}
	if err := k.Backup(r.to, bp, trustee.DefaultKDF); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "backup written to %s (sealed under the backup passphrase)\n", r.to)
	return nil
}

func (r *trusteeRun) restore() error {
	if err := need(r.fs, "from", "key"); err != nil {
		return err
	}
	bp, err := secret(r.backupPass, "EVOTE_BACKUP_PASSPHRASE", "Backup passphrase")
	if err != nil {
		return err
	}
	p, err := r.pass()
	if err != nil {
		return err
	}
	k, err := trustee.Restore(r.from, bp, r.keyPath, p, trustee.DefaultKDF)
	if err != nil {
		return err
	}
	printPublic(r.out, k)
	fmt.Fprintf(r.out, "restored to %s\n", r.keyPath)
	return nil
}

func printPublic(out io.Writer, k *trustee.Keys) {
	sp, hp := k.SigningPublic(), k.HPKEPublic()
	fmt.Fprintf(out, "signing key:  %s\nhpke key:     %s\n", hex.EncodeToString(sp[:]), hex.EncodeToString(hp[:]))
}
