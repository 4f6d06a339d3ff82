package elgamal_test

import (
	"fmt"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// Example encrypts three votes, adds the ciphertexts homomorphically (the
// tally of a yes/no question, with no vote decrypted alone) and decrypts
// the sum. In an election no one holds the whole key: trustees decrypt
// together (crypto/threshold).
func Example() {
	sk, err := elgamal.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	pk := sk.Public()

	sum := elgamal.Zero()
	for _, vote := range []uint64{1, 0, 1} {
		c, _, err := pk.Encrypt(vote, nil)
		if err != nil {
			panic(err)
		}
		sum.Add(sum, c)
	}

	// Decryption gives g^m; a table of small discrete logarithms gives m.
	table := elgamal.NewDLogTable(10)
	m, err := table.Lookup(sk.Decrypt(sum))
	if err != nil {
		panic(err)
	}
	fmt.Println("yes votes:", m)
	// Output: yes votes: 2
}

// ExamplePublicKey_ReEncrypt: re-encryption changes every byte of a
// ciphertext but not what it encrypts, which is what lets a mixnet
// shuffle ballots unlinkably (crypto/shuffle).
func ExamplePublicKey_ReEncrypt() {
	sk, _ := elgamal.GenerateKey(nil)
	pk := sk.Public()
	c, _, _ := pk.Encrypt(7, nil)
	c2 := pk.ReEncrypt(c, group.RandomScalar())

	m, _ := elgamal.NewDLogTable(10).Lookup(sk.Decrypt(c2))
	fmt.Println("same ciphertext:", c.Equal(c2))
	fmt.Println("decrypts to:", m)
	// Output:
	// same ciphertext: false
	// decrypts to: 7
}
