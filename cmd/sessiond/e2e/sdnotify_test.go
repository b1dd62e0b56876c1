package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Under systemd (Type=notify, packaging/sessiond.service) the node says
// READY=1 once it takes traffic and STOPPING=1 when asked to stop: the
// notify socket here is the test's own.
func TestSystemdNotify_ReadyAndStopping(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := append(cleanEnv(), "NOTIFY_SOCKET="+sock, "SESSIOND_ADMIN_PASSWORD=notify-admin-password")
	n := startNode(t, "notify1", env)
	expect := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			conn.SetReadDeadline(deadline)
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if strings.Contains(string(buf[:k]), want) {
				return
			}
		}
		t.Fatalf("no %s from the node", want)
	}
	expect("READY=1")
	waitReady(t, n) // READY=1 came no earlier than /readyz answers 200
	n.proc.stop()
	expect("STOPPING=1")
}
