package ballotbox_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/election"
	"evote/internal/cpustat"
	"evote/record"
	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"

	"github.com/jackc/pgx/v5"
)

// largeKeys are the keys of a board BenchmarkReopenLarge built.
type largeKeys struct {
	ElectionID       string
	Authority, LogEd []byte
	Witnesses        [][]byte
}

// BenchmarkReopenLarge measures a restart from a snapshot at a size where
// casting every ballot for real would take hours
// (EVOTE_REOPEN_LARGE=n voters, each a credential and a ballot entry;
// skipped when unset):
//
//	EVOTE_REOPEN_LARGE=1000000 go test -run '^$' -bench ReopenLarge -benchtime 1x -timeout 3h ./ballotbox
//
// The board is built by a fast path: after a real setup, n credential
// entries (signed by the identity service) and n ballot entries (signed
// by their device keys, with fresh ciphertexts and a copied proof, so
// their proofs do not verify) are appended to the store directly, a
// checkpoint over them is signed with the log's key, and a first snapshot
// is encoded here in the box's format and sealed with its key. Everything
// measured is the real code path: the box opens from that snapshot (all
// of its checks run), takes its own snapshot with Box.Snapshot (timed and
// logged), EVOTE_REOPEN_AFTER (default 1000) real voters cast after it;
// then each iteration reopens from the box's own snapshot and replays
// those casts, EVOTE_REOPEN_RUNS times (default 3; the board is built
// once, so run it with -benchtime 1x). Reported: the mean ms-wall/reopen,
// SM/ballot as in BenchmarkReopen, the size of the snapshot, and the live
// heap (HeapAlloc) and the heap in use (HeapInuse) of the process with the
// box open, after a collection, per voter (its credential and ballot).
// The snapshot is kept in a file between runs, not in memory. With
// EVOTE_REOPEN_LARGE_PG=schema, the board is kept in that schema of the
// test PostgreSQL server instead of a SQLite file (the keys stay in the
// directory). With EVOTE_REOPEN_COLD set, the page cache is dropped before each reopen
// (as root: sync; echo 3 > /proc/sys/vm/drop_caches). On a run
// that builds the board, the first box (the fixture's) stays reachable
// from the fixture: the heap figures count for a run that reuses it.
// openLargeStore opens the store of BenchmarkReopenLarge: the SQLite file
// in dir, or, with EVOTE_REOPEN_LARGE_PG=schema, that schema of the test
// PostgreSQL server (pgtest.BaseDSN), made if missing and kept for later
// runs like the directory (drop it by hand: DROP SCHEMA … CASCADE).
func openLargeStore(b *testing.B, dir string) store.Store {
	schema := os.Getenv("EVOTE_REOPEN_LARGE_PG")
	if schema == "" {
		return openSQLite(b, dir)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.BaseDSN())
	if err != nil {
		b.Fatal(err)
	}
	_, err = conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
	conn.Close(ctx)
	if err != nil {
		b.Fatal(err)
	}
	st, err := postgres.Open(ctx, pgtest.WithSearchPath(pgtest.BaseDSN(), schema))
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func BenchmarkReopenLarge(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("EVOTE_REOPEN_LARGE"))
	if n <= 0 {
		b.Skip("EVOTE_REOPEN_LARGE unset")
	}
	after := 1000
	if s := os.Getenv("EVOTE_REOPEN_AFTER"); s != "" {
		after, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	// EVOTE_REOPEN_LARGE_DIR keeps the built board (and its keys) for
	// later runs, which then only measure.
	dir := os.Getenv("EVOTE_REOPEN_LARGE_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	keysPath := filepath.Join(dir, "keys.json")
	st := openLargeStore(b, dir)
	b.Cleanup(func() { st.Close() })
	var keys largeKeys
	cat := &ballotbox.MemoryCatalog{}
	if raw, err := os.ReadFile(keysPath); err == nil {
		if err := json.Unmarshal(raw, &keys); err != nil {
			b.Fatal(err)
		}
		cat.AddElection(ctx, keys.ElectionID, "evote.test/board/"+keys.ElectionID)
	}
	sk := func() *boxtest.ServerKeys {
		k := &boxtest.ServerKeys{Authority: keys.Authority, LogEd: keys.LogEd}
		for _, w := range keys.Witnesses {
			k.Witnesses = append(k.Witnesses, w)
		}
		return k
	}
	open := func() (*ballotbox.Registry, *ballotbox.Box) {
		r, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board", LogKey: sk().LogKey,
			Authority: keys.Authority, Audience: boxtest.Audience, Witnesses: boxtest.LocalWitnesses(dir, sk().Witnesses)})
		if err != nil {
			b.Fatal(err)
		}
		bx, err := r.Get(keys.ElectionID)
		if err != nil {
			b.Fatal(err)
		}
		if bx.RestoredFrom() == 0 {
			b.Fatal("the snapshot was refused")
		}
		return r, bx
	}
	if keys.ElectionID == "" {
		f := newFixture(b, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
		keys = largeKeys{ElectionID: f.ElectionID, Authority: f.Server.Authority, LogEd: f.Server.LogEd}
		for _, w := range f.Server.Witnesses {
			keys.Witnesses = append(keys.Witnesses, w)
		}
		t0 := time.Now()
		buildLarge(b, f, st, n)
		b.Logf("built %d voters' entries in %v", n, time.Since(t0))
		t0 = time.Now()
		r, bx := open()
		b.Logf("opened from the built snapshot in %v", time.Since(t0))
		f.Registry, f.Box = r, bx
		t0 = time.Now()
		if _, err := bx.Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
		b.Logf("Box.Snapshot at %d entries took %v", bx.Log().Size(), time.Since(t0))
		for i := range after {
			v := voter(b, f, [32]byte{byte(i), byte(i >> 8), 0xaf})
			raw, _ := prepare(b, f, v, i)
			if _, err := bx.Cast(ctx, v.Token, raw); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := bx.Checkpoint(ctx); err != nil {
			b.Fatal(err)
		}
		lid := store.LogID(bx.Log().ID())
		snap, err := st.LatestSnapshot(ctx, lid)
		if err != nil {
			b.Fatal(err)
		}
		// Closing would snapshot the casts after it: keep the box's.
		r.Close()
		if err := st.PutSnapshot(ctx, lid, snap); err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(keys)
		if err := os.WriteFile(keysPath, raw, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	lid := store.LogID(bulletin.LogIDFor("evote.test/board/" + keys.ElectionID))
	snap, err := st.LatestSnapshot(ctx, lid)
	if err != nil {
		b.Fatal(err)
	}
	// Kept in a file, not in memory, to put it back between runs: the
	// heap measured is then the box's alone.
	snapPath := filepath.Join(b.TempDir(), "snapshot")
	if err := os.WriteFile(snapPath, snap.Data, 0o600); err != nil {
		b.Fatal(err)
	}
	snapLen := len(snap.Data)
	snap.Data = nil
	putBack := func() {
		data, err := os.ReadFile(snapPath)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.PutSnapshot(ctx, lid, store.Snapshot{Size: snap.Size, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	var want ballotbox.View
	var heap, inuse uint64 // live heap and heap in use with the box open
	runs := 3
	if s := os.Getenv("EVOTE_REOPEN_RUNS"); s != "" {
		runs, _ = strconv.Atoi(s)
	}
	sm := cpustat.ScalarMult()
	runtime.GC()
	b.ResetTimer()
	var cpu time.Duration
	for range runs {
		if os.Getenv("EVOTE_REOPEN_COLD") != "" {
			// A cold page cache for each reopen (needs root; only on a
			// machine where nothing else is being measured), outside the
			// timer: the sync and the drop are not the reopen's.
			b.StopTimer()
			if err := exec.Command("sync").Run(); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		cpu0 := cpustat.Process()
		t0 := time.Now()
		r, bx := open()
		cpu += cpustat.Process() - cpu0
		b.StopTimer()
		b.Logf("reopen: %v", time.Since(t0))
		if want.Size == 0 {
			want = bx.View()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap, inuse = ms.HeapAlloc, ms.HeapInuse
		}
		if v := bx.View(); v.Size != want.Size || v.Ballots != want.Ballots || bx.RestoredFrom() != snap.Size {
			b.Fatalf("reopened at %d with %d ballots from %d, want %d, %d from %d", v.Size, v.Ballots, bx.RestoredFrom(), want.Size, want.Ballots, snap.Size)
		}
		r.Close()
		putBack()
		runtime.GC()
		b.StartTimer()
	}
	b.StopTimer()
	b.Logf("one scalar multiplication %v; CPU per reopen %v", sm, cpu/time.Duration(runs))
	ms := float64(b.Elapsed().Milliseconds()) / float64(runs)
	b.ReportMetric(ms, "ms-wall/reopen")
	b.ReportMetric(float64(cpu)/float64(runs)/float64(want.Ballots)/float64(sm), "SM/ballot")
	b.ReportMetric(float64(snapLen)/1e6, "MB-snapshot")
	b.ReportMetric(float64(heap)/float64(want.Ballots), "B-heap/voter")
	b.ReportMetric(float64(inuse)/float64(want.Ballots), "B-heapinuse/voter")
}

// buildLarge appends n voters' credential and ballot entries to the
// store after the fixture's setup, signs a checkpoint over them, and
// stores a snapshot of the box's state in the box's format (see
// BenchmarkReopenLarge). The fixture's registry is closed.
func buildLarge(b *testing.B, f *boxtest.Fixture, st store.Store, n int) {
	ctx := context.Background()
	var style, electionID, keyID string
	var ctxHash [32]byte
	var el *ballot.Election
	f.Box.WithState(func(s *election.State) {
		style, electionID, ctxHash, el = s.Manifest.BallotStyles[0].ID, s.Manifest.ElectionID, s.Context.ExtendedHash, s.Election()
		for _, k := range s.IdentityKeys.Keys {
			if k.RetiredAt == 0 {
				keyID = k.KeyID
			}
		}
	})
	tmpl, err := el.Encrypt(style, [32]byte{1}, f.Selection(0, style), nil)
	if err != nil {
		b.Fatal(err)
	}
	logID := f.Box.Log().ID()
	lid := store.LogID(logID)
	if err := f.Registry.Close(); err != nil {
		b.Fatal(err)
	}
	s0, err := st.Size(ctx, lid)
	if err != nil {
		b.Fatal(err)
	}
	setup, err := st.Range(ctx, lid, 0, s0)
	if err != nil || uint64(len(setup)) != s0 {
		b.Fatalf("setup entries: %d of %d, %v", len(setup), s0, err)
	}
	total := s0 + 2*uint64(n)
	hashes := make([][32]byte, total)
	leaves := make([][32]byte, total)
	for i, r := range setup {
		if t := bulletin.Type(r.Type); t == bulletin.TypeBallot || t == bulletin.TypeCredentialIssued || t == bulletin.TypeInPersonMark {
			b.Fatalf("setup entry %d is a %s", i, t)
		}
		hashes[i], leaves[i] = r.Hash, bulletin.LeafHash(r.Data)
	}
	now := uint64(time.Now().Unix())
	identity := bulletin.NewEd25519Signer(f.Identity)
	idPub := [32]byte(f.Identity.Public().(ed25519.PublicKey))
	type voterRec struct {
		cred record.CredentialIssued
		code ballot.TrackingCode
		enc  []byte
		recs [2]store.Record
	}
	vs := make([]voterRec, n)
	g := group.NewGeneratorElement()
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Fresh ciphertexts: the template's, with A moved by a
			// different multiple of the generator each time: worker w
			// uses (w+1+k·workers)·G for its k-th ciphertext.
			step := new(group.Element).Set(g)
			for range workers - 1 {
				step.Add(step, g)
			}
			off := new(group.Element).Set(g)
			for range w {
				off.Add(off, g)
			}
			for i := w; i < n; i += workers {
				var seed [32]byte
				binary.BigEndian.PutUint64(seed[:], uint64(i))
				seed[31] = 0xd1
				dev := ed25519.NewKeyFromSeed(seed[:])
				v := &vs[i]
				v.cred = record.CredentialIssued{ElectionID: electionID, ContextHash: ctxHash, Pseudonym: sha256.Sum256(seed[:]), BallotStyle: style,
					DeviceKey: [32]byte(dev.Public().(ed25519.PublicKey)), KeyID: keyID, IssuedAt: now, NotBefore: now, ExpiresAt: now + 3600}
				copy(v.cred.TokenID[:], seed[:16])
				bal := *tmpl.Ballot
				bal.CredentialKey = v.cred.DeviceKey
				bal.Contests = make([]ballot.ContestBallot, len(tmpl.Ballot.Contests))
				v.enc = []byte{byte(len(bal.Contests))}
				for j, c := range tmpl.Ballot.Contests {
					cts := make([]*elgamal.Ciphertext, len(c.Ciphertexts))
					for k, ct := range c.Ciphertexts {
						off.Add(off, step)
						nc := &elgamal.Ciphertext{B: ct.B}
						nc.A.Add(&ct.A, off)
						cts[k] = nc
					}
					bal.Contests[j] = ballot.ContestBallot{Ciphertexts: cts, Proof: c.Proof}
					v.enc = binary.BigEndian.AppendUint16(v.enc, uint16(len(cts)))
				}
				for _, c := range bal.Contests {
					for _, ct := range c.Ciphertexts {
						v.enc = ct.AppendBytes(v.enc)
					}
				}
				payload := bal.Encode()
				v.code = ballot.TrackingCodeOf(payload)
				ce, err := bulletin.NewEntry(logID, bulletin.TypeCredentialIssued, idPub, identity, v.cred.Encode())
				if err != nil {
					panic(err)
				}
				be, err := bulletin.NewEntry(logID, bulletin.TypeBallot, v.cred.DeviceKey, bulletin.NewEd25519Signer(dev), payload)
				if err != nil {
					panic(err)
				}
				for k, e := range []*bulletin.Entry{ce, be} {
					data := e.Encode()
					v.recs[k] = store.Record{Hash: sha256.Sum256(data), Type: uint16(e.Type), Data: data}
					pos := s0 + 2*uint64(i) + uint64(k)
					hashes[pos], leaves[pos] = v.recs[k].Hash, bulletin.LeafHash(data)
				}
			}
		}()
	}
	wg.Wait()
	// The ciphertexts must be fresh: the rules refuse a repeated one.
	seen := make(map[[32]byte]bool, n)
	for i := range vs {
		k := sha256.Sum256(vs[i].enc[1+2*int(vs[i].enc[0]):][:64])
		if seen[k] {
			b.Fatalf("voter %d repeats a ciphertext", i)
		}
		seen[k] = true
	}
	seen = nil
	for first := 0; first < n; {
		end := min(first+2500, n)
		recs := make([]store.Record, 0, 2*(end-first))
		for i := first; i < end; i++ {
			recs = append(recs, vs[i].recs[0], vs[i].recs[1])
			vs[i].recs = [2]store.Record{}
		}
		if err := st.Append(ctx, lid, s0+2*uint64(first), recs); err != nil {
			b.Fatal(err)
		}
		first = end
	}
	tree := bulletin.NewTree()
	tree.AppendLeaves(leaves...)
	root, _ := tree.RootAt(total)
	lk, err := f.Server.LogKey("evote.test/board/" + f.ElectionID)
	if err != nil {
		b.Fatal(err)
	}
	note, err := bulletin.SignCheckpoint(bulletin.Checkpoint{Origin: lk.Origin, Size: total, Root: root, Time: time.Now().UTC().Truncate(time.Second)}, lk)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.PutCheckpoint(ctx, lid, store.Checkpoint{Size: total, Note: note}); err != nil {
		b.Fatal(err)
	}
	// The snapshot, in the box's format (ballotbox/snapshot.go).
	w := []byte("evote-box-snapshot")
	w = append(w, 1)
	w = append(w, logID[:]...)
	w = binary.BigEndian.AppendUint64(w, total)
	nh := sha256.Sum256(note)
	w = append(w, nh[:]...)
	w = append(w, hashes[0][:]...)
	w = binary.BigEndian.AppendUint32(w, 2)
	for _, s := range []string{style, keyID} {
		w = binary.BigEndian.AppendUint16(w, uint16(len(s)))
		w = append(w, s...)
	}
	for _, hs := range [][][32]byte{hashes, leaves} {
		for _, h := range hs {
			w = append(w, h[:]...)
		}
	}
	w = binary.BigEndian.AppendUint32(w, uint32(s0))
	for p := range s0 {
		w = binary.BigEndian.AppendUint64(w, p)
	}
	w = binary.BigEndian.AppendUint32(w, uint32(n))
	for i := range vs {
		c := &vs[i].cred
		w = binary.BigEndian.AppendUint64(w, s0+2*uint64(i))
		w = append(w, c.Pseudonym[:]...)
		w = append(w, c.DeviceKey[:]...)
		w = append(w, c.TokenID[:]...)
		w = binary.BigEndian.AppendUint16(w, 0)
		w = binary.BigEndian.AppendUint16(w, 1)
		w = binary.BigEndian.AppendUint64(w, c.IssuedAt)
		w = binary.BigEndian.AppendUint64(w, c.NotBefore)
		w = binary.BigEndian.AppendUint64(w, c.ExpiresAt)
	}
	w = binary.BigEndian.AppendUint32(w, 0) // in-person marks
	w = binary.BigEndian.AppendUint32(w, uint32(n))
	for i := range vs {
		w = binary.BigEndian.AppendUint64(w, s0+2*uint64(i)+1)
		w = binary.BigEndian.AppendUint16(w, 0)
		w = append(w, vs[i].code[:]...)
		w = append(w, vs[i].cred.Pseudonym[:]...)
		w = binary.BigEndian.AppendUint32(w, uint32(len(vs[i].enc)))
		w = append(w, vs[i].enc...)
	}
	w = append(w, make([]byte, 32)...)
	if err := st.PutSnapshot(ctx, lid, store.Snapshot{Size: total, Data: ballotbox.ResealSnapshot(f.Box, w)}); err != nil {
		b.Fatal(err)
	}
}
