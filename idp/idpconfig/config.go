// Package idpconfig reads the identity service's configuration from the
// environment (one table of options, validated, secrets redacted when
// printed, every secret also readable from a file named by NAME_FILE) and
// wires a runnable service: register adapter, SMS sender, store, token
// issuer, officials, HTTP handler. The caller supplies the bulletin-board
// client. In production mode it refuses development stand-ins (simulated
// register, log sender) and every missing key: there are no default secrets.
package idpconfig

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"evote/ballot"
	"evote/idp"
	"evote/internal/keytext"
)

// Config is the identity service's configuration.
type Config struct {
	Mode string // "production" or "development"

	// Revote, set by the caller from the board (not an option), runs the
	// service in deniable re-voting mode (spec §15.16).
	Revote *idp.RevoteConfig

	ElectionID  string
	ContextHash [32]byte
	// Fingerprint is the election's fingerprint as the officials
	// published it (spec §9.1.1): with it the service reads the manifest,
	// the election key and the context hash from a witnessed replay of the
	// board's beginning instead of the ballot box's word (spec §8.12).
	Fingerprint  ballot.ExpectedFingerprint
	ElectionDay  time.Time
	VotingOpens  time.Time
	VotingCloses time.Time

	PseudonymKey []byte               // secret, 32 bytes
	SigningKeys  []ed25519.PrivateKey // secret; the last one signs, earlier ones stay in the key set
	TOTPKey      []byte               // secret, 32 bytes, optional

	Issuer   string
	Audience string
	TokenTTL time.Duration

	Registry           string // "simulated" or "http"
	RegistryURL        string
	RegistryClientID   string
	RegistryCert       string // client certificate file (PEM)
	RegistryKey        string // client key file (PEM)
	RegistryCA         string // trusted roots file (PEM)
	RegistryTimeout    time.Duration
	SimSeed            string
	SimConstituencies  []string
	SimPerConstituency int

	SMS         string // "log" or "gateway"
	SMSURL      string
	SMSAPIKey   string // secret
	SMSSenderID string

	DBDriver string // "sqlite" or "pgx"
	DBDSN    string // secret (may hold a password)

	Listen             string
	TLSCert            string // certificate chain file (PEM), reloaded when it changes
	TLSKey             string // its private key file (PEM)
	InsecureHTTP       bool   // plain HTTP on a non-loopback address (behind a TLS-terminating proxy)
	TrustedProxies     []string
	AccessLogRetention time.Duration

	// The bulletin board (used by the standalone binary; Build takes a
	// board client instead).
	BoardURL string
	BoardKey ed25519.PrivateKey // secret: the identity service's board signing key

	// Abuse are the per-address and per-PIN limits (zero: idp's defaults).
	Abuse idp.AbuseConfig

	// Officials: id=hex Ed25519 public key, comma-separated.
	Stations         map[string]ed25519.PublicKey
	PollingOfficials map[string]ed25519.PublicKey
	ListOfficials    map[string]ed25519.PublicKey
}

// option is one row of the configuration table.
type option struct {
	env    string
	secret bool
	help   string
	set    func(c *Config, v string) error
}

func parseTime(dst *time.Time) func(*Config, string) error {
	return func(_ *Config, v string) error {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return errors.New("want RFC 3339 or YYYY-MM-DD")
			}
		}
		*dst = t.UTC()
		return nil
	}
}

// decodeKey decodes n bytes in hex, base64 or base64url (keytext: one key
// encoding accepted by every tool).
func decodeKey(v string, n int) ([]byte, error) {
	return keytext.Decode(v, n)
}

func keyMap(v string) (map[string]ed25519.PublicKey, error) {
	m := map[string]ed25519.PublicKey{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, k, ok := strings.Cut(item, "=")
		b, err := keytext.Decode(k, ed25519.PublicKeySize)
		if !ok || err != nil || id == "" {
			return nil, errors.New("want id=<public key: 64 hex digits, or base64 or base64url>, comma-separated")
		}
		m[id] = b
	}
	return m, nil
}

func (c *Config) table() []option {
	dur := func(dst *time.Duration) func(*Config, string) error {
		return func(_ *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return errors.New("want a positive duration like 15m")
			}
			*dst = d
			return nil
		}
	}
	str := func(dst *string) func(*Config, string) error {
		return func(_ *Config, v string) error { *dst = v; return nil }
	}
	return []option{
		{"EVOTE_IDP_MODE", false, "production or development", func(c *Config, v string) error {
			if v != "production" && v != "development" {
				return errors.New("want production or development")
			}
			c.Mode = v
			return nil
		}},
		{"EVOTE_IDP_ELECTION_ID", false, "election id", str(&c.ElectionID)},
		{"EVOTE_IDP_CONTEXT_HASH", false, "election context hash: 64 hex digits, or base64url as the ballot box's API shows it (or base64)", func(c *Config, v string) error {
			// Hex, or the API's base64url, or base64.
			b, err := decodeKey(v, 32)
			copy(c.ContextHash[:], b)
			return err
		}},
		{"EVOTE_IDP_FINGERPRINT", false, "the election's fingerprint as the officials published it (ABCD-EFGH-…); the manifest, the election key and EVOTE_IDP_CONTEXT_HASH are then checked against a witnessed replay of the board (required for deniable re-voting)", func(c *Config, v string) (err error) {
			c.Fingerprint, err = ballot.ParseFingerprint(v)
			return err
		}},
		{"EVOTE_IDP_ELECTION_DAY", false, "YYYY-MM-DD", parseTime(&c.ElectionDay)},
		{"EVOTE_IDP_VOTING_OPENS", false, "RFC 3339 time", parseTime(&c.VotingOpens)},
		{"EVOTE_IDP_VOTING_CLOSES", false, "RFC 3339 time", parseTime(&c.VotingCloses)},
		{"EVOTE_IDP_PSEUDONYM_KEY", true, "32 bytes (hex, base64 or base64url)", func(c *Config, v string) (err error) {
			c.PseudonymKey, err = decodeKey(v, 32)
			return err
		}},
		{"EVOTE_IDP_SIGNING_KEYS", true, "Ed25519 seeds (hex, base64 or base64url), comma-separated, current last", func(c *Config, v string) error {
			c.SigningKeys = nil
			for _, s := range strings.Split(v, ",") {
				b, err := decodeKey(s, ed25519.SeedSize)
				if err != nil {
					return err
				}
				c.SigningKeys = append(c.SigningKeys, ed25519.NewKeyFromSeed(b))
			}
			return nil
		}},
		{"EVOTE_IDP_TOTP_KEY", true, "32 bytes (hex, base64 or base64url); enables authenticator apps", func(c *Config, v string) (err error) {
			c.TOTPKey, err = decodeKey(v, 32)
			return err
		}},
		{"EVOTE_IDP_ISSUER", false, "token issuer URL", str(&c.Issuer)},
		{"EVOTE_IDP_AUDIENCE", false, "token audience (the ballot box)", str(&c.Audience)},
		{"EVOTE_IDP_TOKEN_TTL", false, "token lifetime", dur(&c.TokenTTL)},
		{"EVOTE_IDP_REGISTRY", false, "simulated or http", str(&c.Registry)},
		{"EVOTE_IDP_REGISTRY_URL", false, "person-check endpoint (https)", str(&c.RegistryURL)},
		{"EVOTE_IDP_REGISTRY_CLIENT_ID", false, "X-Road client id", str(&c.RegistryClientID)},
		{"EVOTE_IDP_REGISTRY_CERT", false, "client certificate file (PEM)", str(&c.RegistryCert)},
		{"EVOTE_IDP_REGISTRY_KEY", false, "client key file (PEM)", str(&c.RegistryKey)},
		{"EVOTE_IDP_REGISTRY_CA", false, "trusted roots file (PEM)", str(&c.RegistryCA)},
		{"EVOTE_IDP_REGISTRY_TIMEOUT", false, "per-attempt timeout", dur(&c.RegistryTimeout)},
		{"EVOTE_IDP_SIM_SEED", false, "simulated register seed", str(&c.SimSeed)},
		{"EVOTE_IDP_SIM_CONSTITUENCIES", false, "comma-separated constituency codes", func(c *Config, v string) error {
			c.SimConstituencies = splitList(v)
			return nil
		}},
		{"EVOTE_IDP_SIM_PER_CONSTITUENCY", false, "synthetic people per constituency", func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return errors.New("want a positive integer")
			}
			c.SimPerConstituency = n
			return nil
		}},
		{"EVOTE_IDP_SMS", false, "log or gateway", str(&c.SMS)},
		{"EVOTE_IDP_SMS_URL", false, "SMS gateway endpoint (https)", str(&c.SMSURL)},
		{"EVOTE_IDP_SMS_API_KEY", true, "SMS gateway API key", str(&c.SMSAPIKey)},
		{"EVOTE_IDP_SMS_SENDER_ID", false, "SMS sender id", str(&c.SMSSenderID)},
		{"EVOTE_IDP_DB_DRIVER", false, "sqlite or pgx", str(&c.DBDriver)},
		{"EVOTE_IDP_DB_DSN", true, "database DSN", str(&c.DBDSN)},
		{"EVOTE_IDP_LISTEN", false, "listen address (HTTPS with EVOTE_IDP_TLS_CERT; plain HTTP only on a loopback address or with EVOTE_IDP_INSECURE_HTTP)", str(&c.Listen)},
		{"EVOTE_IDP_TLS_CERT", false, "TLS certificate chain, PEM file (leaf first); reloaded when it changes", str(&c.TLSCert)},
		{"EVOTE_IDP_TLS_KEY", false, "TLS private key, PEM file; reloaded when it changes", str(&c.TLSKey)},
		{"EVOTE_IDP_INSECURE_HTTP", false, "true: plain HTTP on a non-loopback address (only behind a TLS-terminating reverse proxy)", func(c *Config, v string) (err error) {
			c.InsecureHTTP, err = strconv.ParseBool(v)
			return err
		}},
		{"EVOTE_IDP_CLIENT_RATE", false, "voters' sign-in requests per second per client address (default 1)", positiveFloat(&c.Abuse.ClientRate)},
		{"EVOTE_IDP_CLIENT_BURST", false, "burst of sign-in requests per client address (default 10)", positiveFloat(&c.Abuse.ClientBurst)},
		{"EVOTE_IDP_CLIENT_ANSWERS", false, "failed first factors a client address is told about per window before its answers are unconfirmed (default 10)", positiveInt(&c.Abuse.ClientAnswers)},
		{"EVOTE_IDP_CLIENT_ANSWER_WINDOW", false, "that window (default 15m)", dur(&c.Abuse.ClientAnswerWindow)},
		{"EVOTE_IDP_PIN_ANSWERS", false, "answers per PIN that may tell whether details match (default 5)", positiveInt(&c.Abuse.PINAnswers)},
		{"EVOTE_IDP_PIN_ANSWER_INTERVAL", false, "one more such answer per this interval (default 15m)", dur(&c.Abuse.PINAnswerInterval)},
		{"EVOTE_IDP_PIN_CODES", false, "codes texted per PIN (default 5)", positiveInt(&c.Abuse.PINCodes)},
		{"EVOTE_IDP_PIN_CODE_INTERVAL", false, "one more code per this interval (default 15m)", dur(&c.Abuse.PINCodeInterval)},
		{"EVOTE_IDP_OFFICIAL_MAX_FAILURES", false, "refused official requests from an address before it is locked out of the officials' endpoints (default 10)", positiveInt(&c.Abuse.ClientMaxFailures)},
		{"EVOTE_IDP_OFFICIAL_LOCKOUT", false, "that lockout's window (default 15m)", dur(&c.Abuse.ClientLockout)},
		{"EVOTE_IDP_TRUSTED_PROXIES", false, "comma-separated proxy addresses", func(c *Config, v string) error {
			c.TrustedProxies = splitList(v)
			return nil
		}},
		{"EVOTE_IDP_ACCESS_LOG_RETENTION", false, "access-log retention", dur(&c.AccessLogRetention)},
		{"EVOTE_IDP_BOARD_URL", false, "ballot box / board base URL (standalone binary)", str(&c.BoardURL)},
		{"EVOTE_IDP_BOARD_KEY", true, "board signing key, Ed25519 seed (hex, base64 or base64url; standalone binary)", func(c *Config, v string) error {
			b, err := decodeKey(v, ed25519.SeedSize)
			if err == nil {
				c.BoardKey = ed25519.NewKeyFromSeed(b)
			}
			return err
		}},
		{"EVOTE_IDP_STATIONS", false, "polling stations: id=key,…", func(c *Config, v string) (err error) {
			c.Stations, err = keyMap(v)
			return err
		}},
		{"EVOTE_IDP_POLLING_OFFICIALS", false, "officials who mark in-person votes: id=key,…", func(c *Config, v string) (err error) {
			c.PollingOfficials, err = keyMap(v)
			return err
		}},
		{"EVOTE_IDP_LIST_OFFICIALS", false, "officials who change the voter list: id=key,…", func(c *Config, v string) (err error) {
			c.ListOfficials, err = keyMap(v)
			return err
		}},
	}
}

func positiveFloat(dst *float64) func(*Config, string) error {
	return func(_ *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || f > 1e9 {
			return errors.New("want a positive number")
		}
		*dst = f
		return nil
	}
}

func positiveInt(dst *int) func(*Config, string) error {
	return func(_ *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errors.New("want a positive integer")
		}
		*dst = n
		return nil
	}
}

// Help is the table of options for --help: each variable (and its _FILE
// variant for secrets) and what it sets.
func Help() string {
	var b strings.Builder
	for _, o := range Defaults().table() {
		name := o.env
		if o.secret {
			name += " (or " + o.env + "_FILE)"
		}
		fmt.Fprintf(&b, "  %s\n      %s\n", name, o.help)
	}
	return b.String()
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Defaults are the non-secret defaults; there are no default secrets.
func Defaults() *Config {
	return &Config{
		Mode: "production", Audience: "evote-ballot-box", TokenTTL: 15 * time.Minute,
		Registry: "http", RegistryTimeout: 3 * time.Second, SMS: "gateway", DBDriver: "pgx",
		Listen: "127.0.0.1:8081", AccessLogRetention: 90 * 24 * time.Hour,
		SimSeed: "evote-demo", SimPerConstituency: 50,
	}
}

// Load reads every option from getenv (os.Getenv in production) onto the
// defaults. For an option marked secret, NAME_FILE names a file holding the
// value (trailing newline trimmed); setting both is an error.
func Load(getenv func(string) string) (*Config, error) {
	c := Defaults()
	var errs []error
	for _, o := range c.table() {
		v := getenv(o.env)
		if o.secret {
			if f := getenv(o.env + "_FILE"); f != "" {
				if v != "" {
					errs = append(errs, fmt.Errorf("idpconfig: both %s and %s_FILE set", o.env, o.env))
					continue
				}
				b, err := os.ReadFile(f)
				if err != nil {
					errs = append(errs, fmt.Errorf("idpconfig: %s_FILE: %w", o.env, err))
					continue
				}
				v = strings.TrimRight(string(b), "\r\n")
			}
		}
		if v == "" {
			continue
		}
		if err := o.set(c, v); err != nil {
			// The value is never echoed: it may be a secret.
			errs = append(errs, fmt.Errorf("idpconfig: %s: %w", o.env, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the configuration as a whole.
func (c *Config) Validate() error {
	var errs []error
	req := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New("idpconfig: "+msg))
		}
	}
	req(c.ElectionID != "", "EVOTE_IDP_ELECTION_ID is required")
	req(!c.ElectionDay.IsZero(), "EVOTE_IDP_ELECTION_DAY is required")
	req(c.ContextHash != [32]byte{}, "EVOTE_IDP_CONTEXT_HASH is required")
	req(len(c.PseudonymKey) == 32, "EVOTE_IDP_PSEUDONYM_KEY is required (no default secrets)")
	req(len(c.SigningKeys) > 0, "EVOTE_IDP_SIGNING_KEYS is required (no default secrets)")
	req(c.Issuer != "", "EVOTE_IDP_ISSUER is required")
	req(c.DBDSN != "", "EVOTE_IDP_DB_DSN is required")
	req(c.DBDriver == "sqlite" || c.DBDriver == "pgx", "EVOTE_IDP_DB_DRIVER must be sqlite or pgx")
	switch c.Registry {
	case "http":
		req(strings.HasPrefix(c.RegistryURL, "https://"), "EVOTE_IDP_REGISTRY_URL must be https")
		req(c.RegistryCert != "" && c.RegistryKey != "" && c.RegistryCA != "", "the http register needs EVOTE_IDP_REGISTRY_CERT, _KEY and _CA (mutual TLS)")
		req(c.RegistryClientID != "", "EVOTE_IDP_REGISTRY_CLIENT_ID is required")
	case "simulated":
		req(c.Mode == "development", "the simulated register is for development mode only")
		req(len(c.SimConstituencies) > 0, "EVOTE_IDP_SIM_CONSTITUENCIES is required")
	default:
		req(false, "EVOTE_IDP_REGISTRY must be http or simulated")
	}
	switch c.SMS {
	case "gateway":
		req(strings.HasPrefix(c.SMSURL, "https://") && c.SMSAPIKey != "" && c.SMSSenderID != "", "the SMS gateway needs an https URL, an API key and a sender id")
	case "log":
		req(c.Mode == "development", "the log SMS sender is for development mode only")
	default:
		req(false, "EVOTE_IDP_SMS must be gateway or log")
	}
	if c.Mode == "production" {
		req(len(c.Stations) > 0 && len(c.PollingOfficials) > 0 && len(c.ListOfficials) > 0, "production needs stations, polling officials and list officials")
	}
	if !c.VotingOpens.IsZero() && !c.VotingCloses.IsZero() {
		req(c.VotingOpens.Before(c.VotingCloses), "voting must open before it closes")
	}
	return errors.Join(errs...)
}

// String prints the configuration with every secret redacted.
func (c Config) String() string {
	var lines []string
	add := func(k string, v any) { lines = append(lines, fmt.Sprintf("%s=%v", k, v)) }
	red := func(set bool) string {
		if set {
			return "<redacted>"
		}
		return "<unset>"
	}
	add("mode", c.Mode)
	add("election_id", c.ElectionID)
	add("context_hash", hex.EncodeToString(c.ContextHash[:]))
	if !c.Fingerprint.IsZero() {
		add("fingerprint", c.Fingerprint)
	} else {
		add("fingerprint", "<unset>")
	}
	add("election_day", c.ElectionDay.Format(time.DateOnly))
	add("pseudonym_key", red(len(c.PseudonymKey) > 0))
	add("signing_keys", fmt.Sprintf("%d keys <redacted>", len(c.SigningKeys)))
	add("totp_key", red(len(c.TOTPKey) > 0))
	add("issuer", c.Issuer)
	add("audience", c.Audience)
	add("token_ttl", c.TokenTTL)
	add("registry", c.Registry)
	add("registry_url", c.RegistryURL)
	add("sms", c.SMS)
	add("sms_api_key", red(c.SMSAPIKey != ""))
	add("db_driver", c.DBDriver)
	add("db_dsn", red(c.DBDSN != ""))
	add("listen", c.Listen)
	add("tls_cert", c.TLSCert)
	add("insecure_http", c.InsecureHTTP)
	add("client_rate", c.Abuse.ClientRate)
	add("client_burst", c.Abuse.ClientBurst)
	add("board_url", c.BoardURL)
	add("board_key", red(len(c.BoardKey) > 0))
	add("officials", fmt.Sprintf("%d stations, %d polling, %d list", len(c.Stations), len(c.PollingOfficials), len(c.ListOfficials)))
	return strings.Join(lines, "\n")
}

// GoString redacts like String.
func (c Config) GoString() string { return c.String() }
