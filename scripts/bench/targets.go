package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// target is what the Go driver's workloads need of a system under test.
// Implementations are safe for concurrent use; worker numbers pick the
// node or connection a worker talks to.
type target interface {
	name() string
	validate(ctx context.Context, worker int, tok string) error
	login(ctx context.Context, worker int, login, password string) (string, error)
	logout(ctx context.Context, worker int, tok string) error
	logoutAll(ctx context.Context, worker int, tok string) error
}

// httpTarget speaks the native API: sessiond, or the baseline server,
// which implements the same subset. Worker i talks to bases[i%len].
type httpTarget struct {
	label  string
	bases  []string
	query  string // e.g. "?consistency=consistent"
	client *http.Client
}

func newHTTPTarget(label string, bases []string, query string, conns int) *httpTarget {
	tr := &http.Transport{
		MaxIdleConns: conns + 16, MaxIdleConnsPerHost: conns + 16, MaxConnsPerHost: 0,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true,
	}
	return &httpTarget{label: label, bases: bases, query: query, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (t *httpTarget) name() string { return t.label }

func (t *httpTarget) base(worker int) string { return t.bases[worker%len(t.bases)] }

// do sends one request and drains the answer; want is the expected status.
func (t *httpTarget) do(ctx context.Context, method, url, tok string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %d: %s", method, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func (t *httpTarget) validate(ctx context.Context, w int, tok string) error {
	return t.do(ctx, "GET", t.base(w)+"/v1/session"+t.query, tok, nil, http.StatusOK, nil)
}

func (t *httpTarget) login(ctx context.Context, w int, login, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"login": login, "password": password})
	var out struct {
		Token string `json:"token"`
	}
	err := t.do(ctx, "POST", t.base(w)+"/v1/login", "", body, http.StatusCreated, &out)
	return out.Token, err
}

func (t *httpTarget) logout(ctx context.Context, w int, tok string) error {
	return t.do(ctx, "POST", t.base(w)+"/v1/logout", tok, nil, http.StatusNoContent, nil)
}

func (t *httpTarget) logoutAll(ctx context.Context, w int, tok string) error {
	return t.do(ctx, "POST", t.base(w)+"/v1/logoutall", tok, nil, http.StatusNoContent, nil)
}

// Workloads. Each returns the newOp for drive. Prefilled pools are shared
// by all workers of a workload (and by later runs of it, so a c1 run and a
// c64 run never reuse a token).

// validateOp validates prefilled tokens, each worker walking its own
// stride through the pool.
func validateOp(t target, nTokens int) func(int) opFn {
	return func(i int) opFn {
		k := i * 7919
		return func(ctx context.Context) (string, error) {
			k++
			return "validate", t.validate(ctx, i, tokenFor(kindValidate, k%nTokens))
		}
	}
}

// loginOp logs users of kind in, round robin; tokens are dropped (the
// sessions stay, as abandoned sessions do).
func loginOp(t target, kind byte, users int, password string) func(int) opFn {
	return func(i int) opFn {
		k := i * 31
		return func(ctx context.Context) (string, error) {
			k++
			_, err := t.login(ctx, i, userLogin(kind, k%users), password)
			return "login", err
		}
	}
}

// logoutOp logs out tokens of the prefilled logout pool, each once.
func logoutOp(t target, p *pool) func(int) opFn {
	return func(i int) opFn {
		return func(ctx context.Context) (string, error) {
			k, err := p.take()
			if err != nil {
				return "logout", err
			}
			return "logout", t.logout(ctx, i, tokenFor(kindLogout, k))
		}
	}
}

// logoutAllOp ends all sessions of one prefilled logoutall user per call.
func logoutAllOp(t target, p *pool) func(int) opFn {
	return func(i int) opFn {
		return func(ctx context.Context) (string, error) {
			k, err := p.take()
			if err != nil {
				return "logoutall", err
			}
			return "logoutall", t.logoutAll(ctx, i, tokenFor(kindLogoutAll, k))
		}
	}
}

// mixedOp is 90% validate, 8% login, 2% logout of a token this worker
// logged in (or a validate when it has none yet), as in perf-anchors.
func mixedOp(t target, nTokens, users int) func(int) opFn {
	return func(i int) opFn {
		k := i * 7919
		var mine []string
		return func(ctx context.Context) (string, error) {
			k++
			switch r := k % 50; {
			case r < 4: // 8%
				tok, err := t.login(ctx, i, userLogin(kindMinUser, k%users), minPassword)
				if err == nil {
					mine = append(mine, tok)
				}
				return "login", err
			case r == 4 && len(mine) > 0: // 2%
				tok := mine[len(mine)-1]
				mine = mine[:len(mine)-1]
				return "logout", t.logout(ctx, i, tok)
			}
			return "validate", t.validate(ctx, i, tokenFor(kindValidate, k%nTokens))
		}
	}
}
