package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"evote/ballot"
	"evote/ballotbox/boxtest"
	"evote/election"
)

// TestRevoteRoutes: the routes of deniable re-voting (spec §15.16.3-4):
// a cast row is queued (202) and looked up by its hash, a retry answers
// the same; an online ballot beyond M − 1 is refused (409
// revote_limit); a mark with a forged signature is refused (422
// mark_invalid); an unknown row is 404.
func TestRevoteRoutes(t *testing.T) {
	e := newEnvWith(t, envOptions{coercion: ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 8, MaxBallots: 2}})
	f := e.f
	var style string
	f.Box.WithState(func(s *election.State) { style = s.Manifest.BallotStyles[0].ID })
	body := func(v any) []byte { b, _ := json.Marshal(v); return b }
	path := "/elections/" + f.ElectionID + "/revote/"
	var p [32]byte
	p[0] = 7
	cast := func() (int, map[string]any, []byte, *boxtest.RevoteVoter) {
		v, err := f.SignInRevote(p, style)
		if err != nil {
			t.Fatal(err)
		}
		row, err := f.Row(v, f.Selection(1, style))
		if err != nil {
			t.Fatal(err)
		}
		st, out := e.do(t, "POST", path+"rows", v.Token, "application/json", body(map[string]string{"row": b64(row)}))
		return st, out, row, v
	}
	st, out, row, v := cast()
	if st != http.StatusAccepted || out["status"] != "queued" || out["row_hash"] == "" {
		t.Fatalf("cast: %d %v", st, out)
	}
	h := out["row_hash"].(string)
	if st, out := e.do(t, "GET", path+"rows/"+h, "", "", nil); st != http.StatusAccepted || out["status"] != "queued" {
		t.Errorf("look-up: %d %v", st, out)
	}
	if st, out := e.do(t, "POST", path+"rows", v.Token, "application/json", body(map[string]string{"row": b64(row)})); st != http.StatusAccepted || out["row_hash"] != h {
		t.Errorf("retry: %d %v", st, out)
	}
	if st, out, _, _ := cast(); st != http.StatusConflict || errCode(out) != "revote_limit" {
		t.Errorf("a second online ballot with M = 2: %d %v", st, out)
	}
	p[0] = 8
	mv, err := f.MarkSignIn(p, style)
	if err != nil {
		t.Fatal(err)
	}
	mrow, op, err := f.MarkRow(mv)
	if err != nil {
		t.Fatal(err)
	}
	op.StationSig[0] ^= 1
	mark := map[string]string{"row": b64(mrow), "randomness": b64(op.Randomness.Bytes()), "station_id": op.StationID, "station_key": b64(op.StationKey[:]),
		"official_id": op.OfficialID, "official_key": b64(op.OfficialKey[:]), "station_sig": b64(op.StationSig[:]), "official_sig": b64(op.OfficialSig[:])}
	if st, out := e.do(t, "POST", path+"marks", mv.Token, "application/json", body(mark)); st != http.StatusUnprocessableEntity || errCode(out) != "mark_invalid" {
		t.Errorf("forged mark: %d %v", st, out)
	}
	op.StationSig[0] ^= 1
	mark["station_sig"] = b64(op.StationSig[:])
	if st, out := e.do(t, "POST", path+"marks", mv.Token, "application/json", body(mark)); st != http.StatusAccepted {
		t.Errorf("mark: %d %v", st, out)
	}
	if st, out := e.do(t, "GET", path+"rows/"+b64(make([]byte, 32)), "", "", nil); st != http.StatusNotFound {
		t.Errorf("unknown row: %d %v", st, out)
	}
}

// errCode is the error code of an error answer.
func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}
