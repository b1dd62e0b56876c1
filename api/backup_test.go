package api

import (
	"bytes"
	"net/http"
	"testing"
)

func TestAdmin_BackupAndRefusedCorruptRestore(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("ivy", "ivy-password", nil)
	tok := e.login("ivy", "ivy-password")
	r := e.do("GET", "/v1/cluster/snapshot", nil, bearerH(e.admin))
	if r.Status != 200 || !bytes.HasPrefix(r.Body, []byte("SSNDSNAP")) {
		t.Fatalf("backup: %d %q", r.Status, r.Body[:min(20, len(r.Body))])
	}
	if bytes.Contains(r.Body, []byte(tok)) || bytes.Contains(r.Body, []byte("ivy-password")) {
		t.Fatal("backup holds a usable token or a password")
	}
	bad := append([]byte(nil), r.Body...)
	bad[len(bad)/2] ^= 1
	res := e.do("POST", "/v1/cluster/restore", bad, bearerH(e.admin))
	if res.Status != http.StatusBadRequest || res.json(t)["error"].(map[string]any)["code"] != "bad_backup" {
		t.Fatalf("corrupt restore: %d %s", res.Status, res.Body)
	}
	if got := e.do("GET", "/v1/session", nil, bearerH(tok)); got.Status != 200 {
		t.Fatal("refused restore broke a live session")
	}
	// A good restore of the same backup is accepted and keeps the session.
	if res := e.do("POST", "/v1/cluster/restore", r.Body, bearerH(e.admin)); res.Status != 200 {
		t.Fatalf("restore: %d %s", res.Status, res.Body)
	}
	if got := e.do("GET", "/v1/session?consistency=consistent", nil, bearerH(tok)); got.Status != 200 {
		t.Fatalf("session lost after restoring its own backup: %d", got.Status)
	}
	if res := e.do("POST", "/v1/cluster/restore", r.Body, bearerH(tok)); res.Status != 403 {
		t.Fatalf("non-admin restore: %d", res.Status)
	}
}
