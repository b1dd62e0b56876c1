package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
	"github.com/sessiond/sessiond/internal/webhook"
)

// Node is what the API needs of the cluster node itself: the cluster
// operations it serves over HTTP. Everything about users, sessions, keys
// and settings goes through auth.Service, the one door to the replicated
// state; *cluster.Node has these.
type Node interface {
	// ID is this node's ID, stamped on every answer and audit line.
	ID() string
	// AppliedIndex is the last log index applied here (X-Sessiond-Index).
	AppliedIndex() uint64
	// Status describes the cluster as this node sees it (withHash adds
	// the state hash, which costs a pass over the state).
	Status(withHash bool) cluster.Status
	// Ready is what /readyz answers: a leader known, caught up, not
	// shutting down.
	Ready() bool
	// Join, Remove and SetVoter change the membership through the leader.
	Join(ctx context.Context, req cluster.JoinRequest) error
	Remove(ctx context.Context, id string) error
	SetVoter(ctx context.Context, id string, voter bool) error
	// Backup streams a consistent snapshot; Restore replaces the whole
	// state with a verified one.
	Backup(ctx context.Context, w io.Writer) (int64, error)
	Restore(ctx context.Context, r io.Reader) error
	// CheckBackup verifies a backup as Restore would and returns the
	// state it holds, changing nothing.
	CheckBackup(r io.Reader) (*fsm.State, error)
	// InternalHandler serves the node-to-node /internal/ routes.
	InternalHandler() http.Handler
	// Collectors are the node's Prometheus collectors.
	Collectors() []prometheus.Collector
	// IsLeader and FSM are what the webhook dispatcher and the event
	// stream read: whether to deliver, and when events were appended
	// (fsm.FSM.EventsChanged).
	IsLeader() bool
	FSM() *fsm.FSM
}

var _ Node = (*cluster.Node)(nil)

// Config tunes the HTTP layer. Only cmd/sessiond maps flags onto it.
type Config struct {
	// BaseURL is the public base URL (for avatar links); empty = derived
	// from each request's Host.
	BaseURL string
	// MaxBody bounds request bodies on every endpoint (413 beyond).
	MaxBody int64
	// DefaultLevel is the consistency of validations that ask for none.
	DefaultLevel cluster.Level
	// TLS marks cookies Secure (so does a trusted proxy's
	// X-Forwarded-Proto: https; cookiesecure.go).
	TLS bool
	// TrustedProxies are the proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed (--trusted-proxies); none by default,
	// so no client can choose the address it is throttled by.
	TrustedProxies []netip.Prefix
	// AllowWeakerConsistency lets a request ask for a weaker level than
	// DefaultLevel (?consistency=stale); off, such a request is answered at
	// DefaultLevel: how fresh a revocation must be is the operator's
	// choice, not the end client's.
	AllowWeakerConsistency bool
	// AuthzLoginURL is where forward auth (/v1/authz) sends a browser
	// without a valid session (--authz-login-url); empty = a plain 401.
	AuthzLoginURL string
	// AuthzRedirectHosts are the hosts the original URL may name for the
	// login page to send the user back to (--authz-redirect-hosts);
	// any other is dropped from the redirect, so it is no open redirect.
	AuthzRedirectHosts []string
	// AuthzRules are forward auth's per-path rules (--authz-rules FILE,
	// LoadAuthzRules); none = any valid session passes.
	AuthzRules []AuthzRule
	// StepUpAge is how recent a session's authentication must be to change
	// the password, a second factor or app passwords (--step-up-age;
	// 0 = DefaultStepUpAge).
	StepUpAge time.Duration
	// JWTCORSOrigins are the origins (scheme://host[:port]) whose pages
	// may call the JWT dialect from a browser (--jwt-cors-origins): they
	// get Access-Control-Allow-Origin and pass the cross-origin check
	// (crossorigin.go). "*" is the seed's any-origin behaviour; none (the
	// default) sends no CORS headers.
	JWTCORSOrigins []string
	// Seed values applied by the leader when the cluster is new.
	DefaultDB     string
	AdminPassword string // SESSIOND_ADMIN_PASSWORD; never logged
	JWTSecret     []byte // SESSIOND_JWT_KEY / ODOO_JWT_KEY; never logged
	Logger        *slog.Logger
	// AuditLog receives the audit lines (logins, logouts, admin changes,
	// break-glass); nil = Logger. cmd points it at --audit-log.
	AuditLog *slog.Logger
	Registry *prometheus.Registry // per node; nil = a new one
	// Portal is the login portal (api/portal.go); a zero Prefix serves
	// none.
	Portal PortalConfig
	// MetricsToken, when set, lets a scraper read GET /metrics on the API
	// port with "Authorization: Bearer <token>". Unset, the API port
	// serves no metrics at all: they hold counts (sessions, users,
	// password-check results) no anonymous caller should learn (finding
	// L7). MetricsHandler serves them on their own listener.
	MetricsToken string

	// Events and webhooks (events.go, webhooks.go): delivery tuning and
	// the iss of back-channel logout tokens ("" = BaseURL, else
	// "sessiond").
	Webhooks     webhook.Config
	EventsIssuer string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxBody:      16 << 10,
		DefaultLevel: cluster.Default,
		DefaultDB:    "sessiond",
		Portal:       PortalConfig{Prefix: DefaultPortalPrefix},
	}
}

// Server is the HTTP API of one node.
type Server struct {
	cfg     Config
	node    Node
	svc     *auth.Service
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	reg     *prometheus.Registry
	table   []string // every pattern handle registered, for the OpenAPI coverage test
	// nodeHdr and index are the stamp respWriter puts on every answer,
	// made once (the node's ID) or once per applied index, not per
	// response: both sit on the validation path.
	nodeHdr []string
	index   atomic.Pointer[indexHdr]
	// jwtDown is whether the Odoo JWT dialect was last seen unable to
	// sign (dialecthealth.go): its changes are logged once each.
	jwtDown atomic.Bool
	// portal is the login portal's parsed pages; portalSteps the steps
	// between password and session (portal.go).
	portal      *portalPages
	portalSteps []portalStep
	pagePattern map[string]bool // the portal's routes
	// cop and copJWT refuse cross-site browser requests (crossorigin.go).
	cop, copJWT *http.CrossOriginProtection
	// stopEvents ends the webhook dispatcher (Close).
	stopEvents context.CancelFunc
	// passkeyClones counts refused sign counts; passkeyBegins is the
	// per-address budget of passwordless begins (passkeylogin.go).
	passkeyClones prometheus.Counter
	passkeyBegins *auth.AddrLimiter
}

// indexHdr is an X-Sessiond-Index value and the index it spells.
type indexHdr struct {
	idx uint64
	v   []string
}

// indexHeader is the header value of the applied index, remade only when
// the index moved (validations apply nothing, so most reuse it). The
// slice is full, so a header Add elsewhere reallocates instead of writing
// into the shared array.
func (s *Server) indexHeader() []string {
	idx := s.node.AppliedIndex()
	if h := s.index.Load(); h != nil && h.idx == idx {
		return h.v
	}
	h := &indexHdr{idx: idx, v: []string{strconv.FormatUint(idx, 10)}}
	s.index.Store(h)
	return h.v
}

// New builds the API over a node and a login service.
func New(cfg Config, node Node, svc *auth.Service) (*Server, error) {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultConfig().MaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AuditLog == nil {
		cfg.AuditLog = cfg.Logger
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, node: node, svc: svc, log: cfg.Logger, mux: http.NewServeMux(), reg: cfg.Registry,
		nodeHdr: []string{node.ID()}}
	m, err := newMetrics(cfg.Registry, s)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if s.cop, s.copJWT, err = newCrossOrigin(cfg); err != nil {
		return nil, err
	}
	if svc != nil {
		svc.SetSharedAddr(s.proxyOwnAddr) // clientaddr.go
	}
	if err := registerAll(cfg.Registry, node.Collectors()); err != nil {
		return nil, err
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	s.startEvents()
	return s, nil
}

// Registry is the node's metrics registry, for collectors added by others
// (cmd adds the process-wide Raft bridge).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// handle registers a route; the pattern doubles as the metrics label.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.instrument(pattern, h))
	s.table = append(s.table, pattern)
}

func (s *Server) routes() error {
	s.nativeRoutes()
	s.adminRoutes()
	s.clusterVersionRoutes()
	s.dialectRoutes()
	// Events and webhooks (issue 27).
	s.eventRoutes()
	s.webhookRoutes()
	s.mux.Handle("/internal/", s.node.InternalHandler())
	s.handle("GET /metrics", s.metricsOnAPIPort)
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": s.node.ID()})
	})
	s.handle("GET /readyz", s.readyz)
	s.handle("/v1/authz", s.authz) // forward auth: any method (api/authz.go)
	s.handle("GET /v1/openapi.json", s.openapi)
	// Passkeys (issue 26; passkeys.go, passkeylogin.go).
	if err := s.passkeyRoutes(); err != nil {
		return err
	}
	return s.portalRoutes() // the login portal (api/portal.go)
}

// readyz is what a load balancer polls: 200 only when the node knows a
// leader, has caught up (cluster.Node.Ready: a read lease, or a read index
// applied and the leader heard from; an unused lease lapses) and is not
// shutting down.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.node.Ready() {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "node": s.node.ID()})
		return
	}
	// A dialect that cannot serve degrades the node without taking it out
	// of a load balancer: the native API and the other dialects still do.
	if problems := s.dialectProblems(); len(problems) > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"status": "degraded", "node": s.node.ID(), "degraded": problems})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "node": s.node.ID()})
}

// Handler is the whole API with its middleware.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &respWriter{ResponseWriter: w, s: s}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", p)
				if !rw.wrote {
					writeNativeError(rw, errors.New("internal error"))
				}
			}
		}()
		if r.Body != http.NoBody && r.URL.Path != "/v1/cluster/restore" && !strings.HasPrefix(r.URL.Path, "/internal/") {
			// The restore upload and internal calls carry their own limits;
			// a request without a body (every validation) needs none.
			r.Body = http.MaxBytesReader(rw, r.Body, s.cfg.MaxBody)
		}
		if urlSecret(r) {
			writeErrorFor(rw, r, errURLSecret)
			return
		}
		if err := s.CrossOriginCheck(r); err != nil {
			s.writeCrossOriginRefusal(rw, r, err) // crossorigin.go; the portal's pages answer in HTML (portal.go)
			return
		}
		h, pattern := s.mux.Handler(r)
		if pattern == "" {
			s.notRouted(rw, r, h)
			return
		}
		s.mux.ServeHTTP(rw, r)
	})
}

// notRouted turns the mux's plain-text 404 and 405 into JSON errors while
// keeping its Allow header.
func (s *Server) notRouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	s.metrics.httpRequests.WithLabelValues("unrouted", methodLabel(r.Method), statusLabel(probe.code)).Inc()
	if probe.code == http.StatusMethodNotAllowed {
		writeNativeError(w, ErrMethod)
		return
	}
	writeNativeError(w, ErrNotFound)
}

type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(code int)        { p.code = code }

// respWriter stamps every response with the node and its applied index,
// so a client can tell how fresh an answer is.
type respWriter struct {
	http.ResponseWriter
	s      *Server
	wrote  bool
	status int
}

func (w *respWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote, w.status = true, code
		h := w.Header()
		h["X-Sessiond-Node"] = w.s.nodeHdr[:1:1]
		h["X-Sessiond-Index"] = w.s.indexHeader()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the restore
// route sets its own deadlines).
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *respWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// HTTPServer returns an http.Server for the API with the timeouts the
// bad-input rules need: slow headers and bodies are cut off, big headers
// get 431.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}
