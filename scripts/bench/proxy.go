package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/proctest"
)

// phaseProxy is forward auth as deployed: nginx with docs/deploy/nginx.conf
// (auth_request to /v1/authz on the three nodes, then the app) against the
// same nginx proxying to the same app without auth, both through wrk with
// the same tokens. The app is the baseline's /ping. Skipped without nginx
// or without the baseline. nginx is started on first use and kept.
func (r *runner) phaseProxy(ctx context.Context, round int) error {
	if r.baseURL == "" {
		return nil
	}
	if r.nginxAuth == "" {
		bin, err := exec.LookPath("nginx")
		if err != nil {
			logf("proxy: nginx not installed, skipped")
			return nil
		}
		if err := r.startNginx(ctx, bin); err != nil {
			return fmt.Errorf("nginx: %w", err)
		}
	}
	for _, p := range []struct{ wl, base string }{{"nginx-bare", r.nginxBare}, {"nginx-authz", r.nginxAuth}} {
		res, err := r.cfg.runWrk(ctx, wrkRun{url: p.base, path: "/ping", tokens: r.tokenFile, conc: 64, d: r.cfg.d})
		if err != nil {
			return err
		}
		r.record(res, "nginx", p.wl, "", round)
	}
	return nil
}

// startNginx writes the deployed configuration with this run's addresses,
// plus a second server that proxies to the app without auth_request.
func (r *runner) startNginx(ctx context.Context, bin string) error {
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	conf, err := os.ReadFile(filepath.Join(repo, "docs", "deploy", "nginx.conf"))
	if err != nil {
		return err
	}
	dir := filepath.Join(r.cfg.root, "nginx")
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return err
	}
	pa, err := proctest.Port()
	if err != nil {
		return err
	}
	pb, err := proctest.Port()
	if err != nil {
		return err
	}
	authAddr, bareAddr := "127.0.0.1:"+strconv.Itoa(pa), "127.0.0.1:"+strconv.Itoa(pb)
	app, _ := url.Parse(r.baseURL)
	n := r.sd.nodes
	bare := "    server {\n        listen " + bareAddr + ";\n        location / {\n            proxy_pass http://app;\n" +
		"            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n        }\n    }\n"
	text := strings.NewReplacer("10.0.0.11:8080", n[0].apiAddr, "10.0.0.12:8080", n[1].apiAddr, "10.0.0.13:8080", n[2].apiAddr,
		"127.0.0.1:3000", app.Host, "listen 80;", "listen "+authAddr+";",
		"http {\n", "http {\n    access_log off;\n    client_body_temp_path tmp/body;\n    proxy_temp_path tmp/proxy;\n"+
			"    fastcgi_temp_path tmp/fastcgi;\n    uwsgi_temp_path tmp/uwsgi;\n    scgi_temp_path tmp/scgi;\n"+bare,
		// The app upstream keeps connections too, in both servers alike.
		"        server "+"127.0.0.1:3000;\n", "        server "+app.Host+";\n        keepalive 32;\n",
	).Replace(string(conf))
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return err
	}
	global := "daemon off; pid nginx.pid;"
	if os.Geteuid() == 0 {
		global += " user root;" // workers must reach the scratch prefix
	}
	p, err := r.procs.start("nginx", nil, bin, "-p", dir, "-c", path, "-e", "stderr", "-g", global)
	if err != nil {
		return err
	}
	r.nginxAuth, r.nginxBare = "http://"+authAddr, "http://"+bareAddr
	return waitFor(ctx, 30*time.Second, "nginx", p, func() bool { return httpOK(r.nginxBare + "/ping") })
}

// repoRoot is the sessiond checkout this driver was built from
// (scripts/bench.sh runs it from the repository's root).
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "docs", "deploy", "nginx.conf")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("docs/deploy/nginx.conf not found above %s", wd)
}
