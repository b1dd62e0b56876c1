package main

import (
	"github.com/sessiond/sessiond/cluster/reqsign"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/proctest"
)

// Fixture secrets for the benchmark cluster (loopback only, thrown away
// with its temp dirs).
const (
	benchClusterKey    = "xvgZT1vmCOYaaJeC3Yfg5VGtaqz9Z5HC3woYjyNybHM" // from sessiond keygen: serve refuses weak keys
	benchAdminPassword = "sessiond-bench-admin-password"
)

// sdNode is one sessiond process.
type sdNode struct {
	id          string
	dir         string
	apiAddr     string
	raftAddr    string
	metricsAddr string // --metrics-addr: /metrics is not on the API port
	url         string
	args        []string
	proc        *proc
	pprofAddr   string // --pprof-addr when the driver profiles (profile.go)
}

// sdCluster is a 3-node sessiond cluster started from the built binary.
type sdCluster struct {
	bin   string
	procs *procSet
	nodes []*sdNode
	extra []string // extra serve flags for every node
	wrap  []string // arguments before the node's own when bin wraps sessiond (taskset)
	http  *http.Client
	admin string // admin's native token
}

func newSDCluster(bin string, procs *procSet, root string, size int, extra []string) (*sdCluster, error) {
	// 10 minutes: a --huge prefill uploads and restores a 1.26 GB backup in
	// one request (the driver's -deadline bounds the whole run).
	c := &sdCluster{bin: bin, procs: procs, extra: extra, http: &http.Client{Timeout: 10 * time.Minute}}
	for i := 1; i <= size; i++ {
		ap, err := proctest.Port()
		if err != nil {
			return nil, err
		}
		rp, err := proctest.Port()
		if err != nil {
			return nil, err
		}
		mp, err := proctest.Port()
		if err != nil {
			return nil, err
		}
		n := &sdNode{
			id: "n" + strconv.Itoa(i), dir: filepath.Join(root, "sessiond-n"+strconv.Itoa(i)),
			apiAddr: proctest.LoopbackAddr(ap), raftAddr: proctest.LoopbackAddr(rp), metricsAddr: proctest.LoopbackAddr(mp),
		}
		n.url = "http://" + n.apiAddr
		flags := proctest.Node{Subcommand: "serve", ID: n.id, DataDir: n.dir, APIAddr: n.apiAddr,
			APIURL: n.url, RaftAddr: n.raftAddr, LogLevel: "warn", MetricsAddr: n.metricsAddr}
		if i > 1 {
			flags.Join = c.nodes[0].url
		}
		n.args = flags.Args()
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

func (c *sdCluster) env() []string {
	return []string{"SESSIOND_CLUSTER_KEY=" + benchClusterKey, "SESSIOND_ADMIN_PASSWORD=" + benchAdminPassword}
}

// startNode starts (or restarts, with the same data dir and flags) n.
func (c *sdCluster) startNode(n *sdNode) error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	args := append(append(append([]string(nil), c.wrap...), n.args...), c.extra...)
	p, err := c.procs.start("sessiond-"+n.id+"-"+strconv.FormatInt(time.Now().UnixMilli(), 36), c.env(), c.bin, args...)
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

// start brings the cluster up: n1 bootstraps, the others join through it;
// it returns once every node answers /readyz and the admin is logged in.
func (c *sdCluster) start(ctx context.Context) error {
	for i, n := range c.nodes {
		if err := c.startNode(n); err != nil {
			return err
		}
		if i == 0 {
			if err := waitFor(ctx, 30*time.Second, n.id+" ready", n.proc, func() bool { return httpOK(n.url + "/readyz") }); err != nil {
				return err
			}
		}
	}
	for _, n := range c.nodes {
		if err := waitFor(ctx, 60*time.Second, n.id+" ready", n.proc, func() bool { return httpOK(n.url + "/readyz") }); err != nil {
			return err
		}
	}
	return waitFor(ctx, 30*time.Second, "admin login", nil, func() bool {
		tok, err := c.login(ctx, c.nodes[0], "admin", benchAdminPassword)
		c.admin = tok
		return err == nil
	})
}

// login posts to /v1/login and returns the token.
func (c *sdCluster) login(ctx context.Context, n *sdNode, login, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"login": login, "password": password})
	req, _ := http.NewRequestWithContext(ctx, "POST", n.url+"/v1/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusCreated {
		data, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("login: %d %s", resp.StatusCode, data)
	}
	return out.Token, json.NewDecoder(resp.Body).Decode(&out)
}

// adminDo sends an operator request with the cluster key.
func (c *sdCluster) adminDo(ctx context.Context, n *sdNode, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.url+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	// The cluster key never travels: the request is signed with it.
	if err := reqsign.Sign(req, reqsign.Key(benchClusterKey), n.id); err != nil {
		return nil, err
	}
	return c.http.Do(req)
}

// nodeStatus is the part of GET /v1/cluster the driver reads.
type nodeStatus struct {
	NodeID       string `json:"node_id"`
	State        string `json:"state"`
	Leader       string `json:"leader"`
	AppliedIndex uint64 `json:"applied_index"`
	Ready        bool   `json:"ready"`
	Sessions     int    `json:"sessions"`
}

func (c *sdCluster) status(ctx context.Context, n *sdNode) (nodeStatus, error) {
	var st nodeStatus
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := c.adminDo(cctx, n, "GET", "/v1/cluster", nil)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status %s: %d", n.id, resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// roles returns the leader and the followers among running nodes.
func (c *sdCluster) roles(ctx context.Context) (leader *sdNode, followers []*sdNode, err error) {
	for _, n := range c.nodes {
		if n.proc == nil || !n.proc.Running() {
			continue
		}
		st, err := c.status(ctx, n)
		if err != nil {
			return nil, nil, err
		}
		if strings.EqualFold(st.State, "leader") {
			leader = n
		} else {
			followers = append(followers, n)
		}
	}
	if leader == nil {
		return nil, nil, fmt.Errorf("no leader among the running nodes")
	}
	return leader, followers, nil
}

// metric reads one sample (the first line starting with name) from a
// node's /metrics (on its metrics address); ok is false when it is absent.
func (c *sdCluster) metric(ctx context.Context, n *sdNode, name string) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.metricsAddr+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func (c *sdCluster) cpuSeconds() float64 {
	var s float64
	for _, n := range c.nodes {
		if n.proc != nil && n.proc.Running() {
			s += n.proc.cpuSeconds()
		}
	}
	return s
}

func (c *sdCluster) stop() {
	for _, n := range c.nodes {
		if n.proc != nil {
			n.proc.stop(15 * time.Second)
		}
	}
}
