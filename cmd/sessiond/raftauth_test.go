package main

import (
	"io"
	"strings"
	"testing"
)

// A Raft address other machines can reach needs mutual TLS or a cluster
// key; the refusal names both, so the operator knows the way out.
func TestConfig_ExposedRaftNeedsTLSOrKey(t *testing.T) {
	for _, args := range [][]string{
		{"--raft-addr", "0.0.0.0:8300"},
		{"--raft-addr", "10.0.0.1:8300"},
		{"--raft-advertise", "10.0.0.1:8300"},
	} {
		_, err := parseServeConfig("serve", args, mapEnv(), io.Discard, false)
		if err == nil {
			t.Fatalf("%v: accepted without TLS or a cluster key", args)
		}
		for _, want := range []string{"--tls-ca", "--tls-cert", envClusterKey, envClusterKey + "_FILE"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %q does not name %s", args, err, want)
			}
		}
	}
	// Either one is enough; the loopback default needs neither.
	if _, err := parseServeConfig("serve", []string{"--raft-addr", "10.0.0.1:8300"}, mapEnv(envClusterKey, testKey), io.Discard, false); err != nil {
		t.Fatalf("with a cluster key: %v", err)
	}
	if _, err := parseServeConfig("serve", nil, mapEnv(), io.Discard, false); err != nil {
		t.Fatalf("loopback default: %v", err)
	}
}
