package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// Every command the fsm table declares as narrowing validity is
// acknowledged only after the lease holders confirmed it (or their leases
// lapsed): the wait is derived from the table, so key revoke and retire
// and client delete — once missing from a hand-written list — wait like a
// logout. A narrowing type this test cannot build fails it: add its row
// to build when the type is added.
func TestRevocation_EveryNarrowingCommandWaitsForHolders(t *testing.T) {
	// Production election timing: the test's leader must stay the leader
	// for its poll counter to mean anything (each try checks it).
	c := newTestCluster(t, 3, func(cfg *Config) { longLeases(cfg); productionTimeouts(cfg) })
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "nora")
	name := "Nora"
	n := 0
	fresh := func(prefix string) string { n++; return fmt.Sprintf("%s-%d", prefix, n) }
	// Each builder makes a new command whose apply succeeds, with what it
	// needs written first (a user to delete, a key to retire, a client to
	// delete), so that a type can be tried again.
	build := map[fsm.CmdType]func() fsm.Command{
		fsm.TypeRevokeSession:      func() fsm.Command { return &fsm.RevokeSession{ID: "gone"} },
		fsm.TypeRevokeUserSessions: func() fsm.Command { return &fsm.RevokeUserSessions{UserID: uid} },
		fsm.TypeUpdateUser:         func() fsm.Command { return &fsm.UpdateUser{UserID: uid, Name: &name, Now: 2} },
		fsm.TypeDeleteUser:         func() fsm.Command { return &fsm.DeleteUser{UserID: mustUser(t, leader.Node, fresh("victor"))} },
		fsm.TypeRetireKey: func() fsm.Command {
			kid := fresh("k")
			if _, err := leader.Apply(ctx5(t), &fsm.PutKey{Key: fsm.SigningKey{Kid: kid, Alg: "HS256", Secret: make([]byte, 32), Created: 1}}); err != nil {
				t.Fatal(err)
			}
			return &fsm.RetireKey{Kid: kid, At: 3, Revoke: true}
		},
		fsm.TypeDeleteClient: func() fsm.Command {
			id := fresh("svc")
			if _, err := leader.Apply(ctx5(t), &fsm.PutClient{Client: fsm.Client{ID: id, Created: 1}}); err != nil {
				t.Fatal(err)
			}
			return &fsm.DeleteClient{ID: id}
		},
		fsm.TypeSetSettings:       func() fsm.Command { return &fsm.SetSettings{Settings: leader.fsm.State().Settings()} },
		fsm.TypePurgeExpired:      func() fsm.Command { return &fsm.PurgeExpired{Now: 4} },
		fsm.TypeDeleteAppPassword: func() fsm.Command { return &fsm.DeleteAppPassword{UserID: uid, ID: "ap-gone"} },
	}
	mustLogin(t, leader.Node, uid, "probe")
	c.waitConverged()
	// Some narrowing types need the current level (app passwords).
	eventually(t, 10*time.Second, "the level raised to the current format", func() bool {
		cf := leader.fsm.State().ClusterFormat()
		return cf.Set && cf.Level >= fsm.CurrentFormat
	})
	// Leases renew only while used: the followers keep reading a token
	// none of the commands below revokes.
	defer keepReading("probe", c.followers()...)()
	for typ := fsm.CmdType(1); typ < fsm.IgnorableFlag; typ++ {
		if _, ok := build[typ]; !ok && typ.String() != "other" && typ.Narrows() {
			t.Errorf("%s narrows validity and this test cannot build one: add it", typ)
		}
	}
	// The list here is independent of the table: a row wrongly marked
	// Keeps (as key revoke and client delete once were) fails below. A
	// command that asked no holder may have committed after the holders'
	// leases lapsed (a starved machine delays renewals past the lease),
	// which proves nothing, as does a try during which leadership moved (the
	// polls are counted on the leader): a type is tried up to three times,
	// and fails when no try asked the holders.
	for typ := fsm.CmdType(1); typ < fsm.IgnorableFlag; typ++ {
		mk, ok := build[typ]
		if !ok {
			continue
		}
		for try := 1; ; try++ {
			cmd := mk()
			l := c.waitLeader()
			for _, f := range c.followers() {
				eventually(t, 5*time.Second, "followers to hold leases", usingLease(f.Node))
			}
			polls := l.leases.polls.Load()
			if _, err := l.Apply(ctx5(t), cmd); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if l.leases.polls.Load() != polls {
				break
			}
			if try == 3 {
				t.Errorf("%s was acknowledged without asking the lease holders (3 tries)", typ)
				break
			}
		}
	}
}

// usingLease is a condition for eventually: n holds a read lease, after a
// Default read that uses it (leases renew only while used).
func usingLease(n *Node) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = n.LookupSession(ctx, Default, digest("lease-probe"))
		return n.LeaseValid()
	}
}

// keepReading runs Default reads of token tok (a hit, answered under the
// lease) on each node every few milliseconds until the returned stop is
// called: load that keeps their leases in use, as traffic would.
func keepReading(tok string, nodes ...*testNode) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, _ = n.LookupSession(ctx, Default, digest(tok))
				cancel()
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}

// longLeases is for tests that assert a holder kept its lease throughout:
// a 300 ms lease, renewed every 100 ms, can lapse between two renewals
// on a loaded machine under -race, and a lapsed lease rightly needs no
// wait — which such a test would misread as a failure.
func longLeases(cfg *Config) { cfg.MaxStale = 2 * time.Second }
