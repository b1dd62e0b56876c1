package api

import (
	"slices"
	"testing"
)

// Attack (finding N6): behind a load balancer that forwards no client
// address, every client is the balancer's one address. Once the owner had
// logged in through it, that address was the account's "known network",
// so the guess budget bound nobody: an attacker through the same balancer
// got a real password check per try, and the right guess got in. A
// trusted proxy's own address is now never remembered as known, and the
// budget binds everyone behind it.
func TestGuessing_ProxyAddressIsNeverKnown(t *testing.T) {
	e, _ := guessEnv(t) // 127.0.0.0/8 is trusted: requests without X-Forwarded-For are the proxy's own
	e.createUser("alice", "alice-password-1", nil)
	if r := e.do("POST", "/v1/login", map[string]string{"login": "alice", "password": "alice-password-1"}); r.Status != 201 {
		t.Fatalf("alice through the balancer: %d %s", r.Status, r.Body)
	}
	for i := 0; i < 20; i++ {
		e.do("POST", "/v1/login", map[string]string{"login": "alice", "password": "wrong-password"})
	}
	u, _ := e.node.FSM().State().UserByLogin("sessiond", "alice")
	if u.LockedUntil == 0 {
		t.Fatal("the attacker did not spend the budget: the test proves nothing")
	}
	if slices.Contains(u.KnownAddrs, "127.0.0.1") {
		t.Fatalf("the proxy's own address became a known network: %v", u.KnownAddrs)
	}
	if r := e.do("POST", "/v1/login", map[string]string{"login": "alice", "password": "alice-password-1"}); r.Status == 201 {
		t.Fatal("the right guess through the balancer passed a spent budget")
	}
	// A client address the proxy does forward is remembered as before.
	e.do("POST", "/v1/cluster/unlock", map[string]string{"login": "alice"}, bearerH(e.admin))
	if r := e.do("POST", "/v1/login", map[string]string{"login": "alice", "password": "alice-password-1"}, from("198.51.100.10")); r.Status != 201 {
		t.Fatalf("alice from her own address: %d %s", r.Status, r.Body)
	}
	if u, _ := e.node.FSM().State().UserByLogin("sessiond", "alice"); !slices.Contains(u.KnownAddrs, "198.51.100.10") {
		t.Fatalf("a forwarded client address was not remembered: %v", u.KnownAddrs)
	}
}
