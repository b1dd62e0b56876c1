package e2e

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
)

// TestUpgrade_ReleaseLeaderAfterFailoverLosesNoLogout is the rolling
// upgrade's lost logout made deterministic. The previous release has no
// new leader's cover for its predecessor's read leases (cluster protocol
// I5): a node of this tree that holds a lease from a leader that then
// crashes, and does not hear from the release's new leader (here: its
// Raft port cut by a proxy), would answer a token from its lease after
// that leader acknowledged the token's logout. This tree must not serve
// lease reads while a member runs a release without the cover.
//
// Three voters run the release; the node of this tree is a non-voter, so
// the release's voters elect a leader without it (in the upgrade test it
// is a voter; its lease is the same).
func TestUpgrade_ReleaseLeaderAfterFailoverLosesNoLogout(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the previous release")
	}
	_, commit := previousRelease(t)
	start := time.Now()
	oldBin := buildRelease(t, commit)
	t.Logf("release built in %v", time.Since(start).Round(time.Millisecond))

	// A long lease, so it surely outlasts the failover below.
	stale := []string{"--max-stale", "20s"}
	env := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword)
	joinEnv := cleanEnv("SESSIOND_CLUSTER_KEY=" + clusterKey)
	u1 := startNodeOn(t, oldBin, "u1", env, stale...)
	waitReady(t, u1)
	olds := []*node{u1}
	for _, id := range []string{"u3", "u4"} {
		n := startNodeOn(t, oldBin, id, joinEnv, append([]string{"--join", u1.apiURL}, stale...)...)
		waitReady(t, n)
		olds = append(olds, n)
	}
	cut := newCutProxy(t)
	u2 := startNodeOnAt(t, binPath, "u2", cut.target, joinEnv, append([]string{"--join", u1.apiURL,
		"--non-voter", "--raft-advertise", cut.addr}, stale...)...)
	waitReady(t, u2)
	eventually(t, waitLong, "three voters and a non-voter", func() error {
		st, err := u1.client(client.WithClusterKey(clusterKey)).ClusterStatus(ctxT(t, 5*time.Second), "")
		if err != nil {
			return err
		}
		voters, others := 0, 0
		for _, m := range st.Members {
			if m.Suffrage == "Voter" {
				voters++
			} else {
				others++
			}
		}
		if voters != 3 || others != 1 {
			return errors.New("members not yet settled")
		}
		return nil
	})
	// The release's leader: u1 unless a starved machine moved it (seen at
	// load 9); whichever it is crashes below, and the other two take over.
	var first *node
	eventually(t, waitLong, "the release's voters to agree on a leader", func() (err error) {
		first, err = leaderOf(t, olds)
		return err
	})
	var successors []*node
	for _, n := range olds {
		if n != first {
			successors = append(successors, n)
		}
	}
	admin := login(t, first.client(), "admin", adminPassword)
	if _, err := first.client().CreateUser(ctxT(t, 10*time.Second), admin.Token,
		client.NewUser{Login: "load", Password: "load-password-1"}); err != nil {
		t.Fatal(err)
	}
	tok := login(t, first.client(), "load", "load-password-1").Token
	// u2 serves the token in the mixed cluster (whichever way it reads),
	// and the last of these reads renews its lease, if it takes one.
	eventually(t, waitLong, "u2 to accept the live token", func() error {
		_, err := u2.client().Session(ctxT(t, 5*time.Second), tok, "")
		return err
	})
	for range 3 {
		if _, err := u2.client().Session(ctxT(t, 5*time.Second), tok, ""); err != nil {
			t.Fatalf("u2 refused a live token: %v", err)
		}
	}

	t.Logf("mixed cluster serving at %v", time.Since(start).Round(time.Millisecond))
	// u2 hears nothing more from the cluster; the release's leader
	// crashes and one of the release's followers takes over.
	cut.cut()
	if err := first.Kill(); err != nil {
		t.Fatal(err)
	}
	var ld *node
	eventually(t, waitLong, "a leader among the release's two others", func() (err error) {
		ld, err = leaderOf(t, successors)
		return err
	})
	if err := ld.client().Logout(ctxT(t, 10*time.Second), tok); err != nil {
		t.Fatalf("logout on the new leader %s: %v", ld.id, err)
	}
	acked := time.Now()
	_, err := u2.client(client.WithAttemptTimeout(3*time.Second)).Session(ctxT(t, 5*time.Second), tok, "")
	if err == nil {
		t.Fatalf("u2 (this tree) accepted a token %v after the release's new leader %s acknowledged its logout",
			time.Since(acked).Round(time.Millisecond), ld.id)
	}
	t.Logf("u2 cut off from the release's new leader: %v", err)

	// Back in touch, u2 refuses the token as well.
	t.Logf("logout checked at %v", time.Since(start).Round(time.Millisecond))
	cut.heal()
	eventually(t, waitLong, "u2 to refuse the logged-out token", func() error {
		_, err := u2.client().Session(ctxT(t, 5*time.Second), tok, "")
		if !errors.Is(err, client.ErrInvalidToken) {
			return errors.New("not refused as invalid yet")
		}
		return nil
	})
	t.Logf("u2 refuses it at %v", time.Since(start).Round(time.Millisecond))
}

// cutProxy forwards TCP connections from addr to target until cut, then
// drops them and every new one until heal: a node whose Raft port sits
// behind it stops hearing from its peers while its own calls and its API
// still work.
type cutProxy struct {
	addr, target string
	ln           net.Listener
	mu           sync.Mutex
	down         bool
	conns        map[net.Conn]struct{}
}

func newCutProxy(t *testing.T) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{addr: ln.Addr().String(), target: freeAddr(t), ln: ln, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	d, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !p.track(d) {
		c.Close()
		if d != nil {
			d.Close()
		}
		return
	}
	go func() { io.Copy(d, c); d.Close(); c.Close() }()
	io.Copy(c, d)
	c.Close()
	d.Close()
}

// track registers a connection to be closed by cut; false when cut.
func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) heal() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
