package bulletin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// FuzzVerifyRecord feeds arbitrary entries.bin streams to the record
// verifier with a fixed signed checkpoint: it must answer ErrRecord or
// accept exactly the honest stream, and never panic.
func FuzzVerifyRecord(f *testing.F) {
	k := testLogKey("evote.example/fuzz-record", false)
	id := LogIDFor(k.Origin)
	var stream []byte
	tr := NewTree()
	for i := range 3 {
		b := testEntry(f, id, TypeBallot, "v", i).Encode()
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(b)))
		stream = append(stream, b...)
		tr.AppendLeaves(LeafHash(b))
	}
	root, _ := tr.RootAt(3)
	note, err := SignCheckpoint(Checkpoint{Origin: k.Origin, Size: 3, Root: root, Time: time.Unix(1, 0)}, k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(stream)
	f.Add(stream[:len(stream)-1])
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := verifyRecord(note, bytes.NewReader(b), k.Verifier(), nil)
		if err == nil && !bytes.Equal(b, stream) {
			t.Fatal("a stream other than the honest one verified")
		}
		if err != nil && !errors.Is(err, ErrRecord) {
			t.Fatalf("error not wrapping ErrRecord: %v", err)
		}
	})
}
