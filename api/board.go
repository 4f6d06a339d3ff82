package api

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/internal/httpedge"
	"evote/store"
)

// Paging limits of the board group.
const (
	defaultPage = 100
	maxPage     = 1000
)

// keepAlive is the interval of comment lines on an idle event stream.
var keepAlive = 15 * time.Second

// LogInfo describes one served log.
type LogInfo struct {
	LogID  string `json:"log_id"`
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
}

// CheckpointView is the JSON view of a signed checkpoint; Note is the
// authoritative signed text.
type CheckpointView struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"`
	Time   int64  `json:"time"`
	Note   string `json:"note"`
}

// EntryView is the JSON view of an entry; Canonical is the authoritative
// encoding (its SHA-256 is Hash).
type EntryView struct {
	Index     uint64 `json:"index"`
	Hash      string `json:"hash"`
	LeafHash  string `json:"leaf_hash"`
	Version   uint8  `json:"version"`
	LogID     string `json:"log_id"`
	Type      string `json:"type"`
	TypeCode  uint16 `json:"type_code"`
	Author    string `json:"author"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
	Canonical string `json:"canonical"`
}

// EntriesPage is one page of entries; Next is the start of the following
// page, absent at the end of the log.
type EntriesPage struct {
	Start   uint64      `json:"start"`
	Size    uint64      `json:"size"`
	Entries []EntryView `json:"entries"`
	Next    *uint64     `json:"next,omitempty"`
}

// InclusionView is an RFC 6962 audit path.
type InclusionView struct {
	Index    uint64   `json:"index"`
	Size     uint64   `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Path     []string `json:"path"`
}

// ConsistencyView is an RFC 6962 consistency proof.
type ConsistencyView struct {
	First  uint64   `json:"first"`
	Second uint64   `json:"second"`
	Path   []string `json:"path"`
}

// BallotView answers a tracking-code lookup: the ballot entry and, once a
// checkpoint covers it, its inclusion proof and that checkpoint.
type BallotView struct {
	Entry      EntryView       `json:"entry"`
	Inclusion  *InclusionView  `json:"inclusion,omitempty"`
	Checkpoint *CheckpointView `json:"checkpoint,omitempty"`
}

func (s *Server) listBoards(c *gin.Context) {
	out := struct {
		Logs []LogInfo `json:"logs"`
	}{Logs: []LogInfo{}}
	for id, l := range s.allBoards() {
		out.Logs = append(out.Logs, LogInfo{LogID: id, Origin: l.Origin(), Size: l.Size()})
	}
	slices.SortFunc(out.Logs, func(a, b LogInfo) int {
		if a.Origin < b.Origin {
			return -1
		}
		if a.Origin > b.Origin {
			return 1
		}
		return 0
	})
	fresh(c)
	c.JSON(http.StatusOK, out)
}

// withLog resolves the :log parameter before h.
func (s *Server) withLog(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		l, ok := s.board(c.Param("log"))
		if !ok {
			httpedge.NotFound(c, "no log %q", c.Param("log"))
			return
		}
		c.Set("log", l)
		h(c)
	}
}

func logOf(c *gin.Context) *board.Log { return c.MustGet("log").(*board.Log) }

func checkpointView(cp *bulletin.SignedCheckpoint) *CheckpointView {
	return &CheckpointView{Origin: cp.Origin, Size: cp.Size, Root: hexLower(cp.Root[:]), Time: cp.Time.Unix(), Note: string(cp.Note)}
}

func entryView(r store.Record) (EntryView, error) {
	e, err := bulletin.DecodeEntry(r.Data)
	if err != nil {
		return EntryView{}, err
	}
	lh := bulletin.LeafHash(r.Data)
	return EntryView{
		Index: r.Index, Hash: hexLower(r.Hash[:]), LeafHash: hexLower(lh[:]), Version: e.Version,
		LogID: hexLower(e.Log[:]), Type: e.Type.String(), TypeCode: uint16(e.Type),
		Author: hexLower(e.Author[:]), Payload: base64.StdEncoding.EncodeToString(e.Payload),
		Signature: hexLower(e.Signature[:]), Canonical: base64.StdEncoding.EncodeToString(r.Data),
	}, nil
}

// latest returns the checkpoint the read API serves: the latest one that
// carries witnesses' cosignatures (what auditors and trustees can rely
// on), or the latest signed one while none is cosigned.
func (s *Server) latest(c *gin.Context) (*bulletin.SignedCheckpoint, bool) {
	l := logOf(c)
	cp := l.LatestCosigned()
	if cp == nil {
		cp = l.LatestCheckpoint()
	}
	if cp == nil {
		httpedge.NotFound(c, "the log has no checkpoint yet")
		return nil, false
	}
	return cp, true
}

func (s *Server) getCheckpoint(c *gin.Context) {
	cp, ok := s.latest(c)
	if !ok {
		return
	}
	fresh(c)
	c.JSON(http.StatusOK, checkpointView(cp))
}

func (s *Server) getCheckpointNote(c *gin.Context) {
	cp, ok := s.latest(c)
	if !ok {
		return
	}
	fresh(c)
	c.Data(http.StatusOK, "text/plain; charset=utf-8", cp.Note)
}

func (s *Server) listEntries(c *gin.Context) {
	l := logOf(c)
	start, limit := uint64(0), uint64(defaultPage)
	if v, ok := c.GetQuery("start"); ok {
		if start, ok = httpedge.ParseUint(v); !ok {
			httpedge.BadRequest(c, "start must be a decimal index")
			return
		}
	}
	if v, ok := c.GetQuery("limit"); ok {
		if limit, ok = httpedge.ParseUint(v); !ok || limit == 0 || limit > maxPage {
			httpedge.BadRequest(c, "limit must be between 1 and %d", maxPage)
			return
		}
	}
	size := l.Size()
	if start > size {
		httpedge.NotFound(c, "start %d beyond log size %d", start, size)
		return
	}
	end := min(start+limit, size)
	etag := fmt.Sprintf("entries-%d-%d", start, start+limit)
	full := end == start+limit
	if full && notModified(c, etag) {
		return
	}
	// The page is streamed (pageWriter) and read from the store a chunk
	// at a time (chunkEnd): a read holds the raw bytes of the entries it
	// is writing, never their JSON view, and stops at the byte budget.
	ctx := c.Request.Context()
	var p *pageWriter
	begin := func() {
		if full {
			// A full page of durable entries can never change: where
			// the byte budget cuts it depends only on them. (Size in it
			// is as of the first answer, informative.)
			immutable(c, etag)
		} else {
			fresh(c)
		}
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusOK)
		p = newPageWriter(c.Writer, start, size)
	}
	next, used, largest := start, uint64(0), uint64(1)
	for next < end && used < pageBytes {
		to, err := chunkEnd(ctx, l, next, end, pageBytes-used, largest)
		var recs []store.Record
		if err == nil {
			recs, err = l.Entries(ctx, next, to)
		}
		if err == nil && len(recs) == 0 {
			err = fmt.Errorf("api: the log returned no entry at %d of %d", next, size)
		}
		if err != nil && p == nil {
			httpedge.ServerError(c, err)
			return
		}
		if err != nil {
			httpedge.LogFault(c, fmt.Errorf("api: entries from %d: %w", next, err))
			return // the answer is cut short: no client takes it
		}
		if p == nil {
			begin()
		}
		for _, r := range recs {
			if err := p.entry(r); err != nil {
				httpedge.LogFault(c, fmt.Errorf("api: entry %d: %w", r.Index, err))
				return
			}
			next, used, largest = r.Index+1, used+uint64(len(r.Data)), max(largest, uint64(len(r.Data)))
			if used >= pageBytes {
				break
			}
		}
	}
	if p == nil {
		begin()
	}
	var nextp *uint64
	if next < size {
		nextp = &next
	}
	p.finish(nextp)
}

// chunkEnd is the end of the next chunk of entries to read from next
// (before end) with left bytes of the page's budget: the entries up to the
// one that reaches left, at least one, by their stored sizes (store.Sizer)
// so that a read loads at most its budget and one entry; from a store
// that cannot tell sizes, a count guessed from the largest entry so far.
func chunkEnd(ctx context.Context, l *board.Log, next, end, left, largest uint64) (uint64, error) {
	hi := min(end, next+pageChunkMax)
	sizes, ok, err := l.EntrySizes(ctx, next, hi)
	if err != nil {
		return 0, err
	}
	if !ok {
		return min(hi, next+max(1, left/largest)), nil
	}
	k, sum := uint64(0), uint64(0)
	for k < uint64(len(sizes)) && sum < left {
		sum += sizes[k]
		k++
	}
	return next + max(1, k), nil
}

func (s *Server) getEntry(c *gin.Context) {
	h, ok := httpedge.ParseHash32(c.Param("hash"))
	if !ok {
		httpedge.BadRequest(c, "entry hash must be 64 lowercase hex digits")
		return
	}
	etag := "entry-" + c.Param("hash")
	if notModified(c, etag) {
		return
	}
	r, err := logOf(c).EntryByHash(c.Request.Context(), h)
	if errors.Is(err, store.ErrNotFound) {
		httpedge.NotFound(c, "no entry %s", c.Param("hash"))
		return
	}
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	if _, err := bulletin.ParseHeader(r.Data); err != nil {
		httpedge.ServerError(c, err)
		return
	}
	// Streamed as the page is: a mix's view is never built whole.
	immutable(c, etag)
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	w := bufio.NewWriterSize(c.Writer, 32<<10)
	if err := writeEntryJSON(w, r); err != nil {
		httpedge.LogFault(c, fmt.Errorf("api: entry %d: %w", r.Index, err))
		return
	}
	w.Flush()
}

func pathHex(p [][32]byte) []string {
	out := make([]string, len(p))
	for i := range p {
		out[i] = hexLower(p[i][:])
	}
	return out
}

// inclusionProof: ?hash=<entry hash> or ?index=<n>, and optionally
// &size=<tree size> (default: the latest checkpoint's size).
func (s *Server) inclusionProof(c *gin.Context) {
	l := logOf(c)
	var index uint64
	hv, byHash := c.GetQuery("hash")
	iv, byIndex := c.GetQuery("index")
	switch {
	case byHash == byIndex:
		httpedge.BadRequest(c, "give exactly one of hash and index")
		return
	case byHash:
		h, ok := httpedge.ParseHash32(hv)
		if !ok {
			httpedge.BadRequest(c, "hash must be 64 lowercase hex digits")
			return
		}
		if index, ok = l.IndexOf(h); !ok {
			httpedge.NotFound(c, "no entry %s", hv)
			return
		}
	default:
		var ok bool
		if index, ok = httpedge.ParseUint(iv); !ok {
			httpedge.BadRequest(c, "index must be a decimal index")
			return
		}
	}
	size, explicit, ok := s.sizeParam(c, "size")
	if !ok {
		return
	}
	if index >= size {
		httpedge.NotFound(c, "entry %d is not in the tree of size %d", index, size)
		return
	}
	p, err := l.InclusionProof(index, size)
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	recs, err := l.Entries(c.Request.Context(), index, index+1)
	if err == nil && len(recs) != 1 {
		err = fmt.Errorf("api: the log returned %d entries at %d", len(recs), index)
	}
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	lh := bulletin.LeafHash(recs[0].Data)
	if explicit {
		immutable(c, fmt.Sprintf("inclusion-%d-%d", index, size))
	} else {
		fresh(c)
	}
	c.JSON(http.StatusOK, InclusionView{Index: index, Size: size, LeafHash: hexLower(lh[:]), Path: pathHex(p)})
}

// sizeParam reads a tree size parameter, defaulting to the latest
// checkpoint's size; it must not exceed the log's size.
func (s *Server) sizeParam(c *gin.Context, name string) (size uint64, explicit, ok bool) {
	l := logOf(c)
	if v, present := c.GetQuery(name); present {
		if size, ok = httpedge.ParseUint(v); !ok {
			httpedge.BadRequest(c, "%s must be a decimal tree size", name)
			return 0, false, false
		}
		if size > l.Size() {
			httpedge.NotFound(c, "%s %d beyond log size %d", name, size, l.Size())
			return 0, false, false
		}
		return size, true, true
	}
	cp, ok := s.latest(c)
	if !ok {
		return 0, false, false
	}
	return cp.Size, false, true
}

func (s *Server) consistencyProof(c *gin.Context) {
	l := logOf(c)
	first, ok := httpedge.ParseUint(c.Query("first"))
	if !ok {
		httpedge.BadRequest(c, "first must be a decimal tree size")
		return
	}
	second, explicit, ok := s.sizeParam(c, "second")
	if !ok {
		return
	}
	if first > second {
		httpedge.BadRequest(c, "first %d exceeds second %d", first, second)
		return
	}
	p, err := l.ConsistencyProof(first, second)
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	if explicit {
		immutable(c, fmt.Sprintf("consistency-%d-%d", first, second))
	} else {
		fresh(c)
	}
	c.JSON(http.StatusOK, ConsistencyView{First: first, Second: second, Path: pathHex(p)})
}

// getBallot looks a ballot up by its tracking code: the whole code in hex,
// or the part shown to voters (ballot.ShownCode, base32 with or without
// dashes), which the board keeps unique.
func (s *Server) getBallot(c *gin.Context) {
	l := logOf(c)
	code := c.Param("code")
	h, ok := httpedge.ParseHash32(code)
	if !ok {
		shown, err := ballot.ParseShownCode(code)
		if err != nil {
			httpedge.BadRequest(c, "tracking code must be 64 lowercase hex digits or the shown code (32 base32 characters, dashes optional)")
			return
		}
		if h, _, ok = l.LookupKeyPrefix(shown); !ok {
			httpedge.NotFound(c, "no ballot with tracking code %s", code)
			return
		}
	}
	// The tracking code is the log's IndexKey when the server sets one
	// (package ballot's tracking code); the entry hash also works.
	if i, ok := l.LookupKey(h); ok {
		recs, err := l.Entries(c.Request.Context(), i, i+1)
		if err == nil && len(recs) != 1 {
			err = fmt.Errorf("api: the log returned %d entries at %d", len(recs), i)
		}
		if err != nil {
			httpedge.ServerError(c, err)
			return
		}
		h = recs[0].Hash
	}
	r, err := l.EntryByHash(c.Request.Context(), h)
	if errors.Is(err, store.ErrNotFound) || err == nil && r.Type != uint16(bulletin.TypeBallot) {
		httpedge.NotFound(c, "no ballot with tracking code %s", c.Param("code"))
		return
	}
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	v, err := entryView(r)
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	out := BallotView{Entry: v}
	// The latest checkpoint the witnesses cosigned if it covers the
	// ballot (what a voter's check needs), else the latest signed one.
	cp := l.LatestCosigned()
	if cp == nil || r.Index >= cp.Size {
		cp = l.LatestCheckpoint()
	}
	if cp != nil && r.Index < cp.Size {
		p, err := l.InclusionProof(r.Index, cp.Size)
		if err != nil {
			httpedge.ServerError(c, err)
			return
		}
		out.Inclusion = &InclusionView{Index: r.Index, Size: cp.Size, LeafHash: v.LeafHash, Path: pathHex(p)}
		out.Checkpoint = checkpointView(cp)
	}
	fresh(c)
	c.JSON(http.StatusOK, out)
}

// stream sends entries as server-sent events ("event: entry", "id:" the
// index, "data:" the EntryView JSON, or with ?view=index only the index
// and type), starting at ?from= or after the Last-Event-ID, then follows
// the log live. A follower that only waits for the board to grow asks for
// the index view: an entry view of a large mix is hundreds of megabytes
// to build, for each subscriber.
func (s *Server) stream(c *gin.Context) {
	l := logOf(c)
	indexOnly := false
	switch c.Query("view") {
	case "", "entry":
	case "index":
		indexOnly = true
	default:
		httpedge.BadRequest(c, "view must be entry or index")
		return
	}
	next := uint64(0)
	if v := c.GetHeader("Last-Event-ID"); v != "" {
		id, ok := httpedge.ParseUint(v)
		if !ok {
			httpedge.BadRequest(c, "Last-Event-ID must be a decimal index")
			return
		}
		next = id + 1
	} else if v, present := c.GetQuery("from"); present {
		var ok bool
		if next, ok = httpedge.ParseUint(v); !ok {
			httpedge.BadRequest(c, "from must be a decimal index")
			return
		}
	}
	ctx := c.Request.Context()
	sub, err := l.Subscribe(ctx)
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	w := c.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	bw := bufio.NewWriterSize(w, 32<<10)
	largest := uint64(1) // the largest entry sent so far, in bytes
	for {
		for size := l.Size(); next < size; {
			// The entry view is streamed (writeEntryJSON), and the store
			// is asked for about pageBytes of entries at a time (chunkEnd).
			to, err := chunkEnd(ctx, l, next, size, pageBytes, largest)
			if err != nil {
				return
			}
			recs, err := l.Entries(ctx, next, to)
			if err != nil || len(recs) == 0 {
				return
			}
			for _, r := range recs {
				fmt.Fprintf(bw, "id: %s\nevent: entry\ndata: ", strconv.FormatUint(r.Index, 10))
				if indexOnly {
					h, err := bulletin.ParseHeader(r.Data)
					if err != nil {
						return
					}
					b, _ := json.Marshal(struct {
						Index uint64 `json:"index"`
						Type  string `json:"type"`
					}{r.Index, h.Type.String()})
					bw.Write(b)
				} else if err := writeEntryJSON(bw, r); err != nil {
					return
				}
				bw.WriteString("\n\n")
				next, largest = r.Index+1, max(largest, uint64(len(r.Data)))
			}
			if bw.Flush() != nil {
				return
			}
			w.Flush()
		}
		select {
		case <-ctx.Done():
			return
		case _, ok := <-sub:
			if !ok {
				return
			}
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			w.Flush()
		}
	}
}
