package bulletin

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"evote/crypto/sig"
)

// Signed-note signature types used in key IDs (§7.5): the C2SP values for
// Ed25519 and timestamped Ed25519 cosignatures, and evote's own identifier
// for ML-DSA-65 checkpoint signatures (0xff, the signed-note escape for
// types without an assigned byte, followed by an identifying string).
const (
	sigTypeEd25519     = 0x01
	sigTypeCosignature = 0x04
)

var sigTypeMLDSA = append([]byte{0xff}, "evote-v1/ml-dsa-65"...)

// Note limits. MaxNoteSize bounds a signed note (a checkpoint with its
// signatures) wherever one is read.
const (
	MaxNoteSize   = 1 << 20
	maxSignatures = 100
)

// ErrNote is returned for a malformed signed note or checkpoint; ErrNoteSig
// when no trusted signature verifies.
var (
	ErrNote    = errors.New("bulletin: malformed signed note")
	ErrNoteSig = errors.New("bulletin: checkpoint signature invalid or missing")
	// ErrUnexpectedSigner: a checkpoint checked against an election's
	// anchors carries a signature line of a key that is neither the log's
	// nor a listed witness's (§7.6). It wraps ErrNoteSig.
	ErrUnexpectedSigner = fmt.Errorf("%w: signature line of a key that is neither the log's nor a listed witness's", ErrNoteSig)
)

// NoteSignature is one signature line: "— <name> base64(keyID || sig)".
type NoteSignature struct {
	Name  string
	KeyID [4]byte
	Sig   []byte
}

// Note is a C2SP signed note: a text ending in a newline, a blank line,
// then one or more signature lines.
type Note struct {
	Body []byte
	Sigs []NoteSignature
}

// line returns the signature line with its final newline.
func (s NoteSignature) line() string {
	return "— " + s.Name + " " + base64.StdEncoding.EncodeToString(append(s.KeyID[:], s.Sig...)) + "\n"
}

// Bytes returns the note's encoding.
func (n *Note) Bytes() []byte {
	var b bytes.Buffer
	b.Write(n.Body)
	b.WriteByte('\n')
	for _, s := range n.Sigs {
		b.WriteString(s.line())
	}
	return b.Bytes()
}

// ParseNote parses a signed note strictly: valid UTF-8, no control
// characters other than newline, a body ending in a newline, a blank line,
// then 1 to 100 well-formed signature lines with canonical base64, no two
// for one key (the same key name and key ID, §7.5).
func ParseNote(b []byte) (*Note, error) {
	if len(b) > MaxNoteSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrNote, len(b))
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrNote)
	}
	for _, c := range b {
		if c < 0x20 && c != '\n' || c == 0x7f {
			return nil, fmt.Errorf("%w: control character 0x%02x", ErrNote, c)
		}
	}
	i := bytes.LastIndex(b, []byte("\n\n"))
	if i < 0 {
		return nil, fmt.Errorf("%w: no blank line before signatures", ErrNote)
	}
	n := &Note{Body: bytes.Clone(b[:i+1])}
	rest := string(b[i+2:])
	if rest == "" || !strings.HasSuffix(rest, "\n") {
		return nil, fmt.Errorf("%w: signatures missing or not newline-terminated", ErrNote)
	}
	for _, l := range strings.Split(strings.TrimSuffix(rest, "\n"), "\n") {
		s, err := parseSigLine(l)
		if err != nil {
			return nil, err
		}
		n.Sigs = append(n.Sigs, s)
		if len(n.Sigs) > maxSignatures {
			return nil, fmt.Errorf("%w: more than %d signatures", ErrNote, maxSignatures)
		}
	}
	if err := checkOneLinePerKey(n.Sigs); err != nil {
		return nil, err
	}
	return n, nil
}

// checkOneLinePerKey refuses two signature lines for one key (same name
// and key ID). Signed-note verifiers differ on them (the first decides,
// the last decides, or every one must verify), so a note that has them
// would mean different things to different verifiers (§7.5).
func checkOneLinePerKey(sigs []NoteSignature) error {
	type key struct {
		name string
		id   [4]byte
	}
	seen := make(map[key]bool, len(sigs))
	for _, s := range sigs {
		k := key{s.Name, s.KeyID}
		if seen[k] {
			return fmt.Errorf("%w: two signature lines for key %s+%x", ErrNote, s.Name, s.KeyID)
		}
		seen[k] = true
	}
	return nil
}

func parseSigLine(l string) (NoteSignature, error) {
	var s NoteSignature
	rest, ok := strings.CutPrefix(l, "— ")
	if !ok {
		return s, fmt.Errorf("%w: signature line does not start with an em dash", ErrNote)
	}
	name, b64, ok := strings.Cut(rest, " ")
	if !ok || ValidOrigin(name) != nil || strings.Contains(b64, " ") {
		return s, fmt.Errorf("%w: bad signature line %q", ErrNote, l)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) < 5 || base64.StdEncoding.EncodeToString(raw) != b64 {
		return s, fmt.Errorf("%w: bad signature encoding in %q", ErrNote, l)
	}
	s.Name = name
	copy(s.KeyID[:], raw[:4])
	s.Sig = raw[4:]
	return s, nil
}

// KeyID computes SHA-256(name || "\n" || sigType || publicKey)[:4].
func KeyID(name string, sigType []byte, pub []byte) [4]byte {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(sigType)
	h.Write(pub)
	var id [4]byte
	copy(id[:], h.Sum(nil))
	return id
}

// Checkpoint is a signed tree head (§7.5). Its note body is
//
//	<origin>\n<size>\n<base64 root>\ntime <unix seconds>\n
//
// the three C2SP checkpoint lines and one extension line with the time the
// log signed it.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
	Time   time.Time // whole seconds, UTC
}

// Body returns the note body.
func (c Checkpoint) Body() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\ntime %d\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]), c.Time.Unix())
}

// parseDecimal parses a canonical ASCII decimal (no sign, no leading zero).
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || len(s) > 19 {
		return 0, fmt.Errorf("%w: non-canonical number %q", ErrNote, s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: non-canonical number %q", ErrNote, s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%w: number %q: %v", ErrNote, s, err)
	}
	return v, nil
}

// parseCheckpointHead parses the first three checkpoint lines of a note
// body and returns the remaining extension lines.
func parseCheckpointHead(body []byte) (origin string, size uint64, root [32]byte, ext []string, err error) {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return "", 0, root, nil, fmt.Errorf("%w: checkpoint body not newline-terminated", ErrNote)
	}
	lines := strings.Split(string(body[:len(body)-1]), "\n")
	if len(lines) < 3 {
		return "", 0, root, nil, fmt.Errorf("%w: checkpoint has %d lines, want at least 3", ErrNote, len(lines))
	}
	if err := ValidOrigin(lines[0]); err != nil {
		return "", 0, root, nil, fmt.Errorf("%w: %w", ErrNote, err)
	}
	size, err = parseDecimal(lines[1])
	if err != nil {
		return "", 0, root, nil, err
	}
	r, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(r) != 32 || base64.StdEncoding.EncodeToString(r) != lines[2] {
		return "", 0, root, nil, fmt.Errorf("%w: bad root hash %q", ErrNote, lines[2])
	}
	copy(root[:], r)
	for _, l := range lines[3:] {
		if l == "" {
			return "", 0, root, nil, fmt.Errorf("%w: empty extension line", ErrNote)
		}
	}
	return lines[0], size, root, lines[3:], nil
}

// ParseCheckpoint parses an evote checkpoint body: exactly the three C2SP
// lines and the time line.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	origin, size, root, ext, err := parseCheckpointHead(body)
	if err != nil {
		return Checkpoint{}, err
	}
	if len(ext) != 1 || !strings.HasPrefix(ext[0], "time ") {
		return Checkpoint{}, fmt.Errorf("%w: want exactly one extension line \"time <seconds>\"", ErrNote)
	}
	t, err := parseDecimal(ext[0][5:])
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Time: time.Unix(int64(t), 0).UTC()}, nil
}

// LogKey is the log's signing identity: its origin (also the note key
// name), an Ed25519 key and, optionally, an ML-DSA-65 key whose Signer must
// sign with the FIPS 204 context string TagCheckpoint (NewMLDSASigner).
type LogKey struct {
	Origin        string
	Ed25519       Signer
	Ed25519Public [32]byte
	MLDSA         Signer // nil: no post-quantum signature
	MLDSAPublic   []byte
}

// Verifier returns the public half.
func (k *LogKey) Verifier() LogVerifier {
	return LogVerifier{Origin: k.Origin, Ed25519: k.Ed25519Public, MLDSA: k.MLDSAPublic}
}

// LogVerifier holds what a client needs to trust checkpoints.
type LogVerifier struct {
	Origin  string
	Ed25519 [32]byte
	MLDSA   []byte // if set, a valid ML-DSA-65 signature is required too
}

// mldsaSigner binds the checkpoint context string to an ML-DSA-65 key.
type mldsaSigner struct{ k *sig.MLDSAPrivateKey }

func (s mldsaSigner) Sign(m []byte) ([]byte, error) { return s.k.Sign(m, []byte(TagCheckpoint)) }

// NewMLDSASigner returns a Signer for checkpoint ML-DSA-65 signatures.
func NewMLDSASigner(k *sig.MLDSAPrivateKey) Signer { return mldsaSigner{k} }

// SignCheckpoint returns the signed note: the Ed25519 line, then the
// ML-DSA-65 line if the key has one.
func SignCheckpoint(c Checkpoint, k *LogKey) ([]byte, error) {
	if c.Origin != k.Origin {
		return nil, fmt.Errorf("bulletin: checkpoint origin %q is not the key's %q", c.Origin, k.Origin)
	}
	body := c.Body()
	s, err := k.Ed25519.Sign(body)
	if err != nil {
		return nil, fmt.Errorf("bulletin: sign checkpoint: %w", err)
	}
	n := &Note{Body: body, Sigs: []NoteSignature{{Name: k.Origin, KeyID: KeyID(k.Origin, []byte{sigTypeEd25519}, k.Ed25519Public[:]), Sig: s}}}
	if k.MLDSA != nil {
		s, err := k.MLDSA.Sign(body)
		if err != nil {
			return nil, fmt.Errorf("bulletin: ML-DSA sign checkpoint: %w", err)
		}
		n.Sigs = append(n.Sigs, NoteSignature{Name: k.Origin, KeyID: KeyID(k.Origin, sigTypeMLDSA, k.MLDSAPublic), Sig: s})
	}
	return n.Bytes(), nil
}

// VerifyCheckpoint parses a signed checkpoint and checks the log's
// signatures: the Ed25519 one always, the ML-DSA-65 one when the verifier
// has that key. Lines from unknown keys are ignored (they may be
// cosignatures).
func VerifyCheckpoint(note []byte, v LogVerifier) (Checkpoint, *Note, error) {
	n, err := ParseNote(note)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	c, err := ParseCheckpoint(n.Body)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != v.Origin {
		return Checkpoint{}, nil, fmt.Errorf("%w: origin %q, want %q", ErrNoteSig, c.Origin, v.Origin)
	}
	edID := KeyID(v.Origin, []byte{sigTypeEd25519}, v.Ed25519[:])
	var pqID [4]byte
	if v.MLDSA != nil {
		pqID = KeyID(v.Origin, sigTypeMLDSA, v.MLDSA)
	}
	edOK, pqOK := false, v.MLDSA == nil
	for _, s := range n.Sigs {
		if s.Name != v.Origin {
			continue
		}
		switch {
		case s.KeyID == edID && !edOK:
			if err := sig.Verify(v.Ed25519[:], n.Body, s.Sig); err != nil {
				return Checkpoint{}, nil, fmt.Errorf("%w: Ed25519: %w", ErrNoteSig, err)
			}
			edOK = true
		case v.MLDSA != nil && s.KeyID == pqID && !pqOK:
			if err := sig.VerifyMLDSA(v.MLDSA, n.Body, []byte(TagCheckpoint), s.Sig); err != nil {
				return Checkpoint{}, nil, fmt.Errorf("%w: %w", ErrNoteSig, err)
			}
			pqOK = true
		}
	}
	if !edOK || !pqOK {
		return Checkpoint{}, nil, fmt.Errorf("%w: missing Ed25519=%v ML-DSA=%v", ErrNoteSig, !edOK, !pqOK)
	}
	return c, n, nil
}

// CosignerKey identifies a witness (C2SP tlog-cosignature, Ed25519).
type CosignerKey struct {
	Name   string
	Public [32]byte
}

// KeyID returns the witness's cosignature key ID (signature type 0x04).
func (k CosignerKey) KeyID() [4]byte { return KeyID(k.Name, []byte{sigTypeCosignature}, k.Public[:]) }

// cosignedMessage is "cosignature/v1\ntime <t>\n" followed by the whole
// checkpoint body.
func cosignedMessage(body []byte, t uint64) []byte {
	return append(fmt.Appendf(nil, "cosignature/v1\ntime %d\n", t), body...)
}

// Cosign returns a cosignature/v1 line over a checkpoint body at time t.
func Cosign(body []byte, k CosignerKey, s Signer, t time.Time) (NoteSignature, error) {
	ts := uint64(t.Unix())
	sg, err := s.Sign(cosignedMessage(body, ts))
	if err != nil {
		return NoteSignature{}, fmt.Errorf("bulletin: cosign: %w", err)
	}
	out := binary.BigEndian.AppendUint64(nil, ts)
	return NoteSignature{Name: k.Name, KeyID: k.KeyID(), Sig: append(out, sg...)}, nil
}

// VerifyCosignature checks one cosignature/v1 over body and returns its
// timestamp.
func VerifyCosignature(body []byte, s NoteSignature, k CosignerKey) (time.Time, error) {
	if s.Name != k.Name || s.KeyID != k.KeyID() {
		return time.Time{}, fmt.Errorf("%w: cosignature is not from %s", ErrNoteSig, k.Name)
	}
	if len(s.Sig) != 8+64 {
		return time.Time{}, fmt.Errorf("%w: cosignature of %d bytes", ErrNoteSig, len(s.Sig))
	}
	ts := binary.BigEndian.Uint64(s.Sig[:8])
	if ts > 1<<63-1 {
		return time.Time{}, fmt.Errorf("%w: cosignature timestamp out of range", ErrNoteSig)
	}
	if err := sig.Verify(k.Public[:], cosignedMessage(body, ts), s.Sig[8:]); err != nil {
		return time.Time{}, fmt.Errorf("%w: cosignature from %s: %w", ErrNoteSig, k.Name, err)
	}
	return time.Unix(int64(ts), 0).UTC(), nil
}

// VerifyCosigned verifies a checkpoint of an election's log against the
// election's anchors (§7.6): signed by the log (VerifyCheckpoint) and
// cosigned by at least quorum of the given witnesses, each counted once.
// Unlike VerifyCheckpoint it accepts no other signature line: every line
// must be the log's (the ML-DSA-65 one only if v pins that key) or a
// cosignature of a listed witness, else ErrUnexpectedSigner; and every
// listed witness's cosignature present must verify. This is what a
// voter's receipt, the trustee's tool and the auditor's verifier check
// checkpoints with.
func VerifyCosigned(note []byte, v LogVerifier, witnesses []CosignerKey, quorum int) (Checkpoint, error) {
	c, n, err := VerifyCheckpoint(note, v)
	if err != nil {
		return Checkpoint{}, err
	}
	type key struct {
		name string
		id   [4]byte
	}
	logLines := map[key]bool{{v.Origin, KeyID(v.Origin, []byte{sigTypeEd25519}, v.Ed25519[:])}: true}
	if v.MLDSA != nil {
		logLines[key{v.Origin, KeyID(v.Origin, sigTypeMLDSA, v.MLDSA)}] = true
	}
	byKey := make(map[key]CosignerKey, len(witnesses))
	for _, w := range witnesses {
		byKey[key{w.Name, w.KeyID()}] = w
	}
	got := 0
	// ParseNote refused two lines for one key, so each listed witness
	// (listed twice or not) is counted at most once.
	for _, s := range n.Sigs {
		k := key{s.Name, s.KeyID}
		if logLines[k] {
			continue // checked by VerifyCheckpoint
		}
		w, ok := byKey[k]
		if !ok {
			return Checkpoint{}, fmt.Errorf("%w: %s+%x", ErrUnexpectedSigner, s.Name, s.KeyID)
		}
		if _, err := VerifyCosignature(n.Body, s, w); err != nil {
			return Checkpoint{}, err
		}
		got++
	}
	if got < quorum {
		return Checkpoint{}, fmt.Errorf("%w: %d valid cosignatures, need %d", ErrNoteSig, got, quorum)
	}
	return c, nil
}

// AddSignatures appends signature lines (e.g. a witness's cosignatures) to
// a note.
func AddSignatures(note []byte, sigs ...NoteSignature) ([]byte, error) {
	n, err := ParseNote(note)
	if err != nil {
		return nil, err
	}
	n.Sigs = append(n.Sigs, sigs...)
	if len(n.Sigs) > maxSignatures {
		return nil, fmt.Errorf("%w: more than %d signatures", ErrNote, maxSignatures)
	}
	if err := checkOneLinePerKey(n.Sigs); err != nil {
		return nil, err
	}
	return n.Bytes(), nil
}
