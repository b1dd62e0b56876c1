package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/internal/webhook"
)

// newClusterKey is the key the drill rotates to (from sessiond keygen).
const newClusterKey = "q7Xr2mV9cT4kLp0sNw8ZbJ3fHy6GdE1aUoRiK5tSvQM"

// postJSON sends body to url with an optional bearer token and decodes
// the JSON answer into a map.
func postJSON(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return res.StatusCode, out
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRotation_ClusterKeyThreeNodeDrill runs docs/OPERATIONS.md,
// "Rotating the cluster key", to the letter on a real 3-node cluster
// whose seal secret is the cluster key: install the new key as the old
// one, use it, remove the old one, each a rolling restart (followers
// first, the leader last). After every restart a session made before the
// drill validates on all three nodes, a login works through the restarted
// node, and after the last step the JWT dialect still signs, a user's
// TOTP secret and recovery codes (sealed and keyed under the old key)
// still sign them in, a webhook's deliveries are still signed with the
// secret its owner holds, and the old key no longer opens the cluster.
func TestRotation_ClusterKeyThreeNodeDrill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("nine restarts of a 3-node cluster")
	}
	env := func(cur, old string) []string {
		e := cleanEnv("SESSIOND_CLUSTER_KEY="+cur, "SESSIOND_ADMIN_PASSWORD="+adminPassword)
		if old != "" {
			e = append(e, "SESSIOND_CLUSTER_KEY_OLD="+old)
		}
		return e
	}
	var nodes []*node
	for i, id := range []string{"r1", "r2", "r3"} {
		extra := []string{"--webhook-allow-private"} // the receiver is on loopback
		if i > 0 {
			extra = append(extra, "--join", nodes[0].apiURL)
		}
		nodes = append(nodes, startNode(t, id, env(clusterKey, ""), extra...))
		waitReady(t, nodes[i])
	}
	waitReady(t, nodes...)

	// Before the drill: a session, a JWT key in use, and a user with TOTP
	// and recovery codes, all sealed or keyed under the old key.
	admin := login(t, nodes[0].client(), "admin", adminPassword)
	jwtLogin(t, nodes[0].apiURL)
	const zoePassword = "zoe-long-passphrase-42"
	if _, err := nodes[0].client().CreateUser(ctxT(t, 10*time.Second), admin.Token, client.NewUser{Login: "zoe", Password: zoePassword}); err != nil {
		t.Fatal(err)
	}
	zoe := login(t, nodes[0].client(), "zoe", zoePassword)
	code, out := postJSON(t, "POST", nodes[0].apiURL+"/v1/me/totp", zoe.Token, map[string]any{})
	secret, _ := out["secret"].(string)
	if code != http.StatusCreated || secret == "" {
		t.Fatalf("enrol TOTP: %d %v", code, out)
	}
	code, out = postJSON(t, "POST", nodes[0].apiURL+"/v1/me/totp/confirm", zoe.Token, map[string]any{"code": totpCode(t, secret, time.Now())})
	rc, _ := out["recovery_codes"].([]any)
	if code != http.StatusOK || len(rc) == 0 {
		t.Fatalf("confirm TOTP: %d %v", code, out)
	}

	// A webhook whose signing secret is sealed under the old key.
	type delivery struct {
		h    http.Header
		body []byte
	}
	got := make(chan delivery, 64)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- delivery{r.Header.Clone(), b}:
		default:
		}
	}))
	t.Cleanup(recv.Close)
	code, out = postJSON(t, "POST", nodes[0].apiURL+"/v1/webhooks", admin.Token, map[string]any{"url": recv.URL, "events": []string{"session.ended"}})
	whsec, _ := out["secret"].(string)
	whKey, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	if code != http.StatusCreated || err != nil || len(whKey) == 0 {
		t.Fatalf("subscribe: %d %v %v", code, out, err)
	}

	validEverywhere := func(when string) {
		t.Helper()
		for _, n := range nodes {
			eventually(t, waitLong, when+": the old session validates on "+n.id, func() error {
				_, err := n.client().Session(ctxT(t, 5*time.Second), admin.Token, "")
				return err
			})
		}
	}
	restart := func(n *node, cur, old string) {
		t.Helper()
		n.stop()
		n.Env = env(cur, old)
		n.restart()
		waitReady(t, n)
		// The password is checked and the second factor asked for (a
		// code is spent once per step, so the drill keeps them for the end).
		if code, out := postJSON(t, "POST", n.apiURL+"/v1/login", "", map[string]any{"login": "zoe", "password": zoePassword}); code != http.StatusUnauthorized || !strings.Contains(fmt.Sprint(out["error"]), "second_factor_required") {
			t.Fatalf("%s restarted: a password login answers %d %v, want 401 second_factor_required", n.id, code, out)
		}
		validEverywhere(n.id + " restarted")
	}
	rolling := func(step, cur, old string) {
		t.Helper()
		leader, err := leaderOf(t, nodes)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n != leader {
				restart(n, cur, old)
			}
		}
		restart(leader, cur, old)
		t.Logf("%s done", step)
	}

	rolling("1 install", clusterKey, newClusterKey)
	rolling("2 use", newClusterKey, clusterKey)
	// The new leader of step 2 reseals what the old key sealed; step 3
	// waits for it, and for a snapshot since, as the procedure says.
	eventually(t, waitLong, "the keyring resealed under the new key", func() error {
		for _, n := range nodes {
			if strings.Contains(n.Log(), "JWT key resealed") {
				return nil
			}
		}
		return fmt.Errorf("no node logged a reseal")
	})
	rolling("3 remove", newClusterKey, "")

	// After the drill: the JWT dialect signs, TOTP and a recovery code
	// still sign the user in, the old key opens nothing.
	jwtLogin(t, nodes[1].apiURL)
	code, out = postJSON(t, "POST", nodes[2].apiURL+"/v1/login", "", map[string]any{"login": "zoe", "password": zoePassword, "recovery_code": rc[0]})
	if code != http.StatusCreated {
		t.Errorf("a recovery code made before the rotation: %d %v", code, out)
	}
	eventually(t, waitLong, "a TOTP code after the rotation", func() error {
		code, out := postJSON(t, "POST", nodes[1].apiURL+"/v1/login", "", map[string]any{"login": "zoe", "password": zoePassword, "otp": totpCode(t, secret, time.Now().Add(30*time.Second))})
		if code != http.StatusCreated {
			t.Logf("TOTP login: %d %v", code, out)
			return fmt.Errorf("%d %v", code, out)
		}
		return nil
	})
	// The webhook still signs: a logout after the drill is delivered
	// with a signature under the secret its owner was given.
	if err := nodes[2].client().Logout(ctxT(t, 10*time.Second), zoe.Token); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(waitLong)
	for signed := false; !signed; {
		select {
		case d := <-got:
			ts, _ := strconv.ParseInt(d.h.Get("webhook-timestamp"), 10, 64)
			if !strings.Contains(string(d.body), zoe.Session.ID) {
				continue
			}
			if want := webhook.Sign(whKey, d.h.Get("webhook-id"), ts, d.body); d.h.Get("webhook-signature") != want {
				t.Fatalf("a delivery after the rotation is signed %q, want %q", d.h.Get("webhook-signature"), want)
			}
			signed = true
		case <-deadline:
			t.Fatal("no signed delivery of the logout after the rotation")
		}
	}
	if _, err := nodes[0].client(client.WithClusterKey(clusterKey)).ClusterStatus(ctxT(t, 5*time.Second), ""); err == nil {
		t.Error("the removed old cluster key still opens the cluster status")
	}
	if _, err := nodes[0].client(client.WithClusterKey(newClusterKey)).ClusterStatus(ctxT(t, 5*time.Second), ""); err != nil {
		t.Errorf("the new cluster key: %v", err)
	}
}
