package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// metrics are the API's collectors, registered on the node's own registry
// (never the global one) so several nodes fit in one test process. Labels
// are route templates and small enums: never a user, token or address.
type metrics struct {
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	validations  *prometheus.CounterVec
	logins       *prometheus.CounterVec
	logouts      *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, s *Server) (*metrics, error) {
	m := &metrics{
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_http_requests_total", Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessiond_http_request_duration_seconds", Help: "HTTP request latency by route template.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_validations_total", Help: "Token validations by dialect, consistency level and result.",
		}, []string{"dialect", "level", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_logins_total", Help: "Logins by dialect and result.",
		}, []string{"dialect", "result"}),
		logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_logouts_total", Help: "Logouts and logoutalls by dialect, kind and result.",
		}, []string{"dialect", "kind", "result"}),
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sessiond_sessions", Help: "Sessions in the replicated state."},
			func() float64 { _, n := s.svc.Counts(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sessiond_users", Help: "Users in the replicated state."},
			func() float64 { n, _ := s.svc.Counts(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sessiond_hash_pool_in_use", Help: "Password hashes running now."},
			func() float64 { return float64(s.svc.Pool().InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sessiond_hash_pool_waiting", Help: "Password hashes waiting for a worker."},
			func() float64 { return float64(s.svc.Pool().Waiting()) }),
		passwordChecks(s.svc),
		secondFactorChecks(s.svc),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sessiond_ready", Help: "1 when the node is ready for traffic (/readyz)."},
			func() float64 { return b2f(s.node.Ready()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sessiond_fsm_applied_index", Help: "Last log index applied to the state machine."},
			func() float64 { return float64(s.node.AppliedIndex()) }),
	}
	m.initSeries()
	if err := registerAll(reg, append([]prometheus.Collector{m.httpRequests, m.httpDuration, m.validations, m.logins, m.logouts}, gauges...)); err != nil {
		return nil, err
	}
	return m, nil
}

// Every label value a family can take, so that each series exists at
// zero from the first scrape: absent() alerts do not fire on a fresh
// node, and dashboards draw 0 rather than "no data".
var (
	metricDialects    = []string{dialectNative, dialectOdoo, dialectJWT, dialectKnox}
	loginDialects     = append(append([]string(nil), metricDialects...), portalDialect)
	metricLevels      = []cluster.Level{cluster.Default, cluster.Consistent, cluster.Stale}
	validationResults = []string{resHit, resMiss, resExpired, resMalformed, resInactive, resError}
	loginResults      = []string{"ok", "bad_credentials", "throttled", "error"}
	logoutResults     = []string{"ok", "error"}
)

// initSeries creates every labelled series of the API's families at zero
// (http routes are initialised as they are registered: route.go's handle).
func (m *metrics) initSeries() {
	for _, d := range metricDialects {
		for _, l := range metricLevels {
			for _, r := range validationResults {
				m.validations.WithLabelValues(d, l.String(), r)
			}
		}
	}
	for _, d := range loginDialects {
		for _, r := range loginResults {
			m.logins.WithLabelValues(d, r)
		}
		for _, k := range []string{"logout", "logoutall"} {
			for _, r := range logoutResults {
				m.logouts.WithLabelValues(d, k, r)
			}
		}
	}
}

func registerAll(reg *prometheus.Registry, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *metrics) validation(dialect string, level cluster.Level, result string) {
	m.validations.WithLabelValues(dialect, level.String(), result).Inc()
}

func (m *metrics) login(dialect string, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrBadCredentials), isSecondFactorRefusal(err): // a code asked for or refused is the user's, not the service's
		result = "bad_credentials"
	case errors.Is(err, auth.ErrThrottled):
		result = "throttled"
	default:
		result = "error"
	}
	m.logins.WithLabelValues(dialect, result).Inc()
}

func (m *metrics) logout(dialect, kind string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.logouts.WithLabelValues(dialect, kind, result).Inc()
}

// instrument counts and times a route under its template.
func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	counter := s.metrics
	// The route's series exist from the start (at zero): its latency, and
	// its requests answered 200 under the pattern's method.
	counter.httpDuration.WithLabelValues(route)
	if method, _, ok := strings.Cut(route, " "); ok {
		counter.httpRequests.WithLabelValues(route, methodLabel(method), "200")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw, ok := w.(*respWriter)
		if !ok {
			rw = &respWriter{ResponseWriter: w, s: s}
		}
		h(rw, r)
		code := rw.status
		if code == 0 {
			code = http.StatusOK
		}
		counter.httpRequests.WithLabelValues(route, methodLabel(r.Method), statusLabel(code)).Inc()
		counter.httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// methodLabel is the method as a metric label: the standard methods by
// name, anything a client made up as "other", so no client can add series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusLabel is a response status as a metric label; the handlers only
// write codes they chose, but the label set stays bounded regardless.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return statusLabels[code-100]
}

// statusLabels are the labels of 100 to 599, made once: strconv.Itoa
// allocates for numbers of three digits, and every request is counted.
var statusLabels = func() (t [500]string) {
	for i := range t {
		t[i] = strconv.Itoa(100 + i)
	}
	return t
}()

// passwordChecks exports auth's login outcomes as one counter family: a
// rising budget_spent is an account under a guessing attack being
// contained; a rising throttled, one address being slowed.
func passwordChecks(svc *auth.Service) prometheus.Collector {
	return &checksCollector{svc: svc, desc: prometheus.NewDesc("sessiond_password_checks_total",
		"Login attempts by outcome: ok, wrong, unknown (no such login), budget_spent (refused unchecked: the account's guess budget is spent and the client is not known to it), throttled (per-address limit, before hashing).",
		[]string{"result"}, nil)}
}

type checksCollector struct {
	svc  *auth.Service
	desc *prometheus.Desc
}

func (c *checksCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *checksCollector) Collect(ch chan<- prometheus.Metric) {
	for result, n := range c.svc.PasswordChecks() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), result)
	}
}

// MetricsHandler serves the node's registry with no credential: for the
// metrics listener (--metrics-addr, loopback by default), whose address
// is the access control, as etcd's --listen-metrics-urls.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// metricsOnAPIPort serves GET /metrics on the public API port only to a
// scraper presenting the configured token (compared in constant time);
// anyone else learns nothing, not even whether a token is configured
// beyond the 401 that names the scheme.
func (s *Server) metricsOnAPIPort(w http.ResponseWriter, r *http.Request) {
	if s.cfg.MetricsToken == "" {
		writeNativeError(w, fmt.Errorf("%w: metrics are served on the metrics address (--metrics-addr), "+
			"or here with a scrape token (--metrics-token-file)", ErrNotFound))
		return
	}
	tok, err := bearer(r)
	if err != nil || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.MetricsToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sessiond metrics"`)
		writeNativeError(w, ErrNoCredentials)
		return
	}
	s.MetricsHandler().ServeHTTP(w, r)
}
