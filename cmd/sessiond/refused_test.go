package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLI_RefusedAddressFailsFast: with nothing listening at --addr, the
// client commands give up after one pass over the addresses instead of
// retrying until --timeout, and say the connection was refused rather
// than blaming the credentials.
func TestCLI_RefusedAddressFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"user", "list"},
		{"snapshot", "save", filepath.Join(t.TempDir(), "b.snap")},
		{"settings", "get"},
	} {
		var out bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Env: mapEnv(envAdminPassword, "some-admin-password-1")}
		start := time.Now()
		err := m.Run(context.Background(), append(args, "--addr", addr, "--timeout", "60s"))
		if err == nil {
			t.Fatalf("%v against a closed port succeeded", args)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%v: gave up after %v, retrying a refused address until the timeout", args, d)
		}
		msg := err.Error()
		if !strings.Contains(msg, "refused") || strings.Contains(msg, "password") || strings.Contains(msg, "credentials") {
			t.Errorf("%v: %q should say the connection was refused, not blame credentials", args, msg)
		}
	}
}
