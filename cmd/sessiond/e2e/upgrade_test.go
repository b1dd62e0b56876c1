package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/internal/proctest"
)

// upgradeLoad is the load a rolling upgrade runs under: validations of
// live tokens on every node that is up, and logins with logouts whose
// tokens must then be refused everywhere.
type upgradeLoad struct {
	t     *testing.T
	nodes []*node
	// down[i] is set while nodes[i] is being stopped or restarted; a
	// request to it that overlaps is not counted either way.
	down    []atomic.Bool
	epoch   []atomic.Int64
	live    []string // tokens never logged out
	mu      sync.Mutex
	gone    []goneToken // logged out, with when the logout was acknowledged
	valid   atomic.Int64
	failed  atomic.Int64
	logouts atomic.Int64
	lost    atomic.Int64
	writes  atomic.Int64 // logins and logouts refused by a node that stayed up
	errs    sync.Map     // first failures, for the report
	stop    chan struct{}
	wg      sync.WaitGroup
}

type goneToken struct {
	token string
	at    time.Time
}

// up picks a node that is up, and its epoch.
func (l *upgradeLoad) up(r *rand.Rand) (int, int64) {
	for {
		i := r.IntN(len(l.nodes))
		if !l.down[i].Load() {
			return i, l.epoch[i].Load()
		}
	}
}

// counts reports whether a request to node i that started at epoch e
// counts: the node stayed up throughout.
func (l *upgradeLoad) counts(i int, e int64) bool {
	return !l.down[i].Load() && l.epoch[i].Load() == e
}

func (l *upgradeLoad) note(what string, err error) {
	l.errs.LoadOrStore(what, err.Error())
}

func (l *upgradeLoad) start(validators int) {
	l.stop = make(chan struct{})
	for w := range validators {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				i, e := l.up(r)
				tok := l.live[r.IntN(len(l.live))]
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
				_, err := l.nodes[i].client().Session(ctx, tok, "")
				cancel()
				if !l.counts(i, e) {
					continue
				}
				if err != nil {
					l.failed.Add(1)
					l.note("validate on "+l.nodes[i].id, err)
					continue
				}
				l.valid.Add(1)
				l.checkGone(r)
			}
		}()
	}
	for w := range 2 {
		l.wg.Add(1)
		go l.logoutLoop(uint64(w))
	}
}

// logoutLoop logs in and out through nodes that are up, until stop.
func (l *upgradeLoad) logoutLoop(seed uint64) {
	defer l.wg.Done()
	r := rand.New(rand.NewPCG(99, seed))
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		i, e := l.up(r)
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		res, err := l.nodes[i].client().Login(ctx, client.LoginRequest{Login: "load", Password: "load-password-1"})
		cancel()
		if err != nil {
			if l.counts(i, e) {
				l.writes.Add(1)
				l.note("login on "+l.nodes[i].id, err)
			}
			continue
		}
		j, e2 := l.up(r)
		ctx, cancel = context.WithTimeout(context.Background(), 8*time.Second)
		err = l.nodes[j].client().Logout(ctx, res.Token)
		cancel()
		if err != nil {
			if l.counts(j, e2) {
				l.writes.Add(1)
				l.note("logout on "+l.nodes[j].id, err)
			}
			continue // not acknowledged: not a logout the test may hold the cluster to
		}
		l.logouts.Add(1)
		l.mu.Lock()
		l.gone = append(l.gone, goneToken{res.Token, time.Now()})
		l.mu.Unlock()
		// Acknowledged means applied on every lease holder: a default
		// read anywhere refuses it at once.
		l.refused(r, res.Token)
	}
}

// checkGone validates one logged-out token on a node that is up.
func (l *upgradeLoad) checkGone(r *rand.Rand) {
	l.mu.Lock()
	var g goneToken
	if n := len(l.gone); n > 0 {
		g = l.gone[r.IntN(n)]
	}
	l.mu.Unlock()
	if g.token != "" {
		l.refused(r, g.token)
	}
}

// refused validates a logged-out token on a node that is up: accepted is
// a lost logout.
func (l *upgradeLoad) refused(r *rand.Rand, token string) {
	i, e := l.up(r)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	_, err := l.nodes[i].client().Session(ctx, token, "")
	cancel()
	if err == nil && l.counts(i, e) {
		l.lost.Add(1)
		l.note("logged-out token accepted on "+l.nodes[i].id, errors.New("accepted"))
	}
}

// progress waits until n more validations have succeeded: the cluster
// serves between two steps, however slow the machine.
func (l *upgradeLoad) progress(n int64) {
	l.t.Helper()
	want := l.valid.Load() + n
	eventually(l.t, waitLong, fmt.Sprintf("%d more validations", n), func() error {
		if got := l.valid.Load(); got < want {
			return fmt.Errorf("%d of %d", got, want)
		}
		return nil
	})
}

// restartOn stops node i gracefully (or kills it, crash) and starts it
// again on bin.
func (l *upgradeLoad) restartOn(i int, bin string, crash bool) {
	l.t.Helper()
	n := l.nodes[i]
	l.down[i].Store(true)
	l.epoch[i].Add(1)
	if crash {
		if err := n.Kill(); err != nil {
			l.t.Fatal(err)
		}
		// The failover completes before the node comes back: a leader
		// among the others.
		var ld *node
		eventually(l.t, waitLong, "a leader among the survivors", func() (err error) {
			ld, err = leaderOf(l.t, upNodes(l))
			return err
		})
		l.t.Logf("%s crashed; %s leads", n.id, ld.id)
	} else {
		n.stop()
	}
	n.Bin = bin
	n.restart()
	waitReady(l.t, n)
	l.epoch[i].Add(1)
	l.down[i].Store(false)
}

// TestUpgrade_RollingMixedCluster builds the previous release (from its
// tag, or the commit CHANGELOG.md names) and this tree, and takes a
// 3-node cluster of the release through a rolling upgrade with a failover
// to an upgraded node while one member still runs the release, then
// raises the level, downgrades it, and rolls one node back to the
// release, under validations and logouts throughout: no validation fails
// on a node that stays up, and no acknowledged logout is lost.
func TestUpgrade_RollingMixedCluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the previous release")
	}
	version, commit := previousRelease(t)
	oldBin := buildRelease(t, commit)
	t.Logf("previous release %s at %s; current tree %s", version, commit, binPath)

	start := time.Now()
	env := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword)
	joinEnv := cleanEnv("SESSIOND_CLUSTER_KEY=" + clusterKey)
	var nodes []*node
	for i, id := range []string{"u1", "u2", "u3"} {
		extra := []string{"--max-stale", "1s"}
		e := env
		if i > 0 {
			extra, e = append(extra, "--join", nodes[0].apiURL), joinEnv
		}
		n := startNodeOn(t, oldBin, id, e, extra...)
		nodes = append(nodes, n)
		waitReady(t, n)
	}
	waitReady(t, nodes...)
	eventually(t, waitLong, "three voters", func() error {
		st, err := nodes[0].client(client.WithClusterKey(clusterKey)).ClusterStatus(ctxT(t, 5*time.Second), "")
		if err != nil {
			return err
		}
		voters := 0
		for _, m := range st.Members {
			if m.Suffrage == "Voter" {
				voters++
			}
		}
		if voters != 3 {
			return fmt.Errorf("members %+v", st.Members)
		}
		return nil
	})
	admin := login(t, nodes[0].client(), "admin", adminPassword)
	if _, err := nodes[0].client().CreateUser(ctxT(t, 10*time.Second), admin.Token,
		client.NewUser{Login: "load", Password: "load-password-1"}); err != nil {
		t.Fatal(err)
	}
	l := &upgradeLoad{t: t, nodes: nodes, down: make([]atomic.Bool, 3), epoch: make([]atomic.Int64, 3)}
	for i := range 12 {
		l.live = append(l.live, login(t, nodes[i%3].client(), "load", "load-password-1").Token)
	}
	l.start(3)
	defer func() {
		close(l.stop)
		l.wg.Wait()
	}()
	l.progress(50)

	leaderIdx := func() int {
		var ld *node
		eventually(t, waitLong, "an agreed leader", func() (err error) { ld, err = leaderOf(t, upNodes(l)); return err })
		for i, n := range nodes {
			if n == ld {
				return i
			}
		}
		return -1
	}
	// A follower runs the new binary first.
	up := (leaderIdx() + 1) % len(nodes)
	l.restartOn(up, binPath, false)
	l.progress(30)
	// The failover: the release's leader crashes (kill -9) until the
	// upgraded node wins the election (each crashed node comes back on the
	// release): this tree leads two members of the release, under read
	// leases the old leader granted, and must write nothing they cannot
	// read.
	for try := 0; ; try++ {
		ld := leaderIdx()
		if ld == up {
			break
		}
		if try == 10 {
			t.Fatalf("the upgraded %s never won an election in %d crashes of the leader", nodes[up].id, try)
		}
		l.restartOn(ld, oldBin, true)
	}
	t.Logf("%s (this tree) leads two members on release %s", nodes[up].id, version)
	l.progress(30)
	statusOut, err := runCLI(t, joinEnv, "", "status", "--addr", nodes[up].apiURL)
	if err != nil || !strings.Contains(statusOut, "cluster level: 1") {
		t.Fatalf("status in the mixed cluster: %v\n%s", err, statusOut)
	}
	t.Logf("mixed cluster:\n%s", statusOut)

	// The others upgrade; once the last has, the leader raises the level.
	for i := range nodes {
		if i != up {
			l.restartOn(i, binPath, false)
			l.progress(30)
		}
	}
	eventually(t, waitLong, "the level raised to 2", func() error {
		out, err := runCLI(t, joinEnv, "", "status", "--addr", nodes[0].apiURL)
		if err != nil || !strings.Contains(out, "cluster level: 2 (set at index") {
			return fmt.Errorf("%v %s", err, out)
		}
		statusOut = out
		return nil
	})
	l.progress(30)

	// Rollback of one node: downgrade, wait for its snapshot past the
	// downgrade, run the release on its data dir.
	out, err := runCLI(t, joinEnv, "", "cluster", "downgrade", "--to", "1", "--addr", nodes[1].apiURL)
	if err != nil {
		t.Fatalf("downgrade: %v %s", err, out)
	}
	var at uint64
	if _, err := fmt.Sscanf(out[strings.Index(out, "set at index "):], "set at index %d", &at); err != nil {
		t.Fatalf("downgrade output %q: %v", out, err)
	}
	back := 2
	eventually(t, waitLong, "the node to roll back to snapshot past the downgrade", func() error {
		out, err := runCLI(t, joinEnv, "", "status", "--json", "--addr", nodes[back].apiURL)
		if err != nil {
			return err
		}
		return snapshotPast(out, nodes[back].id, at)
	})
	l.restartOn(back, oldBin, false)
	l.progress(50)
	close(l.stop)
	l.wg.Wait()
	l.stop = make(chan struct{}) // the deferred close

	// Every logged-out token is refused by a consistent read on every
	// node; every live one validates.
	l.mu.Lock()
	gone := append([]goneToken(nil), l.gone...)
	l.mu.Unlock()
	for _, n := range nodes {
		for _, g := range gone {
			if _, err := n.client().Session(ctxT(t, 10*time.Second), g.token, client.ConsistencyConsistent); !errors.Is(err, client.ErrInvalidToken) {
				l.lost.Add(1)
				l.note("logged-out token at the end on "+n.id, fmt.Errorf("%v", err))
			}
		}
	}
	t.Logf("upgrade %s -> this tree in %v: validations %d, failures %d, logouts %d, lost %d, refused logins or logouts %d",
		version, time.Since(start).Round(time.Second), l.valid.Load(), l.failed.Load(), l.logouts.Load(), l.lost.Load(), l.writes.Load())
	l.errs.Range(func(k, v any) bool { t.Logf("first %s: %v", k, v); return true })
	if l.failed.Load() != 0 || l.lost.Load() != 0 || l.logouts.Load() == 0 || l.writes.Load() != 0 {
		t.Fatalf("validations %d, failures %d, logouts %d, lost %d, refused logins or logouts %d",
			l.valid.Load(), l.failed.Load(), l.logouts.Load(), l.lost.Load(), l.writes.Load())
	}
}

// upNodes is the load's nodes that are up.
func upNodes(l *upgradeLoad) []*node {
	var out []*node
	for i, n := range l.nodes {
		if !l.down[i].Load() {
			out = append(out, n)
		}
	}
	return out
}

// startNodeOn is startNode running bin (the previous release's binary, or
// this tree's).
func startNodeOn(t *testing.T, bin, id string, env []string, extra ...string) *node {
	t.Helper()
	return startNodeOnAt(t, bin, id, freeAddr(t), env, extra...)
}

// startNodeOnAt is startNodeOn with the Raft listener on raft (a test
// that puts a proxy in front of it advertises the proxy's address).
func startNodeOnAt(t *testing.T, bin, id, raft string, env []string, extra ...string) *node {
	t.Helper()
	dir := t.TempDir()
	api, metrics := freeAddr(t), freeAddr(t)
	n := &node{id: id, apiURL: "http://" + api, raftAddr: raft, dataDir: filepath.Join(dir, "data"), metrics: "http://" + metrics}
	flags := proctest.Node{ID: id, APIAddr: api, RaftAddr: raft, FastHash: true, MetricsAddr: metrics,
		HeartbeatTimeout: proctest.FastTimeout, ElectionTimeout: proctest.FastTimeout, Extra: extra}
	p := &proc{t: t, Proc: &proctest.Proc{Name: id, Bin: bin, Dir: dir, Args: flags.Args(), Env: env,
		LogPath: filepath.Join(t.TempDir(), id+".log")}}
	p.StartT(t)
	n.proc = p
	return n
}

// snapshotPast checks in `sessiond status --json` that member id has a
// Raft snapshot at index at or later.
func snapshotPast(statusJSON, id string, at uint64) error {
	var v struct {
		Members []struct {
			ID      string `json:"id"`
			Formats *struct {
				SnapshotIndex uint64 `json:"snapshot_index"`
			} `json:"formats"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(statusJSON), &v); err != nil {
		return err
	}
	for _, m := range v.Members {
		if m.ID == id && m.Formats != nil && m.Formats.SnapshotIndex >= at {
			return nil
		}
	}
	return fmt.Errorf("%s has no snapshot at %d or later yet", id, at)
}

// A node whose log holds an entry its binary cannot read (a command type
// a newer release wrote, placed here straight into raft.db) stops with a
// message naming its version and formats and exits 78, which the systemd
// unit does not restart: never a panic loop.
func TestUpgrade_UnreadableEntryExits78(t *testing.T) {
	t.Parallel()
	n := startNode(t, "n1", cleanEnv(envAdmin(), "SESSIOND_CLUSTER_KEY="+clusterKey))
	waitReady(t, n)
	n.stop()
	store, err := raftboltdb.NewBoltStore(filepath.Join(n.dataDir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	last, err := store.LastIndex()
	var prev raft.Log
	if err == nil {
		err = store.GetLog(last, &prev)
	}
	if err == nil {
		err = store.StoreLog(&raft.Log{Index: last + 1, Term: prev.Term, Type: raft.LogCommand, Data: []byte{63, '{', '}'}})
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("add an entry to raft.db: %v", err)
	}
	n.restart()
	select {
	case <-n.Done():
	case <-time.After(waitLong):
		t.Fatalf("still running with an unreadable entry:\n%s", n.Tail(20))
	}
	var exit *exec.ExitError
	if err := n.Err(); !errors.As(err, &exit) || exit.ExitCode() != 78 {
		t.Fatalf("exit %v, want status 78\n%s", err, n.Tail(20))
	}
	log := n.Log()
	for _, want := range []string{"stops: log entry", "command type 63", "log format 2", "snapshot version 1", "cluster downgrade"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, n.Tail(20))
		}
	}
	if strings.Contains(log, "goroutine ") {
		t.Errorf("a panic's trace in the log:\n%s", n.Tail(40))
	}
	unit, err := os.ReadFile(filepath.Join(moduleRoot, "packaging", "sessiond.service"))
	if err != nil || !regexp.MustCompile(`(?m)^RestartPreventExitStatus=78$`).Match(unit) {
		t.Errorf("the systemd unit does not keep a node that exits 78 down: %v", err)
	}
}
