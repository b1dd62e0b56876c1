package cluster

import (
	"context"
	"errors"
	"testing"
)

// A plain http:// API URL on an address other than loopback is refused,
// for this node at Open and for a joining member at the leader, unless the
// operator allows it (finding N2).
func TestConfig_PlainAPIURLNeedsConsent(t *testing.T) {
	cfg := fastConfig(t, "n1", t.TempDir(), "127.0.0.1:0", "http://10.0.0.1:8080")
	if _, err := Open(cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("open with a plain non-loopback API URL: %v", err)
	}
	for url, ok := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://localhost:8080": true, "http://[::1]:8080": true,
		"https://10.0.0.1:8443": true, "http://10.0.0.1:8080": false, "http://auth.example.com": false,
	} {
		if err := CheckAPIURL(url, false); (err == nil) != ok {
			t.Errorf("CheckAPIURL(%q) = %v", url, err)
		}
		if err := CheckAPIURL(url, true); err != nil {
			t.Errorf("CheckAPIURL(%q, allowed) = %v", url, err)
		}
	}
	c := newTestCluster(t, 1, quiet)
	err := c.waitLeader().Join(context.Background(), JoinRequest{ID: "n9", RaftAddr: "127.0.0.1:1", APIURL: "http://10.0.0.9:8080"})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("the leader admitted a member with a plain non-loopback API URL: %v", err)
	}
}
