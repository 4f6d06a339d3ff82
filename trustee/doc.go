// Package trustee is the trustee's tool (issue 6): the key material that
// lives only on the trustee's machine, and the trustee's part of key
// generation, mixing and decryption, run against the ballot box's public
// board and trustee route (spec/10-api.md §10.3).
//
// Keys (Ed25519 board-signing key, HPKE key for key-generation shares, and
// after key generation the key share) are kept in one file sealed with
// XChaCha20-Poly1305 under an Argon2id key derived from a passphrase
// (keyfile.go); Backup and Restore copy it to and from offline media.
//
// The trustee trusts nothing the server says about the election's state:
// a Follower fetches the board's entries, checks their signatures and
// replays them through the election rules (package election), and the
// trustee acts only on that replay. Before mixing, the replay has checked
// the cleansing and every earlier mix; before decrypting, every mix. The
// trustee decrypts only the final verified list of each contest and the
// sums of multi-select contests (ShareFor), never a ballot or anything
// else a server might ask it to decrypt.
//
// In an election in deniable re-voting mode (spec chapter 15, §15.15) the
// trustee also posts a tag key before voting opens (RunTagKey; the key is
// kept in the key file before its entry is posted) and does its part of
// each ballot style's filter and roll call after the close (RunFilter,
// each step computed by NextFilterStep from the witnessed replay and the
// trustee's secrets, so that a restarted run posts nothing twice).
//
// Most callers use RunKeygen, RunTagKey, RunFilter, RunMix and RunDecrypt
// with a client.Board.
package trustee
