package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Metrics hold counts (sessions, users, password-check results) that no
// anonymous caller of the API should learn (finding L7). They are served
// on a listener of their own, loopback by default, as etcd's
// --listen-metrics-urls; the API port serves them only to a scraper with
// the token of --metrics-token-file (Bearer, compared in constant time).
const (
	defaultMetricsAddr = "127.0.0.1:9090"
	envMetricsToken    = "SESSIOND_METRICS_TOKEN"
	minMetricsTokenLen = 16
)

func metricsFlags(fs *flag.FlagSet, c *Config, files *secretFiles) {
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "`host:port` serving GET /metrics without credentials (off: none); "+
		"keep it loopback or on a network only Prometheus reaches")
	fs.StringVar(&files.metricsToken, "metrics-token-file", "", "`file` holding a scrape token: GET /metrics on the API port then answers "+
		"a Bearer of it (or "+envMetricsToken+"); without one the API port serves no metrics")
}

// checkMetrics refuses a scrape token short enough to guess.
func (c Config) checkMetrics() error {
	if c.MetricsToken != "" && len(c.MetricsToken) < minMetricsTokenLen {
		return fmt.Errorf("the metrics scrape token must be at least %d characters (e.g. sessiond keygen)", minMetricsTokenLen)
	}
	if c.MetricsAddr != "" && c.MetricsAddr != "off" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
	}
	return nil
}

// listenMetrics binds the metrics address before the node starts, so
// that a taken port given on purpose fails the start. The default address
// taken (a second node on one host) only costs that node its listener: a
// warning, not a failed start.
func (s *Server) listenMetrics() error {
	addr := s.cfg.MetricsAddr
	if addr == "" || addr == "off" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if addr == defaultMetricsAddr {
			s.log.Warn("metrics listener not started: the default address is taken; give each node its own --metrics-addr",
				"metrics_addr", addr, "err", err)
			return nil
		}
		return fmt.Errorf("metrics listener: %w", err)
	}
	s.metricsLn = ln
	return nil
}

// serveMetrics serves the registry on the metrics listener, once the API
// (and so the registry) exists.
func (s *Server) serveMetrics() {
	if s.metricsLn == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.api.MetricsHandler())
	s.metricsHS = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func(hs *http.Server, ln net.Listener, log *slog.Logger) {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "err", err)
		}
	}(s.metricsHS, s.metricsLn, s.log)
	s.log.Info("metrics listening", "metrics", s.metricsLn.Addr().String())
}

// closeMetrics stops the metrics listener.
func (s *Server) closeMetrics() {
	switch {
	case s.metricsHS != nil:
		s.metricsHS.Close()
	case s.metricsLn != nil:
		s.metricsLn.Close()
	}
}
