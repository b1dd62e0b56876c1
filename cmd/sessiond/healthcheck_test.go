package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHealthcheck_ExitsOnStatus: the image's HEALTHCHECK passes on 200
// only, asks /readyz with --ready, and finds the node from
// SESSIOND_API_ADDR with 0.0.0.0 probed on loopback.
func TestHealthcheck_ExitsOnStatus(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz", r.URL.Path == "/readyz" && ready.Load():
		default:
			http.Error(w, "no leader", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	run := func(env Env, args ...string) (string, error) {
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out, Env: env}
		err := m.Run(context.Background(), append([]string{"healthcheck"}, args...))
		return out.String(), err
	}
	if out, err := run(mapEnv(), "--url", srv.URL); err != nil || !strings.Contains(out, "/healthz ok") {
		t.Fatalf("healthz: %q %v", out, err)
	}
	if _, err := run(mapEnv(), "--url", srv.URL, "--ready"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("readyz before ready: %v", err)
	}
	ready.Store(true)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	if out, err := run(mapEnv(envName("api-addr"), "0.0.0.0:"+port), "--ready"); err != nil || !strings.Contains(out, "/readyz ok") {
		t.Fatalf("readyz from SESSIOND_API_ADDR: %q %v", out, err)
	}
	srv.Close()
	if _, err := run(mapEnv(), "--url", srv.URL); err == nil {
		t.Fatal("a closed port passed the health check")
	}
}
