package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/cluster/reqsign"
)

// Bounds of the request guard. The replay cache holds one entry per signed
// call for at most 2×reqsign.Window; 1<<19 entries (about 30 MB at worst)
// allow some 8,700 signed calls a second, well above what forwarding does
// (reads are batched, and writes are bounded by the leader's fsync).
const (
	replayCacheSize  = 1 << 19
	throttleBurst    = 10               // failures an address may make at once
	throttleRefill   = 6 * time.Second  // then one more each
	throttleMaxAddrs = 4096             // addresses remembered
	authLogInterval  = 10 * time.Second // one refusal line per interval after the burst
	authLogBurst     = 5
	memBodyLimit     = 1 << 20 // larger signed bodies are spooled to the data dir
	// oversizeDrain is how far past an in-memory limit the guard still
	// reads (hashing, not storing) to tell a member's oversized call (413,
	// not an authentication failure) from a stranger's. Past it the body
	// is refused unverified, as an authentication failure.
	oversizeDrain = 64 << 20
)

// reasonTooLarge is check's answer for a correctly signed body over the
// route's limit: a member's mistake, answered 413 and counted in
// sessiond_internal_refused_total, never throttled.
const reasonTooLarge = "too_large"

// errBodyTooLarge is readBody's error for a body over the limit that was
// hashed whole, so its signature can still be checked.
var errBodyTooLarge = errors.New("signed body over the limit")

// reqGuard verifies signed calls: the internal API, and the public
// cluster-key routes through KeyGate.
type reqGuard struct {
	key      []byte   // signing key derived from the cluster key; nil refuses all
	accepted [][]byte // keys of ClusterKeysAccepted: verify, never sign
	now      func() time.Time
	replay   *replayCache
	throttle *failThrottle
	metrics  *authMetrics
	log      *rateLog
	audit    *slog.Logger // one line per accepted break-glass call (Config.AuditLog)
	spoolDir string
	nodeID   string
	mutual   bool // mutual TLS: a signed call also needs a node certificate
}

func newReqGuard(n *Node) *reqGuard {
	g := &reqGuard{
		now:      time.Now,
		replay:   newReplayCache(replayCacheSize),
		throttle: newFailThrottle(throttleBurst, throttleRefill, throttleMaxAddrs),
		metrics:  n.auth,
		log:      newRateLog(n.authLogger().Named("internal"), authLogInterval, authLogBurst),
		spoolDir: n.cfg.DataDir,
		audit:    n.cfg.auditLog(),
		nodeID:   n.cfg.NodeID,
		mutual:   n.cfg.TLS != nil,
	}
	if n.cfg.ClusterKey != "" {
		g.key = reqsign.Key(n.cfg.ClusterKey)
		for _, k := range n.acceptedKeys() {
			g.accepted = append(g.accepted, reqsign.Key(string(k)))
		}
	}
	return g
}

// needsCert refuses, under mutual TLS, a signed call that did not come
// over a connection with a verified node certificate: the cluster key is
// for nodes, and a node has its certificate. It has written the 403.
func (g *reqGuard) needsCert(w http.ResponseWriter, r *http.Request) bool {
	if !g.mutual || (r.TLS != nil && len(r.TLS.VerifiedChains) > 0) {
		return false
	}
	g.metrics.reqFailures.WithLabelValues("no_node_cert").Inc()
	g.throttle.fail(remoteIP(r.RemoteAddr), g.now())
	g.log.warn("refused cluster-key call without a node certificate", "remote", r.RemoteAddr, "method", clip(r.Method), "path", clip(r.URL.Path))
	writeInternalError(w, fmt.Errorf("%w: a node certificate is required with the cluster key", ErrUnauthorized))
	return true
}

// serve runs next on r once it is let in: under mutual TLS a verified
// node certificate (needsCert), then a valid signature (admit), the same
// gate for /internal/ and for the cluster-key calls of /v1/cluster/*. A
// refusal has been answered; next gets r as admit returns it.
func (g *reqGuard) serve(w http.ResponseWriter, r *http.Request, limit int64, next func(*http.Request)) {
	if g.needsCert(w, r) {
		return
	}
	r, cleanup, ok := g.admit(w, r, limit)
	if !ok {
		return
	}
	defer cleanup()
	next(r)
}

// admit authenticates r before any handler sees it. On success it returns
// r with its body replaced by the exact bytes the signature covers and a
// cleanup to run when the handler is done. On failure it has written the
// answer (403, or 429 for a throttled address).
func (g *reqGuard) admit(w http.ResponseWriter, r *http.Request, limit int64) (*http.Request, func(), bool) {
	now := g.now()
	ip := remoteIP(r.RemoteAddr)
	if ok, wait := g.throttle.allow(ip, now); !ok {
		g.metrics.reqFailures.WithLabelValues("throttled").Inc()
		g.log.warn("throttled internal call", "remote", r.RemoteAddr, "path", clip(r.URL.Path))
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		writeThrottled(w)
		return nil, nil, false
	}
	body, cleanup, reason := g.check(r, limit, now)
	if reason == reasonTooLarge {
		// The sender holds the key: it is not an attacker, and
		// throttling it would cost it its lease. Say what is wrong.
		g.metrics.reqRefused.WithLabelValues(reason).Inc()
		g.log.warn("refused oversized internal call", "limit", limit, "remote", r.RemoteAddr, "path", clip(r.URL.Path))
		writeTooLarge(w, limit)
		return nil, nil, false
	}
	if reason != "" {
		g.metrics.reqFailures.WithLabelValues(reason).Inc()
		g.throttle.fail(ip, now)
		g.log.warn("refused internal call", "reason", reason, "remote", r.RemoteAddr, "method", clip(r.Method), "path", clip(r.URL.Path))
		writeInternalError(w, fmt.Errorf("%w: %s", ErrUnauthorized, reason))
		return nil, nil, false
	}
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength = body, -1
	return r2, cleanup, true
}

// check returns the verified body, or the reason for refusing.
func (g *reqGuard) check(r *http.Request, limit int64, now time.Time) (io.ReadCloser, func(), string) {
	if r.Header.Get(KeyHeader) != "" {
		return nil, nil, "raw_key" // an old client: the key itself must never travel
	}
	v := r.Header.Get(reqsign.Header)
	if v == "" {
		if r.Header.Get(reqsign.LegacyHeader) != "" {
			return nil, nil, "old_format" // a node or tool of the previous release: no target
		}
		return nil, nil, "missing"
	}
	if g.key == nil {
		return nil, nil, "no_key"
	}
	sig, err := reqsign.Parse(v)
	if err != nil {
		return nil, nil, "malformed"
	}
	if d := now.Sub(sig.Time); d > reqsign.Window || d < -reqsign.Window {
		return nil, nil, "stale"
	}
	if sig.Target != g.nodeID {
		// Addressed to another member: accepting it would let a call
		// captured on its way there be replayed here (finding N8).
		return nil, nil, "wrong_target"
	}
	if g.replay.contains(sig.Nonce, now) {
		return nil, nil, "replay"
	}
	body, sum, cleanup, err := g.readBody(r.Body, limit)
	tooLarge := errors.Is(err, errBodyTooLarge)
	if err != nil && !tooLarge {
		return nil, nil, "body"
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if !g.validSig(sig, r.Method, uri, sum) {
		if cleanup != nil {
			cleanup()
		}
		return nil, nil, "bad_signature"
	}
	if tooLarge {
		return nil, nil, reasonTooLarge
	}
	fresh, full := g.replay.add(sig.Nonce, sig.Time.Add(reqsign.Window), now)
	switch {
	case full:
		cleanup()
		return nil, nil, "replay_cache_full"
	case !fresh:
		cleanup()
		return nil, nil, "replay"
	}
	return body, cleanup, ""
}

// readBody reads at most limit bytes and hashes them. Small bodies stay in
// memory; a large one (a restore) goes to a 0600 file in the data dir, so
// that nothing acts on a byte before the whole body is verified.
func (g *reqGuard) readBody(rc io.Reader, limit int64) (io.ReadCloser, [sha256.Size]byte, func(), error) {
	var sum [sha256.Size]byte
	h := sha256.New()
	if rc == nil {
		rc = http.NoBody
	}
	head, err := io.ReadAll(io.LimitReader(rc, min(limit, memBodyLimit)+1))
	if err != nil {
		return nil, sum, nil, err
	}
	if int64(len(head)) <= min(limit, memBodyLimit) {
		h.Write(head)
		copy(sum[:], h.Sum(nil))
		return io.NopCloser(bytes.NewReader(head)), sum, func() {}, nil
	}
	if limit <= memBodyLimit {
		// Hash the rest without keeping it: a signature over the whole
		// body tells a member's oversized call from a stranger's.
		h.Write(head)
		n, err := io.Copy(h, io.LimitReader(rc, oversizeDrain+1))
		if err != nil || n > oversizeDrain {
			return nil, sum, nil, fmt.Errorf("body over %d bytes", limit)
		}
		copy(sum[:], h.Sum(nil))
		return nil, sum, nil, errBodyTooLarge
	}
	return g.spool(head, rc, limit, h)
}

func (g *reqGuard) spool(head []byte, rest io.Reader, limit int64, h hash.Hash) (io.ReadCloser, [sha256.Size]byte, func(), error) {
	var sum [sha256.Size]byte
	f, err := os.CreateTemp(g.spoolDir, "signed-body-*.tmp")
	if err != nil {
		return nil, sum, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	w := io.MultiWriter(f, h)
	n, err := io.Copy(w, io.MultiReader(bytes.NewReader(head), io.LimitReader(rest, limit+1-int64(len(head)))))
	if err == nil && n > limit {
		err = fmt.Errorf("body over %d bytes", limit)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, sum, nil, err
	}
	copy(sum[:], h.Sum(nil))
	return io.NopCloser(f), sum, cleanup, nil
}

// KeyGate wraps the public API handler so that operator tools and other
// nodes authenticate to the cluster-key routes (/v1/cluster/*) with a
// signature instead of the key. A verified request reaches the handler
// marked in its context (KeyVerified), a value nothing outside this
// process can set: it once was a capability token in KeyHeader, a header
// any code that copies or logs a request's headers could carry on. A
// request carrying anything in KeyHeader itself (the raw key of an old
// client, or a guess) is refused and counted. /internal/ is left to
// InternalHandler, which verifies on its own.
func (n *Node) KeyGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/internal/") {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get(KeyHeader) == "" && r.Header.Get(reqsign.Header) == "" && r.Header.Get(reqsign.LegacyHeader) == "" {
			next.ServeHTTP(w, r)
			return
		}
		n.guard.serve(w, r, MaxBackupSize, func(r2 *http.Request) {
			// The break-glass path: an operator's tool holding the cluster
			// key acts as root on /v1/cluster/*. Each use gets its own
			// audit line, once it is answered; the signature is never
			// logged. `sessiond status` (GET /v1/cluster) is a routine
			// read, not break-glass.
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r2.WithContext(context.WithValue(r2.Context(), keyVerifiedKey{}, true)))
			route := clip(r.Method + " " + r.URL.Path)
			result := "ok"
			if sw.status >= 400 {
				result = "http_" + strconv.Itoa(sw.status)
			}
			n.guard.audit.Info("audit", "event", "cluster_key_call", "break_glass", !routineKeyCall(r),
				"actor", "cluster_key", "target", route, "client_addr", r.RemoteAddr,
				"node", n.guard.nodeID, "result", result)
		})
	})
}

// keyVerifiedKey is the context key of KeyGate's mark.
type keyVerifiedKey struct{}

// KeyVerified reports whether the request whose context this is came
// through KeyGate with a valid cluster-key signature. Only KeyGate sets
// it; the cluster key itself is never accepted from the network, and an
// empty cluster key makes KeyGate refuse everything.
func KeyVerified(ctx context.Context) bool {
	v, _ := ctx.Value(keyVerifiedKey{}).(bool)
	return v
}

// sign adds the signature of an internal call to the node target; without
// a cluster key it adds nothing and the other side refuses the call.
func (n *Node) sign(req *http.Request, target string, body []byte) {
	if n.guard.key != nil {
		reqsign.SignSum(req, n.guard.key, target, sha256.Sum256(body), time.Now())
	}
}

// writeTooLarge answers a signed call whose body is over limit.
func writeTooLarge(w http.ResponseWriter, limit int64) {
	var body internalError
	body.Error.Code = codeOf(ErrConfig)
	body.Error.Message = fmt.Sprintf("%v: signed body over %d bytes", ErrConfig, limit)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	json.NewEncoder(w).Encode(body)
}

func writeThrottled(w http.ResponseWriter) {
	var body internalError
	body.Error.Code, body.Error.Message = "throttled", "too many failed attempts from this address"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	json.NewEncoder(w).Encode(body)
}

// clip bounds a peer-chosen string before it is logged.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}

// routineKeyCall reports a cluster-key call that only reads the cluster's
// health (sessiond status): audited, but not as break-glass.
func routineKeyCall(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Path == "/v1/cluster"
}

// statusWriter remembers the status a handler answered with, for the
// audit line written after it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines of a streamed backup).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// validSig checks a signature under the cluster key and, during a
// rotation, the accepted ones: every key is tried, whichever matches.
func (g *reqGuard) validSig(sig reqsign.Signature, method, uri string, sum [32]byte) bool {
	ok := sig.Valid(g.key, method, uri, sum)
	for _, k := range g.accepted {
		ok = sig.Valid(k, method, uri, sum) || ok
	}
	return ok
}
