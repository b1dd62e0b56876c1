package e2e

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

var hex32 = regexp.MustCompile(`(^|[^0-9a-f])([0-9a-f]{32})([^0-9a-f]|$)`)

// TestSingleNode_SealSecretAndDataDirForgeNoJWT is finding H1's attack
// with the real binary: the attacker holds the seal key file beside the
// data dir and a copy of the data dir (raft.db, snapshots) and a backup.
// It unseals the signing key, then mints an admin JWT with every stored
// value that could be the admin's jti. None is accepted; the same mint
// with the real jti (which only the token's holder has) is, so the attack
// is sound and only the missing jti stops it.
func TestSingleNode_SealSecretAndDataDirForgeNoJWT(t *testing.T) {
	t.Parallel()
	n := startNode(t, "node1", cleanEnv("SESSIOND_ADMIN_PASSWORD="+adminPassword),
		"--snapshot-threshold", "4", "--trailing-logs", "2", "--snapshot-interval", "100ms")
	waitReady(t, n)
	// The JWT key is seeded by the new leader just after it is ready: a
	// login before that is 503, so the first one is polled for.
	eventually(t, waitLong, "a JWT signing key", func() error {
		res, err := http.PostForm(n.apiURL+"/api/login", url.Values{"email": {"admin"}, "password": {adminPassword}})
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("jwt login: %d", res.StatusCode)
		}
		return nil
	})
	tok := jwtLogin(t, n.apiURL)
	var claims jwt.MapClaims
	head, _, err := jwt.NewParser().ParseUnverified(tok, &claims)
	if err != nil {
		t.Fatal(err)
	}
	jti, kid := claims["jti"].(string), head.Header["kid"].(string)
	for range 8 { // enough writes for a snapshot on disk
		login(t, n.client(), "admin", adminPassword)
	}
	snaps := filepath.Join(n.dataDir, "snapshots")
	eventually(t, waitLong, "a snapshot on disk", func() error {
		if m, _ := filepath.Glob(filepath.Join(snaps, "*", "state.bin")); len(m) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	admin := login(t, n.client(), "admin", adminPassword).Token
	req, _ := http.NewRequest("GET", n.apiURL+"/v1/cluster/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("backup: %v %v", err, res)
	}
	backup, _ := io.ReadAll(res.Body)
	res.Body.Close()

	// The attacker's material: the seal secret and everything at rest.
	seal, err := os.ReadFile(filepath.Join(n.dataDir, "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := auth.NewSealer([]byte(strings.TrimSpace(string(seal))))
	if err != nil {
		t.Fatal(err)
	}
	payload, _, err := transport.SplitBackup(bytes.NewReader(backup), int64(len(backup)))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := fsm.ReadSnapshot(io.NewSectionReader(bytes.NewReader(backup), 0, payload))
	if err != nil {
		t.Fatal(err)
	}
	sk, ok := st.Key(kid)
	if !ok {
		t.Fatalf("kid %s not in the backup", kid)
	}
	key, err := sealer.Unseal(sk)
	if err != nil {
		t.Fatalf("the attacker cannot unseal the key: %v (the test gives it the seal secret)", err)
	}
	var u *fsm.User
	for _, x := range st.Users("") {
		if x.Login == "admin" {
			u = x
		}
	}
	cands := map[string]bool{}
	scan := func(b []byte) {
		for _, m := range hex32.FindAllSubmatch(b, -1) {
			cands[string(m[2])] = true
		}
	}
	scan(backup)
	filepath.WalkDir(n.dataDir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				scan(b)
			}
		}
		return nil
	})
	for _, x := range st.Users("") {
		for _, s := range st.UserSessions(x.ID) {
			for _, v := range []string{s.ID, s.Name, s.UserAgent, s.ClientAddr, string(s.Digest[:])} {
				cands[v] = true
			}
		}
	}
	mint := func(id string) string {
		f, err := auth.SignJWT(key, auth.Claims{Subject: u.ID, Login: u.Login, SessionID: id, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if code := jwtMe(t, n.apiURL, mint(jti)); code != http.StatusOK {
		t.Fatalf("control: a mint with the real jti is refused (%d): the attack is not sound", code)
	}
	tried := 0
	for c := range cands {
		if c == "" {
			continue
		}
		tried++
		if code := jwtMe(t, n.apiURL, mint(c)); code == http.StatusOK {
			t.Fatalf("a JWT minted from a value at rest (%d bytes) was accepted", len(c))
		}
	}
	if cands[jti] {
		t.Fatal("the jti is at rest")
	}
	t.Logf("%d values at rest tried as jti with the unsealed key; none accepted", tried)
}
