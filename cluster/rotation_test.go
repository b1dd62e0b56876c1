package cluster

import (
	"crypto/sha256"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/cluster/reqsign"
)

// TestReqGuard_RotationKeys: during a cluster key rotation a node verifies
// calls signed with the key it uses or the one it accepts
// (ClusterKeysAccepted), signs only with the one it uses, and refuses a
// third key.
func TestReqGuard_RotationKeys(t *testing.T) {
	use, other, stranger := "new-cluster-key-0123456789abcdef", "old-cluster-key-0123456789abcdef", "not-this-cluster-0123456789abcd"
	n := &Node{cfg: Config{ClusterKey: use, ClusterKeysAccepted: []string{other}, NodeID: "n1"}}
	n.auth = newAuthMetrics()
	g := newReqGuard(n)
	sum := sha256.Sum256(nil)
	for _, c := range []struct {
		key string
		ok  bool
	}{{use, true}, {other, true}, {stranger, false}} {
		req := httptest.NewRequest("GET", "/internal/v1/x", nil)
		reqsign.SignSum(req, reqsign.Key(c.key), "n1", sum, time.Now())
		sig, err := reqsign.Parse(req.Header.Get(reqsign.Header))
		if err != nil {
			t.Fatal(err)
		}
		if got := g.validSig(sig, "GET", "/internal/v1/x", sum); got != c.ok {
			t.Errorf("signed with %.3s…: valid %v, want %v", c.key, got, c.ok)
		}
	}
	if string(g.key) != string(reqsign.Key(use)) {
		t.Error("the guard signs with a key other than the one in use")
	}
}

// TestMembership_OnlyVoterRefusedAtOnce: removing or demoting the only
// voter is refused at once with ErrOnlyVoter (409 only_voter over HTTP),
// not after a quorum timeout, and the node still leads.
func TestMembership_OnlyVoterRefusedAtOnce(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	n := c.waitLeader()
	id := n.cfg.NodeID
	if err := n.Remove(ctx5(t), id); !errors.Is(err, ErrOnlyVoter) {
		t.Fatalf("remove the only voter: %v", err)
	}
	if err := n.SetVoter(ctx5(t), id, false); !errors.Is(err, ErrOnlyVoter) {
		t.Fatalf("demote the only voter: %v", err)
	}
	if ErrorCode(ErrOnlyVoter) != "only_voter" {
		t.Fatalf("code %q", ErrorCode(ErrOnlyVoter))
	}
	c.waitLeader()
}
