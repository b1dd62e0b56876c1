package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
)

// floodLoginOp is the login flood of issue 16: production-hash logins,
// every other one with a wrong password for a login that does not exist
// (answered after the dummy hash, so it costs the server as much as a
// right one). Each wrong attempt claims its own client address through
// X-Forwarded-For (the cluster trusts loopback as a proxy, see
// benchNodeFlags): a distributed attacker is not stopped by the
// per-address limiter, so the hashing pool is what must hold. A 201 and
// the expected 401 both count as served; the operation name tells them
// apart in the error sample.
func floodLoginOp(t *httpTarget, users int) func(int) opFn {
	return func(i int) opFn {
		k := i * 31
		return func(ctx context.Context) (string, error) {
			k++
			login, password, want := userLogin(kindProdUser, k%users), prodPassword, http.StatusCreated
			if k%2 == 0 {
				login, password, want = "nobody-"+strconv.Itoa(k), "wrong-password", http.StatusUnauthorized
			}
			body, _ := json.Marshal(map[string]string{"login": login, "password": password})
			req, err := http.NewRequestWithContext(ctx, "POST", t.base(i)+"/v1/login", bytes.NewReader(body))
			if err != nil {
				return "login", err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", (k>>16)&255, (k>>8)&255, k&255))
			resp, err := t.client.Do(req)
			if err != nil {
				return "login", err
			}
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode != want {
				return "login", fmt.Errorf("login %d (want %d): %s", resp.StatusCode, want, bytes.TrimSpace(data))
			}
			return "login", nil
		}
	}
}

// floodOn measures validation on vnode alone, then during the flood on
// lnodes, and records both and the flood's logins under node.
func (r *runner) floodOn(ctx context.Context, round int, c *sdCluster, vnode *sdNode, lnodes []*sdNode, node string) {
	vc := r.cfg.floodValConc
	vt := newHTTPTarget("sessiond", []string{vnode.url}, "", vc)
	alone := r.goRun(ctx, c.cpuSeconds, vc, validateOp(vt, r.floodTokens(c)))
	r.record(alone, "sessiond", "validate-alone", node, round)
	bases := make([]string, len(lnodes))
	for i, n := range lnodes {
		bases[i] = n.url
	}
	lt := newHTTPTarget("sessiond", bases, "", r.cfg.floodConc)
	var login result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		login = drive(ctx, r.cfg.floodConc, r.cfg.warmup, r.cfg.d, r.cfg.maxOps, floodLoginOp(lt, r.cfg.plan.ProdUsers))
	}()
	during := r.goRun(ctx, c.cpuSeconds, vc, validateOp(vt, r.floodTokens(c)))
	wg.Wait()
	r.record(during, "sessiond", "validate-during-flood", node, round)
	r.record(login, "sessiond", "login-prodhash-flood", node, round)
}

func (r *runner) floodTokens(c *sdCluster) int {
	if c == r.one {
		return oneNodePlan(r.cfg.plan).Sessions
	}
	return r.cfg.plan.Sessions
}

// oneNodePlan is the smaller state of the one-node flood cluster: the
// flood measures CPU arbitration, not state size.
func oneNodePlan(p plan) plan {
	p.Sessions = min(p.Sessions, 20000)
	p.LogoutPool, p.LogoutAllPool = 0, 0
	return p
}

// phaseFlood1 is the one-node-per-machine case: a single sessiond node
// pinned to CPU 1 and this driver (and so the load) pinned to CPU 0, as a
// deployment with the proxies and clients on other machines sees it.
// Started on first use, kept for the later rounds.
func (r *runner) phaseFlood1(ctx context.Context, round int) error {
	if r.one == nil {
		bin := r.cfg.bin
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			logf("flood1: no taskset, skipped")
			return nil
		}
		c, err := newSDCluster(taskset, r.procs, filepath.Join(r.cfg.root, "one"), 1, append(benchNodeFlags(), r.cfg.nodeFlags...))
		if err != nil {
			return err
		}
		c.wrap = []string{"-c", "1", bin}
		if err := c.start(ctx); err != nil {
			return fmt.Errorf("one-node cluster: %w", err)
		}
		if err := c.prefill(ctx, oneNodePlan(r.cfg.plan)); err != nil {
			return fmt.Errorf("one-node prefill: %w", err)
		}
		r.one = c
	}
	if err := pinSelf("0"); err != nil {
		logf("flood1: pinning the driver: %v", err)
	}
	defer pinSelf("0-" + strconv.Itoa(max(1, numCPU()-1)))
	r.floodOn(ctx, round, r.one, r.one.nodes[0], r.one.nodes, "one-node")
	return nil
}

// pinSelf moves every thread of this process to the CPU list cpus.
func pinSelf(cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func numCPU() int { return runtime.NumCPU() }

// benchNodeFlags are serve flags every benchmark node gets: loopback is a
// trusted proxy, so the flood's X-Forwarded-For spreads its wrong
// passwords over many client addresses (see floodLoginOp).
func benchNodeFlags() []string { return []string{"--trusted-proxies", "127.0.0.1/32"} }
