package token

import (
	"testing"
	"time"
)

func BenchmarkIssue(b *testing.B) {
	now := t0
	iss, _, g := setup(b, &now)
	for b.Loop() {
		if _, _, err := iss.Issue(g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	now := t0
	iss, ver, g := setup(b, &now)
	tok, _, _ := iss.Issue(g)
	now = now.Add(time.Minute)
	for b.Loop() {
		if _, err := ver.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
