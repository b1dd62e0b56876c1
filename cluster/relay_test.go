package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// relay is a TCP relay on the path to one member's Raft port, as in
// finding N2. Passive, it forwards both ways and records every byte.
// Answering (setAnswer), it forwards nothing and answers whatever comes
// with the success body the finding's relay sent for a forwarded write.
type relay struct {
	ln      net.Listener
	target  string
	answer  atomic.Bool
	mu      sync.Mutex
	seen    bytes.Buffer
	live    map[net.Conn]bool
	conns   atomic.Int64 // connections since the last setAnswer
	stopped chan struct{}
	wg      sync.WaitGroup
}

const fakeSuccess = `{"items":[{"result":{"count":1,"index":1}}]}`

func newRelay(target string) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, target: target, live: map[net.Conn]bool{}, stopped: make(chan struct{})}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// setAnswer turns the relay active and cuts the connections it carries,
// so that every later call meets the fake answer.
func (r *relay) setAnswer() {
	r.answer.Store(true)
	r.conns.Store(0)
	r.mu.Lock()
	for c := range r.live {
		c.Close()
	}
	r.mu.Unlock()
}

func (r *relay) track(c net.Conn, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		r.live[c] = true
	} else {
		delete(r.live, c)
	}
}

func (r *relay) stop() {
	select {
	case <-r.stopped:
		return
	default:
	}
	close(r.stopped)
	r.ln.Close()
	r.mu.Lock()
	for c := range r.live {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.conns.Add(1)
		r.track(c, true)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.track(c, false)
			defer c.Close()
			if r.answer.Load() {
				r.fakeAnswer(c)
				return
			}
			r.forward(c)
		}()
	}
}

func (r *relay) fakeAnswer(c net.Conn) {
	buf := make([]byte, 64<<10)
	n, _ := c.Read(buf)
	r.record(buf[:n])
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(fakeSuccess), fakeSuccess)
	io.Copy(io.Discard, c)
}

func (r *relay) forward(c net.Conn) {
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer up.Close()
	r.track(up, true)
	defer r.track(up, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				r.record(buf[:n])
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

func (r *relay) record(b []byte) {
	r.mu.Lock()
	r.seen.Write(b)
	r.mu.Unlock()
}

func (r *relay) captured() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

// relays puts a relay on the path to every member's Raft port for the
// nodes' internal calls, from the start (Raft's own connections are left
// alone): the network position of finding N2's attacker, on every path.
type relays struct {
	mu     sync.Mutex
	closed bool
	all    map[string]*relay
}

func newRelays(t *testing.T) *relays {
	rs := &relays{all: map[string]*relay{}}
	t.Cleanup(func() {
		rs.mu.Lock()
		rs.closed = true
		rs.mu.Unlock()
		for _, r := range rs.all {
			r.stop()
		}
	})
	return rs
}

// tweak is the node option: dial a member through its relay.
func (rs *relays) tweak(c *Config) {
	c.peerAddr = func(addr string) string {
		if r := rs.to(addr); r != nil {
			return r.ln.Addr().String()
		}
		return addr
	}
}

// to is the relay in front of target, made at first use.
func (rs *relays) to(target string) *relay {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return nil
	}
	if r, ok := rs.all[target]; ok {
		return r
	}
	r, err := newRelay(target)
	if err != nil {
		return nil
	}
	rs.all[target] = r
	return r
}

// Finding N2, passive: a relay between the followers and the leader
// records every byte of a user created with an argon2id hash, a login, a
// consistent read and a logout, all through a follower. The calls work
// (the relay forwards them), and the capture holds no hash, no password,
// no login name and no key.
func TestRelay_PassiveSeesNoHashOrPassword(t *testing.T) {
	rs := newRelays(t)
	c := newTestCluster(t, 3, rs.tweak)
	leader := c.waitLeader()
	f := c.followers()[0]
	r := rs.to(leader.raftAddr)

	const password, login = "correct horse battery staple", "erin-relay"
	hash, err := auth.HashPassword(password, auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	res, err := f.Apply(ctx5(t), &fsm.CreateUser{Nonce: "relay-user", DB: "db", Login: login, PasswordHash: hash, Now: 1})
	calls++
	if err != nil || res.Err() != nil {
		t.Fatalf("create user through the relay: %v %v", err, res.Err())
	}
	newHash, _ := auth.HashPassword(password+"!", auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if _, err := f.Apply(ctx5(t), &fsm.UpdateUser{UserID: res.UserID, PasswordHash: &newHash}); err != nil {
		t.Fatalf("password change through the relay: %v", err)
	}
	calls++
	mustLogin(t, f.Node, res.UserID, "relay-token")
	calls++
	if !valid(t, f.Node, Consistent, "relay-token") {
		t.Fatal("the login is not visible through the follower")
	}
	calls++
	d := digest("relay-token")
	if _, err := f.Apply(ctx5(t), &fsm.RevokeSession{Digest: &d}); err != nil {
		t.Fatalf("logout through the relay: %v", err)
	}
	calls++
	if valid(t, leader.Node, Consistent, "relay-token") {
		t.Fatal("the logout did not reach the leader")
	}

	got := r.captured()
	if r.conns.Load() == 0 || len(got) == 0 {
		t.Fatal("no call went through the relay: the test measures nothing")
	}
	secrets := []string{"$argon2id$", "argon2id", hash, newHash, hash[strings.LastIndex(hash, "$")+1:], password, login, "relay-token"}
	secrets = append(secrets, keyForms(testKey)...)
	hashes := 0
	for _, s := range secrets {
		if bytes.Contains(got, []byte(s)) {
			hashes++
			t.Errorf("the passive relay saw %q", s)
		}
	}
	t.Logf("N2 passive relay: %d calls through a follower, %d connections, %d bytes seen, argon2 hashes or passwords seen: %d",
		calls, r.conns.Load(), len(got), hashes)
}

// Finding N2, active: the relay in front of the leader turns to answering
// every call with a success and forwarding nothing. A logout through a
// follower must come back as an error, never as a success with the
// session still valid; once the relay forwards again the logout works.
func TestRelay_ActiveAnswerIsNeverASuccess(t *testing.T) {
	rs := newRelays(t)
	// Production election timing: with the tests' 100 ms timeouts a
	// starved machine (load 7) changed leaders during the burst, and every
	// logout went around the relay to the new one, measuring nothing.
	c := newTestCluster(t, 3, func(cfg *Config) { quiet(cfg); rs.tweak(cfg); productionTiming(cfg) })
	leader := c.waitLeader()
	f := c.followers()[0]
	uid := mustUser(t, leader.Node, "victim")
	const attempts = 8
	for i := range attempts {
		mustLogin(t, leader.Node, uid, fmt.Sprintf("victim-%d", i))
	}
	c.waitConverged()
	r := rs.to(leader.raftAddr)
	r.setAnswer()

	ok := make([]bool, attempts)
	var errs atomic.Int64
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			d := digest(fmt.Sprintf("victim-%d", i))
			if _, err := f.Apply(ctx, &fsm.RevokeSession{Digest: &d}); err == nil {
				ok[i] = true
			} else {
				errs.Add(1)
			}
		}()
	}
	wg.Wait()
	// A success is false when the session is still valid: the client was
	// told "logged out" and the token still works. (A success that did
	// take effect went around the relay, after a leader change on a loaded
	// machine; it is counted apart.)
	falseOK, around, stillValid := 0, 0, 0
	now := c.waitLeader()
	for i := range attempts {
		v := valid(t, now.Node, Consistent, fmt.Sprintf("victim-%d", i))
		if v {
			stillValid++
		}
		switch {
		case ok[i] && v:
			falseOK++
		case ok[i]:
			around++
		}
	}
	t.Logf("N2 active relay: %d logouts through a follower, %d false successes, %d errors, %d succeeded around the relay, %d connections to the relay, %d sessions still valid",
		attempts, falseOK, errs.Load(), around, r.conns.Load(), stillValid)
	if falseOK != 0 {
		t.Fatalf("%d logouts reported success through a relay that dropped them", falseOK)
	}
	if errs.Load() == 0 {
		t.Fatal("no logout met the relay: the test measures nothing")
	}
	if r.conns.Load() == 0 {
		t.Fatal("no call went through the relay: the test measures nothing")
	}

	r.answer.Store(false) // a relay that forwards again
	d := digest("victim-0")
	if _, err := f.Apply(ctx5(t), &fsm.RevokeSession{Digest: &d}); err != nil {
		t.Fatalf("logout once the relay forwards: %v", err)
	}
	if valid(t, c.waitLeader().Node, Consistent, "victim-0") {
		t.Fatal("the logout once the relay forwards did not take effect")
	}
}
