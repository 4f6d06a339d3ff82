package ballotbox

import (
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"evote/election"
)

// SetAuditRand makes b draw the order of its audit batches from r.
func SetAuditRand(b *Box, r io.Reader) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.auditRand = r
}

// PublishBatch publishes the pooled audits now, as the flusher does.
func PublishBatch(b *Box) error { return b.publishBatch() }

// Shuffle is the batches' shuffle.
var Shuffle = shuffle

// ResealSnapshot recomputes the MAC of snapshot data with b's key, as
// only the server could: the tests use it to check that the checks
// beyond the MAC refuse a snapshot that does not fit the log.
func ResealSnapshot(b *Box, data []byte) []byte {
	body := data[:len(data)-32]
	return append(append([]byte(nil), body...), b.snapshotMAC(body)...)
}

// DiffBoxes lists the parts of the state and indices in which a and b
// differ (field by field of election.State, then the box's own indices).
func DiffBoxes(a, b *Box) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	var diffs []string
	va, vb := reflect.ValueOf(a.state).Elem(), reflect.ValueOf(b.state).Elem()
	for i := range va.NumField() {
		switch va.Type().Field(i).Name {
		case "ciphertexts", "byCode", "byPseudonym", "credentials":
			// Built differently by a restore (a frozen table) and a
			// replay (a map): compared by content below.
			continue
		}
		fa := reflect.NewAt(va.Field(i).Type(), unsafe.Pointer(va.Field(i).UnsafeAddr())).Elem().Interface()
		fb := reflect.NewAt(vb.Field(i).Type(), unsafe.Pointer(vb.Field(i).UnsafeAddr())).Elem().Interface()
		if !reflect.DeepEqual(fa, fb) {
			diffs = append(diffs, "state."+va.Type().Field(i).Name)
		}
	}
	cts := func(s *election.State) map[[32]byte]uint64 {
		m := map[[32]byte]uint64{}
		s.EachCiphertext(func(k [32]byte, p uint64) { m[k] = p })
		return m
	}
	if !reflect.DeepEqual(cts(a.state), cts(b.state)) {
		diffs = append(diffs, "state.ciphertexts")
	}
	ia, ib := a.state.IndexContents(), b.state.IndexContents()
	for name, x := range ia {
		if !reflect.DeepEqual(x, ib[name]) {
			diffs = append(diffs, "state."+name)
		}
	}
	for name, pair := range map[string][2]any{
		"codes": {a.codes, b.codes}, "ciphertexts": {a.ciphertexts, b.ciphertexts}, "voters": {voterContents(&a.voters), voterContents(&b.voters)},
		"turnout": {a.turnout, b.turnout}, "invalid": {a.invalid, b.invalid}, "election": {a.snap.Load().el, b.snap.Load().el},
		"verifier": {a.snap.Load().verifier == nil, b.snap.Load().verifier == nil}, "nextAuditCheck": {a.nextAuditCheck, b.nextAuditCheck},
		"pool": {len(a.pool), len(b.pool)},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			diffs = append(diffs, name)
		}
	}
	if a.log.Size() != b.log.Size() {
		diffs = append(diffs, fmt.Sprintf("log size %d ≠ %d", a.log.Size(), b.log.Size()))
	}
	if ra, err := a.log.Tree().RootAt(a.log.Size()); err == nil {
		if rb, err := b.log.Tree().RootAt(b.log.Size()); err != nil || ra != rb {
			diffs = append(diffs, "log root")
		}
	}
	return diffs
}

// voterContents is the content of a voter index (frozen or a map), to
// compare two.
func voterContents(m *voterMap) map[[32]byte]voterIndex {
	out := map[[32]byte]voterIndex{}
	m.each(func(p [32]byte, v *voterIndex) {
		if _, dup := out[p]; dup {
			panic(fmt.Sprintf("voter %x twice in the index", p[:4]))
		}
		out[p] = *v
	})
	return out
}
