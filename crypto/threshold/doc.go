// Package threshold implements evote's distributed key generation and
// threshold decryption (spec/05-keygen.md).
//
// Key generation is the protocol of Gennaro, Jarecki, Krawczyk and Rabin
// (J. Cryptology 2007, first at EUROCRYPT 1999): a Pedersen verifiable
// secret sharing phase that fixes the qualified set QUAL while every
// dealer's contribution is still perfectly hidden, followed by an extraction
// phase in which each qualified dealer publishes g^{a_i0} with a proof that
// it matches its phase-1 commitments (spec §5.6). A dealer that misbehaves
// in the extraction phase, or whose proofs fail, has its secret
// reconstructed in public, so no dealer, not even the last to speak, can
// bias the joint key, whatever (n, t).
//
// Every message is a public artefact for the bulletin board (the board signs
// entries; messages carry the sender's index). Shares travel HPKE-encrypted
// (RFC 9180) between trustees so they can pass through an untrusted server.
// Complaints are settled in public and QUAL is a deterministic function of
// the public messages: VerifyTranscript recomputes it, the joint key and
// every trustee's verification key, and names each disqualified dealer.
//
// After key generation a trustee holding a KeyShare produces decryption
// shares with Chaum-Pedersen proofs, either one proof per ciphertext or one
// batched proof over a random-weighted combination of all its shares; any t
// valid shares are combined by Lagrange interpolation.
//
// Most callers use Trustee (one per trustee, stepping through the rounds),
// VerifyTranscript (auditors), KeyShare.DecryptShares, VerifyDecryptionShare
// and Combine.
package threshold
