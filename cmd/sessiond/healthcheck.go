package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const healthcheckLong = `Probes this node's HTTP API and exits 0 when it answers 200, 1 otherwise:
the container image's HEALTHCHECK, which has no shell or curl to run.

By default it asks GET /healthz (the process serves: liveness) at the
address the node listens on, read from the same environment serve reads
(SESSIOND_API_ADDR, SESSIOND_TLS_CERT, SESSIOND_TLS_CA); an unspecified
host (0.0.0.0) is probed on 127.0.0.1. --ready asks GET /readyz instead
(the node has a leader and serves consistent reads). It sends no
credential. Over HTTPS without SESSIOND_TLS_CA it does not verify the
certificate: it only asks whether this node answers.`

type healthcheckFlags struct {
	url     string
	ready   bool
	timeout time.Duration
}

func (h *healthcheckFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.url, "url", "", "API base `URL` to probe (default: from SESSIOND_API_ADDR and SESSIOND_TLS_CERT)")
	fs.BoolVar(&h.ready, "ready", false, "probe /readyz (readiness) instead of /healthz (liveness)")
	fs.DurationVar(&h.timeout, "timeout", 3*time.Second, "give up after this `duration`")
}

func (m *Main) runHealthcheck(ctx context.Context, raw []string) error {
	var h healthcheckFlags
	fs := newFlagSet("sessiond healthcheck", m.Stderr)
	h.register(fs)
	if err := fs.Parse(raw); err != nil {
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("healthcheck takes no arguments")
	}
	env := func(k string) string { v, _ := m.Env(k); return v }
	tlsOn := env(envName("tls-cert")) != ""
	base := h.url
	if base == "" {
		addr := env(envName("api-addr"))
		if addr == "" {
			addr = DefaultConfig().APIAddr
		}
		if base = defaultAPIURL(addr, tlsOn); base == "" {
			return usageErr("healthcheck: %s=%q is not host:port", envName("api-addr"), addr)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if strings.HasPrefix(base, "https:") {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		if ca := env(envName("tls-ca")); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		}
	}
	path := "/healthz"
	if h.ready {
		path = "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return usageErr("healthcheck: %v", err)
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s %s", path, res.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(m.Stdout, "%s ok\n", path)
	return nil
}
