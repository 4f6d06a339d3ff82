package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	qrcode "github.com/skip2/go-qrcode"

	"evote/official"
)

// keysCmd makes every secret key the servers need, each in its own file
// (0600) in the layout the systemd units load as credentials
// (/etc/evote/credentials), and prints each public form where it is
// needed. It never overwrites a file.
//
//	evote keys --out /etc/evote/credentials [--admin admin] [--issuer evote]
func keysCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	dir := fs.String("out", "", "directory for the key files (made 0700 if missing), e.g. /etc/evote/credentials")
	admin := fs.String("admin", "admin", "the first official account's name (EVOTE_ADMIN_USER)")
	issuer := fs.String("issuer", "evote", "the name the authenticator app shows for the admin's codes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("keys: --out DIR is required (usage: evote keys --out /etc/evote/credentials)")
	}
	k, err := newKeySet(*admin, *issuer)
	if err != nil {
		return err
	}
	if err := k.write(*dir); err != nil {
		return err
	}
	k.print(out, *dir)
	return nil
}

// keySet is every key of one installation.
type keySet struct {
	authority, log  []byte // Ed25519 seeds (evoted)
	idpBoard        []byte // Ed25519 seed: the identity service's board key
	idpSigning      []byte // Ed25519 seed: its voting-token key
	idpPseudonym    []byte // 32 bytes: its pseudonym key
	listOfficial    []byte // Ed25519 seed: the list official's key
	adminPassword   string
	adminTOTP       string // base32
	adminURI        string // otpauth:// URI (holds the TOTP secret)
	adminName, issr string
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := rand.Read(b)
	return b, err
}

func newKeySet(admin, issuer string) (*keySet, error) {
	k := &keySet{adminName: admin, issr: issuer}
	for _, p := range []*[]byte{&k.authority, &k.log, &k.idpBoard, &k.idpSigning, &k.idpPseudonym, &k.listOfficial} {
		b, err := randomBytes(32)
		if err != nil {
			return nil, err
		}
		*p = b
	}
	pw, err := randomBytes(18)
	if err != nil {
		return nil, err
	}
	k.adminPassword = base64.RawURLEncoding.EncodeToString(pw)
	t, err := randomBytes(official.TOTPSecretSize)
	if err != nil {
		return nil, err
	}
	k.adminTOTP = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(t)
	k.adminURI = official.TOTPURI(issuer, admin, k.adminTOTP)
	return k, nil
}

// files are the key files: name, contents. The names are those the units'
// LoadCredential= lines read.
func (k *keySet) files() ([][2]string, error) {
	b64 := base64.StdEncoding.EncodeToString
	png, err := qrcode.Encode(k.adminURI, qrcode.Medium, 256)
	if err != nil {
		return nil, err
	}
	return [][2]string{
		{"authority-key", b64(k.authority)},
		{"log-key", b64(k.log)},
		{"admin-password", k.adminPassword},
		{"admin-totp", k.adminTOTP},
		{"admin-totp.uri", k.adminURI},
		{"admin-totp.png", string(png)},
		{"idp-board-key", hex.EncodeToString(k.idpBoard)},
		{"idp-signing-keys", hex.EncodeToString(k.idpSigning)},
		{"idp-pseudonym-key", hex.EncodeToString(k.idpPseudonym)},
		{"list-official.key", hex.EncodeToString(k.listOfficial)},
	}, nil
}

// write writes every file, or none if any exists already.
func (k *keySet) write(dir string) error {
	fs, err := k.files()
	if err != nil {
		return err
	}
	for _, f := range fs {
		if _, err := os.Lstat(filepath.Join(dir, f[0])); err == nil {
			return fmt.Errorf("keys: %s exists: keys are never overwritten (move the old ones away first)", filepath.Join(dir, f[0]))
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	for _, f := range fs {
		data := f[1]
		if f[0] != "admin-totp.png" {
			data += "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(data), 0o600); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
	}
	return nil
}

func pubOf(seed []byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

// print says where each public form goes; no secret is printed.
func (k *keySet) print(w io.Writer, dir string) {
	id := pubOf(k.idpBoard)
	fmt.Fprintf(w, `Keys written to %[1]s (each 0600; back the directory up offline, twice, now).

evoted (/etc/evote/evoted.conf):
  EVOTE_IDENTITY_KEY=%[2]s
  EVOTE_ADMIN_USER=%[3]s
  secrets: authority-key, log-key, admin-password, admin-totp (systemd credentials, evoted.service)
  the log key line for an election, for the manifest and the witnesses:
    evoted log-key ELECTION-ID --config /etc/evote/evoted.conf > log.pub

officials (evote official sample-manifest):
  --identity-key %[4]s

the first official, %[3]s:
  password in %[1]s/admin-password
  authenticator: scan %[1]s/admin-totp.png (or enter %[1]s/admin-totp.uri)

evote-idp (/etc/evote/evote-idp.env):
  EVOTE_IDP_LIST_OFFICIALS=list-official-1=%[5]s
  secrets: idp-board-key, idp-signing-keys, idp-pseudonym-key (systemd credentials, evote-idp.service)

the list official (evote official import-voters --official list-official-1):
  --official-key %[1]s/list-official.key   (give it to the list official, then delete it here)
`, dir, base64.StdEncoding.EncodeToString(id), k.adminName, hex.EncodeToString(id), hex.EncodeToString(pubOf(k.listOfficial)))
}
