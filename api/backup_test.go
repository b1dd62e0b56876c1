package api

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
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
	// A good restore of the same backup is accepted and, asked to, keeps
	// the session (by default it ends it: TestRestore_*).
	if res := e.do("POST", "/v1/cluster/restore?keep_sessions=true", r.Body, bearerH(e.admin)); res.Status != 200 {
		t.Fatalf("restore: %d %s", res.Status, res.Body)
	}
	if got := e.do("GET", "/v1/session?consistency=consistent", nil, bearerH(tok)); got.Status != 200 {
		t.Fatalf("session lost after restoring its own backup: %d", got.Status)
	}
	if res := e.do("POST", "/v1/cluster/restore", r.Body, bearerH(tok)); res.Status != 403 {
		t.Fatalf("non-admin restore: %d", res.Status)
	}
}

// A restore upload slower than the server's ReadTimeout (a backup of
// millions of sessions is gigabytes) is not cut off: the route sets its
// own deadline.
func TestAdmin_SlowRestoreUploadOutlivesReadTimeout(t *testing.T) {
	e := newTestEnv(t)
	backup := e.do("GET", "/v1/cluster/snapshot", nil, bearerH(e.admin)).Body
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := e.srv.HTTPServer(ln.Addr().String())
	hs.ReadTimeout, hs.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	go hs.Serve(ln)
	defer hs.Close()
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 10; i++ { // ten pieces, 1 s in all: past the 300 ms timeout
			chunk := backup[i*len(backup)/10 : (i+1)*len(backup)/10]
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond) // a slow uploader, not synchronisation
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/cluster/restore", pr)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slow restore cut off: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("slow restore: %d %s", res.StatusCode, b)
	}
}
