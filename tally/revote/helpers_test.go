package revote

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/threshold"
	"evote/tally"
)

// testElection is a 2-of-3 election with Shamir-dealt key shares (the
// filter does not care how the shares were made; chapter 5's DKG is tested
// in crypto/threshold) and one tag key per trustee.
type testElection struct {
	p       *Params
	shares  []*threshold.KeyShare
	tagKeys []*TagKey
	secret  *group.Scalar // the joint secret, for the tests' own checks only
}

func newTestElection(t testing.TB, rnd io.Reader, m int) *testElection {
	t.Helper()
	a0, a1 := new(group.Scalar), new(group.Scalar)
	if _, err := a0.SetRandom(rnd); err != nil {
		t.Fatal(err)
	}
	if _, err := a1.SetRandom(rnd); err != nil {
		t.Fatal(err)
	}
	e := &testElection{secret: a0}
	ext := sha256.Sum256([]byte("revote test extended hash"))
	pk, err := elgamal.NewPublicKey(new(group.Element).ScalarBaseMult(a0))
	if err != nil {
		t.Fatal(err)
	}
	e.p = &Params{
		ElectionID: "revote-test", Style: "style-a", Context: ext, PublicKey: pk,
		Threshold: threshold.Params{N: 3, T: 2}, Mixes: 2, MaxDepth: m,
	}
	for j := 1; j <= 3; j++ {
		xj := new(group.Scalar).MultiplyAdd(a1, new(group.Scalar).SetUint64(uint64(j)), a0)
		ks, err := threshold.NewKeyShare(j, xj)
		if err != nil {
			t.Fatal(err)
		}
		e.shares = append(e.shares, ks)
		e.p.VerificationKeys = append(e.p.VerificationKeys, ks.VerificationKey())
		tk, err := NewTagKey(j, rnd)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := tk.Prove(ext, rnd)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyTagKey(ext, j, tk.Public(), proof); err != nil {
			t.Fatal(err)
		}
		e.tagKeys = append(e.tagKeys, tk)
		e.p.TagKeys = append(e.p.TagKeys, tk.Public())
	}
	return e
}

// decrypt is the tests' own decryption with the joint secret.
func (e *testElection) decrypt(c *elgamal.Ciphertext) *group.Element {
	ax := new(group.Element).ScalarMult(e.secret, &c.A)
	return new(group.Element).Subtract(&c.B, ax)
}

// A cast is one row of a scenario: a real voter's ballot (vote ≥ 1), an
// in-person mark, a dummy voter's row, or a padding row added at the close.
type cast struct {
	voter    int // real voter number (0..) or dummy voter number (1..)
	dummy    bool
	inPerson bool
	padding  bool
	vote     uint64
	depth    int
}

// scenario is the filter's input: the board rows in board order, then the
// padding rows of the close (spec §15.4), with what each row is.
type scenario struct {
	casts []cast
	board int          // rows on the board (N); the rest are padding (P)
	want  map[int]cast // the last row of each real voter
}

func pseudonym(v int) [32]byte {
	return sha256.Sum256(binary.BigEndian.AppendUint64([]byte("pseudonym"), uint64(v)))
}

// newScenario makes a board of n rows: voters real voters each casting one
// ballot, extra further ballots by random voters (at most m − 1 online
// ballots each), inPerson of the voters then voting in person, and the
// other rows dummies; then the padding of the close, so that every voter,
// real or dummy, has exactly m rows with depths 1..m, its own rows on top
// in board order (spec §15.4). Board order is random, each voter's rows in
// order and its in-person mark after its online ballots.
func newScenario(rnd *mrand.Rand, n, voters, extra, inPerson, m int) (*scenario, error) {
	var evs []cast
	for v := 0; v < voters; v++ {
		evs = append(evs, cast{voter: v, vote: uint64(1 + rnd.IntN(3))})
	}
	for i := 0; i < extra; i++ {
		evs = append(evs, cast{voter: rnd.IntN(voters), vote: uint64(1 + rnd.IntN(3))})
	}
	per := map[int]int{}
	var real []cast
	for _, c := range evs {
		if per[c.voter] < m-1 {
			per[c.voter]++
			real = append(real, c)
		}
	}
	for v := 0; v < inPerson; v++ {
		real = append(real, cast{voter: v, inPerson: true})
	}
	g := DummyGroups(n, voters, m)
	d := n - len(real)
	if g < 0 || d < g || d > g*m {
		return nil, fmt.Errorf("infeasible padding: %d dummy rows for %d dummy voters", d, g)
	}
	all := real
	// Every dummy voter gets a board row first, then each is filled up to m
	// (spec §15.4: a dummy voter's top row is a board row, never padding).
	for i := 0; i < d; i++ {
		if i < g {
			all = append(all, cast{voter: 1 + i, dummy: true})
		} else {
			all = append(all, cast{voter: 1 + (i-g)/(m-1), dummy: true})
		}
	}
	rnd.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for i := range all {
		if all[i].inPerson {
			for j := len(all) - 1; j > i; j-- {
				if !all[j].dummy && all[j].voter == all[i].voter {
					all[i], all[j] = all[j], all[i]
					break
				}
			}
		}
	}
	type ident struct {
		v     int
		dummy bool
	}
	count := map[ident]int{}
	for _, c := range all {
		count[ident{c.voter, c.dummy}]++
	}
	s := &scenario{board: len(all), want: map[int]cast{}}
	seen := map[ident]int{}
	for _, c := range all {
		id := ident{c.voter, c.dummy}
		seen[id]++
		c.depth = m - count[id] + seen[id]
		s.casts = append(s.casts, c)
		if !c.dummy {
			s.want[c.voter] = c
		}
	}
	// The close: padding rows below each voter's own rows.
	var ids []ident
	for v := 0; v < voters; v++ {
		ids = append(ids, ident{v, false})
	}
	for i := 1; i <= g; i++ {
		ids = append(ids, ident{i, true})
	}
	for _, id := range ids {
		for k := 1; k <= m-count[id]; k++ {
			s.casts = append(s.casts, cast{voter: id.v, dummy: id.dummy, padding: true, depth: k})
		}
	}
	return s, nil
}

// rows encrypts a scenario's board rows.
func (e *testElection) rows(t testing.TB, s *scenario, rnd io.Reader) []Row {
	t.Helper()
	pk := e.p.PublicKey
	out := make([]Row, len(s.casts))
	for i, c := range s.casts {
		var id *group.Element
		if c.dummy {
			id = DummyID(e.p.ElectionID, e.p.Style, uint64(c.voter))
		} else {
			id = VoterID(e.p.ElectionID, pseudonym(c.voter))
		}
		flag := PaddingFlag()
		if !c.padding {
			flag = encrypt(t, pk, flagOf(c), rnd)
		}
		out[i] = Row{
			ID:     encryptElement(t, pk, id, rnd),
			Depth:  encrypt(t, pk, uint64(c.depth), rnd),
			Flag:   flag,
			Ballot: []*elgamal.Ciphertext{encrypt(t, pk, c.vote, rnd)},
		}
	}
	return out
}

// lists encrypts a scenario's board rows as rows does and returns the
// filter's lists X and Y (Lists), making the rows a chunk at a time on all
// cores: only the lists (320 bytes a row at width 4) are ever held whole.
func (e *testElection) lists(t testing.TB, s *scenario, rnd io.Reader) (x, y *shuffle.Rows) {
	t.Helper()
	const chunk = 4096
	chunks := (len(s.casts) + chunk - 1) / chunk
	xs, ys := make([]*shuffle.Rows, chunks), make([]*shuffle.Rows, chunks)
	errs := make([]error, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := int(next.Add(1)) - 1; c < chunks; c = int(next.Add(1)) - 1 {
				part := &scenario{casts: s.casts[c*chunk : min((c+1)*chunk, len(s.casts))]}
				xs[c], ys[c], errs[c] = Lists(e.rows(t, part, rnd))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	x, err := shuffle.Concat(xs...)
	if err != nil {
		t.Fatal(err)
	}
	if y, err = shuffle.Concat(ys...); err != nil {
		t.Fatal(err)
	}
	return x, y
}

// flagOf is a row's flag: 1 for an online ballot, 2 for padding (opened
// in public, spec §15.4), 0 for a dummy row or an in-person mark.
func flagOf(c cast) uint64 {
	switch {
	case c.padding:
		return FlagPadding
	case !c.dummy && !c.inPerson:
		return FlagBallot
	}
	return FlagNone
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func encrypt(t testing.TB, pk *elgamal.PublicKey, m uint64, rnd io.Reader) *elgamal.Ciphertext {
	t.Helper()
	c, _, err := pk.Encrypt(m, rnd)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func encryptElement(t testing.TB, pk *elgamal.PublicKey, v *group.Element, rnd io.Reader) *elgamal.Ciphertext {
	t.Helper()
	c := encrypt(t, pk, 0, rnd)
	c.B.Add(&c.B, v)
	return c
}

// run performs the filter as the trustees would (mixers 1 and 2 on each
// list, blinders 1 and 2, decryption shares of 1 and 2) and returns its
// record.
func (e *testElection) run(t testing.TB, rows []Row, rnd io.Reader) *Record {
	t.Helper()
	x, y, err := Lists(rows)
	if err != nil {
		t.Fatal(err)
	}
	return e.runLists(t, x, y, rnd)
}

// runLists is run over the lists X and Y (Lists) rather than the rows.
func (e *testElection) runLists(t testing.TB, x, y *shuffle.Rows, rnd io.Reader) *Record {
	t.Helper()
	rec, tags := e.work(t, x, y, rnd)
	var err error
	if rec.Kept, err = SelectEncoded(tags); err != nil {
		t.Fatal(err)
	}
	return rec
}

// run2 is run for rows the selection refuses: its kept list is computed
// without the check that current tags are distinct.
func (e *testElection) run2(t testing.TB, rows []Row, rnd io.Reader) *Record {
	t.Helper()
	x, y, err := Lists(rows)
	if err != nil {
		t.Fatal(err)
	}
	rec, tags := e.work(t, x, y, rnd)
	if _, err := SelectEncoded(tags); err == nil {
		t.Fatal("the selection accepted the rows")
	}
	n := len(tags) / 64
	cur := map[[32]byte]bool{}
	for i := range n {
		cur[[32]byte(tags[(n+i)*32:])] = true
	}
	for i := range n {
		if !cur[[32]byte(tags[i*32:])] {
			rec.Kept = append(rec.Kept, uint32(i))
		}
	}
	return rec
}

// work is the trustees' part of run: the record without its kept list, and
// the decrypted tags' encodings. Each party's intermediate lists are
// dropped once the next step has them, as the trustees' tools do.
func (e *testElection) work(t testing.TB, x, y *shuffle.Rows, rnd io.Reader) (*Record, []byte) {
	t.Helper()
	rec := &Record{}
	px, py := e.p.MixParams(ChainX).WithGenerators(x.Len()), e.p.MixParams(ChainY)
	py.Generators = px.Generators
	for mixer := uint32(1); mixer <= 2; mixer++ {
		m, _, err := tally.Mix(px, mixer, x, rec.XMixes, rnd)
		if err != nil {
			t.Fatal(err)
		}
		rec.XMixes = append(rec.XMixes, m)
		m, _, err = tally.Mix(py, mixer, y, rec.YMixes, rnd)
		if err != nil {
			t.Fatal(err)
		}
		rec.YMixes = append(rec.YMixes, m)
	}
	list, err := TagList(rec.XMixes[1].Output, rec.YMixes[1].Output)
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 2; j++ {
		step, err := e.tagKeys[j].Blind(e.p.Context, list, rnd)
		if err != nil {
			t.Fatal(err)
		}
		rec.Blinds = append(rec.Blinds, step)
		list = step.Out
	}
	for j := 0; j < 2; j++ {
		s, err := e.shares[j].DecryptSharesEncoded(e.p.Context, list.Encoding(), rnd)
		if err != nil {
			t.Fatal(err)
		}
		rec.Shares = append(rec.Shares, s)
	}
	tags := make([]byte, 0, list.Len()*group.ElementSize)
	err = threshold.CombineEncoded(e.p.Threshold, list.Encoding(), rec.Shares, func(_ int, ms []*group.Element) error {
		for _, m := range ms {
			tags = m.AppendBytes(tags)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec, tags
}

// replaceRow returns r with row i replaced by row j.
func replaceRow(t testing.TB, r *shuffle.Rows, i, j int) *shuffle.Rows {
	t.Helper()
	idx := make([]uint32, r.Len())
	for k := range idx {
		idx[k] = uint32(k)
	}
	idx[i] = uint32(j)
	out, err := r.Sub(idx, 0, r.Width())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forgedShare returns the encoding of the share b with D_0 replaced by
// D_1, its proof unchanged.
func forgedShare(t testing.TB, b []byte) []byte {
	t.Helper()
	s, err := threshold.ParseDecryptionShare(b)
	if err != nil {
		t.Fatal(err)
	}
	s.D = slices.Clone(s.D)
	s.D[0] = s.D[1]
	return s.Bytes()
}

// rollCall mixes and decrypts the identifiers of the kept rows.
func (e *testElection) rollCall(t testing.TB, kept *Result, rnd io.Reader) *RollCall {
	t.Helper()
	in, err := RollCallList(kept.Kept)
	if err != nil {
		t.Fatal(err)
	}
	rc := &RollCall{}
	p := e.p.MixParams(ChainRoll)
	for mixer := uint32(2); mixer <= 3; mixer++ {
		m, _, err := tally.Mix(p, mixer, in, rc.Mixes, rnd)
		if err != nil {
			t.Fatal(err)
		}
		rc.Mixes = append(rc.Mixes, m)
	}
	for j := 1; j < 3; j++ {
		s, err := e.shares[j].DecryptSharesEncoded(e.p.Context, rc.Mixes[1].Output.Encoding(), rnd)
		if err != nil {
			t.Fatal(err)
		}
		rc.Shares = append(rc.Shares, s)
	}
	return rc
}
