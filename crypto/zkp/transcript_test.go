package zkp

import (
	"bytes"
	"testing"
)

// AppendMessageParts must absorb exactly what AppendMessage of the
// concatenation absorbs, however the data is split; a different split of
// the label/data boundary must not.
func TestAppendMessageParts(t *testing.T) {
	data := []byte("u32(L) || ciphertexts…")
	want := NewTranscript("p", []byte("ctx"))
	want.AppendMessage("input", data)
	w := want.ChallengeBytes("c")
	for _, parts := range [][][]byte{
		{data},
		{data[:4], data[4:]},
		{nil, data[:1], nil, data[1:10], data[10:]},
	} {
		got := NewTranscript("p", []byte("ctx"))
		got.AppendMessageParts("input", parts...)
		if g := got.ChallengeBytes("c"); !bytes.Equal(g, w) {
			t.Fatalf("%d parts: challenge differs", len(parts))
		}
	}
	other := NewTranscript("p", []byte("ctx"))
	other.AppendMessageParts("inpu", []byte("t"), data)
	if bytes.Equal(other.ChallengeBytes("c"), w) {
		t.Fatal("moving a byte from the label to the data kept the challenge")
	}
}
