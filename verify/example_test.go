package verify_test

import (
	"fmt"
	"os"
	"strings"

	"evote/ballot"
	"evote/verify"
)

// Example verifies the spec's example record (spec/vectors/record-example)
// as an auditor does: load the record exported from the board, take the
// election's fingerprint from the officials' publication (here the file
// beside the record, first line), verify, and read the report.
func Example() {
	const dir = "../spec/vectors/record-example"
	rec, err := verify.Load(dir)
	if err != nil {
		panic(err)
	}
	text, err := os.ReadFile(dir + "/fingerprint")
	if err != nil {
		panic(err)
	}
	fp, err := ballot.ParseFingerprint(strings.TrimSpace(strings.SplitN(string(text), "\n", 2)[0]))
	if err != nil {
		panic(err)
	}

	report := verify.Verify(rec, verify.Options{Fingerprint: fp, Workers: 1})
	if !report.OK {
		f, _ := report.First()
		fmt.Println("INVALID:", f.Check, f.Reason)
		return
	}
	fmt.Println("VALID")
	fmt.Println("election:", report.ElectionID, "phase:", report.Phase)
	fmt.Println("ballots counted:", report.Counts.Counted)
	for _, c := range report.Result {
		fmt.Println("contest", c.Contest, "counts", c.Counts)
	}
	// Output:
	// VALID
	// election: kg-2027-verify phase: tallied
	// ballots counted: 12
	// contest council-ala-archa counts [1 0 0 3 0 0]
	// contest council-kara-suu counts [0 1 0 0 3 0]
	// contest council-tash-dobo counts [0 0 1 0 0 3]
	// contest priorities counts [4 4 4 4]
}
