// Package group implements the prime-order group ristretto255 (RFC 9496) on
// top of filippo.io/edwards25519, with the operations evote's protocols need:
// canonical encodings, hashing to the group (RFC 9380), independent
// generators derived from a public seed, constant-time fixed-base tables for
// secrets, and a variable-time bucket (Pippenger) multi-scalar multiplication
// for verifiers.
//
// Every operation is constant time unless its name starts with VarTime.
// Decoders return an error and leave the receiver untouched on bad input.
//
// The encodings and derivations are specified in spec/02-group.md.
package group
