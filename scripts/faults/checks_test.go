package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tokens for planted histories: the shape the API mints (64 lowercase hex).
var (
	tokA = strings.Repeat("a1", 32)
	tokB = strings.Repeat("b2", 32)
	tokC = strings.Repeat("c3", 32)
)

// hb builds histories by hand with times in milliseconds.
type hb struct{ h History }

func newHB() *hb { return &hb{h: History{Base: time.Unix(1_700_000_000, 0)}} }

func ms(n int) int64 { return int64(n) * int64(time.Millisecond) }

func (b *hb) add(op Op) *hb {
	op.ID = len(b.h.Ops)
	op.Wall = b.h.Base.Add(time.Duration(op.Call)).UnixNano()
	if op.Node == "" {
		op.Node = "n1"
	}
	if op.Result == "" {
		op.Result = OK
	}
	b.h.Ops = append(b.h.Ops, op)
	return b
}

func (b *hb) login(user, tok string, call, ret int) *hb {
	return b.add(Op{Kind: Login, User: user, Token: tok, Call: ms(call), Return: ms(ret)})
}

func (b *hb) validate(user, tok, level, node string, call, ret int, valid bool) *hb {
	return b.add(Op{Kind: Validate, User: user, Token: tok, Level: level, Node: node, Call: ms(call), Return: ms(ret), Valid: valid})
}

func (b *hb) logout(user, tok string, call, ret int, res Outcome) *hb {
	return b.add(Op{Kind: Logout, User: user, Token: tok, Call: ms(call), Return: ms(ret), Result: res})
}

func (b *hb) logoutAll(user, tok string, call, ret int, res Outcome) *hb {
	return b.add(Op{Kind: LogoutAll, User: user, Token: tok, Call: ms(call), Return: ms(ret), Result: res})
}

func (b *hb) sweep(user, tok, node string, at int, valid bool) *hb {
	return b.add(Op{Kind: Validate, User: user, Token: tok, Level: "consistent", Node: node, Call: ms(at), Return: ms(at + 1), Valid: valid, Sweep: true})
}

// cleanHistory is linearizable and keeps every promise: a concurrent
// validation overlapping a logout, a timed-out logoutall, a stale read of a
// revoked token inside max-stale.
func cleanHistory() History {
	b := newHB().
		login("u1", tokA, 0, 10).
		login("u1", tokB, 5, 15).
		login("u2", tokC, 0, 10).
		validate("u1", tokA, "consistent", "n2", 20, 30, true).
		logout("u1", tokA, 40, 50, OK).
		validate("u1", tokA, "consistent", "n3", 45, 55, true). // overlaps the logout
		validate("u1", tokA, "consistent", "n1", 60, 70, false).
		validate("u1", tokA, "default", "n2", 80, 90, true). // within max-stale (100 ms)
		validate("u1", tokA, "default", "n2", 300, 310, false).
		logoutAll("u2", tokC, 100, 0, Unknown).
		validate("u2", tokC, "consistent", "n1", 200, 210, true). // the logoutall may not have happened yet
		validate("u1", tokB, "consistent", "n2", 220, 230, true).
		sweep("u1", tokA, "n1", 1000, false).
		sweep("u1", tokB, "n1", 1000, true).
		sweep("u2", tokC, "n1", 1000, false).
		sweep("u2", tokC, "n2", 1000, false)
	b.h.Ops[9].Return = Open
	return b.h
}

func wantResult(t *testing.T, v Verdict, want Result) {
	t.Helper()
	if v.Result != want {
		t.Errorf("%s: got %s, want %s; detail: %v", v.Name, v.Result, want, v.Detail)
	}
}

func TestCheckers_CleanHistoryPasses(t *testing.T) {
	h := cleanHistory()
	wantResult(t, CheckLinearizable(h, 10*time.Second, ""), Pass)
	wantResult(t, CheckRevocationBound(h, 100*time.Millisecond), Pass)
	wantResult(t, CheckDurability(h, h.Base.Add(time.Minute)), Pass)
	wantResult(t, CheckMonotonicRevocation(h), Pass)
}

// A validation after an acknowledged logout: P1 and P2 must fail, and
// porcupine's visualisation is written.
func TestCheckers_PlantedValidationAfterLogout(t *testing.T) {
	h := newHB().
		login("u1", tokA, 0, 10).
		logout("u1", tokA, 20, 30, OK).
		validate("u1", tokA, "consistent", "n2", 40, 50, true).h
	html := filepath.Join(t.TempDir(), "history.html")
	wantResult(t, CheckLinearizable(h, 10*time.Second, html), Fail)
	if _, err := os.Stat(html); err != nil {
		t.Errorf("no visualisation written: %v", err)
	}
	wantResult(t, CheckRevocationBound(h, 0), Fail)

	// At the default level the bound is max-stale.
	h2 := newHB().
		login("u1", tokA, 0, 10).
		logout("u1", tokA, 20, 30, OK).
		validate("u1", tokA, "default", "n2", 200, 210, true).h
	wantResult(t, CheckRevocationBound(h2, 100*time.Millisecond), Fail)
	wantResult(t, CheckRevocationBound(h2, time.Second), Pass)

	// A logoutall called after the login returned revokes it too.
	h3 := newHB().
		login("u1", tokA, 0, 10).
		logoutAll("u1", tokB, 20, 30, OK).
		validate("u1", tokA, "consistent", "n2", 40, 50, true).h
	wantResult(t, CheckLinearizable(h3, 10*time.Second, ""), Fail)
	wantResult(t, CheckRevocationBound(h3, 0), Fail)
}

// A lost login: acknowledged, never revoked, then refused. P1 and P3 fail.
func TestCheckers_PlantedLostLogin(t *testing.T) {
	h := newHB().
		login("u1", tokA, 0, 10).
		validate("u1", tokA, "consistent", "n3", 20, 30, false).
		sweep("u1", tokA, "n1", 1000, false).h
	wantResult(t, CheckLinearizable(h, 10*time.Second, ""), Fail)
	wantResult(t, CheckDurability(h, h.Base.Add(time.Minute)), Fail)

	// A logout with an unknown outcome excuses the refusal.
	h2 := newHB().
		login("u1", tokA, 0, 10).
		logout("u1", tokA, 15, 0, Unknown).
		validate("u1", tokA, "consistent", "n3", 20, 30, false).
		sweep("u1", tokA, "n1", 1000, false).h
	h2.Ops[1].Return = Open
	wantResult(t, CheckLinearizable(h2, 10*time.Second, ""), Pass)
	wantResult(t, CheckDurability(h2, h2.Base.Add(time.Minute)), Pass)

	// An expired token may be refused.
	h3 := newHB().login("u1", tokA, 0, 10).sweep("u1", tokA, "n1", 1000, false).h
	h3.Ops[0].ExpiresAt = h3.Base.Add(500 * time.Millisecond).UnixNano()
	wantResult(t, CheckDurability(h3, h3.Base.Add(2*time.Second)), Pass)
}

// A sweep with no answers fails P3 while some token is still live, and
// passes when every token has expired (the expiry scenario's normal end).
func TestCheckers_EmptySweep(t *testing.T) {
	h := newHB().login("u1", tokA, 0, 10).h
	wantResult(t, CheckDurability(h, h.Base.Add(time.Minute)), Fail)

	h2 := newHB().login("u1", tokA, 0, 10).h
	h2.Ops[0].ExpiresAt = h2.Base.Add(500 * time.Millisecond).UnixNano()
	wantResult(t, CheckDurability(h2, h2.Base.Add(time.Minute)), Pass)
}

// A resurrected revocation: a node refuses a token, restarts from an old
// snapshot and accepts it again. P4 and P3 fail.
func TestCheckers_PlantedResurrectedRevocation(t *testing.T) {
	h := newHB().
		login("u1", tokA, 0, 10).
		logout("u1", tokA, 20, 30, OK).
		validate("u1", tokA, "default", "n2", 40, 50, false).
		validate("u1", tokA, "default", "n2", 5000, 5010, true). // after n2's restart
		sweep("u1", tokA, "n2", 9000, true).h
	wantResult(t, CheckMonotonicRevocation(h), Fail)
	wantResult(t, CheckDurability(h, h.Base.Add(time.Minute)), Fail)
	wantResult(t, CheckRevocationBound(h, time.Second), Fail)

	// On another node the acceptance is not P4's business (P2 covers it).
	h2 := newHB().
		login("u1", tokA, 0, 10).
		validate("u1", tokA, "default", "n2", 40, 50, false).
		validate("u1", tokA, "default", "n3", 60, 70, true).h
	wantResult(t, CheckMonotonicRevocation(h2), Pass)

	// A stale acceptance from an older state is allowed; from a newer one not.
	h3 := newHB().
		login("u1", tokA, 0, 10).
		validate("u1", tokA, "default", "n2", 40, 50, false).
		validate("u1", tokA, "stale", "n2", 60, 70, true).h
	h3.Ops[1].Index, h3.Ops[2].Index = 20, 12
	wantResult(t, CheckMonotonicRevocation(h3), Pass)
	h3.Ops[2].Index = 25
	wantResult(t, CheckMonotonicRevocation(h3), Fail)

	// Nodes that disagree after quiet fail P3.
	h4 := newHB().
		login("u1", tokA, 0, 10).
		logout("u1", tokA, 20, 0, Unknown).
		sweep("u1", tokA, "n1", 1000, true).
		sweep("u1", tokA, "n2", 1000, false).h
	h4.Ops[1].Return = Open
	wantResult(t, CheckDurability(h4, h4.Base.Add(time.Minute)), Fail)
}

// A token or a password in a data dir fails P7.
func TestCheckers_PlantedSecretInDataDir(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "n1", "snapshots"), 0o700)
	os.WriteFile(filepath.Join(dir, "n1", "raft.db"), []byte("\x00\x01digest=ffee\x00"), 0o600)
	os.WriteFile(filepath.Join(dir, "n1.log"), []byte("level=INFO msg=login\n"), 0o600)
	pw := "fz-pw-0123456789"
	wantResult(t, CheckNoSecrets([]string{dir}, []string{tokA, tokB}, []string{pw}), Pass)

	os.WriteFile(filepath.Join(dir, "n1", "snapshots", "state.bin"), []byte("\x00\x07"+tokB+"\x00"), 0o600)
	wantResult(t, CheckNoSecrets([]string{dir}, []string{tokA, tokB}, []string{pw}), Fail)

	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, "n2.log"), []byte(`msg="login failed" password=`+pw+"\n"), 0o600)
	wantResult(t, CheckNoSecrets([]string{dir2}, []string{tokA}, []string{pw}), Fail)

	// A token embedded in a longer hex run is still found.
	dir3 := t.TempDir()
	os.WriteFile(filepath.Join(dir3, "x"), []byte("00"+tokA+"ff"), 0o600)
	wantResult(t, CheckNoSecrets([]string{dir3}, []string{tokA}, nil), Fail)
}

func TestCheckers_PlantedDivergence(t *testing.T) {
	same := []NodeState{{Node: "n1", Applied: 10, StateHash: "abc"}, {Node: "n2", Applied: 10, StateHash: "abc"}}
	wantResult(t, CheckConvergence(same), Pass)
	diff := []NodeState{{Node: "n1", Applied: 10, StateHash: "abc"}, {Node: "n2", Applied: 10, StateHash: "abd"}}
	wantResult(t, CheckConvergence(diff), Fail)
	lag := []NodeState{{Node: "n1", Applied: 10, StateHash: "abc"}, {Node: "n2", Applied: 9, StateHash: "abc"}}
	wantResult(t, CheckConvergence(lag), Fail)
}

func TestCheckers_PlantedTwoLeaders(t *testing.T) {
	one := []NodeState{
		{Node: "n1", State: "Leader", Term: 2}, {Node: "n1", State: "Leader", Term: 2},
		{Node: "n2", State: "Leader", Term: 3}, {Node: "n2", State: "Leader", Term: 3},
		{Node: "n1", State: "Leader", Term: 3}, // one racy sample while stepping down
	}
	wantResult(t, CheckOneLeaderPerTerm(one), Pass)
	two := append(one, NodeState{Node: "n3", State: "Leader", Term: 2}, NodeState{Node: "n3", State: "Leader", Term: 2})
	wantResult(t, CheckOneLeaderPerTerm(two), Fail)
}

func TestCheckers_PlantedValidationAfterExpiry(t *testing.T) {
	b := newHB().login("u1", tokA, 0, 10).
		validate("u1", tokA, "stale", "n1", 1000, 1010, true).
		validate("u1", tokA, "default", "n1", 5000, 5010, false)
	b.h.Ops[0].ExpiresAt = b.h.Base.Add(2 * time.Second).UnixNano()
	wantResult(t, CheckExpiry(b.h, time.Second), Pass)
	b.validate("u1", tokA, "stale", "n2", 6000, 6010, true)
	wantResult(t, CheckExpiry(b.h, time.Second), Fail)
}

func TestCheckers_PlantedRefusedLogin(t *testing.T) {
	b := newHB().login("u1", tokA, 0, 10)
	wantResult(t, CheckCorrectLogins(b.h), Pass)
	b.add(Op{Kind: Login, User: "u1", Call: ms(20), Return: ms(30), Status: 401, Result: Failed})
	wantResult(t, CheckCorrectLogins(b.h), Fail)
}
