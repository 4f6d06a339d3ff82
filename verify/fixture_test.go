package verify

import (
	"crypto/ed25519"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
)

// A fixture is a small simulated election with everything needed to tamper
// with its record as an insider: every author's key and the log's key.
type fixture struct {
	e       *sim.Election
	log     *bulletin.LogKey
	keys    map[[32]byte]ed25519.PrivateKey
	voters  []*sim.Voter
	marked  map[[32]byte]bool // pseudonyms that voted in person
	entries []*bulletin.Entry
	rand    io.Reader
}

const fixtureNow = 1798800000

func pubOf(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }

// newFixture runs a small election: 3 trustees (threshold 2), re-votes,
// audits and in-person votes, 3 mixes, decryption and the result.
func newFixture(tb testing.TB, id string, voters int, policy ballot.RevotePolicy) *fixture {
	return newFixtureCfg(tb, id, voters, policy, false)
}

// newFixtureCfg is newFixture; plain elections have one 5-candidate
// contest per ballot and no re-votes, audits or in-person votes (the
// benchmark's election, spec §11.7).
func newFixtureCfg(tb testing.TB, id string, voters int, policy ballot.RevotePolicy, plain bool) *fixture {
	return newFixtureSim(tb, sim.Config{ElectionID: id, Trustees: 3, Threshold: 2, Voters: voters, Revote: policy, Now: fixtureNow, SingleChoiceOnly: plain})
}

// newFixtureSim runs the fixture's election with the given sim
// configuration (its Rand is set here).
func newFixtureSim(tb testing.TB, cfg sim.Config) *fixture {
	tb.Helper()
	id, voters, policy, plain := cfg.ElectionID, cfg.Voters, cfg.Revote, cfg.SingleChoiceOnly
	rnd := testrand.New("verify/" + id)
	cfg.Rand = rnd
	e, err := sim.Setup(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{e: e, keys: map[[32]byte]ed25519.PrivateKey{}, marked: map[[32]byte]bool{}, rand: rnd}
	if err := e.Transition(election.PhaseOpen); err != nil {
		tb.Fatal(err)
	}
	m := e.State.Manifest
	for i := range voters {
		var pseudo [32]byte
		io.ReadFull(rnd, pseudo[:])
		style := m.BallotStyles[i%len(m.BallotStyles)].ID
		v, err := e.Credential(pseudo, style)
		if err != nil {
			tb.Fatal(err)
		}
		f.voters = append(f.voters, v)
		if i%4 == 1 && !plain {
			if err := e.Audit(v, e.Selection(i+1, style)); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := e.Cast(v, e.Selection(i, style)); err != nil {
			tb.Fatal(err)
		}
		if i%5 == 2 && policy != ballot.SingleBallot && !plain {
			v2, err := e.Credential(pseudo, style)
			if err != nil {
				tb.Fatal(err)
			}
			f.voters = append(f.voters, v2)
			if _, err := e.Cast(v2, e.Selection(i+3, style)); err != nil {
				tb.Fatal(err)
			}
		}
		if i%7 == 6 && !plain {
			if err := e.MarkInPerson(pseudo, style); err != nil {
				tb.Fatal(err)
			}
			f.marked[pseudo] = true
		}
	}
	if err := e.Transition(election.PhaseClosed); err != nil {
		tb.Fatal(err)
	}
	c, err := e.State.ComputeCleansing()
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Post(bulletin.TypeCleansingResult, e.Keys.Authority, c.Encode()); err != nil {
		tb.Fatal(err)
	}
	if err := e.Mix(sim.Hooks{}); err != nil {
		tb.Fatal(err)
	}
	if err := e.Decrypt(sim.Hooks{}); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.Publish(); err != nil {
		tb.Fatal(err)
	}
	if e.State.Phase != election.PhaseTallied {
		tb.Fatalf("fixture election ends in phase %s", e.State.Phase)
	}
	for _, k := range []ed25519.PrivateKey{e.Keys.Authority, e.Keys.Identity, e.Keys.Station, e.Keys.Official} {
		f.keys[pubOf(k)] = k
	}
	for _, k := range e.Keys.Trustees {
		f.keys[pubOf(k)] = k
	}
	for _, v := range f.voters {
		f.keys[pubOf(v.Device)] = v.Device
	}
	f.log = e.Keys.LogKey(id)
	if bulletin.LogIDFor(f.log.Origin) != e.Log {
		tb.Fatal("log origin does not give the sim's log id")
	}
	f.entries = e.Entries
	return f
}

var (
	fixOnce sync.Once
	fix     *fixture
)

// shared returns the fixture most tests use (built once per test binary).
func shared(tb testing.TB) *fixture {
	fixOnce.Do(func() { fix = newFixture(tb, "kg-2027-verify", 13, 0) })
	if fix == nil {
		tb.Fatal("fixture failed")
	}
	return fix
}

// checkpoint signs a checkpoint over entries with the log's key, cosigned
// by the witnesses.
func (f *fixture) checkpoint(tb testing.TB, entries [][]byte) []byte {
	tb.Helper()
	note, err := f.e.Keys.SignCheckpoint(f.e.Cfg.ElectionID, entries, time.Unix(fixtureNow+3600, 0))
	if err != nil {
		tb.Fatal(err)
	}
	return note
}

// encoded returns the canonical encodings of the honest entries.
func (f *fixture) encoded() [][]byte {
	out := make([][]byte, len(f.entries))
	for i, e := range f.entries {
		out[i] = e.Encode()
	}
	return out
}

// record returns the honest record.
func (f *fixture) record(tb testing.TB) *Record {
	es := f.encoded()
	return &Record{Checkpoint: f.checkpoint(tb, es), Entries: es}
}

func (f *fixture) options() Options {
	return Options{Fingerprint: ballot.ExpectFingerprint(f.e.State.Manifest.Fingerprint()), Workers: 2}
}

// find returns the index of the n-th (0-based) entry of type t.
func (f *fixture) find(tb testing.TB, t bulletin.Type, n int) int {
	tb.Helper()
	for i, e := range f.entries {
		if e.Type == t {
			if n == 0 {
				return i
			}
			n--
		}
	}
	tb.Fatalf("no entry %d of type %s", n, t)
	return -1
}

// sign builds an entry of f's log signed by the holder of author's key.
func (f *fixture) sign(tb testing.TB, t bulletin.Type, author [32]byte, payload []byte) []byte {
	tb.Helper()
	k, ok := f.keys[author]
	if !ok {
		tb.Fatalf("no key for author %x", author[:4])
	}
	e, err := bulletin.NewEntry(f.e.Log, t, author, bulletin.NewEd25519Signer(k), payload)
	if err != nil {
		tb.Fatal(err)
	}
	return e.Encode()
}

// voter returns a voter who neither voted in person nor holds a second
// device, with its index in f.voters.
func (f *fixture) voter(tb testing.TB, n int) *sim.Voter {
	tb.Helper()
	seen := map[[32]byte]bool{}
	for _, v := range f.voters {
		if f.marked[v.Pseudonym] || seen[v.Pseudonym] {
			seen[v.Pseudonym] = true
			continue
		}
		seen[v.Pseudonym] = true
		if n == 0 {
			return v
		}
		n--
	}
	tb.Fatal("not enough voters")
	return nil
}

// markedVoter returns a voter who voted in person.
func (f *fixture) markedVoter(tb testing.TB) *sim.Voter {
	for _, v := range f.voters {
		if f.marked[v.Pseudonym] {
			return v
		}
	}
	tb.Fatal("no in-person voter")
	return nil
}

// ballotFor encrypts a valid ballot for a credential key on style, with
// randomness from r.
func (f *fixture) ballotFor(tb testing.TB, style string, key [32]byte, i int, r io.Reader) *ballot.PreparedBallot {
	tb.Helper()
	p, err := f.e.State.Election().Encrypt(style, key, f.e.Selection(i, style), r)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func insert(es [][]byte, at int, add ...[]byte) [][]byte {
	return slices.Insert(slices.Clone(es), at, add...)
}
