package election

import (
	"evote/bulletin"
	"evote/crypto/threshold"
)

// keygen collects the key-generation messages posted on the board
// (chapter 5) into a threshold.Transcript.
type keygen struct {
	tr threshold.Transcript
	// seen holds (kind, sender, other party) of every message posted: each
	// step allows one message per sender (per accused or complainer for
	// complaints, answers and reveals), so nobody can flood the transcript
	// or post two versions of one step.
	seen map[[3]int]bool
	// extractionClosed is the board position of the authority's
	// extraction-closed message, 0 while the round is open (position 0
	// is the manifest).
	extractionClosed uint64
}

// KindExtractionClosed is the kind byte of the authority's message closing
// the extraction round (spec §5.6.1): u8(10) || base hash. It is a position
// in the log, the deadline after which a qualified dealer's missing
// extraction commitments are missing for everyone, so that trustees decide
// to reveal shares only on a witnessed view past it, never on a local
// timer the server can race.
const KindExtractionClosed = 10

// ExtractionClosed returns the payload of the extraction-closed message.
func ExtractionClosed(base [32]byte) []byte { return append([]byte{KindExtractionClosed}, base[:]...) }

// ExtractionClosedAt returns the board position of the extraction-closed
// message, if the extraction round is closed.
func (s *State) ExtractionClosedAt() (uint64, bool) {
	return s.keygen.extractionClosed, s.keygen.extractionClosed > 0
}

// KeygenEntryType returns the board entry type that carries a
// key-generation message, from the message's kind byte (spec §5.3).
func KeygenEntryType(msg []byte) (bulletin.Type, bool) {
	if len(msg) == 0 {
		return 0, false
	}
	switch msg[0] {
	case 1:
		return bulletin.TypeKeygenCommitment, true
	case 2:
		return bulletin.TypeKeygenEncryptedShare, true
	case 3:
		return bulletin.TypeKeygenComplaint, true
	case 4:
		return bulletin.TypeKeygenComplaintAnswer, true
	case 5, KindExtractionClosed:
		return bulletin.TypeKeygenQualified, true
	case 6, 7, 8:
		return bulletin.TypeKeygenExtraction, true
	}
	return 0, false
}

// applyKeygen checks that a key-generation message is posted in the setup
// phase, in its entry type, in its key-generation phase (phase-1 messages
// before the qualified set, extraction messages after it), by the trustee
// it names (the qualified set by the authority), and records it.
func (s *State) applyKeygen(e *bulletin.Entry) error {
	if s.Phase != PhaseSetup {
		return refuse("key-generation message in phase %s", s.Phase)
	}
	if t, ok := KeygenEntryType(e.Payload); !ok || t != e.Type {
		return refuse("key-generation message kind does not match entry type %s", e.Type)
	}
	base, err := s.Manifest.BaseHash()
	if err != nil {
		return refuse("%w", err)
	}
	tr := &s.keygen.tr
	if e.Payload[0] == KindExtractionClosed {
		return s.applyExtractionClosed(e, base)
	}
	_, closed := s.ExtractionClosedAt()
	// Phase order (spec §5.5-§5.6): phase-1 messages (kinds 1-4) only
	// before the qualified set, extraction messages (kinds 6-8) only after.
	// A phase-1 message accepted after QUAL would let one trustee, having
	// seen the extraction commitments, change the recomputed QUAL (say, by
	// a complaint its honest dealer no longer answers) and so abort key
	// generation at will.
	switch kind := e.Payload[0]; {
	case kind <= 4 && tr.Qualified != nil:
		return refuse("phase-1 key-generation message (kind %d) after the qualified set", kind)
	case kind >= 6 && tr.Qualified == nil:
		return refuse("extraction message (kind %d) before the qualified set", kind)
	// The extraction round's deadline (spec §5.6.1): commitments only
	// before it, complaints and reveals (which publish shares because a
	// message is missing or wrong) only after it.
	case kind == 6 && closed:
		return refuse("extraction commitments after the extraction round closed")
	case kind >= 7 && !closed:
		return refuse("extraction complaint or reveal (kind %d) before the extraction round closed", kind)
	}
	msg, err := threshold.ParseMessage(e.Payload)
	if err != nil {
		return refuse("key-generation message: %w", err)
	}
	// Who sends it, about whom, under which base hash.
	var sender, other int
	var msgBase [32]byte
	switch m := msg.(type) {
	case *threshold.Commitments:
		sender, msgBase = m.Dealer, m.BaseHash
	case *threshold.EncryptedShares:
		sender, msgBase = m.Dealer, m.BaseHash
	case *threshold.Complaint:
		sender, other, msgBase = m.Complainer, m.Accused, m.BaseHash
	case *threshold.ComplaintAnswer:
		sender, other, msgBase = m.Dealer, m.Complainer, m.BaseHash
	case *threshold.Qualified:
		msgBase = m.BaseHash
	case *threshold.ExtractionCommitments:
		sender, msgBase = m.Dealer, m.BaseHash
	case *threshold.ExtractionComplaint:
		sender, other, msgBase = m.Complainer, m.Accused, m.BaseHash
	case *threshold.ExtractionReveal:
		sender, other, msgBase = m.Revealer, m.Dealer, m.BaseHash
	default:
		return refuse("%T is not a key-generation message", msg)
	}
	if msgBase != base {
		return refuse("key-generation message bound to another base hash")
	}
	switch {
	case sender == 0 && e.Author != s.Authority:
		return refuse("the qualified set must be posted by the election authority")
	case sender == 0 && tr.Qualified != nil:
		return refuse("qualified set posted twice")
	case sender != 0 && (sender < 1 || sender > len(s.Manifest.Trustees) || s.Manifest.Trustees[sender-1].SignKey != e.Author):
		return refuse("key-generation message for trustee %d not signed by that trustee", sender)
	}
	key := [3]int{int(e.Payload[0]), sender, other}
	if sender != 0 && s.keygen.seen[key] {
		return refuse("trustee %d already posted this key-generation step", sender)
	}
	// Every check passed: record it.
	if err := tr.Add(e.Payload); err != nil {
		return refuse("key-generation message: %w", err)
	}
	if s.keygen.seen == nil {
		s.keygen.seen = map[[3]int]bool{}
	}
	s.keygen.seen[key] = true
	return nil
}

// applyExtractionClosed records the authority's deadline of the
// extraction round: once, after the qualified set, by the authority.
func (s *State) applyExtractionClosed(e *bulletin.Entry, base [32]byte) error {
	switch {
	case e.Author != s.Authority:
		return refuse("the extraction round must be closed by the election authority")
	case len(e.Payload) != 1+len(base) || [32]byte(e.Payload[1:]) != base:
		return refuse("extraction-closed message malformed or bound to another base hash")
	case s.keygen.tr.Qualified == nil:
		return refuse("extraction round closed before the qualified set")
	}
	if _, closed := s.ExtractionClosedAt(); closed {
		return refuse("extraction round closed twice")
	}
	s.keygen.extractionClosed = s.Size
	return nil
}

// Keygen returns the key-generation transcript on the board so far.
func (s *State) Keygen() *threshold.Transcript {
	tr := s.keygen.tr
	tr.Params = threshold.Params{N: len(s.Manifest.Trustees), T: int(s.Manifest.Threshold)}
	tr.BaseHash, _ = s.Manifest.BaseHash() // the manifest was validated when applied
	return &tr
}

// check verifies the transcript and compares its joint key and
// verification keys with the context's.
func (k *keygen) check(s *State, c *Context) error {
	if _, closed := s.ExtractionClosedAt(); !closed {
		return refuse("election context before the extraction round closed")
	}
	res, err := threshold.VerifyTranscript(s.Keygen())
	if err != nil {
		return refuse("key-generation transcript: %w", err)
	}
	if res.JointKey.Equal(c.JointKey) != 1 {
		return refuse("context's joint key differs from the key-generation transcript's")
	}
	if len(res.VerificationKeys) != len(c.VerificationKeys) {
		return refuse("context has %d verification keys, transcript gives %d", len(c.VerificationKeys), len(res.VerificationKeys))
	}
	for i, vk := range res.VerificationKeys {
		if vk.Equal(c.VerificationKeys[i]) != 1 {
			return refuse("verification key of trustee %d differs from the transcript's", i+1)
		}
	}
	return nil
}
