package trustee

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"evote/crypto/group"
	"evote/crypto/threshold"
	"evote/internal/atomicfile"
	"evote/internal/wire"
	"evote/tally/revote"
)

// Key file format (version 1). Everything before the ciphertext is the
// header; it is the AEAD's associated data, so a changed parameter, salt or
// nonce makes the file fail to open just as a changed ciphertext does.
//
//	magic    "evote-trustee-key" (17 bytes)
//	u8(1)    version
//	u32      Argon2id passes (time)
//	u32      Argon2id memory, KiB
//	u8       Argon2id lanes (threads)
//	salt     16 random bytes
//	nonce    24 random bytes (XChaCha20-Poly1305)
//	ct       XChaCha20-Poly1305(key, nonce, plaintext, aad = header)
//
// key = Argon2id(passphrase, salt, passes, memory, lanes, 32 bytes)
// (RFC 9106). The plaintext is
//
//	u8(v) || string(election_id) || u32(index) || signing seed[32]
//	      || HPKE seed[32] || u8(has share) [|| Scalar(x_j)]
//	      || u8(has state) [|| u32(len) || state]           (v ≥ 2)
//	      || u8(1) || Scalar(z_j)                            (v = 3)
//
// election_id is empty and index 0 until key generation has run; the share
// is present after it. The state is the trustee's saved key-generation
// state (threshold.Trustee.MarshalState: its secret polynomials), present
// while key generation is under way so that a run that crashed can resume
// (spec/13-trustee-tool.md §13.4). z_j is the trustee's tag key in an
// election in deniable re-voting mode (spec §15.1, §15.15), kept from
// before voting opens until the blinding at the close. A writer writes the
// lowest version that holds the content: 3 with a tag key, else 2, so that
// a file without one stays readable by earlier versions of the tool.
// Plaintext version 1, written by earlier versions, is version 2 without
// the has-state byte; it is still read.
const (
	fileMagic   = "evote-trustee-key"
	fileVersion = 1
	saltSize    = 16
	headerSize  = len(fileMagic) + 1 + 4 + 4 + 1 + saltSize + chacha20poly1305.NonceSizeX
	plainFormat = 2
	// plainFormatV1 is the earlier plaintext version, without the state.
	plainFormatV1 = 1
	// plainFormatTagKey is the version that holds a tag key.
	plainFormatTagKey = 3
	// maxFileSize bounds what Open reads: a key file is a few hundred
	// bytes, or up to about 4.3 KiB with the largest key-generation state
	// (threshold.MaxStateSize, for n = t = threshold.MaxTrustees, the
	// manifest's bound).
	maxFileSize = 16 << 10
)

// KDFParams are the Argon2id cost parameters written into a key file.
type KDFParams struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultKDF is RFC 9106 §4's second recommended option (t = 3,
// m = 64 MiB, p = 4): a guess at the passphrase costs about a tenth of a
// second and 64 MiB here.
var DefaultKDF = KDFParams{Time: 3, Memory: 64 << 10, Threads: 4}

// Bounds accepted when opening a file, so a tampered header cannot make
// Open spend unbounded memory or time before the AEAD rejects it, nor
// silently weaken the derivation below what any file should use.
const (
	minMemory = 8 << 10 // 8 MiB
	maxMemory = 4 << 20 // 4 GiB
	maxTime   = 64
)

func (p KDFParams) check() error {
	if p.Time < 1 || p.Time > maxTime || p.Memory < minMemory || p.Memory > maxMemory || p.Threads < 1 {
		return fmt.Errorf("%w: argon2id parameters t=%d m=%d KiB p=%d out of range", ErrKeyFile, p.Time, p.Memory, p.Threads)
	}
	return nil
}

var (
	// ErrKeyFile is wrapped by every failure to parse a key file.
	ErrKeyFile = errors.New("trustee: malformed key file")
	// ErrPassphrase means the file does not open under the passphrase:
	// the passphrase is wrong or the file was changed (the two cannot be
	// told apart, by design of the AEAD).
	ErrPassphrase = errors.New("trustee: wrong passphrase or tampered key file")
)

// Keys is a trustee's secret material: the board signing key, the HPKE key
// that opens key-generation shares, and after key generation the election,
// the trustee's index in it and its key share.
type Keys struct {
	SignSeed   [32]byte
	HPKESeed   [32]byte
	ElectionID string
	Index      int
	Share      *threshold.KeyShare // nil before key generation
	// KeygenState is the saved state of a key generation under way
	// (threshold.Trustee.MarshalState), from which RunKeygen resumes after
	// a crash; nil otherwise. It is as secret as the share.
	KeygenState []byte
	// TagKey is the trustee's tag key z_j in an election in deniable
	// re-voting mode (spec §15.1), drawn before voting opens and needed
	// for the blinding at the close (§15.15); nil otherwise. Its Trustee
	// is Index. It is as secret as the share: whoever holds z_j and the
	// other blinders' keys can link the filter's tags.
	TagKey *revote.TagKey

	sign ed25519.PrivateKey
	hpke *threshold.HPKEPrivateKey
}

// GenerateKeys draws fresh signing and HPKE keys from rand (crypto/rand
// when nil).
func GenerateKeys(r io.Reader) (*Keys, error) {
	if r == nil {
		r = rand.Reader
	}
	k := &Keys{}
	if _, err := io.ReadFull(r, k.SignSeed[:]); err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if _, err := io.ReadFull(r, k.HPKESeed[:]); err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	return k, k.derive()
}

func (k *Keys) derive() error {
	k.sign = ed25519.NewKeyFromSeed(k.SignSeed[:])
	h, err := threshold.NewHPKEPrivateKey(k.HPKESeed[:])
	if err != nil {
		return fmt.Errorf("trustee: %w", err)
	}
	if err := h.Public().Validate(); err != nil {
		return fmt.Errorf("trustee: %w", err)
	}
	k.hpke = h
	return nil
}

// SigningKey returns the Ed25519 key that signs the trustee's board entries.
func (k *Keys) SigningKey() ed25519.PrivateKey { return k.sign }

// SigningPublic returns the 32-byte public signing key (for the manifest).
func (k *Keys) SigningPublic() [32]byte { return [32]byte(k.sign.Public().(ed25519.PublicKey)) }

// HPKE returns the HPKE private key.
func (k *Keys) HPKE() *threshold.HPKEPrivateKey { return k.hpke }

// HPKEPublic returns the HPKE public key (for the manifest).
func (k *Keys) HPKEPublic() threshold.HPKEPublicKey { return k.hpke.Public() }

// plainVersion is the lowest plaintext version that holds k.
func (k *Keys) plainVersion() uint8 {
	if k.TagKey != nil {
		return plainFormatTagKey
	}
	return plainFormat
}

func (k *Keys) encodePlain() []byte { return k.encodePlainVersion(k.plainVersion()) }

// encodePlainVersion encodes the plaintext in version v (1 only for the
// spec's vectors and tests: it cannot hold a state; versions below 3 drop
// the tag key).
func (k *Keys) encodePlainVersion(v uint8) []byte {
	w := wire.NewWriter(204 + len(k.KeygenState))
	w.U8(v)
	w.String(k.ElectionID)
	w.U32(uint32(k.Index))
	w.Fixed(k.SignSeed[:])
	w.Fixed(k.HPKESeed[:])
	if k.Share == nil {
		w.U8(0)
	} else {
		w.U8(1)
		w.Scalar(k.Share.Secret())
	}
	switch {
	case v == plainFormatV1:
	case len(k.KeygenState) == 0:
		w.U8(0)
	default:
		w.U8(1)
		w.U32(uint32(len(k.KeygenState)))
		w.Fixed(k.KeygenState)
	}
	if v == plainFormatTagKey {
		w.U8(1)
		w.Scalar(k.TagKey.Secret())
	}
	return w.Bytes()
}

func decodePlain(b []byte) (*Keys, error) {
	r := wire.NewReader(b)
	v := r.U8("format")
	if r.Err() == nil && v != plainFormat && v != plainFormatV1 && v != plainFormatTagKey {
		return nil, fmt.Errorf("%w: content format %d", ErrKeyFile, v)
	}
	k := &Keys{ElectionID: r.String(64, "election id"), Index: int(r.U32("index"))}
	copy(k.SignSeed[:], r.Fixed(32, "signing seed"))
	copy(k.HPKESeed[:], r.Fixed(32, "hpke seed"))
	var x *group.Scalar
	switch r.U8("has share") {
	case 0:
	case 1:
		x = r.Scalar("key share")
	default:
		r.Fail("has-share flag not 0 or 1")
	}
	if v >= plainFormat {
		switch r.U8("has state") {
		case 0:
		case 1:
			n := r.U32("state length")
			if r.Err() == nil && (n == 0 || n > threshold.MaxStateSize) {
				r.Fail("key-generation state of %d bytes, want 1..%d", n, threshold.MaxStateSize)
			}
			if st := r.Fixed(int(n), "key-generation state"); r.Err() == nil {
				k.KeygenState = bytes.Clone(st)
			}
		default:
			r.Fail("has-state flag not 0 or 1")
		}
	}
	var z *group.Scalar
	if v == plainFormatTagKey {
		// Version 3 is written only with a tag key: a has-tag-key byte
		// of 0 is another encoding of version 2, refused.
		if r.U8("has tag key") != 1 {
			r.Fail("has-tag-key flag not 1 in a version-3 plaintext")
		}
		z = r.Scalar("tag key")
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	if k.Index < 0 || k.Index > threshold.MaxTrustees || (x != nil && k.Index == 0) {
		return nil, fmt.Errorf("%w: index %d", ErrKeyFile, k.Index)
	}
	if x != nil {
		s, err := threshold.NewKeyShare(k.Index, x)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
		}
		k.Share = s
	}
	if z != nil {
		if k.Index == 0 || k.ElectionID == "" {
			return nil, fmt.Errorf("%w: a tag key before key generation", ErrKeyFile)
		}
		tk, err := revote.TagKeyFromSecret(k.Index, z)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
		}
		k.TagKey = tk
	}
	if err := k.derive(); err != nil {
		return nil, err
	}
	return k, nil
}

// Seal encrypts the keys under passphrase with fresh salt and nonce.
func (k *Keys) Seal(passphrase []byte, p KDFParams) ([]byte, error) {
	return k.seal(passphrase, p, rand.Reader, 0)
}

// seal is Seal with the salt and nonce read from r and, if version is not
// 0, the plaintext in that version (a seeded reader and version 1 for the
// spec's vectors and tests only).
func (k *Keys) seal(passphrase []byte, p KDFParams, r io.Reader, version uint8) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("trustee: empty passphrase")
	}
	if t := k.TagKey; t != nil && (t.Trustee != k.Index || k.ElectionID == "") {
		return nil, fmt.Errorf("trustee: tag key of trustee %d in the keys of trustee %d of election %q", t.Trustee, k.Index, k.ElectionID)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	hdr := make([]byte, 0, headerSize)
	hdr = append(hdr, fileMagic...)
	hdr = append(hdr, fileVersion)
	hdr = binary.BigEndian.AppendUint32(hdr, p.Time)
	hdr = binary.BigEndian.AppendUint32(hdr, p.Memory)
	hdr = append(hdr, p.Threads)
	random := make([]byte, saltSize+chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(r, random); err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	hdr = append(hdr, random...)
	salt := hdr[headerSize-saltSize-chacha20poly1305.NonceSizeX : headerSize-chacha20poly1305.NonceSizeX]
	nonce := hdr[headerSize-chacha20poly1305.NonceSizeX:]
	key := argon2.IDKey(passphrase, salt, p.Time, p.Memory, p.Threads, chacha20poly1305.KeySize)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if version == 0 {
		version = k.plainVersion()
	}
	plain := k.encodePlainVersion(version)
	defer clear(plain)
	return aead.Seal(hdr, nonce, plain, hdr), nil
}

// parseHeader checks a key file's size, magic, version and KDF parameters
// and returns the parameters, salt and nonce.
func parseHeader(file []byte) (p KDFParams, salt, nonce []byte, err error) {
	if len(file) < headerSize+chacha20poly1305.Overhead || len(file) > maxFileSize {
		return p, nil, nil, fmt.Errorf("%w: %d bytes", ErrKeyFile, len(file))
	}
	if !bytes.HasPrefix(file, []byte(fileMagic)) {
		return p, nil, nil, fmt.Errorf("%w: not an evote trustee key file", ErrKeyFile)
	}
	h := file[len(fileMagic):]
	if h[0] != fileVersion {
		return p, nil, nil, fmt.Errorf("%w: version %d", ErrKeyFile, h[0])
	}
	p = KDFParams{Time: binary.BigEndian.Uint32(h[1:5]), Memory: binary.BigEndian.Uint32(h[5:9]), Threads: h[9]}
	if err := p.check(); err != nil {
		return p, nil, nil, err
	}
	hdr := file[:headerSize]
	return p, hdr[headerSize-saltSize-chacha20poly1305.NonceSizeX : headerSize-chacha20poly1305.NonceSizeX], hdr[headerSize-chacha20poly1305.NonceSizeX:], nil
}

// OpenKeys decrypts a key file's contents. It returns ErrKeyFile for a
// malformed header and ErrPassphrase when the passphrase is wrong or
// anything in the file was changed.
func OpenKeys(file, passphrase []byte) (*Keys, error) {
	p, salt, nonce, err := parseHeader(file)
	if err != nil {
		return nil, err
	}
	hdr := file[:headerSize]
	key := argon2.IDKey(passphrase, salt, p.Time, p.Memory, p.Threads, chacha20poly1305.KeySize)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	plain, err := aead.Open(nil, nonce, file[headerSize:], hdr)
	if err != nil {
		return nil, ErrPassphrase
	}
	defer clear(plain)
	return decodePlain(plain)
}

// SaveFile seals the keys and writes them to path atomically (a temporary
// file in the same directory, synced, renamed, then the directory synced,
// so that the new file survives a crash once SaveFile returns), readable by
// the owner only. It refuses to overwrite an existing file unless overwrite is set.
func (k *Keys) SaveFile(path string, passphrase []byte, p KDFParams, overwrite bool) error {
	b, err := k.Seal(passphrase, p)
	if err != nil {
		return err
	}
	if !overwrite {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("trustee: %s exists; refusing to overwrite a key file", path)
		}
	}
	err = atomicfile.Write(path, 0o600, func(w io.Writer) error { _, err := w.Write(b); return err })
	if err != nil {
		return fmt.Errorf("trustee: writing the key file: %w", err)
	}
	return nil
}

// LoadFile reads and opens a key file.
func LoadFile(path string, passphrase []byte) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	return OpenKeys(b, passphrase)
}

// Backup writes the keys, sealed under a separate backup passphrase, to
// path (an offline medium of the trustee's choosing). The backup is a key
// file like any other: Restore (or LoadFile) opens it.
func (k *Keys) Backup(path string, backupPassphrase []byte, p KDFParams) error {
	return k.SaveFile(path, backupPassphrase, p, false)
}

// Restore opens a backup with its passphrase and writes it as the working
// key file at path under passphrase.
func Restore(backupPath string, backupPassphrase []byte, path string, passphrase []byte, p KDFParams) (*Keys, error) {
	k, err := LoadFile(backupPath, backupPassphrase)
	if err != nil {
		return nil, err
	}
	return k, k.SaveFile(path, passphrase, p, false)
}
