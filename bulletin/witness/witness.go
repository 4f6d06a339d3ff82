// Package witness implements a transparency-log witness for evote's
// bulletin board (spec/07-bulletin.md §7.6): it cosigns a log's checkpoint
// only after verifying that it is consistent with the last checkpoint it
// cosigned for that log, so a server that shows different logs to
// different people is caught before anyone trusts the second view. The
// protocol is C2SP tlog-witness (POST add-checkpoint) and the cosignatures
// are C2SP tlog-cosignature (cosignature/v1, Ed25519, timestamped).
//
// Observers and trustees run a Witness (Handler serves it over HTTP); the
// board obtains cosignatures with Client and Submit and puts the cosigned
// checkpoint in each voter's receipt.
package witness

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"evote/bulletin"
	"evote/internal/atomicfile"
)

// Errors, one per tlog-witness response status.
var (
	ErrBadRequest    = errors.New("witness: bad request")                                // 400
	ErrUntrusted     = errors.New("witness: no trusted signature on checkpoint")         // 403
	ErrUnknownOrigin = errors.New("witness: unknown log origin")                         // 404
	ErrInconsistent  = errors.New("witness: consistency proof does not verify")          // 422
	ErrConflict      = errors.New("witness: old size does not match the witnessed size") // 409
)

// ConflictError is a 409: the witness's latest cosigned size differs from
// the request's old size (or, at equal sizes, the roots differ).
type ConflictError struct {
	Size uint64 // the witness's latest cosigned size for the origin
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness: conflict: latest cosigned size is %d", e.Size)
}

// Unwrap makes errors.Is(err, ErrConflict) work.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// MaxProofLines is the most consistency-proof hashes a request may carry.
const MaxProofLines = 63

// Config configures a witness.
type Config struct {
	Name      string          // cosigner name, e.g. "witness.example.org/w1"
	Key       bulletin.Signer // Ed25519 signing key
	Public    [32]byte        // its public key
	Logs      []bulletin.LogVerifier
	StatePath string           // JSON file recording the latest cosigned checkpoint per log
	Now       func() time.Time // default time.Now
}

type logState struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// Witness cosigns consistent checkpoints. It is safe for concurrent use;
// the check of the old size and the update of the state are atomic.
type Witness struct {
	cfg    Config
	logsMu sync.RWMutex
	logs   map[string]bulletin.LogVerifier
	mu     sync.Mutex
	state  map[string]logState
}

// ErrLogKeyChanged is returned by AddLog for a log the witness already
// follows under another key: a log's key never changes.
var ErrLogKeyChanged = errors.New("witness: the log is followed under another key")

// AddLog makes the witness follow one more log (a new election) while it
// runs; a log it follows already is accepted again with the same key only.
func (w *Witness) AddLog(v bulletin.LogVerifier) error {
	if err := bulletin.ValidOrigin(v.Origin); err != nil {
		return fmt.Errorf("witness: log: %w", err)
	}
	w.logsMu.Lock()
	defer w.logsMu.Unlock()
	if old, ok := w.logs[v.Origin]; ok {
		if old.Ed25519 != v.Ed25519 || !bytes.Equal(old.MLDSA, v.MLDSA) {
			return fmt.Errorf("%w: %q", ErrLogKeyChanged, v.Origin)
		}
		return nil
	}
	w.logs[v.Origin] = v
	return nil
}

// New loads the witness's state (an absent file means a fresh witness).
func New(cfg Config) (*Witness, error) {
	if err := bulletin.ValidOrigin(cfg.Name); err != nil {
		return nil, fmt.Errorf("witness: name: %w", err)
	}
	if cfg.Key == nil || cfg.StatePath == "" {
		return nil, errors.New("witness: Config needs Key and StatePath")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Witness{cfg: cfg, logs: make(map[string]bulletin.LogVerifier), state: make(map[string]logState)}
	for _, l := range cfg.Logs {
		w.logs[l.Origin] = l
	}
	b, err := os.ReadFile(cfg.StatePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("witness: read state: %w", err)
	default:
		if err := json.Unmarshal(b, &w.state); err != nil {
			return nil, fmt.Errorf("witness: state file %s: %w", cfg.StatePath, err)
		}
		for o, s := range w.state {
			if len(s.Root) != 32 {
				return nil, fmt.Errorf("witness: state file %s: bad root for %q", cfg.StatePath, o)
			}
		}
	}
	return w, nil
}

// Key returns the witness's cosigner identity.
func (w *Witness) Key() bulletin.CosignerKey {
	return bulletin.CosignerKey{Name: w.cfg.Name, Public: w.cfg.Public}
}

// Latest returns the latest cosigned size and root for an origin.
func (w *Witness) Latest(origin string) (uint64, [32]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.state[origin]
	if !ok {
		return 0, [32]byte{}, false
	}
	return s.Size, [32]byte(s.Root), true
}

// AddCheckpoint runs the tlog-witness add-checkpoint checks and, if they
// pass, records the checkpoint durably and returns the cosignature.
func (w *Witness) AddCheckpoint(oldSize uint64, proof [][32]byte, note []byte) ([]bulletin.NoteSignature, error) {
	n, err := bulletin.ParseNote(note)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	origin, _, _ := strings.Cut(string(n.Body), "\n")
	w.logsMu.RLock()
	v, ok := w.logs[origin]
	w.logsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownOrigin, origin)
	}
	c, _, err := bulletin.VerifyCheckpoint(note, v)
	if err != nil {
		if errors.Is(err, bulletin.ErrNote) {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if oldSize > c.Size {
		return nil, fmt.Errorf("%w: old size %d above checkpoint size %d", ErrBadRequest, oldSize, c.Size)
	}
	if len(proof) > MaxProofLines {
		return nil, fmt.Errorf("%w: %d proof lines", ErrBadRequest, len(proof))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, seen := w.state[origin]
	if prev.Size != oldSize {
		return nil, &ConflictError{Size: prev.Size}
	}
	switch {
	case !seen || oldSize == 0:
		if len(proof) != 0 {
			return nil, fmt.Errorf("%w: proof from size 0 must be empty", ErrInconsistent)
		}
		if seen && c.Size == 0 && !bytes.Equal(prev.Root, c.Root[:]) {
			return nil, &ConflictError{Size: prev.Size}
		}
	case oldSize == c.Size:
		if !bytes.Equal(prev.Root, c.Root[:]) {
			return nil, &ConflictError{Size: prev.Size}
		}
		if len(proof) != 0 {
			return nil, fmt.Errorf("%w: proof between equal sizes must be empty", ErrInconsistent)
		}
	default:
		if err := bulletin.VerifyConsistency(oldSize, c.Size, proof, [32]byte(prev.Root), c.Root); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInconsistent, err)
		}
	}
	cs, err := bulletin.Cosign(n.Body, w.Key(), w.cfg.Key, w.cfg.Now())
	if err != nil {
		return nil, err
	}
	w.state[origin] = logState{Size: c.Size, Root: c.Root[:]}
	if err := w.persist(); err != nil {
		if seen {
			w.state[origin] = prev
		} else {
			delete(w.state, origin)
		}
		return nil, err
	}
	return []bulletin.NoteSignature{cs}, nil
}

// persist writes the state atomically and durably: temp file, fsync,
// rename, fsync of the directory.
func (w *Witness) persist() error {
	b, err := json.MarshalIndent(w.state, "", "  ")
	if err != nil {
		return fmt.Errorf("witness: encode state: %w", err)
	}
	err = atomicfile.Write(w.cfg.StatePath, 0o600, func(f io.Writer) error { _, err := f.Write(b); return err })
	if err != nil {
		return fmt.Errorf("witness: write state: %w", err)
	}
	return nil
}

// EncodeRequest builds an add-checkpoint request body:
// "old <size>\n", one base64 hash per line, an empty line, the checkpoint.
func EncodeRequest(oldSize uint64, proof [][32]byte, note []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteByte('\n')
	b.Write(note)
	return b.Bytes()
}

// ParseRequest parses an add-checkpoint request body strictly.
func ParseRequest(body []byte) (oldSize uint64, proof [][32]byte, note []byte, err error) {
	rest := body
	line := func() (string, bool) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return "", false
		}
		l := string(rest[:i])
		rest = rest[i+1:]
		return l, true
	}
	l, ok := line()
	num, hasOld := strings.CutPrefix(l, "old ")
	if !ok || !hasOld || num == "" || len(num) > 1 && num[0] == '0' || strings.TrimLeft(num, "0123456789") != "" {
		return 0, nil, nil, fmt.Errorf("%w: bad old size line", ErrBadRequest)
	}
	oldSize, err = strconv.ParseUint(num, 10, 63)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: old size: %v", ErrBadRequest, err)
	}
	for {
		l, ok := line()
		if !ok {
			return 0, nil, nil, fmt.Errorf("%w: missing empty line before the checkpoint", ErrBadRequest)
		}
		if l == "" {
			break
		}
		if len(proof) == MaxProofLines {
			return 0, nil, nil, fmt.Errorf("%w: more than %d proof lines", ErrBadRequest, MaxProofLines)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 || base64.StdEncoding.EncodeToString(h) != l {
			return 0, nil, nil, fmt.Errorf("%w: bad proof line %q", ErrBadRequest, l)
		}
		proof = append(proof, [32]byte(h))
	}
	return oldSize, proof, rest, nil
}
