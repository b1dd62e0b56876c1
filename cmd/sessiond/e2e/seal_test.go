package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/cluster/reqsign"
)

const configuredJWTKey = "configured-jwt-key-0123456789abcdefghij"

// TestSingleNode_SealedKeyringAtRest: a node started with no secret at
// all (no cluster key, no seal key) generates its seal key file in the
// data dir, 0600, and names it in the log. After JWT keys of every
// algorithm are used, raft.db, every snapshot and a backup hold no
// signing secret (raw, hex, base64), and whatever key material an
// attacker digs out of them cannot mint a JWT the API accepts.
func TestSingleNode_SealedKeyringAtRest(t *testing.T) {
	t.Parallel()
	env := cleanEnv("SESSIOND_ADMIN_PASSWORD="+adminPassword, "SESSIOND_JWT_KEY="+configuredJWTKey)
	n := startNode(t, "node1", env, "--snapshot-threshold", "4", "--trailing-logs", "2", "--snapshot-interval", "100ms")
	waitReady(t, n)

	sealFile := filepath.Join(n.dataDir, "seal.key")
	st, err := os.Stat(sealFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seal key file %s: %v %v", sealFile, err, st)
	}
	if !strings.Contains(n.Log(), sealFile) {
		t.Error("the start-up log does not name the seal key file")
	}

	admin := login(t, n.client(), "admin", adminPassword).Token
	type issued struct{ tok, alg string }
	var jwts []issued
	for _, alg := range []string{"HS256", "HS384", "HS512", "EdDSA", "RS256"} {
		req, _ := http.NewRequest("POST", n.apiURL+"/v1/keys", strings.NewReader(`{"alg":"`+alg+`"}`))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		if code := statusOf(t, req); code != http.StatusCreated {
			t.Fatalf("add %s key: %d", alg, code)
		}
		tok := jwtLogin(t, n.apiURL)
		if code := jwtMe(t, n.apiURL, tok); code != http.StatusOK {
			t.Fatalf("%s: a genuine JWT is refused: %d", alg, code)
		}
		jwts = append(jwts, issued{tok, alg})
	}
	// Enough writes for snapshots to be taken and the log compacted.
	for range 12 {
		login(t, n.client(), "admin", adminPassword)
	}
	snaps := filepath.Join(n.dataDir, "snapshots")
	eventually(t, waitLong, "a snapshot on disk", func() error {
		m, _ := filepath.Glob(filepath.Join(snaps, "*", "state.bin"))
		if len(m) == 0 {
			return os.ErrNotExist
		}
		return nil
	})
	backup := filepath.Join(t.TempDir(), "backup.snap")
	req, _ := http.NewRequest("GET", n.apiURL+"/v1/cluster/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("backup: %v %v", err, res)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	os.WriteFile(backup, data, 0o600)

	files := []string{filepath.Join(n.dataDir, "raft.db"), backup}
	filepath.WalkDir(snaps, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() && strings.HasSuffix(p, ".tmp") {
			// A snapshot being written (raft renames it when done): its
			// files vanish under the walk; the finished ones are read.
			return filepath.SkipDir
		}
		if err == nil && !e.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	var found [][]byte
	secretField := regexp.MustCompile(`"secret":"([A-Za-z0-9+/=]+)"`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(f, snaps) {
			continue // an older snapshot reaped by retention after the walk
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range encodingsOf([]byte(configuredJWTKey)) {
			if bytes.Contains(b, enc) {
				t.Errorf("%s holds the configured JWT key", f)
			}
		}
		for _, m := range secretField.FindAllSubmatch(b, -1) {
			raw, err := base64.StdEncoding.DecodeString(string(m[1]))
			if err == nil {
				found = append(found, raw)
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("test setup: no key record found at rest")
	}
	for _, raw := range found {
		if !bytes.HasPrefix(raw, []byte("\x00sdseal\x01")) {
			t.Errorf("a signing key is stored unsealed (%d bytes)", len(raw))
		}
	}
	// Mint: each genuine token's claims, re-signed with every piece of
	// material found, under the same kid and alg.
	for _, j := range jwts {
		parsed, _, err := jwt.NewParser().ParseUnverified(j.tok, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range found {
			forged := jwt.NewWithClaims(jwt.GetSigningMethod(j.alg), parsed.Claims)
			forged.Header["kid"] = parsed.Header["kid"]
			var key any = raw
			if j.alg == "EdDSA" || j.alg == "RS256" {
				if key, err = x509.ParsePKCS8PrivateKey(raw); err != nil {
					continue // not a private key: nothing to sign with
				}
			}
			tok, err := forged.SignedString(key)
			if err != nil {
				continue
			}
			if code := jwtMe(t, n.apiURL, tok); code == http.StatusOK {
				t.Fatalf("%s: a JWT minted from material at rest was accepted", j.alg)
			}
		}
	}
	// The cluster key cannot be involved: this node has none, and a
	// signed call is refused.
	req, _ = http.NewRequest("GET", n.apiURL+"/v1/cluster/snapshot", nil)
	reqsign.Sign(req, reqsign.Key("a-guessed-cluster-key-0123"), n.id)
	if code := statusOf(t, req); code != http.StatusForbidden {
		t.Errorf("signed call on a node without a cluster key: %d", code)
	}
}

func encodingsOf(b []byte) [][]byte {
	return [][]byte{b, []byte(hex.EncodeToString(b)), []byte(base64.StdEncoding.EncodeToString(b)),
		[]byte(base64.URLEncoding.EncodeToString(b)), []byte(base64.RawStdEncoding.EncodeToString(b)),
		[]byte(base64.RawURLEncoding.EncodeToString(b))}
}

func statusOf(t *testing.T, req *http.Request) int {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func jwtLogin(t *testing.T, base string) string {
	t.Helper()
	res, err := http.PostForm(base+"/api/login", url.Values{"email": {"admin"}, "password": {adminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Data.Token == "" {
		t.Fatalf("jwt login: %d %v", res.StatusCode, err)
	}
	return out.Data.Token
}

func jwtMe(t *testing.T, base, tok string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	return statusOf(t, req)
}
