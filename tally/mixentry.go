package tally

import (
	"fmt"

	"evote/crypto/shuffle"
	"evote/internal/wire"
)

// A MixEntry is the payload of a mix-output entry (spec §9.7, chapter 6):
// trustee Mixer's shuffle of one contest's current list, named by its
// digest, with the output rows and the proof of shuffle.
type MixEntry struct {
	ElectionID string
	ContestID  string
	Mixer      uint32
	Input      [32]byte // shuffle.Rows.Digest of the list shuffled
	Output     *shuffle.Rows
	Proof      *shuffle.Proof
}

const mixFormat = 1

// maxMixBytes bounds each of the output and proof encodings.
const maxMixBytes = 1 << 30

// Encode returns u8(1) || string(election) || string(contest) ||
// u32(mixer) || Hash(input) || bytes(Rows) || bytes(Proof).
func (m *MixEntry) Encode() []byte {
	out, proof := m.Output.Bytes(), m.Proof.Bytes()
	w := wire.NewWriter(100 + len(out) + len(proof))
	w.U8(mixFormat)
	w.String(m.ElectionID)
	w.String(m.ContestID)
	w.U32(m.Mixer)
	w.Fixed(m.Input[:])
	w.VarBytes(out)
	w.VarBytes(proof)
	return w.Bytes()
}

// DecodeMixEntry parses a canonical mix entry (every element of the output
// and proof is checked to be canonical). The proof holds b, which the
// caller must not modify while the entry is in use; the output rows are a
// copy.
func DecodeMixEntry(b []byte) (*MixEntry, error) {
	r := wire.NewReader(b)
	if v := r.U8("format"); r.Err() == nil && v != mixFormat {
		return nil, fmt.Errorf("%w: mix entry format %d", ErrMalformed, v)
	}
	m := &MixEntry{ElectionID: r.String(64, "election id"), ContestID: r.String(64, "contest id"), Mixer: r.U32("mixer")}
	copy(m.Input[:], r.Fixed(32, "input digest"))
	out := r.VarBytes(maxMixBytes, "output rows")
	proof := r.VarBytes(maxMixBytes, "proof")
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var err error
	if m.Output, err = shuffle.ParseRows(out); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	// The proof is read once, to verify it: it holds b rather than a copy
	// (the output rows, which the chain keeps, are copied).
	if m.Proof, err = shuffle.ParseProofAliasing(proof); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}
