// Command evote is the command-line tool of every party of an evote
// election except the server itself:
//
//	evote demo [--voters N] [--db postgres://…] [--record DIR] [--coercion]
//	evote bench-election [--ballots N] [--db postgres://…]
//	evote trustee init|keygen|tag-key|mix|decrypt|backup|restore
//	evote official login|create|open|close|tally|act
//	evote station lookup|mark
//	evote vote …, evote ballot check-receipt|check-audit
//
// Run "evote help" or any subcommand with -h for its flags. Secrets
// (passphrases, passwords) are read from a file named by a flag or from an
// environment variable, never from the command line.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"

	"golang.org/x/term"
)

const usage = `evote: end-to-end verifiable voting

  evote demo [--voters N] [--db DSN] [--record DIR] [--coercion]   whole election on this machine (--coercion: deniable re-voting)
  evote bench-election [--ballots N] [--db DSN] [--contests C] [--choices K]   measure a whole election
  evote demo people       [--constituencies A,B --election-day D]   a development identity service's simulated people
  evote keys              --out DIR [--admin NAME]    every server key, as systemd credentials
  evote trustee init      --key FILE                  make a trustee's keys
  evote trustee keygen    --key FILE --server URL --election ID --fingerprint FP
                          (run it again after a crash: it resumes; posts the tag key in deniable re-voting mode)
  evote trustee tag-key   --key FILE --server URL --election ID --fingerprint FP   (deniable re-voting, before open)
  evote trustee mix       --key FILE --server URL --election ID --fingerprint FP
  evote trustee decrypt   --key FILE --server URL --election ID --fingerprint FP
  evote trustee backup    --key FILE --to PATH
  evote trustee restore   --from PATH --key FILE
  evote trustee show      --key FILE
  evote official login    --server URL --user NAME [--session FILE]
  evote official create   --server URL --manifest FILE
  evote official show-manifest --manifest FILE [--lang ru]   fingerprint, styles, numbered candidates
  evote official act      --server URL --election ID ACTION
  evote official import-voters --server URL --idp URL --election ID --official ID --official-key FILE --csv FILE
  evote official register-polling --server URL --idp URL --election ID --official ID --official-key FILE
                          --station ID=HEXKEY… --polling-official ID=HEXKEY…   (before open)
  evote official open|close|tally --server URL --election ID
  evote station lookup    --idp URL --election ID --station ID --station-key FILE --official ID --official-key FILE --pin PIN
  evote station mark      --server URL --idp URL --election ID --fingerprint FP --station ID --station-key FILE
                          --official ID --official-key FILE --pin PIN   (the voter voted in person: online ballots void)
  evote station serve     --server URL --idp URL --election ID --fingerprint FP --station ID --station-key FILE
                          --official ID --official-key FILE [--listen 127.0.0.1:8088]   the desk page for the station's staff
  evote vote              --server URL --idp URL --election ID --fingerprint FP …
                          (deniable re-voting: prints the receipt number, waits [--wait 10m] for the ballot on the board)
  evote ballot check-receipt --server URL --election ID --code TRACKING-CODE --fingerprint FP --receipt FILE
  evote ballot check-audit   --server URL --election ID --code TRACKING-CODE --fingerprint FP [--ballot FILE]
  evote ballot check-row    --server URL --election ID --number RECEIPT-NUMBER --fingerprint FP   (deniable re-voting)
  evote record export     --server URL --fingerprint FP --out DIR|FILE.tar   the public record, verified
  evote check-client      --server URL --election ID     served voting page = manifest's client hash?
  evote witness --name NAME --key FILE --state FILE --log-key FILE…|--log-keys-dir DIR [--listen ADDR]
  evote official sample-manifest --election ID --identity-key HEX --trustee SIGN:HPKE … --log-key FILE --witness NAME:HEX …

FP is the election's fingerprint (ABCD-EFGH-… or 64 hex digits), as the
officials published it: every check takes the log key, the witnesses and
their quorum from the manifest that has it.

Passphrases: --passphrase-file FILE, or EVOTE_PASSPHRASE, or typed on
standard input.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	reportChildPeak()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "evote:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	case "demo":
		return demoCmd(ctx, args[1:], out)
	case "bench-election":
		return benchCmd(ctx, args[1:], out)
	case "trustee":
		return trusteeCmd(ctx, args[1:], out)
	case "official":
		return officialCmd(ctx, args[1:], out)
	case "station":
		return stationCmd(ctx, args[1:], out)
	case "witness":
		return witnessCmd(ctx, args[1:], out)
	case "vote":
		return voteCmd(ctx, args[1:], out)
	case "ballot":
		return ballotCmd(ctx, args[1:], out)
	case "check-client":
		return checkClientCmd(ctx, args[1:], out)
	case "record":
		return recordCmd(ctx, args[1:], out)
	case "keys":
		return keysCmd(args[1:], out)
	}
	return fmt.Errorf("unknown command %q (try evote help)", args[0])
}

// secret reads a secret from the file named by path, else from the
// environment variable env, else one line of standard input (prompting on
// standard error).
func secret(path, env, prompt string) ([]byte, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if v := os.Getenv(env); v != "" {
		return []byte(v), nil
	}
	var line string
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		// A terminal: read without echo, so the secret is not on screen.
		fmt.Fprintf(os.Stderr, "%s: ", prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", strings.ToLower(prompt), err)
		}
		line = string(b)
	} else {
		fmt.Fprintf(os.Stderr, "%s (from standard input; prefer --passphrase-file or %s): ", prompt, env)
		l, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && l == "" {
			return nil, fmt.Errorf("reading %s: %w", strings.ToLower(prompt), err)
		}
		line = l
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty " + strings.ToLower(prompt))
	}
	return []byte(line), nil
}

// subcommand checks args[0] against a command group's subcommands (the
// first listed in the message, want; the rest accepted quietly, such as
// the official's actions, also reached through "act"), so that a typo is
// named before any flag is read or any server reached.
func subcommand(group string, args []string, want []string, quiet ...string) error {
	list := want[len(want)-1]
	if len(want) > 1 {
		list = strings.Join(want[:len(want)-1], ", ") + " or " + list
	}
	if len(args) == 0 {
		return fmt.Errorf("%s: want %s", group, list)
	}
	if slices.Contains(want, args[0]) || slices.Contains(quiet, args[0]) {
		return nil
	}
	return fmt.Errorf("%s: unknown subcommand %q (want %s)", group, args[0], list)
}

func need(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if f := fs.Lookup(n); f == nil || f.Value.String() == "" {
			return fmt.Errorf("%s: --%s is required", fs.Name(), n)
		}
	}
	return nil
}
