package webclient

import (
	"bytes"
	"errors"
	"fmt"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/wire"
)

// extractionProofTag opens the context of a dealer's proof of knowledge
// of its contribution a_i0 (spec §5.6; threshold.ExtractionProofTag,
// which the page does not link).
const extractionProofTag = "evote-v1/threshold/extraction-pok"

// ErrUncheckedKey: the page cannot check the election key from the key
// generation it fetched (a contribution reconstructed in public, spec
// §5.7): the voter is sent to the command line, which replays it all.
var ErrUncheckedKey = errors.New("webclient: the election key cannot be checked on this page")

// checkJointKey checks, from the board's entries before the context
// (the key generation, spec chapter 5), that nobody but the trustees
// chose the election key h of the context: the qualified set QUAL, signed
// by the manifest's author, has at least t dealers; each dealer i of QUAL
// published A_i0 in its ExtractionCommitments, signed with trustee i's key
// from the manifest, with a valid proof of knowledge of log_g A_i0 (which
// stops a rogue A_i0 built from another dealer's); and h = Π_{i∈QUAL}
// A_i0. The authority (the ballot box) holds no dealer's a_i0, and fewer
// than t trustees cannot hold those of every dealer of a QUAL of t or
// more: a box that showed a context with a key of its own, signed with
// the authority's key, would otherwise read every ballot of this page.
// (The verifier and the trustees' tools check the whole transcript,
// §5.8; the page checks what its ballot's secrecy rests on.)
func checkJointKey(m *ballot.Manifest, authority [32]byte, base [32]byte, entries []*bulletin.Entry, h *group.Element) error {
	var qual []int
	commits := map[int][]byte{} // dealer → its first ExtractionCommitments
	for _, e := range entries {
		if len(e.Payload) < 33 || !bytes.Equal(e.Payload[1:33], base[:]) {
			continue
		}
		switch {
		case e.Type == bulletin.TypeKeygenQualified && e.Payload[0] == 5 && e.Author == authority && qual == nil:
			q, err := parseQualified(e.Payload)
			if err != nil {
				return fmt.Errorf("%w: the qualified set: %w", ErrBadElection, err)
			}
			qual = q
		case e.Type == bulletin.TypeKeygenExtraction && e.Payload[0] == 6:
			r := wire.NewReader(e.Payload[33:])
			i := int(r.U16("dealer"))
			if r.Err() != nil || i < 1 || i > len(m.Trustees) || e.Author != trusteeKey(m, i) {
				continue // not the dealer's own: the rules refuse it
			}
			if prev, ok := commits[i]; ok && !bytes.Equal(prev, e.Payload) {
				return fmt.Errorf("%w: dealer %d's extraction was equivocated, reconstructed in public", ErrUncheckedKey, i)
			}
			commits[i] = e.Payload
		}
	}
	if len(qual) < int(m.Threshold) {
		return fmt.Errorf("%w: the qualified set has %d dealers, fewer than the threshold %d", ErrBadElection, len(qual), m.Threshold)
	}
	sum := group.NewIdentityElement()
	for _, i := range qual {
		p, ok := commits[i]
		if !ok {
			return fmt.Errorf("%w: dealer %d published no extraction commitments", ErrUncheckedKey, i)
		}
		a0, err := extractionA0(p, base, i, int(m.Threshold))
		if err != nil {
			return fmt.Errorf("%w: dealer %d: %w", ErrUncheckedKey, i, err)
		}
		sum.Add(sum, a0)
	}
	if sum.Equal(h) != 1 {
		return fmt.Errorf("%w: the context's election key is not the product of the qualified trustees' contributions", ErrBadElection)
	}
	return nil
}

// trusteeKey is trustee i's signing key in the manifest.
func trusteeKey(m *ballot.Manifest, i int) [32]byte {
	for _, t := range m.Trustees {
		if int(t.Index) == i {
			return t.SignKey
		}
	}
	return [32]byte{}
}

// parseQualified reads a Qualified message: u8(5) ‖ base ‖ u32(count) ‖
// u16(i)…, strictly increasing (spec §5.3).
func parseQualified(p []byte) ([]int, error) {
	r := wire.NewReader(p[33:])
	n := r.Count(32, 2, "qualified dealers")
	var out []int
	for k := 0; k < n && r.Err() == nil; k++ {
		i := int(r.U16("dealer"))
		if len(out) > 0 && i <= out[len(out)-1] {
			r.Fail("dealers not strictly increasing")
		}
		out = append(out, i)
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// extractionA0 reads dealer i's ExtractionCommitments (u8(6) ‖ base ‖
// u16(i) ‖ list<Element>(A_i0 … A_i,t−1) ‖ pok[64] ‖ consistency[64],
// spec §5.3) and returns A_i0 once its proof of knowledge verifies under
// the context base ‖ string(tag) ‖ u16(i).
func extractionA0(p []byte, base [32]byte, i, t int) (*group.Element, error) {
	r := wire.NewReader(p[33:])
	r.U16("dealer")
	n := r.Count(32, 32, "commitments")
	if r.Err() == nil && n != t {
		r.Fail("%d commitments, not t = %d", n, t)
	}
	var a0 *group.Element
	for k := 0; k < n && r.Err() == nil; k++ {
		if e := r.Element("commitment"); k == 0 {
			a0 = e
		}
	}
	pok := r.Fixed(64, "proof of knowledge")
	r.Fixed(64, "consistency proof")
	if err := r.Finish(); err != nil {
		return nil, err
	}
	proof, err := zkp.ParseSchnorrProof(pok)
	if err != nil {
		return nil, err
	}
	w := wire.NewWriter(64)
	w.Fixed(base[:])
	w.String(extractionProofTag)
	w.U16(uint16(i))
	if err := proof.Verify(w.Bytes(), group.NewGeneratorElement(), a0); err != nil {
		return nil, fmt.Errorf("proof of knowledge of its contribution: %w", err)
	}
	return a0, nil
}
