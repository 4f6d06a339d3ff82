package election

import (
	"fmt"

	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/threshold"
	"evote/internal/wire"
)

// Context is the payload of the election-context entry that ends key
// generation (spec §9.2): the joint public key, the trustees' verification
// keys, the commitment to the voter list as it stood, and the extended hash
// over them that every later proof uses as its context.
type Context struct {
	ElectionID          string
	JointKey            *group.Element
	VerificationKeys    []*group.Element // trustee i at index i-1
	VoterListCommitment [32]byte
	ExtendedHash        [32]byte
}

const contextFormat = 1

// Encode returns u8(1) || string(election id) || Element(joint key) ||
// list<Element>(verification keys) || Hash(voter list) || Hash(extended).
func (c *Context) Encode() []byte {
	w := wire.NewWriter(128 + 32*len(c.VerificationKeys))
	w.U8(contextFormat)
	w.String(c.ElectionID)
	w.Element(c.JointKey)
	w.U32(uint32(len(c.VerificationKeys)))
	for _, vk := range c.VerificationKeys {
		w.Element(vk)
	}
	w.Fixed(c.VoterListCommitment[:])
	w.Fixed(c.ExtendedHash[:])
	return w.Bytes()
}

// DecodeContext parses a canonical context.
func DecodeContext(b []byte) (*Context, error) {
	r := wire.NewReader(b)
	if v := r.U8("format"); r.Err() == nil && v != contextFormat {
		return nil, fmt.Errorf("election: context format %d", v)
	}
	c := &Context{ElectionID: r.String(64, "election id"), JointKey: r.Element("joint key")}
	n := r.Count(threshold.MaxTrustees, 32, "verification keys")
	for i := 0; i < n; i++ {
		c.VerificationKeys = append(c.VerificationKeys, r.Element("verification key"))
	}
	copy(c.VoterListCommitment[:], r.Fixed(32, "voter list commitment"))
	copy(c.ExtendedHash[:], r.Fixed(32, "extended hash"))
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("election: context: %w", err)
	}
	return c, nil
}

// VoterListCommitmentTag opens the voter-list commitment.
const VoterListCommitmentTag = "evote-v1/voter-list-commitment"

// VoterListCommitment returns the commitment to the voter list as the
// board shows it (spec §9.2): the framed hash of the payloads of every
// voter-list-change entry so far, in order. The context binds it before
// any such entry can be posted (they bind the extended hash, §8.8.4), so
// it is always the hash of the tag alone.
func (s *State) VoterListCommitment() [32]byte {
	var parts [][]byte
	for _, c := range s.ListChanges {
		parts = append(parts, c.Encode())
	}
	return framedHash(VoterListCommitmentTag, parts...)
}

func (s *State) applyContext(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	if s.Phase != PhaseSetup {
		return refuse("election context posted in phase %s", s.Phase)
	}
	c, err := DecodeContext(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if c.ElectionID != s.Manifest.ElectionID {
		return refuse("context for election %q", c.ElectionID)
	}
	if len(c.VerificationKeys) != len(s.Manifest.Trustees) {
		return refuse("context has %d verification keys for %d trustees", len(c.VerificationKeys), len(s.Manifest.Trustees))
	}
	if err := s.checkKeygen(c); err != nil {
		return err
	}
	if c.VoterListCommitment != s.VoterListCommitment() {
		return refuse("context's voter-list commitment differs from the voter-list entries on the board")
	}
	base, err := s.Manifest.BaseHash()
	if err != nil {
		return refuse("%w", err)
	}
	if want := threshold.ExtendedHash(base, c.JointKey, c.VerificationKeys, c.VoterListCommitment); want != c.ExtendedHash {
		return refuse("extended hash does not match its inputs")
	}
	pk, err := elgamal.NewPublicKey(c.JointKey)
	if err != nil {
		return refuse("joint key: %w", err)
	}
	s.Context, s.PublicKey, s.Phase = c, pk, PhaseReady
	s.ContextPosition = s.Size
	return nil
}
