package webclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/sig"
	"evote/crypto/zkp"
	"evote/internal/testrand"
	"evote/internal/wire"
	"evote/store/sqlite"
	"evote/tally/revote"
)

// clock is the ballot box's clock in these tests, moved by hand to end a
// slot instead of waiting for it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// votingStart is the sample manifest's.
var votingStart = time.Unix(1798761600, 0)

// revoteFixture is an open election in deniable re-voting mode (spec
// chapter 15; slots of 60 s and 4 rows per style, M = 3) in an in-process
// ballot box with one witness, its clock just after voting starts.
type revoteFixture struct {
	*fixture
	clk   *clock
	el    *Election
	style string
}

func newRevoteFixture(t *testing.T) *revoteFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{}
	clk.set(votingStart.Add(-time.Hour))
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st, Witnesses: 1, Now: clk.now, Listed: 16,
		Coercion: ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 4, MaxBallots: 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Registry.Close() })
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	l := f.Box.Log()
	recs, err := l.Entries(ctx, 0, l.Size())
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{f: f, trust: Trust{Log: l.Verifier(), Witnesses: f.Box.Witnesses(), Quorum: len(f.Box.Witnesses())}}
	for _, r := range recs {
		fx.entries = append(fx.entries, r.Data)
	}
	el, err := LoadElection(l.Origin(), fx.entries)
	if err != nil {
		t.Fatal(err)
	}
	clk.set(votingStart.Add(time.Second))
	return &revoteFixture{fixture: fx, clk: clk, el: el, style: el.Manifest.BallotStyles[0].ID}
}

// signIn plays a sign-in on a new device: the identity service's token
// and credential for a device whose key is the page's (NewDevice from the
// same seed), and the token response's credential members.
func (rf *revoteFixture) signIn(t *testing.T, pseudonym [32]byte) (*Device, *boxtest.RevoteVoter, TokenCredential) {
	t.Helper()
	v, err := rf.f.SignInRevote(pseudonym, rf.style)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDevice(rf.el, bytes.NewReader(v.Device.Seed()))
	if err != nil || d.Public() != [32]byte(v.Device.Public().(ed25519.PublicKey)) {
		t.Fatalf("device: %v", err)
	}
	return d, v, TokenCredential{Pseudonym: v.Pseudonym, Style: v.Style, Credential: v.Credential.Credential, CredentialSig: v.Credential.Signature, S: v.S.Bytes()}
}

// publish ends slots until the row is published; it returns the box's
// receipt decoded as the page decodes it and the slot entry it names.
func (rf *revoteFixture) publish(t *testing.T, h [32]byte) (RowReceipt, []byte) {
	t.Helper()
	ctx := context.Background()
	for k := 1; k <= 4; k++ {
		rf.clk.set(votingStart.Add(time.Duration(k)*time.Minute + time.Second))
		if err := rf.f.Box.PostDueSlots(ctx); err != nil {
			t.Fatal(err)
		}
		a, err := rf.f.Box.RowStatus(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Published {
			continue
		}
		l := rf.f.Box.Log()
		recs, err := l.Entries(ctx, a.Index, a.Index+1)
		if err != nil {
			t.Fatal(err)
		}
		return RowReceipt{Receipt: Receipt{Index: a.Index, Checkpoint: string(a.Checkpoint), InclusionProof: a.InclusionProof},
			RowHash: a.RowHash, Slot: a.Slot, Style: a.Style, Position: a.Position}, recs[0].Data
	}
	t.Fatal("row not published after 4 slots")
	return RowReceipt{}, nil
}

// TestRevoteRowAcceptedAndReceipt: the device checks its credential,
// casts a row the ballot box accepts (every check of §15.16.3), forgets
// its key and s, and checks the receipt once the slot is on the board;
// a re-vote from a second device is another row, and "check my ballot"
// by row hash finds the first row on the board (its slot, its tracking
// code) whatever came after it.
func TestRevoteRowAcceptedAndReceipt(t *testing.T) {
	rf := newRevoteFixture(t)
	ctx := context.Background()
	var p [32]byte
	p[0] = 7
	d, v, tc := rf.signIn(t, p)
	s := tc.S
	if err := d.CheckCredential(tc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s, make([]byte, 32)) {
		t.Fatal("s not wiped after the check")
	}
	if _, _, _, err := d.Audit("en"); !errors.Is(err, ErrNoBallot) {
		t.Fatalf("audit with nothing prepared: %v", err)
	}
	code, err := d.Prepare(rf.f.Selection(0, rf.style), testrand.New(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Cast(); err == nil {
		t.Fatal("a ballot entry cast in deniable re-voting mode")
	}
	row, h, err := d.CastRow(nil)
	if err != nil {
		t.Fatal(err)
	}
	if h != sha256.Sum256(row) || d.key != nil {
		t.Fatal("row hash wrong, or the device key kept after the cast")
	}
	if again, h2, err := d.CastRow(nil); err != nil || !bytes.Equal(again, row) || h2 != h {
		t.Fatal("a retry is not the same row")
	}
	// The row is the one tally/revote decodes, signed and proven as the
	// rules require.
	sr, err := revote.DecodeSignedRow(row)
	if err != nil {
		t.Fatal(err)
	}
	dev := d.Public()
	if err := sig.Verify(dev[:], revote.RowMessage(rf.el.Log, sr), sr.DeviceSig[:]); err != nil {
		t.Fatal(err)
	}
	fp, err := zkp.ParseRangeProof(sr.FlagProof, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := revote.VerifyFlag(rf.el.Ballot.PublicKey, revote.FlagProofContext(rf.el.Ballot.ExtendedHash, dev), sr.Flag, fp); err != nil {
		t.Fatal(err)
	}
	a, err := rf.f.Box.CastRow(ctx, v.Token, row)
	if err != nil {
		t.Fatalf("the box refuses the page's row: %v", err)
	}
	if a.RowHash != h {
		t.Fatal("the box's row hash is not the device's")
	}
	rc, slot := rf.publish(t, h)
	place, err := d.CheckRowReceipt(rc, slot, rf.trust)
	if err != nil {
		t.Fatal(err)
	}
	if place.Code != code || place.Slot != rc.Slot || place.Index != rc.Index || place.Style != rf.style {
		t.Fatalf("place %+v", place)
	}

	// A re-vote from a second device; the first row stays on the board
	// and its check says so, no more.
	d2, v2, tc2 := rf.signIn(t, p)
	if err := d2.CheckCredential(tc2); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Prepare(rf.f.Selection(1, rf.style), nil); err != nil {
		t.Fatal(err)
	}
	row2, h2, err := d2.CastRow(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rf.f.Box.CastRow(ctx, v2.Token, row2); err != nil {
		t.Fatalf("re-vote: %v", err)
	}
	rc2, slot2 := rf.publish(t, h2)
	if _, err := d2.CheckRowReceipt(rc2, slot2, rf.trust); err != nil {
		t.Fatal(err)
	}
	again, err := rf.el.CheckRowOnBoard(h, rc, slot, rf.trust)
	if err != nil || again.Code != code {
		t.Fatalf("check my ballot after a re-vote: %+v %v", again, err)
	}
}

// TestRevoteAudit: a Benaloh audit in deniable re-voting mode (spec
// §15.9). The device prepares the row before the voter chooses, so the
// code shown is the row's ballot's; the audit opens the ballot and the
// flag, the box accepts it with the prepared row and the second device's
// check by tracking code accepts it; an opening with another row's flag
// is refused by the box and by the check; the audited row cannot be cast
// by the device nor posted to the box (duplicate_ciphertext); the fresh
// row prepared after it, with the same credential and device key, casts
// and its receipt checks.
func TestRevoteAudit(t *testing.T) {
	rf := newRevoteFixture(t)
	ctx := context.Background()
	var p [32]byte
	p[0] = 13
	d, v, tc := rf.signIn(t, p)
	if err := d.CheckCredential(tc); err != nil {
		t.Fatal(err)
	}
	// A first row, whose flag the forged openings below borrow.
	if _, err := d.Prepare(rf.f.Selection(1, rf.style), nil); err != nil {
		t.Fatal(err)
	}
	rowA, rA, heldA := d.rv.prepared, new(group.Scalar).Set(d.rv.flagRand), d.rv.flagRand
	preparedA := d.prepared

	code, err := d.Prepare(rf.f.Selection(0, rf.style), nil)
	if err != nil {
		t.Fatal(err)
	}
	if heldA.Equal(group.NewScalar()) != 1 {
		t.Fatal("the replaced row's flag randomness is not wiped")
	}
	prepared, err := d.Prepared()
	if err != nil {
		t.Fatal(err)
	}
	row, err := revote.DecodeSignedRow(prepared)
	if err != nil || row.B.TrackingCode() != code {
		t.Fatalf("the prepared row is not of the ballot shown: %v", err)
	}
	for name, opened := range map[string]*ballot.AuditedBallot{
		"another row's flag": d.prepared.Audit().WithFlag(rowA.Flag, rA),
		"another row":        preparedA.Audit().WithFlag(rowA.Flag, rA),
		"no flag":            d.prepared.Audit(),
	} {
		if _, err := rf.f.Box.Audit(ctx, v.Token, opened.Encode(), prepared); !errors.Is(err, ballotbox.ErrAuditInvalid) {
			t.Errorf("%s: the box answers %v, want ErrAuditInvalid", name, err)
		}
	}
	forged, err := bulletin.NewEntry(rf.el.Log, bulletin.TypeAuditedBallot, rf.el.Authority, bulletin.NewEd25519Signer(rf.f.Server.Authority),
		d.prepared.Audit().WithFlag(rowA.Flag, rA).Encode())
	if err != nil {
		t.Fatal(err)
	}

	audited, shown, desc, err := d.Audit("ru")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shown, prepared) || len(desc) == 0 {
		t.Fatalf("audit: shown is not the prepared row, or nothing described (%v)", desc)
	}
	if _, _, err := d.CastRow(nil); !errors.Is(err, ErrNoBallot) {
		t.Fatalf("the device cast the audited row: %v", err)
	}
	if d.key == nil {
		t.Fatal("the device key was wiped by an audit")
	}
	if _, err := rf.f.Box.Audit(ctx, v.Token, audited, shown); err != nil {
		t.Fatalf("the box refuses the page's audit: %v", err)
	}
	av, err := rf.f.Box.AuditByCode(ctx, code.Shown())
	if err != nil {
		t.Fatal(err)
	}
	var r *Receipt
	if av.Published {
		r = &Receipt{Index: av.Index, Checkpoint: string(av.Checkpoint), InclusionProof: av.InclusionProof}
	}
	ac, err := rf.el.CheckAudit(code.String(), av.Ballot, av.Entry, r, rf.trust, "ru")
	if err != nil || ac.Code != code || !slices.Equal(ac.Opened, desc) {
		t.Fatalf("second device's check: %+v %v, want %v", ac, err, desc)
	}
	if in, err := rf.el.DescribeOpening(audited); err != nil || !slices.Equal(in["ru"], desc) || !slices.Equal(ac.OpenedIn["ru"], desc) ||
		len(in["en"]) != len(desc) || slices.Equal(in["en"], desc) {
		t.Fatalf("the opening in every language: %v %v, want %v in ru", in, err, desc)
	}
	for name, c := range map[string]struct{ prepared, entry []byte }{
		"another row served":         {rowA.Encode(), av.Entry},
		"an opening of another flag": {prepared, forged.Encode()},
		"the ballot without its row": {row.B.Encode(), av.Entry},
	} {
		if _, err := rf.el.CheckAudit(code.String(), c.prepared, c.entry, nil, rf.trust, "en"); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("%s: got %v, want ErrBadReceipt", name, err)
		}
	}
	if _, err := rf.f.Box.CastRow(ctx, v.Token, shown); !errors.Is(err, ballotbox.ErrDuplicateCipher) {
		t.Fatalf("the box takes the audited row: %v", err)
	}

	// The fresh row: same credential and device key, new ballot and flag.
	code2, err := d.Prepare(rf.f.Selection(0, rf.style), nil)
	if err != nil || code2 == code {
		t.Fatalf("fresh ballot: %v", err)
	}
	row2, h2, err := d.CastRow(nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := revote.DecodeSignedRow(row2)
	if err != nil || !bytes.Equal(fresh.Credential, row.Credential) || fresh.Flag.Equal(row.Flag) {
		t.Fatalf("fresh row: %v", err)
	}
	if _, err := d.Prepare(rf.f.Selection(0, rf.style), nil); err == nil {
		t.Fatal("a ballot prepared after the cast")
	}
	if _, err := rf.f.Box.CastRow(ctx, v.Token, row2); err != nil {
		t.Fatalf("the box refuses the fresh row: %v", err)
	}
	rc, slot := rf.publish(t, h2)
	if place, err := d.CheckRowReceipt(rc, slot, rf.trust); err != nil || place.Code != code2 {
		t.Fatalf("receipt of the fresh row: %+v %v", place, err)
	}
}

// TestCheckCredentialRefuses: one credential per kind of tampering, each
// refused with ErrBadCredential before anything is cast.
func TestCheckCredentialRefuses(t *testing.T) {
	rf := newRevoteFixture(t)
	var p [32]byte
	p[0] = 9
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	cases := map[string]func(d *Device, tc *TokenCredential) *Device{
		"wrong s": func(d *Device, tc *TokenCredential) *Device {
			tc.S = group.NewScalar().SetUint64(12345).Bytes()
			return d
		},
		"s not canonical": func(d *Device, tc *TokenCredential) *Device {
			tc.S = bytes.Repeat([]byte{0xff}, 32)
			return d
		},
		"s too short": func(d *Device, tc *TokenCredential) *Device {
			tc.S = tc.S[:31]
			return d
		},
		"another voter's pseudonym": func(d *Device, tc *TokenCredential) *Device {
			tc.Pseudonym[0] ^= 1
			return d
		},
		"signed by another key": func(d *Device, tc *TokenCredential) *Device {
			e, err := bulletin.NewEntry(rf.el.Log, bulletin.TypeRevoteCredential, [32]byte(other.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(other), tc.Credential)
			if err != nil {
				t.Fatal(err)
			}
			tc.CredentialSig = e.Signature
			return d
		},
		"signature as another entry type": func(d *Device, tc *TokenCredential) *Device {
			e, err := bulletin.NewEntry(rf.el.Log, bulletin.TypeCredentialIssued, [32]byte(rf.f.Identity.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(rf.f.Identity), tc.Credential)
			if err != nil {
				t.Fatal(err)
			}
			tc.CredentialSig = e.Signature
			return d
		},
		"device key mismatch": func(_ *Device, tc *TokenCredential) *Device {
			d, err := NewDevice(rf.el, testrand.New("another device"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		"another ballot style": func(d *Device, tc *TokenCredential) *Device {
			tc.Style = rf.el.Manifest.BallotStyles[1].ID
			return d
		},
		"trailing byte": func(d *Device, tc *TokenCredential) *Device {
			tc.Credential = append(bytes.Clone(tc.Credential), 0)
			return d
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			d, _, tc := rf.signIn(t, p)
			d = tamper(d, &tc)
			if err := d.CheckCredential(tc); !errors.Is(err, ErrBadCredential) {
				t.Fatalf("got %v", err)
			}
			if _, _, err := d.CastRow(nil); err == nil {
				t.Fatal("a row cast after a refused credential")
			}
		})
	}
}

// TestCheckRowReceiptRefuses: one receipt per kind of tampering, each
// refused with ErrBadReceipt.
func TestCheckRowReceiptRefuses(t *testing.T) {
	rf := newRevoteFixture(t)
	ctx := context.Background()
	var p [32]byte
	p[0] = 11
	d, v, tc := rf.signIn(t, p)
	if err := d.CheckCredential(tc); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Prepare(rf.f.Selection(0, rf.style), nil); err != nil {
		t.Fatal(err)
	}
	row, h, err := d.CastRow(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rf.f.Box.CastRow(ctx, v.Token, row); err != nil {
		t.Fatal(err)
	}
	rc, slot := rf.publish(t, h)
	if _, err := d.CheckRowReceipt(rc, slot, rf.trust); err != nil {
		t.Fatal(err)
	}
	os := bulletin.NewEd25519Signer(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)))
	otherLog := &bulletin.LogKey{Origin: rf.f.Box.Log().Origin(), Ed25519: os, Ed25519Public: os.Public()}
	cases := map[string]func(r *RowReceipt, e *[]byte, tr *Trust){
		"receipt for another row":       func(r *RowReceipt, _ *[]byte, _ *Trust) { r.RowHash[0] ^= 1 },
		"wrong position":                func(r *RowReceipt, _ *[]byte, _ *Trust) { r.Position = (r.Position + 1) % 4 },
		"position outside the slot":     func(r *RowReceipt, _ *[]byte, _ *Trust) { r.Position = 4 },
		"wrong slot number":             func(r *RowReceipt, _ *[]byte, _ *Trust) { r.Slot++ },
		"wrong style":                   func(r *RowReceipt, _ *[]byte, _ *Trust) { r.Style = rf.el.Manifest.BallotStyles[1].ID },
		"wrong index":                   func(r *RowReceipt, _ *[]byte, _ *Trust) { r.Index-- },
		"checkpoint not by the log key": func(_ *RowReceipt, _ *[]byte, tr *Trust) { tr.Log = otherLog.Verifier() },
		"checkpoint altered": func(r *RowReceipt, _ *[]byte, _ *Trust) {
			r.Checkpoint = string(bytes.Replace([]byte(r.Checkpoint), []byte("\n"), []byte(" \n"), 1))
		},
		"inclusion proof altered": func(r *RowReceipt, _ *[]byte, _ *Trust) {
			r.InclusionProof = append([][32]byte(nil), r.InclusionProof...)
			r.InclusionProof[0][0] ^= 1
		},
		"another entry": func(r *RowReceipt, e *[]byte, _ *Trust) {
			recs, err := rf.f.Box.Log().Entries(ctx, r.Index-1, r.Index)
			if err != nil {
				t.Fatal(err)
			}
			*e = recs[0].Data
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			r, e, tr := rc, slot, rf.trust
			tamper(&r, &e, &tr)
			if _, err := d.CheckRowReceipt(r, e, tr); !errors.Is(err, ErrBadReceipt) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// TestSlotRowMirrorsDecodeSlot: the page's slot reader (slotRow, which
// locates a row without decoding its elements and proofs) finds each row
// of a slot as revote.DecodeSlot decodes it, and refuses a slot with a
// trailing byte or truncated.
func TestSlotRowMirrorsDecodeSlot(t *testing.T) {
	rf := newRevoteFixture(t)
	var p [32]byte
	p[3] = 1
	// slotRow finds each row of a slot as revote.DecodeSlot decodes it.
	ctx := context.Background()
	var rows [][32]byte
	for i := range 2 {
		p[0] = byte(20 + i)
		d, v, tc := rf.signIn(t, p)
		if err := d.CheckCredential(tc); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Prepare(rf.f.Selection(i, rf.style), nil); err != nil {
			t.Fatal(err)
		}
		row, h, err := d.CastRow(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rf.f.Box.CastRow(ctx, v.Token, row); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, h)
	}
	_, raw := rf.publish(t, rows[0])
	e, err := bulletin.DecodeEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := revote.DecodeSlot(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range sl.Rows {
		at, err := slotRow(e.Payload, i)
		if err != nil || !bytes.Equal(at.row, r.Encode()) || !bytes.Equal(at.ballot, r.Ballot) || at.slot != sl.Slot || at.style != sl.Style || at.ext != sl.Context {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	if _, err := slotRow(append(bytes.Clone(e.Payload), 0), 0); err == nil {
		t.Fatal("slot with a trailing byte accepted")
	}
	if _, err := slotRow(e.Payload[:len(e.Payload)-1], 0); err == nil {
		t.Fatal("truncated slot accepted")
	}
}

// TestModuleLinksNoTrusteeCode: the page's module does not link the
// trustees' code (the filter of tally/revote, package tally, threshold
// decryption, HPKE): the device's formats are package ballot/revoterow's.
func TestModuleLinksNoTrusteeCode(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "evote/web/wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "evote/web/client") {
		t.Fatalf("go list -deps evote/web/wasm lacks evote/web/client: %v", deps)
	}
	for _, p := range []string{"evote/tally", "evote/tally/revote", "evote/crypto/threshold", "evote/election", "github.com/cloudflare/circl/hpke"} {
		if slices.Contains(deps, p) {
			t.Errorf("the module links %s", p)
		}
	}
}

// fuzzCredential is a valid credential made without a ballot box, as the
// fuzz targets' seed.
func fuzzCredential(t testing.TB) []byte {
	h := new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(7))
	pk, err := elgamal.NewPublicKey(h)
	if err != nil {
		t.Fatal(err)
	}
	dev := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	var p [32]byte
	id, _, proof, err := revote.EncryptID(pk, revote.IDProofContext([32]byte{2}, [32]byte(dev)), revote.VoterID("e-1", p), testrand.New("fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	c := &revote.Credential{ElectionID: "e-1", Context: [32]byte{2}, ID: id, Style: "s-1", DeviceKey: [32]byte(dev), KeyID: "k-1", Proof: proof}
	return c.Encode()
}

// vectorSlot is the revote-slot payload of spec/vectors/revote-entries.json.
func vectorSlot(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "spec", "vectors", "revote-entries.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Entries []struct{ Type, Payload string }
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, e := range v.Entries {
		if e.Type == "revote-slot" {
			p, err := hex.DecodeString(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := revote.DecodeSlot(p); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatal("no revote-slot vector")
	return nil
}

// FuzzSlotRow: the page's slot reader never panics, and wherever
// revote.DecodeSlot accepts a slot, it finds each row as that row's
// canonical encoding (it checks less: the rules checked the rest).
func FuzzSlotRow(f *testing.F) {
	cred := fuzzCredential(f)
	w := wire.NewWriter(1024)
	w.U8(1)
	w.Fixed(make([]byte, 32))
	w.U32(3)
	w.String("s-1")
	w.U32(1)
	w.VarBytes(cred)
	w.Fixed(make([]byte, 64))
	w.VarBytes([]byte("not a ballot"))
	w.Fixed(make([]byte, 64))
	w.VarBytes(nil)
	w.Fixed(make([]byte, 64))
	f.Add(w.Bytes(), 0)
	f.Add(w.Bytes(), 1)
	// The slot of spec/vectors/revote-entries.json (from the example
	// record in this mode), which revote.DecodeSlot accepts.
	slot := vectorSlot(f)
	for pos := range 4 {
		f.Add(slot, pos)
	}
	f.Fuzz(func(t *testing.T, b []byte, pos int) {
		at, err := slotRow(b, pos)
		sl, err2 := revote.DecodeSlot(b)
		if err2 != nil || pos < 0 || pos >= len(sl.Rows) {
			return
		}
		if err != nil || !bytes.Equal(at.row, sl.Rows[pos].Encode()) || at.slot != sl.Slot || at.style != sl.Style || at.ext != sl.Context {
			t.Fatalf("slotRow disagrees with revote.DecodeSlot: %v", err)
		}
	})
}
