package verify

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"evote/ballot"
	"evote/bulletin"
)

// fetchPage is the page size asked of the board (spec §10.1, at most 1000).
const fetchPage = 1000

// A page request that fails in transit (the connection, an answer cut
// short, a 5xx or 429 status) is retried up to fetchRetries times, after
// fetchBackoff, doubled each time, from the page where it stopped: a
// download resumes rather than starting over. Anything else (another
// status, a malformed page) fails at once. Variables so that tests can
// shorten the wait.
var (
	fetchRetries = 4
	fetchBackoff = 500 * time.Millisecond
)

// BoardURL returns the URL of a log's public board under a server's base
// URL (spec chapter 10): base/api/v1/board/<hex log id>. A URL that already
// names a board is returned unchanged.
func BoardURL(base, origin string) string {
	if strings.Contains(base, "/board/") {
		return strings.TrimRight(base, "/")
	}
	id := bulletin.LogIDFor(origin)
	return strings.TrimRight(base, "/") + "/api/v1/board/" + hex.EncodeToString(id[:])
}

// FindBoard returns the URL of the board, under a server's base URL, of
// the election with the expected fingerprint: it lists the server's logs
// and reads each one's first entry, the manifest, until one has the
// fingerprint. Nothing the server says is trusted: only the fingerprint
// picks the log. A URL that already names a board is returned unchanged.
func FindBoard(ctx context.Context, client *http.Client, base string, fp ballot.ExpectedFingerprint) (string, error) {
	if strings.Contains(base, "/board/") {
		return strings.TrimRight(base, "/"), nil
	}
	if client == nil {
		client = http.DefaultClient
	}
	base = strings.TrimRight(base, "/")
	body, err := get(ctx, client, base+"/api/v1/board", 1<<20)
	if err != nil {
		return "", err
	}
	var list struct {
		Logs []struct {
			LogID string `json:"log_id"`
		} `json:"logs"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return "", fmt.Errorf("%w: board list: %w", ErrLoad, err)
	}
	for _, l := range list.Logs {
		if _, err := hex.DecodeString(l.LogID); err != nil || len(l.LogID) != 64 {
			return "", fmt.Errorf("%w: board list names log %q", ErrLoad, l.LogID)
		}
		board := base + "/api/v1/board/" + l.LogID
		body, err := get(ctx, client, board+"/entries?start=0&limit=1", 8<<20)
		if err != nil {
			continue // another log that does not answer is not ours either
		}
		var page struct {
			Entries []struct {
				Canonical string `json:"canonical"`
			} `json:"entries"`
		}
		if json.Unmarshal(body, &page) != nil || len(page.Entries) == 0 {
			continue
		}
		raw, err := decodeB64(page.Entries[0].Canonical)
		if err != nil {
			continue
		}
		e, err := bulletin.DecodeEntry(raw)
		if err != nil || e.Type != bulletin.TypeManifest {
			continue
		}
		if m, err := ballot.DecodeManifest(e.Payload); err == nil && fp.Check(m) == nil {
			return board, nil
		}
	}
	return "", fmt.Errorf("%w: no election on %s has the fingerprint %s", ErrLoad, base, fp)
}

// Fetch downloads a record from a board's public API: the latest signed
// checkpoint, then every entry it covers, page by page. It checks only the
// transport (status codes, encodings, that entries come in order); Verify
// checks the record itself. progress, if set, sees the entries fetched.
// [FetchStream] does the same without holding the record in memory.
func Fetch(ctx context.Context, client *http.Client, board string, progress func(done, total uint64)) (*Record, error) {
	note, r, err := FetchStream(ctx, client, board, progress)
	if err != nil {
		return nil, err
	}
	rec := &Record{Checkpoint: note}
	for {
		if err := r.fetchPage(); err != nil {
			return nil, err
		}
		if len(r.page) == 0 {
			return rec, nil
		}
		rec.Entries = append(rec.Entries, r.page...)
		r.page = nil
	}
}

// FetchStream starts a download of a record from a board's public API as
// Fetch does: it returns the latest signed checkpoint and a reader of the
// entries file it covers (as [VerifyStream] reads it), which downloads the
// entries page by page as it is read. A transport failure is the reader's
// error, wrapping [ErrLoad].
func FetchStream(ctx context.Context, client *http.Client, board string, progress func(done, total uint64)) ([]byte, *BoardReader, error) {
	if client == nil {
		client = http.DefaultClient
	}
	note, err := get(ctx, client, board+"/checkpoint/note", maxNote)
	if err != nil {
		return nil, nil, err
	}
	n, err := bulletin.ParseNote(note)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: checkpoint: %w", ErrLoad, err)
	}
	cp, err := bulletin.ParseCheckpoint(n.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: checkpoint: %w", ErrLoad, err)
	}
	return note, &BoardReader{ctx: ctx, client: client, board: board, size: cp.Size, progress: progress}, nil
}

// A BoardReader reads a board's entries as an entries file, one page of
// the API at a time (see [FetchStream]).
type BoardReader struct {
	ctx      context.Context
	client   *http.Client
	board    string
	size     uint64 // entries the checkpoint covers
	next     uint64 // index of the next entry to fetch
	progress func(done, total uint64)
	page     [][]byte // fetched entries not yet framed into buf
	buf      []byte   // framed bytes not yet read
	err      error
}

// Read implements io.Reader.
func (r *BoardReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if len(r.page) > 0 {
			e := r.page[0]
			r.page[0], r.page = nil, r.page[1:]
			r.buf = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(e)), uint32(len(e)))
			r.buf = append(r.buf, e...)
			break
		}
		if r.err == nil {
			r.err = r.fetchPage()
		}
		if r.err != nil {
			return 0, r.err
		}
		if len(r.page) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fetchPage fetches the next page of entries into r.page; at the end of
// the checkpoint's tree it leaves r.page empty.
func (r *BoardReader) fetchPage() error {
	if r.next == r.size {
		return nil
	}
	start := r.next
	limit := min(r.size-start, fetchPage)
	url := fmt.Sprintf("%s/entries?start=%d&limit=%d", r.board, start, limit)
	body, err := get(r.ctx, r.client, url, 1<<30)
	if err != nil {
		return err
	}
	var page struct {
		Start   uint64 `json:"start"`
		Entries []struct {
			Index     uint64 `json:"index"`
			Canonical string `json:"canonical"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return fmt.Errorf("%w: entries from %d: %w", ErrLoad, start, err)
	}
	if page.Start != start || len(page.Entries) == 0 {
		return fmt.Errorf("%w: entries page from %d starts at %d with %d entries", ErrLoad, start, page.Start, len(page.Entries))
	}
	for _, e := range page.Entries {
		if e.Index != r.next {
			return fmt.Errorf("%w: entry %d where %d was expected", ErrLoad, e.Index, r.next)
		}
		if r.next == r.size {
			break
		}
		b, err := decodeB64(e.Canonical)
		if err != nil {
			return fmt.Errorf("%w: entry %d: %w", ErrLoad, e.Index, err)
		}
		r.page = append(r.page, b)
		r.next++
	}
	if r.progress != nil {
		r.progress(r.next, r.size)
	}
	return nil
}

// decodeB64 accepts the API's base64url without padding (spec §10) and
// standard base64, both strict.
func decodeB64(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// errTransient marks a failure of get worth retrying: the request or
// the answer's body failed in transit, or the status was 5xx or 429.
var errTransient = errors.New("transient")

type transientError struct{ err error }

func (e transientError) Error() string   { return e.err.Error() }
func (e transientError) Unwrap() []error { return []error{e.err, errTransient} }

func isTransient(err error) bool {
	return errors.Is(err, errTransient) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// get fetches url, retrying a transient failure (in transit, 5xx, 429)
// fetchRetries times with a doubling wait from fetchBackoff: a server
// behind a load balancer may answer 503 for a moment while one of its
// instances goes down, and a verifier must not call the record unreadable
// for that. Every GET of the verifier goes through it.
func get(ctx context.Context, client *http.Client, url string, limit int64) ([]byte, error) {
	body, err := getOnce(ctx, client, url, limit)
	wait := fetchBackoff
	for try := 0; err != nil && try < fetchRetries && isTransient(err); try++ {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrLoad, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
		body, err = getOnce(ctx, client, url, limit)
	}
	return body, err
}

func getOnce(ctx context.Context, client *http.Client, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, transientError{fmt.Errorf("%w: %w", ErrLoad, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("%w: GET %s: %s", ErrLoad, url, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, transientError{err}
		}
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, transientError{fmt.Errorf("%w: GET %s: %w", ErrLoad, url, err)}
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: GET %s: answer too large", ErrLoad, url)
	}
	return b, nil
}
