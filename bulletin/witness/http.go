package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"evote/bulletin"
	"evote/bulletin/board"
)

// maxRequest bounds an add-checkpoint body: a checkpoint note with room for
// many cosignatures plus 63 proof lines.
const maxRequest = 256 << 10

// Handler serves POST <prefix>/add-checkpoint (C2SP tlog-witness).
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/add-checkpoint", w.serveAdd)
	return mux
}

func (w *Witness) serveAdd(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil || len(body) > maxRequest {
		http.Error(rw, "request too large or unreadable", http.StatusBadRequest)
		return
	}
	old, proof, note, err := ParseRequest(body)
	if err == nil {
		var sigs []bulletin.NoteSignature
		sigs, err = w.AddCheckpoint(old, proof, note)
		if err == nil {
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			for _, s := range sigs {
				io.WriteString(rw, signatureLine(s))
			}
			return
		}
	}
	var ce *ConflictError
	switch {
	case errors.As(err, &ce):
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", ce.Size)
	case errors.Is(err, ErrUnknownOrigin):
		http.Error(rw, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrUntrusted):
		http.Error(rw, err.Error(), http.StatusForbidden)
	case errors.Is(err, ErrInconsistent):
		http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
	case errors.Is(err, ErrBadRequest):
		http.Error(rw, err.Error(), http.StatusBadRequest)
	default:
		http.Error(rw, "internal error", http.StatusInternalServerError)
	}
}

func signatureLine(s bulletin.NoteSignature) string {
	n := &bulletin.Note{Body: []byte("x\n"), Sigs: []bulletin.NoteSignature{s}}
	return strings.TrimPrefix(string(n.Bytes()), "x\n\n")
}

// Client talks to one witness over HTTP, for any number of logs; it is
// safe for concurrent use.
type Client struct {
	URL  string // submission prefix; "/add-checkpoint" is appended
	Key  bulletin.CosignerKey
	HTTP *http.Client // default http.DefaultClient
	mu   sync.Mutex
	// known is the last size the witness reported or cosigned, per log
	// origin: one witness follows every election's log.
	known map[string]uint64
}

func (c *Client) knownSize(origin string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known[origin]
}

func (c *Client) setKnown(origin string, size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil {
		c.known = map[string]uint64{}
	}
	c.known[origin] = size
}

// AddCheckpoint sends one add-checkpoint request and returns the verified
// cosignature from the witness's key. Errors map the status back to the
// package's sentinels (*ConflictError for 409).
func (c *Client) AddCheckpoint(ctx context.Context, oldSize uint64, proof [][32]byte, note []byte) (bulletin.NoteSignature, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/add-checkpoint", bytes.NewReader(EncodeRequest(oldSize, proof, note)))
	if err != nil {
		return bulletin.NoteSignature{}, fmt.Errorf("witness: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return bulletin.NoteSignature{}, fmt.Errorf("witness: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return bulletin.NoteSignature{}, fmt.Errorf("witness: read response: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		n, err := strconv.ParseUint(strings.TrimSuffix(string(body), "\n"), 10, 63)
		if err != nil {
			return bulletin.NoteSignature{}, fmt.Errorf("%w: unparsable size %q", ErrConflict, body)
		}
		return bulletin.NoteSignature{}, &ConflictError{Size: n}
	case http.StatusNotFound:
		return bulletin.NoteSignature{}, fmt.Errorf("%w: %s", ErrUnknownOrigin, body)
	case http.StatusForbidden:
		return bulletin.NoteSignature{}, fmt.Errorf("%w: %s", ErrUntrusted, body)
	case http.StatusUnprocessableEntity:
		return bulletin.NoteSignature{}, fmt.Errorf("%w: %s", ErrInconsistent, body)
	default:
		return bulletin.NoteSignature{}, fmt.Errorf("%w: status %d: %s", ErrBadRequest, resp.StatusCode, body)
	}
	// Parse the signature lines by appending them to the note, and keep
	// the one from the witness's key after verifying it.
	signed, err := bulletin.ParseNote(append(append([]byte(nil), note...), body...))
	if err != nil {
		return bulletin.NoteSignature{}, fmt.Errorf("witness: bad response: %w", err)
	}
	for _, s := range signed.Sigs {
		if s.Name == c.Key.Name && s.KeyID == c.Key.KeyID() {
			if _, err := bulletin.VerifyCosignature(signed.Body, s, c.Key); err != nil {
				return bulletin.NoteSignature{}, err
			}
			return s, nil
		}
	}
	return bulletin.NoteSignature{}, fmt.Errorf("witness: response carries no cosignature from %s", c.Key.Name)
}

// Submit obtains the witness's cosignature on the log's checkpoint cp,
// proving consistency from the size the witness last cosigned for that log
// (learnt from a 409 when unknown). The Client remembers that size, per
// log, between calls.
func (c *Client) Submit(ctx context.Context, l *board.Log, cp *bulletin.SignedCheckpoint) (bulletin.NoteSignature, error) {
	for attempt := 0; attempt < 3; attempt++ {
		old := c.knownSize(cp.Origin)
		if old > cp.Size {
			// Another writer of the log (an instance on the same store)
			// had a larger checkpoint cosigned: the caller catches up and
			// submits a checkpoint of at least that size.
			return bulletin.NoteSignature{}, &ConflictError{Size: old}
		}
		var proof [][32]byte
		if old > 0 {
			var err error
			if proof, err = l.ConsistencyProof(old, cp.Size); err != nil {
				return bulletin.NoteSignature{}, err
			}
		}
		s, err := c.AddCheckpoint(ctx, old, proof, cp.Note)
		var ce *ConflictError
		if errors.As(err, &ce) && ce.Size != old {
			c.setKnown(cp.Origin, ce.Size)
			continue
		}
		if err != nil {
			return bulletin.NoteSignature{}, err
		}
		c.setKnown(cp.Origin, cp.Size)
		return s, nil
	}
	return bulletin.NoteSignature{}, fmt.Errorf("%w: size kept changing", ErrConflict)
}

// Cosign obtains cosignatures from every client and returns the checkpoint
// note carrying them (the form a voter's receipt carries). It fails if
// fewer than quorum witnesses cosign.
func Cosign(ctx context.Context, l *board.Log, cp *bulletin.SignedCheckpoint, clients []*Client, quorum int) ([]byte, error) {
	var sigs []bulletin.NoteSignature
	var errs []error
	for _, c := range clients {
		s, err := c.Submit(ctx, l, cp)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Key.Name, err))
			continue
		}
		sigs = append(sigs, s)
	}
	if len(sigs) < quorum {
		return nil, fmt.Errorf("witness: %d of %d witnesses cosigned, need %d: %w", len(sigs), len(clients), quorum, errors.Join(errs...))
	}
	return bulletin.AddSignatures(cp.Note, sigs...)
}
