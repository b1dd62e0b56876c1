package cluster

import (
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessiond/sessiond/cluster/transport"
)

// quiet keeps the leader from writing on its own during a test, so "state
// unchanged" means exactly that, and makes elections on a loaded machine
// rarer.
func quiet(c *Config) {
	c.PurgeInterval = time.Hour
	c.HeartbeatTimeout, c.ElectionTimeout = 500*time.Millisecond, 500*time.Millisecond
}

// raftView is what an attack must not change on a node: the state and the
// index the state machine has reached. The term may move on its own (an
// election on a loaded machine); an accepted forged vote or append would
// move it to the attacker's term, which attackTermGap puts out of reach.
type raftView struct {
	Applied uint64
	Hash    string
}

const attackTermGap = 100

func viewOf(n *testNode) raftView {
	st := n.Status(true)
	return raftView{Applied: st.AppliedIndex, Hash: st.StateHash}
}

// waitQuiet waits until every node has applied everything in the leader's
// log, so the "before" view is not taken mid-replication.
func waitQuiet(c *testCluster) {
	c.t.Helper()
	c.waitConverged()
	eventually(c.t, 10*time.Second, "the cluster to settle", func() bool {
		leader := c.waitLeader()
		// The leader raises the cluster's format level once every member
		// announced its own: one more entry, some time after the records.
		if !leader.fsm.State().ClusterFormat().Set {
			return false
		}
		last := leader.raft.LastIndex()
		for _, n := range c.nodes {
			// The leader publishes each member's address once it leads.
			if _, ok := leader.fsm.State().Node(n.id); !ok {
				return false
			}
			if n.raft.AppliedIndex() != last || n.fsm.AppliedIndex() != leader.fsm.AppliedIndex() {
				return false
			}
		}
		return true
	})
}

func raftFailures(n *testNode) float64 {
	var sum float64
	for _, r := range raftFailReasons {
		sum += testutil.ToFloat64(n.auth.raftFailures.WithLabelValues(r))
	}
	return sum
}

// attackRPCs sends what finding C1's tool sent: a forged AppendEntries with a
// poison entry and a high commit index, a vote request at a much higher
// term and a snapshot install. Every one must fail.
func attackRPCs(t *testing.T, tr *raft.NetworkTransport, target raft.ServerAddress, term uint64) {
	t.Helper()
	rpcHeader := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("attacker"), Addr: []byte(tr.LocalAddr())}
	var ae raft.AppendEntriesResponse
	err := tr.AppendEntries("victim", target, &raft.AppendEntriesRequest{
		RPCHeader: rpcHeader, Term: term + attackTermGap, PrevLogEntry: 0, PrevLogTerm: 0,
		Entries:           []*raft.Log{{Index: 1 << 20, Term: term + attackTermGap, Type: raft.LogCommand, Data: []byte("{poison")}},
		LeaderCommitIndex: 1 << 20,
	}, &ae)
	if err == nil {
		t.Fatalf("AppendEntries to %s succeeded (success=%v term=%d)", target, ae.Success, ae.Term)
	}
	var rv raft.RequestVoteResponse
	if err := tr.RequestVote("victim", target, &raft.RequestVoteRequest{
		RPCHeader: rpcHeader, Term: term + attackTermGap, LastLogIndex: 1 << 20, LastLogTerm: term + attackTermGap,
	}, &rv); err == nil {
		t.Fatalf("RequestVote to %s succeeded (granted=%v)", target, rv.Granted)
	}
	var is raft.InstallSnapshotResponse
	if err := tr.InstallSnapshot("victim", target, &raft.InstallSnapshotRequest{
		RPCHeader: rpcHeader, SnapshotVersion: raft.SnapshotVersionMax, Term: term + attackTermGap,
		LastLogIndex: 1 << 20, LastLogTerm: term + attackTermGap, Size: 7,
	}, &is, io.NopCloser(bytesReader("garbage"))); err == nil {
		t.Fatalf("InstallSnapshot to %s succeeded", target)
	}
}

func bytesReader(s string) io.Reader { return &stringReader{s: s} }

type stringReader struct{ s string }

func (r *stringReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}

// attackers are the clients of the done-when list: hashicorp/raft's own TCP
// transport with no credentials, and its network transport over our
// handshake with a wrong key.
func attackers(t *testing.T) map[string]*raft.NetworkTransport {
	t.Helper()
	plain, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wrongLayer, err := transport.NewKeyed("127.0.0.1:0", nil, []byte("wrong-cluster-key-0123456789"), nil)
	if err != nil {
		t.Fatal(err)
	}
	wrong := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: wrongLayer, MaxPool: 1, Timeout: 2 * time.Second, Logger: hclog.NewNullLogger(),
	})
	t.Cleanup(func() { plain.Close(); wrong.Close() })
	return map[string]*raft.NetworkTransport{"no credentials": plain, "wrong key": wrong}
}

func runRaftAttack(t *testing.T, c *testCluster) {
	waitQuiet(c)
	before := map[string]raftView{}
	terms := map[string]uint64{}
	fails := map[string]float64{}
	for _, n := range c.nodes {
		before[n.id], terms[n.id], fails[n.id] = viewOf(n), n.raft.CurrentTerm(), raftFailures(n)
	}
	for name, tr := range attackers(t) {
		for _, n := range c.nodes {
			attackRPCs(t, tr, raft.ServerAddress(n.raftAddr), terms[n.id])
			// Each refused connection is counted by the victim (three per client).
			want := fails[n.id] + 3
			eventually(t, 5*time.Second, name+" refusals counted on "+n.id, func() bool { return raftFailures(n) >= want })
			fails[n.id] = raftFailures(n)
		}
		t.Logf("%s: every RPC refused on %d node(s)", name, len(c.nodes))
	}
	forgeProofs(t, c)
	waitQuiet(c)
	for _, n := range c.nodes {
		if got := viewOf(n); got != before[n.id] {
			t.Errorf("%s changed under attack: before %+v after %+v", n.id, before[n.id], got)
		}
		if term := n.raft.CurrentTerm(); term >= terms[n.id]+attackTermGap {
			t.Errorf("%s took the attacker's term: %d (was %d)", n.id, term, terms[n.id])
		}
	}
}

// forgeProofs plays the handshake by hand without the key: a random proof,
// and the server's own proof reflected back. The server must close the
// connection without its accept byte and count a bad proof; Raft bytes
// sent after that must go nowhere.
// wireMagic and wireNonceLen are the keyed handshake's wire format
// (transport/streamauth.go), written out here as an outside client sees it.
const (
	wireMagic    = "SDRAFT\x00\x01"
	wireNonceLen = 32
)

func forgeProofs(t *testing.T, c *testCluster) {
	t.Helper()
	for _, mode := range []string{"random", "reflected"} {
		for _, n := range c.nodes {
			before := testutil.ToFloat64(n.auth.raftFailures.WithLabelValues("bad_proof"))
			raw, err := net.Dial("tcp", n.raftAddr)
			if err != nil {
				t.Fatal(err)
			}
			raw.SetDeadline(time.Now().Add(5 * time.Second))
			tc := tls.Client(raw, &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			nc := make([]byte, wireNonceLen)
			rand.Read(nc)
			tc.Write(append([]byte(wireMagic), nc...))
			reply := make([]byte, wireNonceLen+32)
			if _, err := io.ReadFull(tc, reply); err != nil {
				t.Fatal(err)
			}
			forged := make([]byte, 32)
			rand.Read(forged)
			if mode == "reflected" {
				copy(forged, reply[wireNonceLen:])
			}
			tc.Write(forged)
			tc.Write([]byte{0, 1, 2, 3}) // the start of an RPC
			if b, err := io.ReadAll(tc); len(b) != 0 {
				t.Fatalf("%s proof: server answered %x (err %v)", mode, b, err)
			}
			raw.Close()
			eventually(t, 5*time.Second, mode+" proof counted on "+n.id, func() bool {
				return testutil.ToFloat64(n.auth.raftFailures.WithLabelValues("bad_proof")) > before
			})
		}
	}
}

func TestRaftAuth_RawClientRefused_OneNode(t *testing.T) {
	c := newTestCluster(t, 1, quiet)
	runRaftAttack(t, c)
}

func TestRaftAuth_RawClientRefused_ThreeNodes(t *testing.T) {
	c := newTestCluster(t, 3, quiet)
	runRaftAttack(t, c)
}

// A loopback node without a cluster key still authenticates Raft, with a
// random key of its own, so local users cannot drive its Raft either.
func TestRaftAuth_RawClientRefused_NoKeyLoopback(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) { quiet(cfg); cfg.ClusterKey = "" })
	runRaftAttack(t, c)
}
