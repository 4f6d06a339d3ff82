//go:build js && wasm

// Command wasm is the voting page's WebAssembly module (spec/14-web.md
// §14.3): package webclient exposed to the page's JavaScript as the global
// object evoteCore. Every function takes and returns strings, numbers,
// arrays and plain objects; binary values are base64 (url-safe without
// padding, or standard, on input; url-safe without padding on output).
// Failures are returned as {"error": "..."}, never thrown as panics.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"syscall/js"

	"evote/ballot"
	webclient "evote/web/client"
)

var (
	el  *webclient.Election
	dev *webclient.Device
)

var b64 = base64.RawURLEncoding

func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "+/=") {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return b64.Strict().DecodeString(s)
}

func fail(err error) any { return map[string]any{"error": err.Error()} }

func strs(v js.Value) []string {
	out := make([]string, v.Length())
	for i := range out {
		out[i] = v.Index(i).String()
	}
	return out
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// receipt reads {tracking_code?, index, checkpoint, inclusion_proof: [b64 or hex]}.
func receipt(v js.Value) (webclient.Receipt, error) {
	var r webclient.Receipt
	if tc := v.Get("tracking_code"); tc.Type() == js.TypeString {
		b, err := decodeB64(tc.String())
		if err != nil {
			return r, errors.New("wasm: bad tracking code")
		}
		r.TrackingCode = b
	}
	r.Index = uint64(v.Get("index").Int())
	r.Checkpoint = v.Get("checkpoint").String()
	for _, h := range strs(v.Get("inclusion_proof")) {
		b, err := hex.DecodeString(h)
		if len(h) != 64 || err != nil {
			b, err = decodeB64(h)
		}
		if err != nil || len(b) != 32 {
			return r, errors.New("wasm: bad inclusion proof hash")
		}
		r.InclusionProof = append(r.InclusionProof, [32]byte(b))
	}
	return r, nil
}

func loadElection(_ js.Value, a []js.Value) any {
	var raws [][]byte
	for _, s := range strs(a[1]) {
		b, err := decodeB64(s)
		if err != nil {
			return fail(err)
		}
		raws = append(raws, b)
	}
	e, err := webclient.LoadElection(a[0].String(), raws)
	if err != nil {
		return fail(err)
	}
	el, dev = e, nil
	lang := a[2].String()
	return map[string]any{"election_id": e.Manifest.ElectionID, "title": e.Manifest.Title.Get(lang),
		"revote": e.Manifest.Revote == ballot.LastBallotCounts,
		// Deniable re-voting mode (spec chapter 15): rows, slots of
		// slot_seconds from voting_start; audits open the row's flag too.
		"coercion": e.Manifest.Coercion.Mode == ballot.DeniableRevoting, "slot_seconds": float64(e.Manifest.Coercion.SlotSeconds),
		"voting_start": float64(e.Manifest.VotingStart), "client_hash": hex.EncodeToString(e.Manifest.ClientHash[:]),
		"voting_end": float64(e.Manifest.VotingEnd), "log": hex.EncodeToString(e.Log[:]),
		// The fingerprint (manifest hash, §9.1) for the voter to compare
		// with the officials' publication, and the manifest's author.
		"fingerprint": e.Manifest.Fingerprint().String(), "fingerprint_hex": e.Manifest.Fingerprint().Hex(),
		"authority": hex.EncodeToString(e.Authority[:]),
		// Whose election and where to get help, in the four languages (the
		// page switches language without asking the module again), and
		// the emblem's bytes: all from the manifest just checked, so under
		// the fingerprint, never from the server's say-so.
		"authority_name": texts(e.Manifest.Authority.Name), "authority_help": texts(e.Manifest.Authority.Help),
		"emblem": b64.EncodeToString(e.Manifest.Authority.Emblem), "emblem_type": e.Manifest.Authority.EmblemType()}
}

// texts returns a manifest text as {ky, ru, uz, en}.
func texts(t ballot.Text) map[string]any {
	out := map[string]any{}
	for _, l := range ballot.Languages {
		out[l] = t.Get(l)
	}
	return out
}

func newDevice(js.Value, []js.Value) any {
	if el == nil {
		return fail(errors.New("wasm: no election"))
	}
	d, err := webclient.NewDevice(el, nil)
	if err != nil {
		return fail(err)
	}
	dev = d
	pub := d.Public()
	return map[string]any{"device_key": b64.EncodeToString(pub[:])}
}

func contests(_ js.Value, a []js.Value) any {
	if dev == nil {
		return fail(errors.New("wasm: no device"))
	}
	if err := dev.SetStyle(a[0].String()); err != nil {
		return fail(err)
	}
	cs, err := el.Contests(a[0].String(), a[1].String())
	if err != nil {
		return fail(err)
	}
	var out []any
	for _, c := range cs {
		out = append(out, map[string]any{"id": c.ID, "title": c.Title, "multi": c.Multi, "max": c.Max, "candidates": anys(c.Candidates)})
	}
	return map[string]any{"contests": out}
}

// prepare reads {contest id: [indices]}.
func prepare(_ js.Value, a []js.Value) any {
	if dev == nil {
		return fail(errors.New("wasm: no device"))
	}
	sel := ballot.Selection{}
	keys := js.Global().Get("Object").Call("keys", a[0])
	for _, k := range strs(keys) {
		v := a[0].Get(k)
		for i := 0; i < v.Length(); i++ {
			sel[k] = append(sel[k], v.Index(i).Int())
		}
	}
	code, err := dev.Prepare(sel, nil)
	if err != nil {
		return fail(err)
	}
	return map[string]any{"tracking_code": code.String()}
}

// audit(lang): the opening and what the page sends with it as the
// audit's ballot: the prepared ballot, or in deniable re-voting mode the
// prepared row, whose flag the opening opens too (spec §15.9).
func audit(_ js.Value, a []js.Value) any {
	if dev == nil {
		return fail(errors.New("wasm: no device"))
	}
	audited, shown, desc, err := dev.Audit(a[0].String())
	if err != nil {
		return fail(err)
	}
	in, err := el.DescribeOpening(audited)
	if err != nil {
		return fail(err)
	}
	return map[string]any{"audited": b64.EncodeToString(audited), "ballot": b64.EncodeToString(shown), "opened": anys(desc), "opened_in": textsIn(in)}
}

func cast(js.Value, []js.Value) any {
	if dev == nil {
		return fail(errors.New("wasm: no device"))
	}
	e, err := dev.Cast()
	if err != nil {
		return fail(err)
	}
	return map[string]any{"entry": b64.EncodeToString(e)}
}

func checkReceipt(_ js.Value, a []js.Value) any {
	if dev == nil || el == nil {
		return fail(errors.New("wasm: no device"))
	}
	// The manifest's anchors, not keys the server lists beside it.
	t := el.Trust()
	r, err := receipt(a[0])
	if err != nil {
		return fail(err)
	}
	cp, err := dev.CheckReceipt(r, t)
	if err != nil {
		return fail(err)
	}
	return map[string]any{"size": float64(cp.Size), "root": hex.EncodeToString(cp.Root[:]), "witnesses": t.Quorum}
}

// checkEntry(canonical, pseudonym hex, receipt-like {index, checkpoint,
// inclusion_proof}), checked against the manifest's anchors.
func checkEntry(_ js.Value, a []js.Value) any {
	if el == nil {
		return fail(errors.New("wasm: no election"))
	}
	raw, err := decodeB64(a[0].String())
	if err != nil {
		return fail(err)
	}
	ps, err := hex.DecodeString(a[1].String())
	if err != nil || len(ps) != 32 {
		return fail(errors.New("wasm: bad pseudonym"))
	}
	r, err := receipt(a[2])
	if err != nil {
		return fail(err)
	}
	t := el.Trust()
	var own [32]byte
	if dev != nil {
		own = dev.Public()
	}
	it, err := el.CheckPseudonymEntry(raw, [32]byte(ps), r, t, own)
	if err != nil {
		return fail(err)
	}
	out := map[string]any{"index": float64(it.Index), "kind": it.Kind, "device_key": hex.EncodeToString(it.DeviceKey[:8]), "mine": it.Mine}
	if it.Kind == "ballot" {
		out["tracking_code"] = it.Code.String()
	} else {
		out["issued_at"] = float64(it.IssuedAt)
	}
	return out
}

// checkAudit(answer of GET /elections/{id}/audits/{code}, the code as
// typed, lang): the second device's check of a Benaloh audit, pending or
// published, against the manifest's anchors.
func checkAudit(_ js.Value, a []js.Value) any {
	if el == nil {
		return fail(errors.New("wasm: no election"))
	}
	ans := a[0]
	prepared, err := decodeB64(ans.Get("ballot").String())
	if err != nil {
		return fail(errors.New("wasm: bad ballot"))
	}
	entry, err := decodeB64(ans.Get("entry").String())
	if err != nil {
		return fail(errors.New("wasm: bad entry"))
	}
	t := el.Trust()
	var r *webclient.Receipt
	if ans.Get("status").String() == "published" {
		rr, err := receipt(ans)
		if err != nil {
			return fail(err)
		}
		r = &rr
	}
	ac, err := el.CheckAudit(a[1].String(), prepared, entry, r, t, a[2].String())
	if err != nil {
		return fail(err)
	}
	return map[string]any{"tracking_code": ac.Code.String(), "published": ac.Published, "index": float64(ac.Index), "opened": anys(ac.Opened),
		"opened_in": textsIn(ac.OpenedIn)}
}

// textsIn returns lines per language as {ky: [...], ru: [...], ...}: what
// an audit opens to, for the page to redraw on a language switch.
func textsIn(in map[string][]string) map[string]any {
	out := map[string]any{}
	for l, ss := range in {
		out[l] = anys(ss)
	}
	return out
}

// checkCredential(token response): the members pseudonym (hex),
// ballot_style, revote_credential, revote_credential_sig and revote_s of
// the identity service's answer in deniable re-voting mode, checked
// against the manifest's identity key and election key
// (webclient.Device.CheckCredential). The device forgets s either way.
func checkCredential(_ js.Value, a []js.Value) any {
	if dev == nil {
		return fail(errors.New("wasm: no device"))
	}
	tok := a[0]
	var tc webclient.TokenCredential
	ps, err := hex.DecodeString(tok.Get("pseudonym").String())
	if err != nil || len(ps) != 32 {
		return fail(errors.New("wasm: bad pseudonym"))
	}
	tc.Pseudonym, tc.Style = [32]byte(ps), tok.Get("ballot_style").String()
	get := func(k string) []byte {
		if v := tok.Get(k); v.Type() == js.TypeString {
			if b, err := decodeB64(v.String()); err == nil {
				return b
			}
		}
		return nil
	}
	tc.Credential, tc.S = get("revote_credential"), get("revote_s")
	sg := get("revote_credential_sig")
	if tc.Credential == nil || len(sg) != 64 {
		return fail(errors.New("wasm: the sign-in answered no credential"))
	}
	tc.CredentialSig = [64]byte(sg)
	if err := dev.CheckCredential(tc); err != nil {
		return fail(err)
	}
	return map[string]any{"ballot_style": dev.Style()}
}

// castRow(): the row prepare made of the prepared ballot, signed; the
// device forgets its key and the ballot's and flag's randomness
// (webclient.Device.CastRow).
func castRow(js.Value, []js.Value) any {
	if dev == nil {
		return fail(errors.New("wasm: no device"))
	}
	row, h, err := dev.CastRow(nil)
	if err != nil {
		return fail(err)
	}
	return map[string]any{"row": b64.EncodeToString(row), "row_hash": b64.EncodeToString(h[:])}
}

// rowReceipt reads the box's answer for a published row (api.RowView).
func rowReceipt(v js.Value) (webclient.RowReceipt, error) {
	var r webclient.RowReceipt
	if v.Get("status").String() != "published" {
		return r, errors.New("wasm: the row is not published yet")
	}
	h, err := decodeB64(v.Get("row_hash").String())
	if err != nil || len(h) != 32 {
		return r, errors.New("wasm: bad row hash")
	}
	r.RowHash = [32]byte(h)
	if r.Receipt, err = receipt(v); err != nil {
		return r, err
	}
	r.Slot, r.Style, r.Position = uint32(v.Get("slot").Int()), v.Get("ballot_style").String(), v.Get("position").Int()
	return r, nil
}

func placeOf(p *webclient.RowPlace) any {
	return map[string]any{"index": float64(p.Index), "slot": float64(p.Slot), "ballot_style": p.Style, "position": p.Position,
		"tracking_code": p.Code.String(), "size": float64(p.Size), "witnesses": el.Trust().Quorum}
}

// checkRowReceipt(row view, slot entry): the receipt of the row this
// device cast, against the slot entry fetched from the board at its index
// and the manifest's anchors (webclient.Device.CheckRowReceipt).
func checkRowReceipt(_ js.Value, a []js.Value) any {
	if dev == nil || el == nil {
		return fail(errors.New("wasm: no device"))
	}
	r, err := rowReceipt(a[0])
	if err != nil {
		return fail(err)
	}
	entry, err := decodeB64(a[1].String())
	if err != nil {
		return fail(errors.New("wasm: bad entry"))
	}
	p, err := dev.CheckRowReceipt(r, entry, el.Trust())
	if err != nil {
		return fail(err)
	}
	return placeOf(p)
}

// checkRow(row hash, row view, slot entry): "check my ballot" by row hash
// in deniable re-voting mode (webclient.Election.CheckRowOnBoard): where
// the row is on the board, never whether it counts.
func checkRow(_ js.Value, a []js.Value) any {
	if el == nil {
		return fail(errors.New("wasm: no election"))
	}
	h, err := decodeB64(a[0].String())
	if err != nil || len(h) != 32 {
		return fail(errors.New("wasm: bad row hash"))
	}
	r, err := rowReceipt(a[1])
	if err != nil {
		return fail(err)
	}
	entry, err := decodeB64(a[2].String())
	if err != nil {
		return fail(errors.New("wasm: bad entry"))
	}
	p, err := el.CheckRowOnBoard([32]byte(h), r, entry, el.Trust())
	if err != nil {
		return fail(err)
	}
	return placeOf(p)
}

func parseCode(_ js.Value, a []js.Value) any {
	c, err := webclient.ParseTrackingCode(a[0].String())
	if err != nil {
		return fail(err)
	}
	return map[string]any{"tracking_code": c}
}

func main() {
	fns := map[string]func(js.Value, []js.Value) any{
		"loadElection": loadElection, "newDevice": newDevice, "contests": contests, "prepare": prepare,
		"audit": audit, "cast": cast, "checkReceipt": checkReceipt, "checkEntry": checkEntry, "parseCode": parseCode,
		"checkAudit": checkAudit, "checkCredential": checkCredential, "castRow": castRow, "checkRowReceipt": checkRowReceipt,
		"checkRow": checkRow,
	}
	core := js.Global().Get("Object").New()
	for name, f := range fns {
		core.Set(name, js.FuncOf(func(this js.Value, args []js.Value) (ret any) {
			defer func() {
				if p := recover(); p != nil {
					ret = map[string]any{"error": "wasm: internal error"}
				}
			}()
			return f(this, args)
		}))
	}
	js.Global().Set("evoteCore", core)
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("evote-ready"))
	select {}
}
