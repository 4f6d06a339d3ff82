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
// by the manifest's author, is every trustee of the manifest; each dealer
// i published A_i0 in its ExtractionCommitments, signed with trustee i's
// key from the manifest, with a valid proof of knowledge of log_g A_i0
// (which stops a rogue A_i0 built from another dealer's); and h =
// Π_{i∈QUAL} A_i0.
//
// Why every trustee. The page cannot tell which of these entries the box
// put on the board: a box may withhold a dealer's extraction commitments,
// have the others reveal that dealer's secret in public (§5.7), and then
// show the page a qualified set of only such dealers and its own
// accomplices, with the withheld entries. A dealer whose entry is
// withheld stops (the trustee's tool sees itself excluded) and reveals
// nothing, so the secrets of all the honest dealers can never be made
// public together: with every trustee in QUAL, h holds a contribution
// nobody outside the trustees can know, and fewer than t trustees cannot
// know every one. An election that disqualified a dealer, or
// reconstructed one, is not checked here (ErrUncheckedKey): its voters
// use evote vote, which replays the whole key generation. (The verifier
// and the trustees' tools check the whole transcript, §5.8; the page
// checks what its ballots' secrecy rests on.)
func checkJointKey(m *ballot.Manifest, authority [32]byte, base [32]byte, entries []*bulletin.Entry, h *group.Element) error {
	var qual []int
	found := false
	commits := map[int][]byte{} // dealer → its first ExtractionCommitments
	for _, e := range entries {
		if len(e.Payload) < 33 || !bytes.Equal(e.Payload[1:33], base[:]) {
			continue
		}
		switch {
		case e.Type == bulletin.TypeKeygenQualified && e.Payload[0] == 5 && e.Author == authority && !found:
			q, err := parseQualified(e.Payload, len(m.Trustees))
			if err != nil {
				return fmt.Errorf("%w: the qualified set: %w", ErrBadElection, err)
			}
			qual, found = q, true
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
	if !found {
		return fmt.Errorf("%w: no qualified set before the context", ErrBadElection)
	}
	if len(qual) < int(m.Threshold) {
		return fmt.Errorf("%w: the qualified set has %d dealers, fewer than the threshold %d", ErrBadElection, len(qual), m.Threshold)
	}
	if len(qual) != len(m.Trustees) {
		return fmt.Errorf("%w: the qualified set has %d of the %d trustees", ErrUncheckedKey, len(qual), len(m.Trustees))
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
		// A key the box chose, or a contribution reconstructed in public
		// after its dealer's consistency proof failed (§5.7), which these
		// entries cannot tell apart: refused either way, and the command
		// line, which replays everything, says which.
		return fmt.Errorf("%w: %w: the context's election key is not the product of the trustees' contributions as posted", ErrBadElection, ErrUncheckedKey)
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
// u16(i)…, strictly increasing, each in 1..n (spec §5.3).
func parseQualified(p []byte, n int) ([]int, error) {
	r := wire.NewReader(p[33:])
	count := r.Count(32, 2, "qualified dealers")
	var out []int
	for k := 0; k < count && r.Err() == nil; k++ {
		i := int(r.U16("dealer"))
		if i < 1 || i > n || len(out) > 0 && i <= out[len(out)-1] {
			r.Fail("dealers not strictly increasing in 1..%d", n)
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
