package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/sessiond/sessiond/cluster/transport"
)

// pprofFlag declares --pprof-addr: Go's profiler on a listener of its
// own, so that an operator (or scripts/bench) can take a CPU profile of a
// node under real load. It is off by default and refuses anything but a
// loopback address: profiles carry memory contents and the endpoints have
// no authentication, so they must not be reachable from the network
// (etcd's --enable-pprof puts them on the client port; we do not).
func pprofFlag(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "loopback `host:port` serving Go's /debug/pprof/ (off when empty; never on the API port)")
}

// checkPprofAddr refuses a profiler address other machines could reach.
func checkPprofAddr(addr string) error {
	if addr != "" && !transport.IsLoopback(addr) {
		return fmt.Errorf("--pprof-addr %s is not loopback: the profiler has no authentication", addr)
	}
	return nil
}

// startPprof serves the profiler on addr until the returned server is
// closed; it logs the bound address (a ":0" port is chosen here).
func startPprof(addr string, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof server", "err", err)
		}
	}()
	log.Info("pprof listening", "pprof", ln.Addr().String())
	return hs, nil
}
