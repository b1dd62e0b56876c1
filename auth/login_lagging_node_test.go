package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// laggingConfig is the service configuration of the lagging-node tests:
// the cheapest hash and a default db "db".
func laggingConfig() ServiceConfig {
	cfg := DefaultServiceConfig()
	cfg.Hash = MinimalHashParams()
	cfg.DefaultDB = "db"
	return cfg
}

// laggingNode applies writes to the leader's state at once but to the
// local state only when Sync is called: a follower that has not yet applied
// an acknowledged user creation.
type laggingNode struct {
	mu      sync.Mutex
	leader  *fsm.FSM
	local   *fsm.FSM
	pending [][]byte
	index   uint64
	syncs   int
}

func (n *laggingNode) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index++
	n.pending = append(n.pending, data)
	return n.leader.ApplyEntry(n.index, data), nil
}

func (n *laggingNode) Sync(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.syncs++
	base := n.index - uint64(len(n.pending))
	for i, data := range n.pending {
		n.local.ApplyEntry(base+uint64(i)+1, data)
	}
	n.pending = nil
	return nil
}

func (n *laggingNode) State() *fsm.State { return n.local.State() }

// Found by the fault suite: a user created through one node (acknowledged)
// could not log in through a node that had not applied the creation yet:
// 401 bad credentials, and a wrong-password failure was even recorded
// against the account. Authenticate now catches up once before refusing.
func TestAuthenticate_UserCreatedOnAnotherNodeLogsInOnLaggingNode(t *testing.T) {
	node := &laggingNode{leader: fsm.New(), local: fsm.New()}
	cfg := laggingConfig()
	svc, err := NewService(cfg, Deps{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	node.Apply(ctx, &fsm.CreateDB{Name: "db"})
	node.Sync(ctx) // the db is known everywhere
	// The leader's view creates the user; the local node lags behind.
	leaderSvc, _ := NewService(cfg, Deps{Node: leaderView{node}})
	if _, err := leaderSvc.CreateUser(ctx, NewUser{DB: "db", Login: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if _, found := node.local.State().UserByLogin("db", "alice"); found {
		t.Fatal("test setup: the local node should lag")
	}
	syncsBefore := node.syncs
	u, err := svc.Authenticate(ctx, Credentials{DB: "db", Login: "alice", Password: "correct horse battery", ClientAddr: "10.0.0.1"})
	if err != nil {
		t.Fatalf("login on a lagging node: %v", err)
	}
	if u.Login != "alice" || node.syncs != syncsBefore+1 {
		t.Fatalf("got user %q after %d syncs", u.Login, node.syncs-syncsBefore)
	}
	// A wrong password is still refused, after one catch-up.
	_, err = svc.Authenticate(ctx, Credentials{DB: "db", Login: "alice", Password: "wrong password!!", ClientAddr: "10.0.0.1"})
	if !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
}

// leaderView is the lagging node as the node that took the write sees it:
// the leader's state.
type leaderView struct{ *laggingNode }

func (n leaderView) State() *fsm.State { return n.leader.State() }

// LookupIn reads the local state: the lagging replica's reads are what
// its catch-up is about, and validation is not.
func (n *laggingNode) LookupIn(_ context.Context, _ fsm.Level, d fsm.Digest) (*fsm.State, *fsm.Session, error) {
	st := n.State()
	sess, _ := st.Session(d)
	return st, sess, nil
}

// Touch applies the refresh to the leader's log at once.
func (n *laggingNode) Touch(d fsm.Digest, at time.Time) {
	n.Apply(context.Background(), &fsm.RefreshSessions{Refreshes: []fsm.Refresh{{Digest: d, At: at.UnixNano()}}})
}

type unsyncable struct{ *laggingNode }

var errNoLeader = errors.New("no leader")

func (unsyncable) Sync(context.Context) error { return errNoLeader }

// A node that cannot catch up answers with the cluster's error (503), not
// with a false "bad credentials".
func TestAuthenticate_LaggingNodeWithoutLeaderDoesNotRefuse(t *testing.T) {
	node := &laggingNode{leader: fsm.New(), local: fsm.New()}
	cfg := laggingConfig()
	ctx := context.Background()
	node.Apply(ctx, &fsm.CreateDB{Name: "db"})
	node.Sync(ctx)
	svc, err := NewService(cfg, Deps{Node: unsyncable{node}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Authenticate(ctx, Credentials{DB: "db", Login: "bob", Password: "whatever password", ClientAddr: "10.0.0.2"})
	if !errors.Is(err, errNoLeader) {
		t.Fatalf("got %v, want the sync error", err)
	}
}
