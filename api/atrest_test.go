package api

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// withDataDir records the node's data dir, for tests that read it as an
// attacker with a copy of the disk would.
func withDataDir(dir *string) envOpt {
	return func(c *cluster.Config, _ *auth.ServiceConfig, _ *Config) { *dir = c.DataDir }
}

var hex32 = regexp.MustCompile(`(^|[^0-9a-f])([0-9a-f]{32})([^0-9a-f]|$)`)

// storedCandidates is everything at rest that could serve as a jti: every
// 32-hex run in every file of the data dir and in a backup, and every
// string and digest of every session the backup decodes to (the session
// record is binary, so an id need not appear as text).
func storedCandidates(t *testing.T, dataDir string, backup []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	scan := func(b []byte) {
		for _, m := range hex32.FindAllSubmatch(b, -1) {
			out[string(m[2])] = true
		}
	}
	scan(backup)
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			scan(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := fsm.ReadSnapshot(bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range st.Users("") {
		for _, s := range st.UserSessions(u.ID) {
			for _, v := range []string{s.ID, s.Name, s.UserAgent, s.ClientAddr, string(s.Digest[:])} {
				out[v] = true
			}
		}
	}
	return out
}

// The attack of finding H1: with the signing key (what the seal secret
// unseals) and a copy of the data dir, mint a JWT for the admin's live
// session from any stored value that could be its jti. Every candidate
// must be refused; the same forge with the real jti (which only the token
// holder has) is accepted, so the attack itself is sound.
func TestAtRest_DataDirCopyAndSigningKeyForgeNoJWT(t *testing.T) {
	var dataDir string
	e := newTestEnv(t, withDataDir(&dataDir))
	kid := e.waitActiveKey()
	admin, _ := e.node.FSM().State().UserByLogin(e.srv.cfg.DefaultDB, "admin")
	tok := e.jwtLogin("admin", testAdminPassword)
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil {
		t.Fatal(err)
	}
	jti := claims["jti"].(string)

	backup := e.do("GET", "/v1/cluster/snapshot", nil, bearerH(e.admin))
	if backup.Status != 200 {
		t.Fatalf("backup: %d", backup.Status)
	}
	// Force the state into a snapshot file too, so the data dir holds
	// every form the state is kept in at rest.
	if err := e.node.Raft().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	cands := storedCandidates(t, dataDir, backup.Body)
	forge := func(id string) string {
		return signWith(t, jwt.SigningMethodHS256, testJWTSecret, kid, jwt.MapClaims{
			"sub": itoa(admin.ID), "uid": admin.ID, "lgn": "admin", "jti": id, "exp": time.Now().Add(time.Hour).Unix(),
		})
	}
	if r := e.do("GET", "/v1/users", nil, bearerH(forge(jti))); r.Status != 200 {
		t.Fatalf("control: a forge with the real jti should pass, got %d: the attack is not sound", r.Status)
	}
	tried := 0
	for c := range cands {
		if c == "" {
			continue
		}
		tried++
		if r := e.do("GET", "/v1/users", nil, bearerH(forge(c))); r.Status != 401 {
			t.Fatalf("a JWT forged from a stored value was answered %d: the data dir and the key mint tokens", r.Status)
		}
	}
	if cands[jti] {
		t.Fatal("the jti is stored at rest")
	}
	if tried < 3 {
		t.Fatalf("only %d candidates: the scan found nothing to try", tried)
	}
	t.Logf("%d stored values tried as jti, none accepted", tried)
}
