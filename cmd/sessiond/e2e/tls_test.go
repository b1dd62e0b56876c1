package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testca"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/cluster/reqsign"
)

// testCA makes a throwaway CA in dir and returns its file and a function
// issuing node certificates for 127.0.0.1 (server and client use).
func testCA(t *testing.T, dir string) (caFile string, issue func(name string) (cert, key string)) {
	t.Helper()
	ca := testca.New(t, dir, "e2e")
	return ca.File, ca.Issue
}

// httpsClient trusts the CA in caFile and presents no certificate, as a
// client of the public API would.
func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestTLS_MutualBetweenNodes: with --tls-cert/--tls-key the API is HTTPS;
// with --tls-ca the nodes also authenticate each other by certificate,
// for Raft and for internal calls. SIGHUP reloads the certificates and
// does not stop the process.
func TestTLS_MutualBetweenNodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, issue := testCA(t, dir)
	hc := httpsClient(t, ca)
	tlsArgs := func(name string) []string {
		cert, key := issue(name)
		return []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", ca}
	}
	n1 := startNode(t, "node1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword), tlsArgs("node1")...)
	n1.opts = []client.Option{client.WithHTTPClient(hc)}
	if !strings.HasPrefix(n1.apiURL, "https://") {
		t.Fatalf("api url %s", n1.apiURL)
	}
	waitReady(t, n1)
	n2 := startNode(t, "node2", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey), append(tlsArgs("node2"), "--join", n1.apiURL)...)
	n2.opts = n1.opts
	waitReady(t, n2)

	// A login on node2 is forwarded to the leader over mutual TLS.
	login(t, n2.client(), "admin", adminPassword)
	tok := login(t, n2.client(), "admin", adminPassword).Token
	if _, err := n1.client().Session(ctxT(t, 10*time.Second), tok, client.ConsistencyConsistent); err != nil {
		t.Fatalf("validate on node1: %v", err)
	}

	// Plain HTTP and an unknown CA are refused.
	if res, err := http.Get("http" + strings.TrimPrefix(n1.apiURL, "https") + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200")
		}
	}
	if res, err := http.Get(n1.apiURL + "/healthz"); err == nil {
		res.Body.Close()
		t.Fatal("a client without the CA connected")
	}
	// An internal call with the cluster key but no node certificate is
	// refused: under mutual TLS the key alone is not enough.
	req, _ := http.NewRequest(http.MethodPost, n1.apiURL+"/internal/v1/readindex", nil)
	req.Header.Set(client.ClusterKeyHeader, clusterKey)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("internal call without a certificate: %d", res.StatusCode)
	}

	// SIGHUP reloads the certificates; the node keeps serving, and new
	// connections get the certificate now on disk (a renewal without a
	// restart).
	served := func() string {
		u, _ := url.Parse(n1.apiURL)
		pem, _ := os.ReadFile(ca)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("dial %s: %v", u.Host, err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := served()
	issue("node1") // renewed in place: same files, new key and serial
	if served() != before {
		t.Fatal("the new certificate was served before SIGHUP")
	}
	n1.Signal(syscall.SIGHUP)
	eventually(t, waitLong, "certificate reload logged", func() error {
		if !strings.Contains(n1.Log(), "certificates reloaded") {
			return errors.New("not yet")
		}
		return nil
	})
	if after := served(); after == before {
		t.Fatalf("after SIGHUP the node still serves certificate serial %s", before)
	}
	if !n1.Running() {
		t.Fatal("SIGHUP stopped the node")
	}
	if _, err := n1.client().Session(ctxT(t, 10*time.Second), tok, ""); err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}

	// The CLI over HTTPS, with the CA: with the cluster key it needs a
	// node certificate too.
	if out, err := runCLI(t, cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey), "", "status", "--addr", n2.apiURL, "--tls-ca", ca); err == nil && !strings.Contains(out, "unreachable") {
		t.Fatalf("status with the cluster key and no certificate: %s", out)
	}
	cliCert, cliKey := issue("operator")
	out, err := runCLI(t, cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey), "", "status", "--addr", n2.apiURL, "--tls-ca", ca, "--tls-cert", cliCert, "--tls-key", cliKey)
	if err != nil || !strings.Contains(out, "node1") || !strings.Contains(out, "node2") || strings.Contains(out, "unreachable") {
		t.Fatalf("status over https: %v\n%s", err, out)
	}
	if !strings.Contains(n2.Log(), "cluster_key_call") {
		t.Error("the cluster-key call left no audit line")
	}
	mtlsClusterKeyNeedsCert(t, n1, ca, cliCert, cliKey)
}

// Under mutual TLS the cluster key without a node certificate gets 403
// from /v1/cluster/* and /internal/*; with the certificate it works, and
// an admin's Bearer token reaches /v1/cluster/* without one.
func mtlsClusterKeyNeedsCert(t *testing.T, n *node, ca, cert, key string) {
	t.Helper()
	noCert := httpsClient(t, ca)
	withCert := httpsClient(t, ca)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	withCert.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{pair}
	do := func(hc *http.Client, method, path string, auth func(*http.Request)) int {
		req, _ := http.NewRequest(method, n.apiURL+path, nil)
		auth(req)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	signed := func(r *http.Request) { reqsign.Sign(r, reqsign.Key(clusterKey), n.id) }
	for _, route := range [][2]string{{"GET", "/v1/cluster/status"}, {"GET", "/v1/cluster/snapshot"},
		{"POST", "/v1/cluster/restore"}, {"POST", "/internal/v1/readindex"}, {"POST", "/internal/v1/apply"}} {
		if code := do(noCert, route[0], route[1], signed); code != http.StatusForbidden {
			t.Errorf("cluster key, no certificate: %s %s = %d, want 403", route[0], route[1], code)
		}
	}
	if code := do(withCert, "GET", "/v1/cluster/snapshot", signed); code != http.StatusOK {
		t.Errorf("cluster key with a node certificate: snapshot = %d", code)
	}
	n.opts = []client.Option{client.WithHTTPClient(noCert)}
	tok := login(t, n.client(), "admin", adminPassword).Token
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	if code := do(noCert, "GET", "/v1/cluster/snapshot", bearer); code != http.StatusOK {
		t.Errorf("admin token without a certificate: snapshot = %d", code)
	}
}
