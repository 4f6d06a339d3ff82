package idpapi

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSignIn measures one whole sign-in through the HTTP handlers:
// start (register lookup over loopback HTTP, code by SMS recorder) and
// verify (code check, token, credential stored in SQLite and posted).
// The same voter signs in each time, 15 minutes apart on the service's
// clock, so that each sign-in finds a unit of the PIN's answer and code
// budgets (spec §8.11) and gets plain answers.
func BenchmarkSignIn(b *testing.B) {
	e := newEnv(b)
	p := e.person(nil, 0)
	i := 0
	for b.Loop() {
		i++
		e.clock.add(15 * time.Minute)
		client := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		st, ch, _ := e.start(client, p, nil)
		if st != 200 {
			b.Fatalf("start: %d %v", st, ch)
		}
		if st, body := e.verify(client, ch["challenge_id"].(string), e.lastCode(p.Phone), newDevice(b)); st != 200 {
			b.Fatalf("verify: %d %v", st, body)
		}
	}
}
