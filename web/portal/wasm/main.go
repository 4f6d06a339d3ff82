//go:build js && wasm

// Command wasm is the observers' portal's WebAssembly module
// (spec/16-portal.md): the auditor's verifier (package verify) and the portal's decoders
// (package view), run in a Web Worker. It defines one JavaScript function,
//
//	evotePortal(op, argJSON, done, progress)
//
// which runs op in a goroutine and calls done(resultJSON, error) once;
// progress(stage, done, total) is called along the way by "verify". The
// ops:
//
//   - "describe" {manifest} → view.Election;
//   - "checkpoint" {manifest, note} → view.Checkpoint;
//   - "manifest_entry" {manifest, canonical, size, root, path} → {ok}: the
//     board's first entry, checked to be the log's first entry in that
//     checkpoint's tree (view.CheckManifestEntry); its author is then the
//     election authority for every op below, and no other source is;
//   - "entries" {manifest, entries: [{index, canonical}]} → [view.Entry];
//   - "result" {manifest, canonical, index, size, root, path, lang} →
//     {results, csv, included};
//   - "lifecycle" {manifest, size, root, entries: [{index, phase,
//     canonical, path}]} → [view.Mark];
//   - "inclusion" {canonical, index, size, path, root} and "consistency"
//     {size, size2, path, root, root2} → {ok, error};
//   - "ballot_code" {canonical, number} → {ok, error}: the entry is the
//     ballot with the tracking code typed;
//   - "receipt" {number} → {row_hash, receipt_number}; "row" {manifest,
//     number, index, slot, style, position, canonical, note, proof} →
//     {place, checkpoint, included, error};
//   - "verify" {fingerprint, base, partial} → {report, text}.
//
// Binary values are standard base64.
//
// "verify" takes the fingerprint the observer typed (the only trust
// input), finds the board of the election that has it under base (the
// origin serving /api/v1), downloads the record page by page through the
// board's public read routes and verifies it as it arrives, exactly as
// evote-verify does.
package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"syscall/js"
	"time"

	"evote/ballot"
	"evote/ballot/revoterow"
	"evote/verify"
	"evote/web/portal/view"
)

func main() {
	js.Global().Set("evotePortal", js.FuncOf(call))
	select {}
}

// decoders keeps one view.Decoder per manifest, so that ballots decoded
// after their credential are named by pseudonym across pages.
var decoders = map[string]*view.Decoder{}

// firsts holds, per manifest, the board's first entry once the op
// "manifest_entry" checked it is the log's first entry in a cosigned
// checkpoint: the only source of the election authority's key for the
// other ops, whatever manifest_entry the page passes them.
var firsts = map[string][]byte{}

// first is the checked first entry of the manifest's board.
func first(manifest string) ([]byte, error) {
	me, ok := firsts[manifest]
	if !ok {
		return nil, fmt.Errorf("portal: the board's first entry is not checked (no cosigned checkpoint includes it yet)")
	}
	return me, nil
}

func call(_ js.Value, args []js.Value) any {
	if len(args) < 3 {
		return nil
	}
	op, arg, done := args[0].String(), args[1].String(), args[2]
	var progress js.Value
	if len(args) > 3 {
		progress = args[3]
	}
	go func() {
		out, err := run(op, arg, progress)
		if err != nil {
			done.Invoke(js.Null(), err.Error())
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			done.Invoke(js.Null(), err.Error())
			return
		}
		done.Invoke(string(b), js.Null())
	}()
	return nil
}

type args struct {
	Manifest string `json:"manifest"`
	Entries  []struct {
		Index     uint64   `json:"index"`
		Canonical string   `json:"canonical"`
		Phase     string   `json:"phase"` // lifecycle
		Path      []string `json:"path"`  // lifecycle: inclusion proof, hex
	} `json:"entries"`
	Lang        string   `json:"lang"`
	Note        string   `json:"note"`
	Index       uint64   `json:"index"`
	Size        uint64   `json:"size"`
	Size2       uint64   `json:"size2"`
	Canonical   string   `json:"canonical"`
	Number      string   `json:"number"`
	Slot        uint32   `json:"slot"`
	Style       string   `json:"style"`
	Position    int      `json:"position"`
	Proof       []string `json:"proof"` // base64url, as the box's row receipt has it
	Path        []string `json:"path"`
	Root        string   `json:"root"`
	Root2       string   `json:"root2"`
	Fingerprint string   `json:"fingerprint"`
	Base        string   `json:"base"`
	Partial     bool     `json:"partial"`
}

func b64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("portal: not base64: %w", err)
	}
	return b, nil
}

func run(op, raw string, progress js.Value) (any, error) {
	var a args
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	var manifest []byte
	if a.Manifest != "" {
		var err error
		if manifest, err = b64(a.Manifest); err != nil {
			return nil, err
		}
	}
	switch op {
	case "describe":
		return view.Describe(manifest)
	case "entries":
		d := decoders[a.Manifest]
		if d == nil {
			var err error
			if d, err = view.NewDecoder(manifest); err != nil {
				return nil, err
			}
			decoders[a.Manifest] = d
		}
		if me, err := first(a.Manifest); err == nil {
			if err := d.SetManifestEntry(me); err != nil {
				return nil, err
			}
		}
		out := []any{}
		for _, e := range a.Entries {
			c, err := b64(e.Canonical)
			if err != nil {
				return nil, err
			}
			v, err := d.Entry(e.Index, c)
			if err != nil {
				out = append(out, map[string]any{"index": e.Index, "error": err.Error()})
				continue
			}
			out = append(out, v)
		}
		return out, nil
	case "result":
		return checkResult(manifest, a)
	case "manifest_entry":
		me, err := b64(a.Canonical)
		if err != nil {
			return nil, err
		}
		if err := view.CheckManifestEntry(manifest, me, a.Size, a.Root, a.Path); err != nil {
			return nil, err
		}
		firsts[a.Manifest] = me
		return map[string]bool{"ok": true}, nil
	case "ballot_code":
		c, err := b64(a.Canonical)
		if err != nil {
			return nil, err
		}
		return proofAnswer(view.CheckBallotCode(c, a.Number)), nil
	case "lifecycle":
		me, err := first(a.Manifest)
		if err != nil {
			return nil, err
		}
		var les []view.LifecycleEntry
		for _, e := range a.Entries {
			c, err := b64(e.Canonical)
			if err != nil {
				return nil, err
			}
			les = append(les, view.LifecycleEntry{Index: e.Index, Phase: e.Phase, Canonical: c, Path: e.Path})
		}
		return view.Lifecycle(manifest, me, les, a.Size, a.Root), nil
	case "checkpoint":
		return view.CheckCheckpoint(manifest, []byte(a.Note))
	case "inclusion":
		c, err := b64(a.Canonical)
		if err != nil {
			return nil, err
		}
		return proofAnswer(view.CheckInclusion(c, a.Index, a.Size, a.Path, a.Root)), nil
	case "consistency":
		return proofAnswer(view.CheckConsistency(a.Size, a.Size2, a.Path, a.Root, a.Root2)), nil
	case "receipt":
		h, err := revoterow.ParseReceiptNumber(a.Number)
		if err != nil {
			return nil, err
		}
		return map[string]string{"row_hash": base64.RawURLEncoding.EncodeToString(h[:]), "receipt_number": revoterow.ReceiptNumber(h)}, nil
	case "row":
		return checkRow(manifest, a)
	case "verify":
		return verifyBoard(a.Fingerprint, a.Base, a.Partial, progress)
	}
	return nil, fmt.Errorf("portal: unknown op %q", op)
}

// checkResult lays out the result entry the page fetched (view.ResultEntry:
// its own bytes, signed by the election authority) and checks its
// inclusion in the page's cosigned checkpoint (size, root) when that
// covers it: included is false, with no error, when it does not yet.
func checkResult(manifest []byte, a args) (any, error) {
	me, err := first(a.Manifest)
	if err != nil {
		return nil, err
	}
	c, err := b64(a.Canonical)
	if err != nil {
		return nil, err
	}
	r, err := view.ResultEntry(manifest, me, c)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"results": r, "csv": string(r.CSV(a.Lang)), "included": false}
	if a.Index < a.Size {
		if err := view.CheckInclusion(c, a.Index, a.Size, a.Path, a.Root); err != nil {
			return nil, err
		}
		out["included"] = true
	}
	return out, nil
}

// checkRow checks the box's receipt of a row found by its receipt number
// (deniable re-voting mode, spec §15.9): the row in the slot entry
// fetched from the board (view.CheckRow), the receipt's checkpoint
// against the manifest's anchors, and the slot entry's inclusion in it.
func checkRow(manifest []byte, a args) (any, error) {
	h, err := revoterow.ParseReceiptNumber(a.Number)
	if err != nil {
		return nil, err
	}
	me, err := first(a.Manifest)
	if err != nil {
		return nil, err
	}
	se, err := b64(a.Canonical)
	if err != nil {
		return nil, err
	}
	place, err := view.CheckRow(manifest, me, h, a.Index, a.Slot, a.Style, a.Position, se)
	if err != nil {
		return nil, err
	}
	cp, err := view.CheckCheckpoint(manifest, []byte(a.Note))
	if err != nil {
		return nil, err
	}
	out := map[string]any{"place": place, "checkpoint": cp, "included": false}
	if !cp.Valid {
		out["error"] = cp.Error
		return out, nil
	}
	path := make([]string, len(a.Proof))
	for i, p := range a.Proof {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return nil, fmt.Errorf("portal: proof hash %d is not base64url: %w", i, err)
		}
		path[i] = hex.EncodeToString(b)
	}
	if err := view.CheckInclusion(se, a.Index, cp.Size, path, cp.Root); err != nil {
		out["error"] = err.Error()
	} else {
		out["included"] = true
	}
	return out, nil
}

func proofAnswer(err error) map[string]any {
	if err != nil {
		return map[string]any{"ok": false, "error": err.Error()}
	}
	return map[string]any{"ok": true}
}

// verifyBoard is evote-verify --fingerprint FP [--partial] BASE, in the
// browser: like it, it verifies the record as it downloads, page by page
// (verify.FetchStream, verify.VerifyStream), so that the module's memory
// grows with the ballots counted, not with the record's size; a page
// request failing in transit is retried from that page (verify's
// BoardReader). Progress: "download" (entries fetched) and "verify"
// (entries checked), interleaved.
func verifyBoard(fingerprint, base string, partial bool, progress js.Value) (any, error) {
	fp, err := ballot.ParseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	report := func(stage string, done, total uint64) {
		if progress.Type() == js.TypeFunction {
			progress.Invoke(stage, float64(done), float64(total))
		}
	}
	ctx := context.Background()
	start := time.Now()
	board, err := verify.FindBoard(ctx, nil, base, fp)
	if err != nil {
		return nil, err
	}
	note, entries, err := verify.FetchStream(ctx, nil, board, func(done, total uint64) { report("download", done, total) })
	if err != nil {
		return nil, err
	}
	timed := &timedReader{r: entries, wait: time.Since(start)}
	rep, err := verify.VerifyStream(note, timed, verify.Options{Fingerprint: fp, Partial: partial, Workers: 1, Progress: report})
	if err != nil {
		return nil, err
	}
	var text strings.Builder
	rep.WriteText(&text)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{"report": rep, "text": text.String(), "download_seconds": timed.wait.Seconds(),
		"heap_sys": ms.HeapSys, "sys": ms.Sys, "total_seconds": time.Since(start).Seconds()}, nil
}

// timedReader adds up the time spent waiting for the board (from the
// start, the board's search and checkpoint, then each wait for entries):
// the download, which overlaps the verification when streamed.
type timedReader struct {
	r    io.Reader
	wait time.Duration
}

func (t *timedReader) Read(p []byte) (int, error) {
	s := time.Now()
	n, err := t.r.Read(p)
	t.wait += time.Since(s)
	return n, err
}
