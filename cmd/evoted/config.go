package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"evote/internal/keytext"
)

// option is one line of the configuration table: a flag, its environment
// variable EVOTE_<NAME>, a default, and whether it is a secret (redacted
// when printed; also read from the file named by EVOTE_<NAME>_FILE).
type option struct {
	name   string
	def    string
	help   string
	secret bool
	val    string
	from   string // where the value came from: default, file, env, flag
}

// options is the configuration table of evoted.
func options() []*option {
	return []*option{
		{name: "listen", def: "127.0.0.1:8080", help: "address to serve on (HTTPS with --tls-cert; plain HTTP only on a loopback address or with --insecure-http)"},
		{name: "tls-cert", help: "TLS certificate chain, PEM file (leaf first); reloaded when it changes"},
		{name: "tls-key", help: "TLS private key, PEM file; reloaded when it changes"},
		{name: "insecure-http", def: "false", help: "serve plain HTTP on a non-loopback address (only behind a TLS-terminating reverse proxy, see docs/operator.md)"},
		{name: "data", def: "./evote-data", help: "directory of the embedded database and witness state"},
		{name: "db", def: "", help: "postgres://… DSN; empty: SQLite in the data directory"},
		{name: "dev", def: "false", help: "development mode: generate missing keys, in-process witnesses"},
		{name: "origin-prefix", def: "", help: "log origin prefix; election e's log is <prefix>/<e> (dev default evote.localhost/board)"},
		{name: "authority-key", secret: true, help: "election authority Ed25519 seed, 32 bytes in hex, base64 or base64url"},
		{name: "log-key", secret: true, help: "log checkpoint Ed25519 seed, 32 bytes in hex, base64 or base64url"},
		{name: "log-mldsa-key", secret: true, help: "log checkpoint ML-DSA-65 seed, 32 bytes in hex, base64 or base64url; optional"},
		{name: "identity-key", help: "identity service's board key (Ed25519 public key in hex, base64 or base64url); manifests must name it"},
		{name: "audience", def: "evote-ballot-box", help: "the ballot box's name in voting tokens"},
		{name: "witnesses", help: "remote witnesses: name|url|key (hex, base64 or base64url), comma separated"},
		{name: "witness-quorum", def: "0", help: "cosignatures required (0: all)"},
		{name: "dev-witnesses", def: "2", help: "in-process witnesses in dev mode"},
		{name: "audit-every", def: "256", help: "audits are published in a shuffled batch each time the board's size reaches a multiple of this (spec §9.4)"},
		{name: "audit-min-batch", def: "8", help: "fewest waiting audits published as a batch before the close"},
		{name: "snapshot-every", def: "100000", help: "entries between two snapshots of an election's state, from which a restart resumes (spec §7.7.1); one is also taken at shutdown; \"off\": none"},
		{name: "admin-user", help: "bootstrap admin created when no official account exists"},
		{name: "admin-password", secret: true, help: "bootstrap admin's password"},
		{name: "admin-totp", secret: true, help: "bootstrap admin's TOTP secret (base32)"},
		{name: "web-dir", help: "directory of the web client's static files (default: the embedded voting page)"},
		{name: "console-host", help: "host name (as in the Host header) the officials' console is served on, e.g. officials.example.org, so that it has an origin of its own; empty: any host; \"none\": no console"},
		{name: "identity-url", help: "identity service base URL, forwarded by the voting page's /idp/ route and used by the officials' voter-list routes (/api/v1/elections/{id}/voters/prepare, …/submit), and asked for the credentials of the ballot box's dummy and padding rows in deniable re-voting mode (spec §15.16.2; without it such elections are refused)"},
		{name: "trusted-proxies", help: "reverse proxies (addresses or CIDR ranges, comma separated) whose X-Forwarded-For names the client address officials' logins are budgeted by (spec §10.5); empty: none"},
		{name: "config", help: "optional file of EVOTE_NAME=value lines"},
	}
}

func envName(name string) string {
	return "EVOTE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Config is the loaded configuration.
type Config struct {
	opts  []*option
	byKey map[string]*option
}

// loadConfig fills the table: defaults, then the optional file, then the
// environment (and _FILE variants), then flags; later sources win.
// HelpError is returned by loadConfig for --help: Text is the option
// table, which the caller prints (exit status 0).
type HelpError struct{ Text string }

func (h *HelpError) Error() string { return h.Text }

// help returns the usage and the table of options: each flag, its
// environment variable (and _FILE variant for secrets), default and help.
func (c *Config) help() string {
	var b strings.Builder
	b.WriteString(`usage: evoted [options]          the ballot box server
       evoted log-key ELECTION-ID [options]   print an election log's verifier key lines
       evoted backup --out FILE [--db-file PATH] [options]
                                        copy the embedded database while the server runs, and check the copy

Every option is a flag, an environment variable, or a line of the file named
by --config; secrets also read from a file named by <VARIABLE>_FILE.

`)
	for _, o := range c.opts {
		def := o.def
		if def == "" {
			def = "(none)"
		}
		env := envName(o.name)
		if o.secret {
			env += ", " + env + "_FILE"
		}
		fmt.Fprintf(&b, "  --%s\n      %s\n      env %s; default %s\n", o.name, o.help, env, def)
	}
	b.WriteString("  --print-config\n      print the configuration (secrets redacted) and exit\n")
	return b.String()
}

func loadConfig(args []string, getenv func(string) string) (*Config, bool, error) {
	c := &Config{opts: options(), byKey: map[string]*option{}}
	fs := flag.NewFlagSet("evoted", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flagVals := map[string]func() string{}
	for _, o := range c.opts {
		o.val, o.from = o.def, "default"
		c.byKey[o.name] = o
		if o.def == "false" { // a switch: --dev, not --dev=value
			v := fs.Bool(o.name, false, o.help)
			flagVals[o.name] = func() string { return fmt.Sprint(*v) }
			continue
		}
		v := fs.String(o.name, "", o.help)
		flagVals[o.name] = func() string { return *v }
	}
	printCfg := fs.Bool("print-config", false, "print the configuration (secrets redacted) and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, false, &HelpError{Text: c.help()}
		}
		return nil, false, fmt.Errorf("evoted: %w (evoted --help lists the options)", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfgFile := getenv(envName("config"))
	if set["config"] {
		cfgFile = flagVals["config"]()
	}
	if cfgFile != "" {
		if err := c.readFile(cfgFile); err != nil {
			return nil, false, err
		}
	}
	for _, o := range c.opts {
		if v := getenv(envName(o.name)); v != "" {
			o.val, o.from = v, "env"
		}
		if o.secret {
			if p := getenv(envName(o.name) + "_FILE"); p != "" {
				b, err := os.ReadFile(p)
				if err != nil {
					return nil, false, fmt.Errorf("evoted: %s_FILE: %w", envName(o.name), err)
				}
				o.val, o.from = strings.TrimSpace(string(b)), "file "+p
			}
		}
		if set[o.name] {
			o.val, o.from = flagVals[o.name](), "flag"
		}
	}
	return c, *printCfg, nil
}

func (c *Config) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("evoted: config file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("evoted: %s:%d: want NAME=value", path, n)
		}
		found := false
		for _, o := range c.opts {
			if envName(o.name) == strings.TrimSpace(k) {
				o.val, o.from, found = strings.TrimSpace(v), "config file", true
			}
		}
		if !found {
			return fmt.Errorf("evoted: %s:%d: unknown setting %s", path, n, k)
		}
	}
	return sc.Err()
}

func (c *Config) get(name string) string { return c.byKey[name].val }

// positive reads an option that must be a whole number ≥ 1.
func (c *Config) positive(name string) (int, error) {
	n, err := strconv.Atoi(c.get(name))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("evoted: %s must be a whole number ≥ 1, got %q", name, c.get(name))
	}
	return n, nil
}

func (c *Config) bool(name string) bool {
	v := strings.ToLower(c.get(name))
	return v == "1" || v == "true" || v == "yes"
}

// String prints the configuration with secrets redacted.
func (c *Config) String() string {
	var b strings.Builder
	names := make([]string, 0, len(c.opts))
	for _, o := range c.opts {
		names = append(names, o.name)
	}
	sort.Strings(names)
	for _, n := range names {
		o := c.byKey[n]
		v := o.val
		if o.secret && v != "" {
			v = "<redacted>"
		}
		if strings.HasPrefix(v, "postgres") {
			v = redactDSN(v)
		}
		fmt.Fprintf(&b, "%-16s %-28s (%s)\n", n, v, o.from)
	}
	return b.String()
}

// redactDSN hides a password in a postgres://user:password@host DSN.
func redactDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 {
		return dsn
	}
	cred := dsn[scheme+3 : at]
	if u, _, ok := strings.Cut(cred, ":"); ok {
		return dsn[:scheme+3] + u + ":<redacted>" + dsn[at:]
	}
	return dsn
}

// key32 decodes a 32-byte value in hex, base64 or base64url (keytext).
func key32(name, v string) ([]byte, error) {
	b, err := keytext.Decode(v, 32)
	if err != nil {
		return nil, fmt.Errorf("evoted: %s: %w", name, err)
	}
	return b, nil
}
