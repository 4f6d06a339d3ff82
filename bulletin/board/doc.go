// Package board is the bulletin board's storage-backed log (spec chapter
// 7): a Log appends signed entries of package bulletin to a store.Store
// with group commit, mirrors them in an RFC 6962 tree, signs checkpoints,
// serves proofs, and exports or imports whole records (§7.8).
//
// It is kept apart from package bulletin so that the record's definition
// (entries, tree, checkpoints), which auditors' verifiers import, depends
// on no storage code.
package board
