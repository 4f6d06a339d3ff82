// Package shuffle implements evote's verifiable re-encryption shuffle
// (spec/06-shuffle.md): a mixer permutes N rows of w ElGamal ciphertexts
// (a row, one ballot's ciphertexts, moves as a whole), re-encrypts every
// ciphertext, and proves in zero knowledge that its output is a permutation
// of re-encryptions of its input, with the proof of shuffle of Terelius and
// Wikström as written out by Haenni, Locher, Koenig and Dubuis
// ("Pseudo-Code Algorithms for Verifiable Re-Encryption Mix-Nets", FC 2017
// workshops), generalised to width w and made non-interactive with strong
// Fiat-Shamir (crypto/zkp's transcript over the whole statement, the
// election context and the mixer's trustee id).
//
// The commitment generators are derived by hash-to-group from the election
// id (spec §6.2) and recomputed by every verifier, never read from a record:
// a proof made with generators whose discrete logarithms someone knows is
// rejected (the Swiss Post 2019 failure, ../shared/SECURITY.md #3).
//
// Rows and proofs are held in their canonical encodings and decoded in
// chunks, so a million ciphertexts fit in a few hundred megabytes. Shuffle
// uses constant-time arithmetic for the permutation and the randomness and
// runs on all cores; Verify folds every equation into random-weighted
// multi-scalar multiplications. Most callers use the mix chain of package
// tally rather than this package directly.
//
// The API: [NewRows] or [ParseRows] make the input list, [Shuffle] returns
// the output [Rows] and the [Proof] (encoded by [Proof.Bytes], decoded by
// [ParseProof]), and [Verify] checks them under the same [Params]; its
// errors wrap [ErrMalformed], [ErrRowCount], [ErrDuplicateRow] or
// [ErrInvalidProof], the last with an [EquationError] naming the failed
// equation. [DeriveGenerators] precomputes the commitment generators for a
// verifier of several shuffles of one election.
//
// Inside, the prover (prove.go) and the verifier (verify.go) run as named
// steps, one function per phase of the proof in spec §6.4 and §6.5, with a
// key from the paper's symbols to the variable names above the steps.
package shuffle
