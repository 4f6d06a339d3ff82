package wire

import (
	"errors"
	"testing"

	"evote/crypto/group"
)

func TestRoundTripAndStrictness(t *testing.T) {
	w := NewWriter(0)
	w.U8(1)
	w.U16(2)
	w.U32(3)
	w.U64(4)
	w.String("тест")
	w.VarBytes([]byte{9, 9})
	w.Element(group.NewGeneratorElement())
	w.Scalar(new(group.Scalar).SetUint64(5))
	b := w.Bytes()

	r := NewReader(b)
	if r.U8("a") != 1 || r.U16("b") != 2 || r.U32("c") != 3 || r.U64("d") != 4 ||
		r.String(100, "e") != "тест" || len(r.VarBytes(2, "f")) != 2 ||
		r.Element("g").Equal(group.NewGeneratorElement()) != 1 ||
		r.Scalar("h").Equal(new(group.Scalar).SetUint64(5)) != 1 {
		t.Fatal("round trip failed")
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}

	r = NewReader(append(b, 0))
	r.Fixed(len(b), "all")
	if err := r.Finish(); !errors.Is(err, ErrMalformed) {
		t.Error("trailing byte accepted")
	}
	r = NewReader([]byte{0, 0, 0, 5, 'a'})
	if r.String(10, "s"); !errors.Is(r.Err(), ErrMalformed) {
		t.Error("truncated string accepted")
	}
	r = NewReader([]byte{0, 0, 0, 2, 0xff, 0xfe})
	if r.String(10, "s"); r.Err() == nil {
		t.Error("invalid UTF-8 accepted")
	}
	r = NewReader([]byte{0xff, 0xff, 0xff, 0xff})
	if r.Count(1<<30, 32, "list"); r.Err() == nil {
		t.Error("count beyond remaining bytes accepted")
	}
	r = NewReader(make([]byte, 32))
	r.Fixed(0, "x")
	bad := make([]byte, 32)
	bad[31] = 0x80
	r = NewReader(bad)
	if r.Element("e"); r.Err() == nil {
		t.Error("non-canonical element accepted")
	}
}
