package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// The tests of protocol.go's invariants (I3–I7). Each is written so that
// the bug it names would fail it.

// routeGate holds every internal request to one path while on, and
// reports the arrival of the first (a member slow to answer that route).
type routeGate struct {
	path    string
	on      atomic.Bool
	arrived chan struct{} // one value per held request, buffered
	release chan struct{}
}

func newRouteGate(path string) *routeGate {
	return &routeGate{path: path, arrived: make(chan struct{}, 1024), release: make(chan struct{})}
}

// tweak installs the gate in front of a node's internal API.
func (g *routeGate) tweak(cfg *Config) {
	inner := cfg.wrapInternal
	cfg.wrapInternal = func(h http.Handler) http.Handler {
		gated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == g.path && g.on.Load() {
				select {
				case g.arrived <- struct{}{}:
				default:
				}
				<-g.release
			}
			h.ServeHTTP(w, r)
		})
		if inner == nil {
			return gated
		}
		return inner(gated)
	}
}

func (g *routeGate) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(10 * time.Second):
		t.Fatalf("no request to %s arrived", g.path)
	}
}

// noLeases waits until the leader's lease table is empty: no lease granted so
// far (nor the new term's cover, I5) can still run.
func noLeases(t *testing.T, leader *testNode) {
	t.Helper()
	if _, err := leader.Apply(ctx5(t), &fsm.RevokeSession{ID: "none"}); err != nil {
		t.Fatal(err) // a narrowing command: the term's cover (I5) is taken now
	}
	eventually(t, 5*time.Second, "every lease to lapse", func() bool { return len(leader.leases.active(leader.mono())) == 0 })
}

// I3. A lease granted after (not before) the round that proves it lets a
// logout committed during the round be acknowledged at once, and the
// holder then serves the token from a read index below the logout. Here
// the round is held while the logout commits, and the holder cannot apply
// it: the logout must wait out the lease, and the holder must not accept
// the token afterwards.
func TestLease_GrantedBeforeTheRound(t *testing.T) {
	gate := newRouteGate(confirmPath)
	c := newTestCluster(t, 3, gate.tweak)
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "gina")
	mustLogin(t, leader.Node, uid, "tok")
	c.waitConverged()
	noLeases(t, leader)
	f := c.followers()[0]
	release := holdApply(f, f.fsm.AppliedIndex())
	defer release()

	gate.on.Store(true)
	first := make(chan error, 1)
	go func() { // a hit without a lease: it asks for one, and the round is held
		_, err := f.LookupSession(ctx5(t), Default, digest("tok"))
		first <- err
	}()
	gate.waitArrival(t)
	d := digest("tok")
	start := time.Now()
	if _, err := leader.Apply(ctx5(t), &fsm.RevokeSession{Digest: &d}); err != nil {
		t.Fatalf("logout: %v", err)
	}
	took := time.Since(start)
	gate.on.Store(false)
	close(gate.release)
	<-first // it began before the logout: either answer is linearizable

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if sess, err := f.LookupSession(ctx, Default, d); err == nil && sess != nil {
		t.Fatalf("the holder accepted the token after its logout was acknowledged (the logout took %v)", took)
	}
}

// I4. A node counts its lease from before it sent the request. The
// leader's answer is held here; a lease counted from the answer would
// start after the request arrived.
func TestLease_CountsFromTheSend(t *testing.T) {
	gate := newRouteGate("/internal/v1/readindex")
	c := newTestCluster(t, 3, gate.tweak)
	c.waitLeader()
	f := c.followers()[0]
	gate.on.Store(true)
	done := make(chan error, 1)
	go func() { done <- f.refreshLease(ctx5(t)) }()
	gate.waitArrival(t)
	arrived := f.mono() // at or after the arrival, so after the send
	eventually(t, 5*time.Second, "the answer to be late", func() bool { return f.mono() > arrived+150*time.Millisecond })
	gate.on.Store(false)
	close(gate.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if at := time.Duration(f.leaseAt.Load()); at > arrived {
		t.Fatalf("the lease counts from %v, after its request arrived at the leader (%v)", at, arrived)
	}
}

// I5. A new leader never saw its predecessor's grants: its first
// narrowing command of the term asks every member, though none asked it
// for a lease.
func TestRevocation_NewLeaderWaitsOutOldLeases(t *testing.T) {
	c := newTestCluster(t, 3, productionTimeouts) // the transfer's target must keep it
	old := c.waitLeader()
	next := c.followers()[0]
	if err := old.raft.LeadershipTransferToServer(raft.ServerID(next.id), raft.ServerAddress(next.RaftAddr())).Error(); err != nil {
		t.Fatal(err)
	}
	if l := c.waitLeader(); l != next {
		t.Fatalf("leadership went to %s, not %s", l.id, next.id)
	}
	polls := next.leases.polls.Load()
	if _, err := next.Apply(ctx5(t), &fsm.RevokeSession{ID: "none"}); err != nil {
		t.Fatal(err)
	}
	if next.leases.polls.Load()-polls < 2 {
		t.Fatalf("the new leader asked %d members, not every other member, before its first revocation", next.leases.polls.Load()-polls)
	}
}

// I5, as a rolling upgrade meets it: a graceful stop hands leadership
// over in milliseconds, while a follower still holds a lease the old
// leader granted. That follower is held back from applying. The new
// leader's first logout must cover the old lease (wait it out, since the
// holder cannot confirm), and the holder must not accept the token once
// the logout is acknowledged. Without the cover the logout is
// acknowledged at once and the holder answers the hit from its lease.
func TestRevocation_NewLeaderCoversLeasesAfterHandover(t *testing.T) {
	c := newTestCluster(t, 3, longLeases)
	old := c.waitLeader()
	uid := mustUser(t, old.Node, "hana")
	mustLogin(t, old.Node, uid, "tok")
	c.waitConverged()
	holder, next := c.followers()[0], c.followers()[1]
	eventually(t, 5*time.Second, "the holder to hold a lease from the old leader", usingLease(holder.Node))
	// The lease loop renews a used lease once per tick; let that renewal
	// happen now, from the old leader, so no grant of the new one covers
	// the holder (the new leader must cover it by I5 alone).
	eventually(t, 5*time.Second, "the renewal tick", func() bool { return !holder.leaseUsed.Load() })
	release := holdApply(holder, holder.fsm.AppliedIndex())
	defer release()
	if err := old.raft.LeadershipTransferToServer(raft.ServerID(next.id), raft.ServerAddress(next.RaftAddr())).Error(); err != nil {
		t.Fatal(err)
	}
	if l := c.waitLeader(); l != next {
		t.Fatalf("leadership went to %s, not %s", l.id, next.id)
	}
	if !holder.LeaseValid() {
		t.Logf("the holder's lease lapsed during the handover: this run proves nothing")
	}
	d := digest("tok")
	start := time.Now()
	if _, err := next.Apply(ctx5(t), &fsm.RevokeSession{Digest: &d}); err != nil {
		t.Fatalf("logout: %v", err)
	}
	took := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if sess, err := holder.LookupSession(ctx, Default, d); err == nil && sess != nil {
		t.Fatalf("a holder of the old leader's lease accepted the token after the new leader acknowledged its logout (in %v)", took)
	}
	t.Logf("the new leader's first logout took %v (the old lease: %v)", took, holder.cfg.MaxStale)
}

// I6. A round needs fresh answers: with every follower's internal API
// frozen, Raft's heartbeats still flow (VerifyLeader succeeds), but no
// answer to this round's message comes, so no read index is proven.
func TestReadIndex_NeedsFreshQuorumAnswers(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	// On a starved machine the held followers can cost the leader its
	// leadership (it cannot reach a quorum in time); such an attempt proves
	// nothing either way and is made again, at most three times.
	for attempt := 1; !roundWithoutAnswers(t, c); attempt++ {
		if attempt == 3 {
			t.Fatal("the leader lost its term in each of 3 attempts: the round was never put to the test")
		}
	}
	eventually(t, 10*time.Second, "a read-index round once the followers answer again", func() bool {
		_, err := c.waitLeader().leaderReadIndexRound(ctx5(t))
		return err == nil
	})
}

// roundWithoutAnswers holds every follower's internal API and runs a
// round on the leader: it must fail by the round's timeout. It reports
// false (nothing proven) when the leader lost its term meanwhile.
func roundWithoutAnswers(t *testing.T, c *testCluster) bool {
	leader := c.waitLeader()
	term := leader.raft.CurrentTerm()
	var releases []func()
	for _, f := range c.followers() {
		releases = append(releases, holdLeader(t, f))
	}
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	kept := func() bool { return leader.raft.CurrentTerm() == term && leader.raft.State() == raft.Leader }
	if err := leader.raft.VerifyLeader().Error(); err != nil {
		if !kept() {
			return false
		}
		t.Fatalf("VerifyLeader: %v (heartbeats should still flow)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	idx, err := leader.leaderReadIndexRound(ctx)
	if err == nil {
		t.Fatalf("a read index (%d) proven without any follower answering the round", idx)
	}
	if !kept() {
		return false
	}
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("the round without answers failed by %v, want its timeout", err)
	}
	return true
}

// I6. Only an answer naming the leader's term counts; one from a later
// term deposes the round.
func TestReadIndex_OtherTermAnswerDoesNotCount(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	f := c.followers()[0]
	term := leader.raft.CurrentTerm()
	ask := func(term uint64) error {
		body, _ := json.Marshal(confirmRequest{Term: term, Round: 7})
		return leader.askConfirm(ctx5(t), f.id, f.RaftAddr(), body, term, 7)
	}
	if err := ask(term); err != nil {
		t.Fatalf("an answer in the leader's term: %v", err)
	}
	if err := ask(term - 1); !errors.Is(err, errNewerTerm) {
		t.Fatalf("a voter in a later term than the round's: %v, want errNewerTerm", err)
	}
	if err := ask(term + 1); err == nil {
		t.Fatal("an answer from an earlier term counted")
	}
}

// Every test protocol.go's doc comment names exists, so the invariants
// never point at a test that was renamed or deleted.
func TestProtocol_DocNamesExistingTests(t *testing.T) {
	doc, err := os.ReadFile("protocol.go")
	if err != nil {
		t.Fatal(err)
	}
	var sources strings.Builder
	for _, pattern := range []string{"*_test.go", "../fsm/*_test.go", "../api/*_test.go", "../cmd/sessiond/e2e/*_test.go"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sources.Write(b)
		}
	}
	names := regexp.MustCompile(`\bTest[A-Z]\w+`).FindAllString(string(doc), -1)
	if len(names) < 10 {
		t.Fatalf("protocol.go names %d tests; the invariants lost their tests", len(names))
	}
	for _, name := range names {
		if !strings.Contains(sources.String(), "func "+name+"(") {
			t.Errorf("protocol.go names %s, which no test file defines", name)
		}
	}
	// And every planted bug it names is in the mutant catalogue.
	catalogue, err := os.ReadFile("../scripts/mutants/catalogue.go")
	if err != nil {
		t.Fatal(err)
	}
	lines := regexp.MustCompile(`(?m)^//\s+Mutants?: ([a-z0-9, -]+)`).FindAllStringSubmatch(string(doc), -1)
	if len(lines) < 7 {
		t.Fatalf("protocol.go names planted bugs for %d invariants, not 7", len(lines))
	}
	for _, l := range lines {
		for _, m := range strings.Split(l[1], ",") {
			if m = strings.TrimSpace(m); !strings.Contains(string(catalogue), `Name: "`+m+`"`) {
				t.Errorf("protocol.go names mutant %q, which scripts/mutants does not have", m)
			}
		}
	}
}
