package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/cluster/reqsign"
)

// Defaults of a Client; each has an Option.
const (
	DefaultTimeout        = 30 * time.Second // whole call, when ctx has no deadline
	DefaultAttemptTimeout = 10 * time.Second // one request to one node
	DefaultMaxRetryAfter  = 2 * time.Second  // cap on a server's Retry-After
	maxResponseBody       = 16 << 20
	maxBackoff            = time.Second
	firstBackoff          = 50 * time.Millisecond
)

// ClusterKeyHeader used to carry the cluster key. Servers now refuse it:
// WithClusterKey signs requests instead (sign.go).
const ClusterKeyHeader = "X-Sessiond-Cluster-Key"

// Client calls the native API of a sessiond cluster, failing over across
// its nodes. Safe for concurrent use.
type Client struct {
	addrs          []string
	hc             *http.Client
	timeout        time.Duration
	attemptTimeout time.Duration
	maxRetryAfter  time.Duration
	clusterKey     string
	signerOnce     sync.Once
	sign           *reqsign.Signer // signs with clusterKey (sign.go)
	userAgent      string
	next           atomic.Uint32 // index of the node that answered last
	// failFastRefused: give up when every node refused in one pass.
	failFastRefused bool
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (for TLS settings, say). Its own
// Timeout, if any, applies per attempt on top of WithAttemptTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds a whole call, failover included, when the caller's
// context has no deadline.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithAttemptTimeout bounds one request to one node, so that a hung node
// costs at most this long before the next one is tried.
func WithAttemptTimeout(d time.Duration) Option { return func(c *Client) { c.attemptTimeout = d } }

// WithMaxRetryAfter caps how long a server's Retry-After makes the client
// wait before another round.
func WithMaxRetryAfter(d time.Duration) Option { return func(c *Client) { c.maxRetryAfter = d } }

// WithClusterKey signs ClusterStatus calls with the cluster key (without
// sending it), which then need no admin token.
func WithClusterKey(key string) Option { return func(c *Client) { c.clusterKey = key } }

// WithUserAgent sets the User-Agent header (shown in session lists).
// WithFailFastRefused makes a call give up at once when every node
// refused the connection in one pass (nothing listens at any address),
// instead of retrying until the timeout: what a command-line tool wants,
// where a wrong --addr is likelier than a node restarting.
func WithFailFastRefused() Option { return func(c *Client) { c.failFastRefused = true } }

// ErrRefused is the error of a call given up because every address
// refused the connection (WithFailFastRefused); it also unwraps to
// ErrUnavailable.
var ErrRefused = errors.New("client: connection refused at every address (is the node running, and is the address right?)")

func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client over the base URLs of some nodes, such as
// "http://127.0.0.1:8080". Trailing slashes are ignored.
func New(addrs []string, opts ...Option) *Client {
	c := &Client{
		timeout: DefaultTimeout, attemptTimeout: DefaultAttemptTimeout,
		maxRetryAfter: DefaultMaxRetryAfter, userAgent: "sessiond-client",
	}
	for _, a := range addrs {
		if a = strings.TrimRight(strings.TrimSpace(a), "/"); a != "" {
			c.addrs = append(c.addrs, a)
		}
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
		}}
	}
	return c
}

// Addrs returns the base URLs the client uses.
func (c *Client) Addrs() []string { return append([]string(nil), c.addrs...) }

// request is one API call.
type request struct {
	method, path string
	query        url.Values
	body         any
	token        string // sent as a Bearer token; never logged nor put in errors
	clusterKey   bool   // send the cluster key, if the client has one
	// repeatable: sending the request twice does no harm, so it may be
	// retried after an ambiguous failure (a connection lost mid-request,
	// a 503 timeout). Only user creation is not.
	repeatable bool
	// onePass: ask each node at most once, without waiting (health checks).
	onePass bool
	// ambiguous is set by do when a retry followed an ambiguous failure:
	// an earlier attempt may have taken effect.
	ambiguous bool
}

// attemptResult says what one attempt against one node came to.
type attemptResult struct {
	meta       Meta
	err        error
	retry      bool          // try another node
	ambiguous  bool          // the request may have been applied
	retryAfter time.Duration // the server's advice, if any
}

// do sends req to the nodes in turn (starting with the one that answered
// last) until one answers for good or ctx ends, and decodes a 2xx answer
// into out.
func (c *Client) do(ctx context.Context, req *request, out any) (Meta, error) {
	if len(c.addrs) == 0 {
		return Meta{}, ErrNoAddrs
	}
	var body []byte
	if req.body != nil {
		var err error
		if body, err = json.Marshal(req.body); err != nil {
			return Meta{}, fmt.Errorf("client: encode request: %w", err)
		}
	}
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	n := len(c.addrs)
	start := int(c.next.Load()) % n
	backoff := firstBackoff
	var last attemptResult
	var lastServer *Error // the last answer a server gave, the most telling error
	for {
		var wait time.Duration
		refused := 0
		for i := 0; i < n; i++ {
			idx := (start + i) % n
			res := c.attempt(ctx, c.addrs[idx], req, body, out)
			if res.err != nil && errors.Is(res.err, syscall.ECONNREFUSED) {
				refused++
			}
			if res.err == nil {
				c.next.Store(uint32(idx))
				return res.meta, nil
			}
			last = res
			errors.As(res.err, &lastServer)
			if res.ambiguous && !req.repeatable {
				return res.meta, fmt.Errorf("%w: %w", ErrUnknownOutcome, res.err)
			}
			if !res.retry || ctx.Err() != nil {
				return res.meta, finalError(ctx, res.err, lastServer)
			}
			req.ambiguous = req.ambiguous || res.ambiguous
			wait = max(wait, res.retryAfter)
		}
		if req.onePass {
			return last.meta, finalError(ctx, last.err, lastServer)
		}
		if c.failFastRefused && refused == n {
			return last.meta, fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrRefused, last.err)
		}
		if wait == 0 {
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		}
		t := time.NewTimer(min(wait, c.maxRetryAfter))
		select {
		case <-ctx.Done():
			t.Stop()
			return last.meta, finalError(ctx, last.err, lastServer)
		case <-t.C:
		}
	}
}

// finalError makes the last attempt's error the call's: a server's *Error
// as it is; a transport failure as ErrUnavailable — or, when the deadline
// cut an attempt short, the last server answer (say, no_leader) together
// with the context's error.
func finalError(ctx context.Context, err error, lastServer *Error) error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return err
	}
	if ctx.Err() != nil && lastServer != nil {
		return fmt.Errorf("%w: %w", lastServer, ctx.Err())
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w (last error: %v)", ErrUnavailable, ctx.Err(), err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// attempt sends req once to the node at base.
func (c *Client) attempt(ctx context.Context, base string, req *request, body []byte, out any) attemptResult {
	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	u := base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(actx, req.method, u, rd)
	if err != nil {
		return attemptResult{err: fmt.Errorf("client: build request: %w", err)}
	}
	hr.Header.Set("Accept", "application/json")
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		hr.Header.Set("User-Agent", c.userAgent)
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	if req.clusterKey && c.clusterKey != "" {
		if err := c.signClusterKey(hr, body); err != nil {
			return attemptResult{err: fmt.Errorf("client: sign: %w", err), retry: ctx.Err() == nil}
		}
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		// A failed dial never reached a server; anything later may have.
		dial := isDialError(err)
		return attemptResult{err: err, retry: ctx.Err() == nil, ambiguous: !dial}
	}
	defer resp.Body.Close()
	meta := Meta{Node: resp.Header.Get("X-Sessiond-Node"), Addr: base}
	meta.Index, _ = strconv.ParseUint(resp.Header.Get("X-Sessiond-Index"), 10, 64)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return attemptResult{meta: meta, err: fmt.Errorf("client: read answer from %s: %w", base, err), retry: ctx.Err() == nil, ambiguous: true}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return attemptResult{meta: meta, err: fmt.Errorf("client: decode answer from %s: %w", base, err)}
			}
		}
		return attemptResult{meta: meta}
	}
	apiErr := decodeError(resp, data)
	res := attemptResult{meta: meta, err: apiErr, retryAfter: apiErr.RetryAfter}
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		res.retry = true
		// Refusals that prove nothing was applied; timeouts and failed
		// forwards may have been committed.
		res.ambiguous = apiErr.Code == "timeout" || apiErr.Code == "forward_failed" || apiErr.Code == ""
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		// From a proxy in front of the node: unknown whether it arrived.
		res.retry, res.ambiguous = true, true
	}
	return res
}

// decodeError reads the API's {"error":{"code","message"}} answer; a body
// of another shape (a proxy's page) keeps only the status.
func decodeError(resp *http.Response, data []byte) *Error {
	e := &Error{Status: resp.StatusCode, Node: resp.Header.Get("X-Sessiond-Node")}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// isDialError reports whether err happened while connecting, so the
// request never left this process.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
