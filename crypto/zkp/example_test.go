package zkp_test

import (
	"errors"
	"fmt"

	"evote/crypto/elgamal"
	"evote/crypto/zkp"
)

// ExampleProveRange proves that a ciphertext encrypts a choice in [0, 3]
// (three candidates, 0 a blank vote) without saying which, and verifies
// the proof. The context binds the proof to one election, voter and
// contest; the ballot layer builds it (spec §4.5).
func ExampleProveRange() {
	sk, _ := elgamal.GenerateKey(nil)
	pk := sk.Public()
	choice := uint64(2)
	ct, r, _ := pk.Encrypt(choice, nil)

	context := []byte("election context || voter key || contest 0")
	st := &zkp.RangeStatement{PK: pk, Ciphertext: ct, Max: 3}
	proof, err := zkp.ProveRange(context, st, choice, r, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("proof bytes:", len(proof.Bytes()), "=", zkp.RangeProofSize(3))
	fmt.Println("verifies:", proof.Verify(context, st) == nil)
	fmt.Println("verifies for another voter:", proof.Verify([]byte("another voter"), st) == nil)
	// Output:
	// proof bytes: 480 = 480
	// verifies: true
	// verifies for another voter: false
}

// ExampleBatch verifies the range proofs of several ballots in one
// multi-scalar multiplication, as the ballot box and the verifier do; a
// bad proof is named by its item.
func ExampleBatch() {
	sk, _ := elgamal.GenerateKey(nil)
	pk := sk.Public()
	type ballot struct {
		st      *zkp.RangeStatement
		context []byte
		proof   *zkp.RangeProof
	}
	var ballots []ballot
	for i, choice := range []uint64{0, 1, 1, 2} {
		ct, r, _ := pk.Encrypt(choice, nil)
		b := ballot{st: &zkp.RangeStatement{PK: pk, Ciphertext: ct, Max: 2}, context: fmt.Appendf(nil, "voter %d", i)}
		b.proof, _ = zkp.ProveRange(b.context, b.st, choice, r, nil)
		ballots = append(ballots, b)
	}

	check := func(bs []ballot) error {
		batch := zkp.NewBatch()
		// The generator and the election key are shared by every proof:
		// registered once, each is one term of the sum.
		g, h := batch.Shared(zkp.GeneratorElement()), batch.Shared(pk.Element())
		for i, b := range bs {
			if err := b.proof.AddToBatch(batch, fmt.Sprintf("ballot %d", i), b.context, b.st, g, h); err != nil {
				return err
			}
		}
		return batch.Verify()
	}
	fmt.Println("all valid:", check(ballots) == nil)

	ballots[2].context = []byte("voter 1") // a proof moved to another voter
	err := check(ballots)
	var be *zkp.BatchError
	if errors.As(err, &be) && errors.Is(err, zkp.ErrInvalidProof) {
		fmt.Println("rejected:", be.Name)
	}
	// Output:
	// all valid: true
	// rejected: ballot 2
}
