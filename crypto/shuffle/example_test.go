package shuffle_test

import (
	"errors"
	"fmt"
	"slices"

	"evote/crypto/elgamal"
	"evote/crypto/shuffle"
)

// Example shuffles four one-ciphertext ballots, verifies the proof of
// shuffle as an auditor would, and decrypts the output: the same votes, in
// an order no one but the mixer knows. A tampered output is rejected.
func Example() {
	sk, _ := elgamal.GenerateKey(nil)
	pk := sk.Public()
	var cts []*elgamal.Ciphertext
	for _, vote := range []uint64{3, 1, 4, 1} {
		c, _, _ := pk.Encrypt(vote, nil)
		cts = append(cts, c)
	}
	in, err := shuffle.NewRows(1, cts) // rows of width 1
	if err != nil {
		panic(err)
	}
	p := &shuffle.Params{
		ElectionID: []byte("example-election"), // seeds the commitment generators
		Context:    []byte("election context hash"),
		Mixer:      1,
		PublicKey:  pk,
	}

	out, proof, err := shuffle.Shuffle(p, in, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("proof verifies:", shuffle.Verify(p, in, out, proof) == nil)

	outCts, _ := out.Ciphertexts()
	table := elgamal.NewDLogTable(10)
	var votes []uint64
	for _, c := range outCts {
		m, _ := table.Lookup(sk.Decrypt(c))
		votes = append(votes, m)
	}
	slices.Sort(votes)
	fmt.Println("votes out:", votes)

	// Replace one output ballot by a fresh encryption of another vote.
	outCts[0], _, _ = pk.Encrypt(9, nil)
	forged, _ := shuffle.NewRows(1, outCts)
	err = shuffle.Verify(p, in, forged, proof)
	fmt.Println("forged output rejected:", errors.Is(err, shuffle.ErrInvalidProof))
	// Output:
	// proof verifies: true
	// votes out: [1 1 3 4]
	// forged output rejected: true
}
