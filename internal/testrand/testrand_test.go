package testrand

import (
	"bytes"
	"testing"
)

func TestDeterministic(t *testing.T) {
	a, b, c := make([]byte, 100), make([]byte, 100), make([]byte, 100)
	New("x").Read(a)
	r := New("x")
	r.Read(b[:7])
	r.Read(b[7:])
	New("y").Read(c)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatal("testrand is not a deterministic function of the seed")
	}
}
