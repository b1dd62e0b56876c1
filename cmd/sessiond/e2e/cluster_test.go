package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
)

// startCluster starts node1 (bootstrapping, with the first admin) and
// joins node2 and node3 to it with --join, and waits until all three are
// ready voters.
func startCluster(t *testing.T, extra ...string) []*node {
	t.Helper()
	n1 := startNode(t, "node1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword), extra...)
	waitReady(t, n1)
	joinEnv := cleanEnv("SESSIOND_CLUSTER_KEY=" + clusterKey)
	n2 := startNode(t, "node2", joinEnv, append([]string{"--join", n1.apiURL}, extra...)...)
	n3 := startNode(t, "node3", joinEnv, append([]string{"join", "--join", n1.apiURL}, extra...)...) // the join subcommand
	nodes := []*node{n1, n2, n3}
	waitReady(t, nodes...)
	eventually(t, waitLong, "three voters", func() error {
		st, err := n1.client(client.WithClusterKey(clusterKey)).ClusterStatus(ctxT(t, 5*time.Second), "")
		if err != nil {
			return err
		}
		voters := 0
		for _, m := range st.Members {
			if m.Suffrage == "Voter" && m.APIURL != "" {
				voters++
			}
		}
		if voters != 3 {
			return fmt.Errorf("members %+v", st.Members)
		}
		return nil
	})
	return nodes
}

// TestCluster_KillLeader: a token issued through one node validates on
// another at once; after kill -9 of the leader a new one is elected, writes
// through the survivors succeed, and the killed node, restarted, catches
// up with what happened while it was down.
func TestCluster_KillLeader(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	n2, n3 := nodes[1], nodes[2]

	admin := login(t, n2.client(), "admin", adminPassword)
	if _, err := n2.client().CreateUser(ctxT(t, 10*time.Second), admin.Token, client.NewUser{Login: "alice", Password: "alice-password-1"}); err != nil {
		t.Fatalf("create user through a follower: %v", err)
	}
	alice, err := n2.client().Login(ctxT(t, 10*time.Second), client.LoginRequest{Login: "alice", Password: "alice-password-1"})
	if err != nil {
		t.Fatalf("login on node2: %v", err)
	}
	// Default consistency: a login that returned validates on every node
	// at once (a miss is confirmed with a read index before refusal).
	if who, err := n3.client().Session(ctxT(t, 5*time.Second), alice.Token, ""); err != nil || who.User.Login != "alice" || who.Meta.Node != "node3" {
		t.Fatalf("validate on node3: %v %+v", err, who)
	}

	var leader *node
	eventually(t, waitLong, "agreed leader", func() (err error) { leader, err = leaderOf(t, nodes); return err })
	var survivors []*node
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	leader.Kill()
	var newLeader *node
	eventually(t, waitLong, "new leader among survivors", func() (err error) {
		newLeader, err = leaderOf(t, survivors)
		return err
	})
	t.Logf("killed %s; %s leads now", leader.id, newLeader.id)

	// Writes through either survivor, and a failover client over all
	// three addresses (the dead one included).
	all := client.New([]string{leader.apiURL, survivors[0].apiURL, survivors[1].apiURL})
	bob, err := all.Login(ctxT(t, 20*time.Second), client.LoginRequest{Login: "alice", Password: "alice-password-1"})
	if err != nil {
		t.Fatalf("login after leader loss: %v", err)
	}
	for _, s := range survivors {
		for i, tok := range []string{alice.Token, bob.Token} {
			if _, err := s.client().Session(ctxT(t, 10*time.Second), tok, client.ConsistencyConsistent); err != nil {
				st, serr := s.client(client.WithClusterKey(clusterKey)).ClusterStatus(ctxT(t, 5*time.Second), "")
				_, again := s.client().Session(ctxT(t, 10*time.Second), tok, client.ConsistencyConsistent)
				t.Fatalf("consistent read on %s of session %d (bob's login index %d): %v\nstatus now: %+v %v\nread again: %v",
					s.id, i, bob.Meta.Index, err, st, serr, again)
			}
		}
	}
	if err := survivors[0].client().Logout(ctxT(t, 10*time.Second), alice.Token); err != nil {
		t.Fatalf("logout through %s: %v", survivors[0].id, err)
	}
	// Refused at once by a consistent read on the other survivor; by a
	// default read within --max-stale (1s) plus scheduling slack (P2).
	other := survivors[1].client()
	if _, err := other.Session(ctxT(t, 5*time.Second), alice.Token, client.ConsistencyConsistent); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("revoked token, consistent read on %s: %v", survivors[1].id, err)
	}
	eventually(t, 3*time.Second, "revoked token refused by a default read", func() error {
		_, err := other.Session(ctxT(t, 5*time.Second), alice.Token, "")
		if !errors.Is(err, client.ErrInvalidToken) {
			return fmt.Errorf("still accepted (%v)", err)
		}
		return nil
	})

	// The killed node comes back with its data: it is a member already, so
	// it does not join again, and it catches up before it serves.
	leader.restart()
	waitReady(t, leader)
	if _, err := leader.client().Session(ctxT(t, 10*time.Second), bob.Token, client.ConsistencyConsistent); err != nil {
		t.Fatalf("session made while %s was down: %v", leader.id, err)
	}
	if _, err := leader.client().Session(ctxT(t, 10*time.Second), alice.Token, ""); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("session revoked while %s was down: %v", leader.id, err)
	}
	if st, err := leader.client(client.WithClusterKey(clusterKey)).ClusterStatus(ctxT(t, 5*time.Second), ""); err != nil || len(st.Members) != 3 {
		t.Fatalf("status of the restarted node: %v %+v", err, st)
	}
}
