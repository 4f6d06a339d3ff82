package idp

import "context"

// Board posts entries to the public bulletin board. The identity service's
// entries are signed with its own board key by the implementation (the
// bulletin package's client, wired in by the caller); payloads are the
// canonical encodings of package record.
type Board interface {
	Post(ctx context.Context, entryType uint16, payload []byte) (index uint64, err error)
}

// Entry type codes of the identity service's board entries. They mirror the
// registry of package bulletin (spec/07-bulletin.md §7.2), which this package
// does not import so that the identity service stays a separate component.
const (
	entryIdentityKeySet   uint16 = 0x0003
	entryVoterListChange  uint16 = 0x0202
	entryCredentialIssued uint16 = 0x0203
	entryInPersonMark     uint16 = 0x0204
	entryPolling          uint16 = 0x0205
)
