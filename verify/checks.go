package verify

import (
	"fmt"
	"time"
)

// A Check names one check of spec/11-verifying.md §11.4. The names are
// stable: reports, scripts and the tamper corpus refer to them.
type Check string

// The checks, in the order the verifier makes them (§11.4).
const (
	CheckAnchors         Check = "anchors"                // the manifest has the published fingerprint; log and witnesses are the manifest's
	CheckEntryFormat     Check = "entry.format"           // entries decode canonically and belong to the record's log
	CheckEntryDuplicate  Check = "entry.duplicate"        // no entry appears twice
	CheckEntrySignature  Check = "entry.signature"        // every author's strict Ed25519 signature
	CheckCheckpointSig   Check = "checkpoint.signature"   // the record's checkpoint is signed by the log key and cosigned by the manifest's witness quorum
	CheckTree            Check = "tree.root"              // the entries are exactly the checkpoint's tree
	CheckConsistency     Check = "checkpoint.consistency" // earlier checkpoints are prefixes of this tree
	CheckManifest        Check = "manifest"               // the first entry is a valid manifest, and the only one
	CheckKeygen          Check = "keygen"                 // every key-generation message, in order
	CheckContext         Check = "context"                // joint key, verification keys and context hashes
	CheckIdentityKeys    Check = "identity.keys"          // the identity service's key set
	CheckVoterList       Check = "voter-list"             // signed changes to the voter list
	CheckPolling         Check = "polling"                // registrations of polling stations' and officials' keys
	CheckLifecycle       Check = "lifecycle"              // open, close and other transitions
	CheckCredential      Check = "credential"             // credentials issued by the identity service
	CheckInPerson        Check = "in-person"              // in-person marks: registered station and official, context, style, signatures
	CheckBallotFormat    Check = "ballot.format"          // a ballot decodes canonically for this election
	CheckBallotProof     Check = "ballot.proof"           // every range and sum proof of a ballot
	CheckBallotCred      Check = "ballot.credential"      // the device key holds an issued credential, the voter did not vote in person
	CheckBallotStyle     Check = "ballot.style"           // the ballot's style is the credential's
	CheckBallotPeriod    Check = "ballot.period"          // the ballot lies between open and close
	CheckBallotUnique    Check = "ballot.unique"          // no repeated ciphertext or tracking code
	CheckBallotPolicy    Check = "ballot.policy"          // the one-ballot-only policy
	CheckAudit           Check = "audit"                  // Benaloh openings of audited ballots
	CheckCleansing       Check = "cleansing"              // the cleansing result equals the recomputed one
	CheckMixChain        Check = "mix.chain"              // each mix takes the last valid list, by a distinct trustee, in the mixing phase
	CheckMixProof        Check = "mix.proof"              // every proof of shuffle
	CheckDecryption      Check = "decryption"             // shares are of the final lists, by their trustees, in the decryption phase
	CheckDecryptionProof Check = "decryption.proof"       // every decryption share's proof
	CheckResult          Check = "result"                 // shares combine, and the counts equal the published result
	CheckProtocol        Check = "protocol"               // an entry the election's rules do not accept at all

	// Deniable re-voting (spec chapter 15, §15.11).
	CheckRevoteTagKey   Check = "revote.tag-key"    // each trustee's tag key and its proof, before voting opens
	CheckRevoteSlot     Check = "revote.slot"       // every slot has B_st rows of its style, in order; every row's credential, proofs and signatures; no ciphertext twice
	CheckRevotePadding  Check = "revote.padding"    // padding rows: valid rows whose flag is (1, g^2) in clear; N + P a multiple of M
	CheckRevoteDepths   Check = "revote.depths"     // a depth with its proof for every filter row
	CheckRevoteMarks    Check = "revote.marks"      // opened flags of in-person mark rows, signed by registered stations and officials
	CheckRevoteRoll     Check = "revote.roll"       // the roll of listed voters' identifiers, with the voter list's counts
	CheckRevoteMix      Check = "revote.mix"        // the mix chains of the filter's lists X and Y and of the roll call, and their proofs
	CheckRevoteBlind    Check = "revote.blind"      // blinding steps of the tag list by distinct trustees, each proof
	CheckRevoteShares   Check = "revote.decryption" // decryption shares of the tag list and the roll call, each proof
	CheckRevoteFilter   Check = "revote.filter"     // the kept positions are exactly the selection rule's, and N' = M × kept
	CheckRevoteRollCall Check = "revote.roll-call"  // the roll call's identifiers: distinct, the dummy rule, on the roll
)

// Checks lists every check in the order of the report.
var Checks = []Check{
	CheckAnchors, CheckEntryFormat, CheckEntryDuplicate, CheckEntrySignature,
	CheckCheckpointSig, CheckTree, CheckConsistency,
	CheckManifest, CheckKeygen, CheckContext, CheckIdentityKeys, CheckVoterList, CheckPolling, CheckLifecycle,
	CheckCredential, CheckInPerson,
	CheckBallotFormat, CheckBallotProof, CheckBallotCred, CheckBallotStyle, CheckBallotPeriod, CheckBallotUnique, CheckBallotPolicy,
	CheckAudit,
	CheckRevoteTagKey, CheckRevoteSlot, CheckRevotePadding, CheckRevoteDepths, CheckRevoteMarks, CheckRevoteRoll,
	CheckRevoteMix, CheckRevoteBlind, CheckRevoteShares, CheckRevoteFilter, CheckRevoteRollCall,
	CheckCleansing, CheckMixChain, CheckMixProof, CheckDecryption, CheckDecryptionProof, CheckResult,
	CheckProtocol,
}

var checkTitles = map[Check]string{
	CheckAnchors:         "manifest has the published fingerprint",
	CheckEntryFormat:     "entries decode canonically, in this log",
	CheckEntryDuplicate:  "no duplicate entries",
	CheckEntrySignature:  "entry signatures (batched Ed25519)",
	CheckCheckpointSig:   "checkpoint signed by the log, witness quorum",
	CheckTree:            "Merkle tree matches the checkpoint",
	CheckConsistency:     "consistent with earlier checkpoints",
	CheckManifest:        "manifest",
	CheckKeygen:          "key-generation transcript",
	CheckContext:         "joint key and context hash",
	CheckIdentityKeys:    "identity key set",
	CheckVoterList:       "voter list changes",
	CheckPolling:         "polling stations and officials registered",
	CheckLifecycle:       "lifecycle entries",
	CheckCredential:      "credentials issued",
	CheckInPerson:        "in-person marks",
	CheckBallotFormat:    "ballot encodings",
	CheckBallotProof:     "ballot proofs (batched)",
	CheckBallotCred:      "ballot cast by an eligible credential",
	CheckBallotStyle:     "ballot style",
	CheckBallotPeriod:    "ballot within the voting period",
	CheckBallotUnique:    "unique ciphertexts and tracking codes",
	CheckBallotPolicy:    "re-voting policy",
	CheckAudit:           "audited ballots' openings",
	CheckCleansing:       "cleansing recomputed",
	CheckMixChain:        "mix chain from the cleansed box",
	CheckMixProof:        "mix proofs of shuffle",
	CheckDecryption:      "decryption shares of the final lists",
	CheckDecryptionProof: "decryption share proofs",
	CheckResult:          "combination and published result",
	CheckProtocol:        "entries allowed by the protocol",
	CheckRevoteTagKey:    "re-voting: trustees' tag keys",
	CheckRevoteSlot:      "re-voting: slots of B_st rows, every row valid",
	CheckRevotePadding:   "re-voting: padding rows, flag 2 in clear",
	CheckRevoteDepths:    "re-voting: depth proofs",
	CheckRevoteMarks:     "re-voting: opened in-person marks",
	CheckRevoteRoll:      "re-voting: roll of listed voters",
	CheckRevoteMix:       "re-voting: mixes of the filter and roll call",
	CheckRevoteBlind:     "re-voting: blinding of the tags (equality proofs)",
	CheckRevoteShares:    "re-voting: decryption shares of tags and roll call",
	CheckRevoteFilter:    "re-voting: selection of the last ballots",
	CheckRevoteRollCall:  "re-voting: roll call rules",
}

// Title returns a short human description of the check.
func (c Check) Title() string { return checkTitles[c] }

// stage orders failures in the report: entry checks, then the tree and
// checkpoints, then the replay in log order.
func (c Check) stage() int {
	switch c {
	case CheckEntryFormat, CheckEntryDuplicate, CheckEntrySignature:
		return 0
	case CheckCheckpointSig, CheckTree, CheckConsistency:
		return 1
	}
	return 2
}

func (c Check) order() int {
	for i, k := range Checks {
		if k == c {
			return i
		}
	}
	return len(Checks)
}

// NoEntry is the Entry of a failure that concerns no single entry (a
// checkpoint, the tree as a whole).
const NoEntry = -1

// A Failure is one check that does not hold.
type Failure struct {
	Entry  int64  `json:"entry"` // index of the entry in the log, or NoEntry
	Check  Check  `json:"check"`
	Reason string `json:"reason"`
}

func (f Failure) String() string {
	if f.Entry == NoEntry {
		return fmt.Sprintf("%s: %s", f.Check, f.Reason)
	}
	return fmt.Sprintf("entry %d: %s: %s", f.Entry, f.Check, f.Reason)
}

// A CheckSummary says how many items one check covered and how many failed.
type CheckSummary struct {
	Check Check  `json:"check"`
	Title string `json:"title"`
	// Seconds is the time spent on the check, summed over workers (CPU
	// time, roughly); checks made together share one figure (§11.5).
	Seconds  float64 `json:"seconds"`
	Items    uint64  `json:"items"`
	Failures uint64  `json:"failures"`
}

// A StageTime is the wall time of one stage of the verification.
type StageTime struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
}

// Counts summarises the election as the record shows it.
type Counts struct {
	Entries      uint64 `json:"entries"`
	Credentials  uint64 `json:"credentials"`
	InPerson     uint64 `json:"in_person_marks"`
	Ballots      uint64 `json:"ballots"`
	ValidBallots uint64 `json:"valid_ballots"`
	Audited      uint64 `json:"audited_ballots"`
	Counted      uint64 `json:"counted_ballots"`
	Cancelled    uint64 `json:"cancelled_ballots"`
	Mixes        uint64 `json:"mixes"`
	Shares       uint64 `json:"decryption_shares"`
	// In deniable re-voting mode (spec chapter 15), where ballots are rows
	// of slots and Ballots counts none: the slots of every style, their
	// rows (ballots, marks and dummies alike), and the voters the filter
	// kept a row of (its roll call).
	RevoteSlots  uint64 `json:"revote_slots,omitempty"`
	RevoteRows   uint64 `json:"revote_rows,omitempty"`
	RevoteVoters uint64 `json:"revote_voters,omitempty"`
}

// ContestCounts is one contest of the result entry, once the replay has
// recomputed and accepted it: Counts[0] is blank votes and Counts[i] the
// i-th candidate's (single choice), or Counts[i-1] the i-th candidate's
// selections (multi-select).
type ContestCounts struct {
	Contest  string   `json:"contest"`
	Ballots  uint64   `json:"ballots"`
	Withheld bool     `json:"withheld"`
	Counts   []uint64 `json:"counts"`
	// Names labels each count from the manifest: the candidate's English
	// name (its id if none), "(blank)" for a single-choice contest's
	// first count.
	Names []string `json:"names,omitempty"`
}

// A Note is an event the record shows that breaks no rule but that an
// auditor should hear of (§11.5), such as a trustee's decryption share
// missing from the record although the result recombines without it.
type Note struct {
	Entry int64  `json:"entry"` // index of the entry in the log, or NoEntry
	Check Check  `json:"check"`
	Note  string `json:"note"`
}

func (n Note) String() string {
	if n.Entry == NoEntry {
		return fmt.Sprintf("%s: %s", n.Check, n.Note)
	}
	return fmt.Sprintf("entry %d: %s: %s", n.Entry, n.Check, n.Note)
}

// MaxFailures bounds the failures a report lists; Report.FailureCount has
// the total.
const MaxFailures = 1000

// A Report is the outcome of a verification.
type Report struct {
	OK           bool            `json:"ok"`
	Origin       string          `json:"origin"`
	Size         uint64          `json:"size"`
	Root         string          `json:"root"`
	ElectionID   string          `json:"election_id,omitempty"`
	Phase        string          `json:"phase,omitempty"`
	Counts       Counts          `json:"counts"`
	Checks       []CheckSummary  `json:"checks"`
	Failures     []Failure       `json:"failures"`
	FailureCount uint64          `json:"failure_count"`
	Notes        []Note          `json:"notes"`
	Result       []ContestCounts `json:"result,omitempty"`
	Stages       []StageTime     `json:"stages"`
	Seconds      float64         `json:"seconds"`
	Workers      int             `json:"workers"`

	items    map[Check]uint64
	fails    map[Check]uint64
	coercion bool // the manifest sets deniable re-voting (spec chapter 15)
	times    map[Check]time.Duration
}

func newReport() *Report {
	return &Report{Failures: []Failure{}, Notes: []Note{}, items: map[Check]uint64{}, fails: map[Check]uint64{}}
}

func (r *Report) count(c Check, n uint64) { r.items[c] += n }

func (r *Report) fail(entry int64, c Check, format string, a ...any) {
	r.fails[c]++
	r.FailureCount++
	if len(r.Failures) < MaxFailures {
		r.Failures = append(r.Failures, Failure{Entry: entry, Check: c, Reason: fmt.Sprintf(format, a...)})
	}
}

func (r *Report) note(entry int64, c Check, format string, a ...any) {
	if len(r.Notes) < MaxFailures {
		r.Notes = append(r.Notes, Note{Entry: entry, Check: c, Note: fmt.Sprintf(format, a...)})
	}
}

// Failed reports whether check c found any failure.
func (r *Report) Failed(c Check) bool { return r.fails[c] > 0 }

// First returns the first failure in report order, if any.
func (r *Report) First() (Failure, bool) {
	if len(r.Failures) == 0 {
		return Failure{}, false
	}
	return r.Failures[0], true
}
