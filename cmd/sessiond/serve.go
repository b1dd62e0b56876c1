package main

import (
	"github.com/coreos/go-systemd/v22/daemon"

	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sessiond/sessiond/api"
	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

// Server is one running sessiond node: the Raft node, the login service
// and the HTTP API in front of them.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	certs  *transport.CertReloader // nil without --tls-cert
	seal   *auth.Sealer            // seals the JWT keyring, MACs backups
	audit  *slog.Logger            // --audit-log, else the log itself
	stdout io.Writer               // where --audit-log - writes
	node   *cluster.Node
	api    *api.Server
	hs     *http.Server
	pprof  *http.Server // --pprof-addr; nil when off

	metricsLn net.Listener // --metrics-addr; nil when off (metricsaddr.go)
	metricsHS *http.Server

	build    buildInfo  // reported in logs, /metrics and status
	lock     *os.File   // data dir lock, held while the node runs
	serveErr chan error // the HTTP server stopped on its own
	stopWait context.CancelFunc
	close    sync.Once
	closeErr error
}

// NewServer returns a server for cfg; Open starts it.
func NewServer(cfg Config, log *slog.Logger) *Server {
	return &Server{cfg: cfg, log: log, serveErr: make(chan error, 1)}
}

// Open binds the API address, starts the Raft node (bootstrapping or
// recovering it), starts serving HTTP and, with --join, joins the cluster.
// On error everything started is stopped again.
func (s *Server) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// The data dir lock comes first: a second process on the same dir
	// must say so, not fail on a port in use or wait for raft.db.
	if s.lock, err = lockDataDir(s.cfg.DataDir); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := s.listen(); err != nil {
		return err
	}
	if err := s.listenMetrics(); err != nil {
		return err
	}
	if err := s.openAudit(); err != nil {
		return err
	}
	if s.cfg.PprofAddr != "" {
		if s.pprof, err = startPprof(s.cfg.PprofAddr, s.log); err != nil {
			return err
		}
	}
	if err := s.loadSeal(); err != nil {
		return err
	}
	if err := s.openNode(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := s.openAPI(); err != nil {
		return err
	}
	go s.serve()
	s.serveMetrics()
	s.log.Info("listening", "api", s.ln.Addr().String(), "api_url", s.cfg.APIURL,
		"raft", s.node.RaftAddr(), "node_id", s.cfg.NodeID, "data_dir", s.cfg.DataDir,
		"tls", s.certs != nil, "mutual_tls", s.mutualTLS())
	if err := s.join(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.stopWait = cancel
	go s.reportReady(wctx)
	return nil
}

// listen loads the certificates and binds the API address first, so that
// a port in use fails the start before Raft touches the data dir, and a
// ":0" port is known before the node advertises its URL.
func (s *Server) listen() (err error) {
	if s.cfg.TLSCert != "" {
		files := transport.TLSFiles{CertFile: s.cfg.TLSCert, KeyFile: s.cfg.TLSKey, CAFile: s.cfg.TLSCA}
		if s.certs, err = transport.NewCertReloader(files); err != nil {
			return err
		}
	}
	if s.ln, err = net.Listen("tcp", s.cfg.APIAddr); err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	if s.cfg.APIURL == "" {
		s.cfg.APIURL = defaultAPIURL(s.ln.Addr().String(), s.certs != nil)
		if err := checkPlainAPIURL(s.cfg.APIURL, s.cfg.AllowPlainAPIURL); err != nil {
			s.ln.Close()
			return err
		}
	}
	return nil
}

func (s *Server) openNode() (err error) {
	ccfg := s.cfg.clusterConfig()
	ccfg.LogOutput = &raftLogWriter{log: s.log.With("component", "raft")}
	ccfg.AuditLog = s.audit
	ccfg.Version = s.build.Version
	ccfg.FSM = fsm.New()
	ccfg.FSM.OnUnreadable = stopUnreadable(s.log, s.build) // exit 78, never a panic loop
	ccfg.BackupKeys = s.seal.BackupMACKeys()
	if now := faultNow(); now != nil {
		ccfg.Now = now // test only: --fault-clock-file
	}
	if s.mutualTLS() {
		// Raft over mutual TLS, and internal calls with this node's
		// certificate; the cluster builds its forwarding client from it.
		ccfg.TLS = s.certs
	}
	s.node, err = cluster.Open(ccfg)
	return err
}

// startProcs is the runtime's own GOMAXPROCS (CPUs, or the cgroup's
// limit), taken before openAPI raises it.
var startProcs = runtime.GOMAXPROCS(0)

// openAPI builds the login service and the HTTP API over the node, and
// the http.Server that serves it.
func (s *Server) openAPI() error {
	acfg := s.cfg.authConfig()
	if now := faultNow(); now != nil {
		acfg.Now = now // test only: --fault-clock-file
	}
	// Niced hashing threads only yield to validation if they cannot hold
	// every P; an operator's own GOMAXPROCS wins.
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(auth.MaxProcsFor(acfg.Pool, startProcs))
	}
	svc, err := auth.NewService(acfg, auth.Deps{Node: authNode{s.node}, Sealer: s.seal})
	if err != nil {
		return err
	}
	apicfg := s.cfg.apiConfig(s.log)
	apicfg.AuditLog = s.audit
	if s.api, err = api.New(apicfg, s.node, svc); err != nil {
		return err
	}
	// One process, one node: the process and Go runtime metrics go on the
	// node's registry here rather than in package api.
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := s.api.Registry().Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	if err := registerBuildInfo(s.api.Registry(), s.build); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	// The Raft library reports through go-metrics' process-global sink:
	// bridged once per process, here, where process-wide things live.
	if err := cluster.BridgeRaftMetrics(s.api.Registry()); err != nil {
		s.log.Warn("raft metrics bridge unavailable", "err", err)
	}
	s.node.SetOnLeader(s.api.OnLeader)
	s.hs = s.api.HTTPServer(s.ln.Addr().String())
	// Cluster-key callers (other nodes, `sessiond status`/`snapshot`) sign
	// their requests; the key itself is refused (cluster.KeyGate).
	s.hs.Handler = s.node.KeyGate(s.hs.Handler)
	if s.certs != nil {
		s.hs.TLSConfig = apiTLSConfig(s.certs)
	}
	if s.mutualTLS() {
		s.hs.Handler = requirePeerCert(s.hs.Handler)
	}
	return nil
}

// authNode is the cluster node as auth.Service needs it (auth.Node, one
// interface checked at compile time): the node itself, whose State is its
// FSM's current state. Here, not in api: api never reads the FSM.
type authNode struct{ *cluster.Node }

func (n authNode) State() *fsm.State { return n.FSM().State() }

var _ auth.Node = authNode{}

// mutualTLS: with a CA, nodes authenticate each other by certificate.
func (s *Server) mutualTLS() bool { return s.certs != nil && s.cfg.TLSCA != "" }

// ReloadCerts reads the certificate files again (SIGHUP). New connections
// get the new certificates; on error the old ones stay in use.
func (s *Server) ReloadCerts() {
	if s.certs == nil {
		s.log.Info("sighup: no certificates to reload")
		return
	}
	if err := s.certs.Reload(); err != nil {
		s.log.Error("certificate reload failed; keeping the old certificates", "err", err)
		return
	}
	s.log.Info("certificates reloaded", "cert", s.cfg.TLSCert)
}

// apiTLSConfig serves the API with the reloader's current certificate.
// Clients of the public API present no certificate; one that is presented
// (another node's) must verify against the cluster CA.
func apiTLSConfig(certs *transport.CertReloader) *tls.Config {
	base := certs.ServerConfig(true)
	return transport.TLSPolicy(&tls.Config{
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := base.GetConfigForClient(hello)
			if err == nil && c.ClientAuth == tls.RequireAndVerifyClientCert {
				c.ClientAuth = tls.VerifyClientCertIfGiven
			}
			return c, err
		},
	})
}

// requirePeerCert refuses internal calls (forwarded writes, read
// indexes, joins) that come without a certificate of the cluster CA: with
// mutual TLS, the cluster key alone is not enough.
func requirePeerCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/internal/") && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"code":"forbidden","message":"internal calls need a node certificate"}}`+"\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) serve() {
	var err error
	if s.hs.TLSConfig != nil {
		err = s.hs.ServeTLS(s.ln, "", "")
	} else {
		err = s.hs.Serve(s.ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		s.serveErr <- err
	}
}

// join adds this node to the cluster at --join, unless it is a member
// already (a restart): its Raft state then knows the cluster, and it must
// take part in elections rather than wait for a leader to answer.
func (s *Server) join(ctx context.Context) error {
	if s.cfg.Join == "" {
		return nil
	}
	if s.isMember() {
		s.log.Info("already a member, not joining again", "join", s.cfg.Join)
		return nil
	}
	s.log.Info("joining cluster", "via", s.cfg.Join, "non_voter", s.cfg.NonVoter)
	jctx, cancel := context.WithTimeout(ctx, s.cfg.JoinTimeout)
	defer cancel()
	if err := s.node.JoinVia(jctx, s.cfg.Join, s.cfg.NonVoter); err != nil {
		return fmt.Errorf("join via %s: %w", s.cfg.Join, err)
	}
	s.log.Info("joined cluster", "via", s.cfg.Join)
	return nil
}

func (s *Server) isMember() bool {
	f := s.node.Raft().GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == s.cfg.NodeID {
			return true
		}
	}
	return false
}

// reportReady logs once the node takes traffic, and says how to create
// the first admin when the cluster has no user at all.
func (s *Server) reportReady(ctx context.Context) {
	if err := s.node.WaitReady(ctx); err != nil {
		return
	}
	st := s.node.Status(false)
	s.log.Info("ready", "leader", st.Leader, "term", st.Term, "applied_index", st.AppliedIndex)
	notifySystemd(daemon.SdNotifyReady, s.log)
	if s.cfg.AdminPassword != "" || !s.cfg.Bootstrap {
		return // a joining node is not the one to seed the first admin
	}
	// The leader seeds the default db as its first act; once the db is
	// there, a cluster without users needs its first admin.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for range 50 {
		if state := s.node.FSM().State(); len(state.DBs()) > 0 {
			if users, _ := state.Counts(); users == 0 {
				s.log.Warn("the cluster has no users and " + envAdminPassword + " is not set: " +
					"restart the leader with " + envAdminPassword + "=<password> to create user admin; " +
					"then `sessiond user add` creates more")
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Err delivers an error if the HTTP server stops on its own.
func (s *Server) Err() <-chan error { return s.serveErr }

// Close stops accepting requests, lets in-flight ones finish (up to
// --shutdown-timeout), then shuts the node down, handing leadership to
// another voter if it leads. Safe to call more than once and from any
// goroutine; later calls return the first result.
func (s *Server) Close() error {
	s.close.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	notifySystemd(daemon.SdNotifyStopping, s.log)
	if s.stopWait != nil {
		s.stopWait()
	}
	if s.pprof != nil {
		s.pprof.Close()
	}
	s.closeMetrics()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if s.api != nil {
		s.api.Close() // webhook delivery stops first; a new leader resumes from the replicated cursor
	}
	if s.hs != nil {
		if err := s.hs.Shutdown(ctx); err != nil {
			s.log.Warn("http shutdown", "err", err)
			s.hs.Close()
		}
	} else if s.ln != nil {
		s.ln.Close()
	}
	if s.node != nil {
		if err := s.shutdownNode(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
	}
	s.log.Info("stopped", "node_id", s.cfg.NodeID)
	return errors.Join(errs...)
}

// shutdownGrace is how long the node may take to stop after the grace
// period for requests has run out.
const shutdownGrace = 10 * time.Second

// shutdownNode stops the node, but never waits for it forever: a Raft
// replication goroutine wedged on an unresponsive peer can keep
// raft.Shutdown from returning, and SIGTERM must still end the process.
// What is acknowledged is on disk already (raft.db is fsynced per write),
// so exiting then loses nothing.
func (s *Server) shutdownNode(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.node.Shutdown(ctx) }()
	wait := shutdownGrace
	if dl, ok := ctx.Deadline(); ok {
		wait += max(time.Until(dl), 0)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("node shutdown: %w", err)
		}
		return nil
	case <-t.C:
		s.log.Error("node shutdown did not finish; exiting anyway", "waited", wait)
		return errors.New("node shutdown timed out")
	}
}

// loadCAPool reads a PEM bundle into a pool.
func loadCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls ca: no certificate in %s", file)
	}
	return pool, nil
}

// openAudit opens the audit sink (--audit-log); the file stays open for
// the life of the process and is closed by the OS at exit.
func (s *Server) openAudit() error {
	out := s.stdout
	if out == nil {
		out = os.Stdout
	}
	l, _, err := openAuditLog(s.cfg.AuditLog, out)
	if err != nil {
		return err
	}
	// One structured logger for every audit line, the API's and the
	// cluster's (cluster-key calls) alike: the sink, or the main log with
	// its format, never the Raft library's text. Each line names its node
	// itself, so the logger adds none.
	s.audit = s.log
	if l != nil {
		s.audit = l
		s.log.Info("audit lines go to their own sink", "audit_log", s.cfg.AuditLog)
	}
	return nil
}
