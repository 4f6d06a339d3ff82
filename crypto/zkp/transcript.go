// Package zkp implements evote's zero-knowledge proofs and the Fiat-Shamir
// transcript they share (spec/04-proofs.md).
//
// Every proof's challenge is derived from a Transcript that has absorbed a
// protocol name, the caller's context (the election context hash and, where
// the proof belongs to a ballot, the voter's credential key and the contest
// index), the whole statement and the prover's commitments: "strong"
// Fiat-Shamir, so a proof cannot be moved to another statement, election or
// voter (../shared/SECURITY.md #1, #2, #4).
//
// The proofs: Schnorr proofs of knowledge ([ProveSchnorr], §4.3),
// Chaum-Pedersen equality of discrete logarithms ([ProveDLEQ], §4.4), the
// disjunctive range proof that a ballot ciphertext encrypts a value in
// [0, k] ([ProveRange], §4.5) and the sum proof for k-of-n contests
// ([ProveSum], §4.6). Each carries its commitments, has a strict decoder
// ([ParseRangeProof] and its siblings), a single verifier
// ([RangeProof.Verify], one multi-scalar multiplication) and an AddToBatch
// method: verifiers of many ballots put them all in one [Batch], whose
// failure is a [BatchError] naming the item. Every verifier's error wraps
// [ErrInvalidProof]. Provers are constant time in their secrets. The
// challenge derivation is [Transcript]'s.
package zkp

import (
	"crypto/sha512"
	"encoding/binary"
	"hash"

	"evote/crypto/group"
)

// TranscriptTag is the domain tag absorbed first by every transcript.
const TranscriptTag = "evote-v1/transcript"

// challengeTag is absorbed, with the challenge value, after each challenge,
// so later challenges depend on earlier ones.
const challengeTag = "evote-v1/challenge"

// A Transcript is a running SHA-512 hash of framed messages from which
// challenges are derived (spec §4.1). Each message is absorbed as
//
//	u16(len(label)) || label || u64(len(data)) || data
//
// so no two different sequences of messages give the same byte string.
// A Transcript is not safe for concurrent use.
type Transcript struct {
	h hash.Hash
}

// NewTranscript starts a transcript for protocol (a name listed in spec
// §1.2) bound to context, the caller-supplied context bytes (spec §4.1).
func NewTranscript(protocol string, context []byte) *Transcript {
	t := &Transcript{h: sha512.New()}
	t.AppendMessage(TranscriptTag, []byte(protocol))
	t.AppendMessage("context", context)
	return t
}

// AppendMessage absorbs one labelled message.
func (t *Transcript) AppendMessage(label string, data []byte) {
	if len(label) > 0xffff {
		panic("zkp: transcript label too long")
	}
	var hdr [2]byte
	binary.BigEndian.PutUint16(hdr[:], uint16(len(label)))
	t.h.Write(hdr[:])
	t.h.Write([]byte(label))
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(data)))
	t.h.Write(l[:])
	t.h.Write(data)
}

// AppendMessageParts absorbs one labelled message whose data is the
// concatenation of parts, without building it: the same as AppendMessage
// of the concatenation, for a long list whose encoding is held in pieces.
func (t *Transcript) AppendMessageParts(label string, parts ...[]byte) {
	if len(label) > 0xffff {
		panic("zkp: transcript label too long")
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [2]byte
	binary.BigEndian.PutUint16(hdr[:], uint16(len(label)))
	t.h.Write(hdr[:])
	t.h.Write([]byte(label))
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(n))
	t.h.Write(l[:])
	for _, p := range parts {
		t.h.Write(p)
	}
}

// AppendUint64 absorbs u64(v) under label.
func (t *Transcript) AppendUint64(label string, v uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	t.AppendMessage(label, b[:])
}

// AppendElement absorbs the canonical encoding of e under label.
func (t *Transcript) AppendElement(label string, e *group.Element) {
	var b [group.ElementSize]byte
	t.AppendMessage(label, e.AppendBytes(b[:0]))
}

// AppendElements absorbs u32(len(es)) || Element(es[0]) || … under label.
func (t *Transcript) AppendElements(label string, es []*group.Element) {
	buf := make([]byte, 4, 4+len(es)*group.ElementSize)
	binary.BigEndian.PutUint32(buf, uint32(len(es)))
	for _, e := range es {
		buf = e.AppendBytes(buf)
	}
	t.AppendMessage(label, buf)
}

// AppendScalar absorbs the canonical encoding of s under label.
func (t *Transcript) AppendScalar(label string, s *group.Scalar) {
	t.AppendMessage(label, s.Bytes())
}

// Challenge derives a scalar challenge (spec §4.1): it absorbs label with
// empty data, takes the SHA-512 digest of everything absorbed so far as a
// little-endian integer reduced mod ℓ, then absorbs that challenge under
// "evote-v1/challenge".
func (t *Transcript) Challenge(label string) *group.Scalar {
	t.AppendMessage(label, nil)
	d := t.h.Sum(nil)
	c, err := new(group.Scalar).SetUniformBytes(d)
	if err != nil {
		panic("zkp: challenge derivation: " + err.Error())
	}
	t.AppendMessage(challengeTag, c.Bytes())
	return c
}

// ChallengeBytes derives 64 challenge bytes the same way as Challenge, for
// callers that need more than one scalar or shorter weights; it then absorbs
// them under "evote-v1/challenge".
func (t *Transcript) ChallengeBytes(label string) []byte {
	t.AppendMessage(label, nil)
	d := t.h.Sum(nil)
	t.AppendMessage(challengeTag, d)
	return d
}
