package bulletin

import "fmt"

// Type is the registered kind of a bulletin-board entry
// (spec/07-bulletin.md §7.2). The board checks that the type is registered
// and that the payload fits its size limit; the payload's content is defined
// and checked by the package that owns the type.
type Type uint16

// Registered entry types. Codes are grouped by phase in the high byte; a
// code is never reused or renumbered. Reserved types (Reserved) decode but
// no election's rules accept them.
const (
	// Setup.
	TypeManifest        Type = 0x0001 // election manifest
	TypeElectionContext Type = 0x0002 // context hash binding manifest, keys and parameters
	TypeIdentityKeySet  Type = 0x0003 // identity service's JWT / credential key set
	TypeWitnessKeySet   Type = 0x0004 // reserved: the manifest pins the witnesses

	// Trustee key generation.
	TypeKeygenCommitment      Type = 0x0101 // trustee's polynomial commitments
	TypeKeygenEncryptedShare  Type = 0x0102 // encrypted share for another trustee
	TypeKeygenComplaint       Type = 0x0103 // complaint against a share
	TypeKeygenComplaintAnswer Type = 0x0104 // answer revealing the disputed share
	TypeJointKey              Type = 0x0105 // reserved: the election context carries the joint key
	TypeKeygenQualified       Type = 0x0106 // the published qualified set
	TypeKeygenExtraction      Type = 0x0107 // extraction commitments, complaints and reveals

	// Voters.
	TypeVoterListCommitment Type = 0x0201 // reserved: the election context carries the commitment
	TypeVoterListChange     Type = 0x0202 // signed change to the voter list
	TypeCredentialIssued    Type = 0x0203 // credential issued by the identity service
	TypeInPersonMark        Type = 0x0204 // voter marked as having voted in person
	TypePollingRegistration Type = 0x0205 // polling stations' and officials' keys, before voting opens

	// Lifecycle.
	TypeOpen       Type = 0x0301 // voting opens
	TypeClose      Type = 0x0302 // voting closes
	TypeTransition Type = 0x0303 // other lifecycle transition

	// Ballots.
	TypeBallot               Type = 0x0401 // cast ballot, signed by the voter's device key
	TypeSpoiledBallotOpening Type = 0x0402 // reserved: audits are audited-ballot entries
	TypeAuditedBallot        Type = 0x0403 // Benaloh-audited ballot, published unlinked

	// Tally.
	TypeCleansingResult Type = 0x0501 // ballots kept after cleansing
	TypeMixOutput       Type = 0x0502 // one mix server's output list
	TypeMixProof        Type = 0x0503 // reserved: a mix-output entry carries its proof
	TypeDecryptionShare Type = 0x0504 // a trustee's decryption shares
	TypeDecryptionProof Type = 0x0505 // reserved: a decryption-share entry carries its proof
	TypeResult          Type = 0x0506 // the election result

	// Deniable re-voting (spec §15, manifest coercion = 1).
	TypeRevoteTagKey     Type = 0x0601 // a trustee's tag key, before voting opens
	TypeRevoteCredential Type = 0x0602 // a credential with an encrypted identifier, published inside its row
	TypeRevoteSlot       Type = 0x0603 // the B_st rows of one ballot style and time slot
	TypeRevotePadding    Type = 0x0604 // a ballot style's padding rows, at the close
	TypeRevoteDepths     Type = 0x0605 // the encrypted depths of a ballot style's filter rows
	TypeRevoteMarks      Type = 0x0606 // the opened flags of a ballot style's in-person mark rows
	TypeRevoteBlind      Type = 0x0607 // a trustee's blinding of a filter's tag list
	TypeRevoteFilter     Type = 0x0608 // a filter's board rows and kept positions
	TypeRevoteRoll       Type = 0x0609 // the listed voters' identifiers, at the close
)

// Payload size limits. Ballot-sized entries are small; mix outputs and
// decryption material scale with the number of ballots.
const (
	limitSmall = 64 << 10  // 64 KiB
	limitMid   = 4 << 20   // 4 MiB
	limitLarge = 256 << 20 // 256 MiB (whole-election lists)

	// MaxPayload is the largest payload of any type.
	MaxPayload = limitLarge
)

type typeInfo struct {
	name     string
	limit    int
	reserved bool // registered so the code is never reused; no election's rules accept it
}

var registry = map[Type]typeInfo{
	TypeManifest:              {"manifest", limitMid, false},
	TypeElectionContext:       {"election-context", limitSmall, false},
	TypeIdentityKeySet:        {"identity-key-set", limitSmall, false},
	TypeWitnessKeySet:         {"witness-key-set", limitSmall, true},
	TypeKeygenCommitment:      {"keygen-commitment", limitSmall, false},
	TypeKeygenEncryptedShare:  {"keygen-encrypted-share", limitSmall, false},
	TypeKeygenComplaint:       {"keygen-complaint", limitSmall, false},
	TypeKeygenComplaintAnswer: {"keygen-complaint-answer", limitSmall, false},
	TypeJointKey:              {"joint-key", limitSmall, true},
	TypeKeygenQualified:       {"keygen-qualified", limitSmall, false},
	TypeKeygenExtraction:      {"keygen-extraction", limitSmall, false},
	TypeVoterListCommitment:   {"voter-list-commitment", limitSmall, true},
	TypeVoterListChange:       {"voter-list-change", limitSmall, false},
	TypeCredentialIssued:      {"credential-issued", limitSmall, false},
	TypeInPersonMark:          {"in-person-mark", limitSmall, false},
	TypePollingRegistration:   {"polling-registration", limitSmall, false},
	TypeOpen:                  {"open", limitSmall, false},
	TypeClose:                 {"close", limitSmall, false},
	TypeTransition:            {"transition", limitSmall, false},
	TypeBallot:                {"ballot", limitSmall, false},
	TypeSpoiledBallotOpening:  {"spoiled-ballot-opening", limitSmall, true},
	TypeAuditedBallot:         {"audited-ballot", limitSmall, false},
	TypeCleansingResult:       {"cleansing-result", limitLarge, false},
	TypeMixOutput:             {"mix-output", limitLarge, false},
	TypeMixProof:              {"mix-proof", limitLarge, true},
	TypeDecryptionShare:       {"decryption-share", limitLarge, false},
	TypeDecryptionProof:       {"decryption-proof", limitLarge, true},
	TypeResult:                {"result", limitMid, false},
	TypeRevoteTagKey:          {"revote-tag-key", limitSmall, false},
	TypeRevoteCredential:      {"revote-credential", limitSmall, false},
	TypeRevoteSlot:            {"revote-slot", limitLarge, false},
	TypeRevotePadding:         {"revote-padding", limitLarge, false},
	TypeRevoteDepths:          {"revote-depths", limitLarge, false},
	TypeRevoteMarks:           {"revote-marks", limitLarge, false},
	TypeRevoteBlind:           {"revote-blind", limitLarge, false},
	TypeRevoteFilter:          {"revote-filter", limitLarge, false},
	TypeRevoteRoll:            {"revote-roll", limitLarge, false},
}

// Registered reports whether t is a known entry type.
func (t Type) Registered() bool {
	_, ok := registry[t]
	return ok
}

// Reserved reports whether t is a reserved type: registered (an entry of
// it decodes) so that its code is never reused, but accepted by no
// election's rules (spec §7.2.3).
func (t Type) Reserved() bool { return registry[t].reserved }

// MaxPayload returns the payload size limit of t (0 if unregistered).
func (t Type) MaxPayload() int { return registry[t].limit }

// String returns the type's registered name, or its code in hex.
func (t Type) String() string {
	if info, ok := registry[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type-0x%04x", uint16(t))
}

// Types returns all registered types in code order.
func Types() []Type {
	out := make([]Type, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TypeByName returns the type with the given registered name.
func TypeByName(name string) (Type, bool) {
	for t, info := range registry {
		if info.name == name {
			return t, true
		}
	}
	return 0, false
}
