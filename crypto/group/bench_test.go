package group

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkScalarMult is the unit "SM" that every other benchmark of evote
// is compared with: one constant-time variable-base scalar multiplication.
func BenchmarkScalarMult(b *testing.B) {
	p := new(Element).ScalarBaseMult(RandomScalar())
	s := RandomScalar()
	e := new(Element)
	for b.Loop() {
		e.ScalarMult(s, p)
	}
}

func BenchmarkScalarBaseMult(b *testing.B) {
	s := RandomScalar()
	e := new(Element)
	for b.Loop() {
		e.ScalarBaseMult(s)
	}
}

func BenchmarkScalarMultFixed(b *testing.B) {
	table := NewFixedBase(HashToElement([]byte("bench"), []byte(HashToElementDST)))
	s := RandomScalar()
	e := new(Element)
	for b.Loop() {
		e.ScalarMultFixed(s, table)
	}
}

func BenchmarkNewFixedBase(b *testing.B) {
	p := HashToElement([]byte("bench"), []byte(HashToElementDST))
	for b.Loop() {
		NewFixedBase(p)
	}
}

func BenchmarkDecode(b *testing.B) {
	enc := new(Element).ScalarBaseMult(RandomScalar()).Bytes()
	e := new(Element)
	for b.Loop() {
		if _, err := e.SetCanonicalBytes(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	e := new(Element).ScalarBaseMult(RandomScalar())
	buf := make([]byte, 0, 32)
	for b.Loop() {
		buf = e.AppendBytes(buf[:0])
	}
}

func BenchmarkHashToElement(b *testing.B) {
	dst := []byte(HashToElementDST)
	for b.Loop() {
		HashToElement([]byte("message"), dst)
	}
}

// BenchmarkMSM reports ns per term ("ns/pt") for full-size and 128-bit
// scalars.
func BenchmarkMSM(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{16, 64, 256, 1024, 16384, 131072} {
		for _, short := range []bool{false, true} {
			name := fmt.Sprintf("n=%d/bits=253", n)
			if short {
				name = fmt.Sprintf("n=%d/bits=128", n)
			}
			b.Run(name, func(b *testing.B) {
				if testing.Short() && n > 16384 {
					b.Skip("large MSM in -short mode")
				}
				ss, es := randomTerms(r, n, short)
				e := new(Element)
				b.ResetTimer()
				for b.Loop() {
					e.VarTimeMultiScalarMult(ss, es)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/pt")
			})
		}
	}
}
