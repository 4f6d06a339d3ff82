package api

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"evote/bulletin"
	"evote/store"
)

// Byte budget of a page of entries (spec/07-bulletin.md §7.9): a page
// stops at the first entry that brings its canonical bytes to pageBytes or
// beyond (it always holds at least one entry), and the store is asked for
// at most pageChunkMax records at a time, fewer while the entries are
// large, so that one read holds the raw bytes of a few entries, not of a
// whole page of mixes.
const (
	pageBytes    = 4 << 20
	pageChunkMax = 256
)

// writeEntryJSON writes r's EntryView as JSON to w without building it:
// the payload and the canonical encoding, a mix's hundreds of megabytes of
// base64, are encoded straight into w. The bytes are those json.Marshal
// gives for entryView(r) (TestEntryJSONMatchesView).
func writeEntryJSON(w *bufio.Writer, r store.Record) error {
	h, err := bulletin.ParseHeader(r.Data)
	if err != nil {
		return err
	}
	n := int(h.PayloadLen)
	if len(r.Data) != bulletin.HeaderSize+n+64 {
		return fmt.Errorf("api: entry %d is %d bytes, its header says %d", r.Index, len(r.Data), bulletin.HeaderSize+n+64)
	}
	payload, sig := r.Data[bulletin.HeaderSize:bulletin.HeaderSize+n], r.Data[bulletin.HeaderSize+n:]
	lh := bulletin.LeafHash(r.Data)
	typ, _ := json.Marshal(h.Type.String())
	w.WriteString(`{"index":`)
	w.WriteString(strconv.FormatUint(r.Index, 10))
	writeHexField(w, "hash", r.Hash[:])
	writeHexField(w, "leaf_hash", lh[:])
	w.WriteString(`,"version":`)
	w.WriteString(strconv.FormatUint(uint64(h.Version), 10))
	writeHexField(w, "log_id", h.Log[:])
	w.WriteString(`,"type":`)
	w.Write(typ)
	w.WriteString(`,"type_code":`)
	w.WriteString(strconv.FormatUint(uint64(h.Type), 10))
	writeHexField(w, "author", h.Author[:])
	writeB64Field(w, "payload", payload)
	writeHexField(w, "signature", sig)
	writeB64Field(w, "canonical", r.Data)
	return w.WriteByte('}')
}

func writeHexField(w *bufio.Writer, name string, b []byte) {
	w.WriteString(`,"` + name + `":"`)
	hex.NewEncoder(w).Write(b)
	w.WriteByte('"')
}

func writeB64Field(w *bufio.Writer, name string, b []byte) {
	w.WriteString(`,"` + name + `":"`)
	enc := base64.NewEncoder(base64.StdEncoding, w)
	enc.Write(b)
	enc.Close()
	w.WriteByte('"')
}

// pageWriter streams an EntriesPage: the head, then each entry as it is
// read from the store, then the end with next.
type pageWriter struct {
	w     *bufio.Writer
	count int
}

func newPageWriter(out io.Writer, start, size uint64) *pageWriter {
	p := &pageWriter{w: bufio.NewWriterSize(out, 32<<10)}
	fmt.Fprintf(p.w, `{"start":%d,"size":%d,"entries":[`, start, size)
	return p
}

func (p *pageWriter) entry(r store.Record) error {
	if p.count > 0 {
		p.w.WriteByte(',')
	}
	p.count++
	return writeEntryJSON(p.w, r)
}

// finish closes the page; next is nil at the end of the log.
func (p *pageWriter) finish(next *uint64) error {
	p.w.WriteByte(']')
	if next != nil {
		fmt.Fprintf(p.w, `,"next":%d`, *next)
	}
	p.w.WriteByte('}')
	return p.w.Flush()
}
