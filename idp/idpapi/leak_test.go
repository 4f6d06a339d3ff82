package idpapi

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// identityStrings lists every PIN, document number and phone number the
// test world knows, in the forms they could leak in.
func (e *env) identityStrings() []string {
	var out []string
	for _, p := range e.sim.People() {
		out = append(out, p.PIN.Digits(), p.DocumentNumber, p.Phone, strings.TrimPrefix(p.Phone, "+"))
	}
	return append(out, "+905321234567", "905321234567")
}

// findLeak returns the first identity string contained in data, or "".
func findLeak(data []byte, ids []string) string {
	for _, s := range ids {
		if bytes.Contains(data, []byte(s)) {
			return s
		}
	}
	return ""
}

// checkNoLeaks scans every board entry, every info-level log line and the
// access log for PINs, document numbers and phone numbers. newEnv registers
// it to run after each end-to-end test.
func (e *env) checkNoLeaks() {
	t := e.t
	ids := e.identityStrings()
	e.board.mu.Lock()
	entries := append([]boardEntry(nil), e.board.entries...)
	e.board.mu.Unlock()
	if len(entries) == 0 {
		t.Error("leak scan: no board entries at all")
	}
	for i, en := range entries {
		if s := findLeak(en.Payload, ids); s != "" {
			t.Errorf("board entry %d (type 0x%04x) contains identity data", i, en.Type)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"auth event"`) {
		t.Error("leak scan: the service logged nothing at info level")
	}
	for i, line := range strings.Split(logs, "\n") {
		if s := findLeak([]byte(line), ids); s != "" {
			t.Errorf("log line %d contains identity data: %s", i, strings.ReplaceAll(line, s, "<redacted>"))
		}
	}
	ev, err := e.store.AccessLog(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ev {
		if s := findLeak([]byte(x.Client+" "+x.Subject+" "+x.Event+" "+x.Outcome), ids); s != "" {
			t.Errorf("access log event contains identity data")
		}
	}
}

// TestLeakScannerFindsPlantedData shows the scan is not vacuous.
func TestLeakScannerFindsPlantedData(t *testing.T) {
	e := newEnv(t)
	ids := e.identityStrings()
	p := e.sim.People()[7]
	for _, planted := range []string{"x" + p.PIN.Digits() + "y", "doc " + p.DocumentNumber, "tel " + strings.TrimPrefix(p.Phone, "+")} {
		if findLeak([]byte(planted), ids) == "" {
			t.Errorf("scanner missed %q", planted)
		}
	}
	if findLeak([]byte("pseudonym 3f2a…, ballot style KG-ABR-01"), ids) != "" {
		t.Error("scanner flags harmless text")
	}
}
