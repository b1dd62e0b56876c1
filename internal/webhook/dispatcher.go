package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/fsm"
)

// Source is what the dispatcher needs of the node: its state and a wake-up
// when events are appended, whether it leads, and a way to commit cursors
// and pauses (through auth, the one door to the replicated state).
type Source interface {
	State() *fsm.State
	EventsChanged() <-chan struct{}
	IsLeader() bool
	Commit(ctx context.Context, c *fsm.AdvanceWebhooks) error
}

// Signer holds the secrets: a subscription's signing secret (sealed in
// the state) and the keyring that signs back-channel logout tokens.
type Signer interface {
	WebhookSecret(w *fsm.Webhook) ([]byte, error)
	LogoutToken(w *fsm.Webhook, e *fsm.Event, now time.Time) (string, error)
}

// Config tunes delivery.
type Config struct {
	// AllowPrivate lets targets be loopback, private or link-local
	// addresses (--webhook-allow-private); off by default (SSRF).
	AllowPrivate bool
	// PauseAfter is how long a subscription may keep failing before it is
	// paused (and reported) instead of retried for ever.
	PauseAfter time.Duration
	// MaxBatch is the most events one Standard Webhooks call carries: a
	// backlog drains in few calls, not one per event.
	MaxBatch int
	// CommitEvery is how often acknowledged cursors are committed (one
	// entry for every subscription that moved).
	CommitEvery time.Duration
	// Linger is how long a worker woken by new events waits before it
	// reads them, so that under load one call carries the events of many
	// entries: the leader then makes tens of calls a second per
	// subscription, not one per logout. It adds at most this to the lag.
	Linger time.Duration
	// Timeout bounds one delivery call.
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the exponential retry delay.
	BackoffMin, BackoffMax time.Duration
	Logger                 *slog.Logger
	Registry               prometheus.Registerer
	Now                    func() time.Time
}

// DefaultConfig returns production values.
func DefaultConfig() Config {
	return Config{PauseAfter: 24 * time.Hour, MaxBatch: 100, CommitEvery: 250 * time.Millisecond, Linger: 20 * time.Millisecond,
		Timeout: 10 * time.Second, BackoffMin: 250 * time.Millisecond, BackoffMax: time.Minute}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.PauseAfter <= 0 {
		c.PauseAfter = d.PauseAfter
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.CommitEvery <= 0 {
		c.CommitEvery = d.CommitEvery
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Linger < 0 {
		c.Linger = 0
	} else if c.Linger == 0 {
		c.Linger = d.Linger
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = d.BackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(d.BackoffMax, c.BackoffMin)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Dispatcher runs on every node and delivers only while its node leads:
// one worker per active subscription, each in index order, off the apply
// path (workers read the state's event log; Apply only appends to it).
type Dispatcher struct {
	cfg    Config
	src    Source
	sign   Signer
	client *http.Client
	m      *metrics

	mu      sync.Mutex
	acked   map[string]fsm.EventID // delivered, not yet committed
	workers map[string]*worker
}

// worker is one running delivery loop.
type worker struct{ cancel context.CancelFunc }

// New builds a dispatcher; Run starts it.
func New(cfg Config, src Source, sign Signer) *Dispatcher {
	cfg.fill()
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: dialControl(cfg.AllowPrivate)}
	tr := &http.Transport{
		Proxy:               nil, // never through an environment proxy: the address check must see the target
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	return &Dispatcher{
		cfg: cfg, src: src, sign: sign, m: newMetrics(cfg.Registry),
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout,
			// A redirect could lead anywhere, the internal network included:
			// it counts as a failed delivery.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		acked: make(map[string]fsm.EventID), workers: make(map[string]*worker),
	}
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	commit := time.NewTicker(d.cfg.CommitEvery)
	defer commit.Stop()
	defer d.stopAll()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.reconcile(ctx)
		case <-commit.C:
			d.commit(ctx)
		}
	}
}

func (d *Dispatcher) stopAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, wk := range d.workers {
		wk.cancel()
		delete(d.workers, id)
	}
	clear(d.acked)
}

// reconcile starts a worker for each active subscription while this node
// leads and stops the rest. A worker starts from the replicated cursor.
func (d *Dispatcher) reconcile(ctx context.Context) {
	if !d.src.IsLeader() {
		d.stopAll()
		return
	}
	active := map[string]*fsm.Webhook{}
	for _, w := range d.src.State().Webhooks() {
		if !w.Paused {
			active[w.ID] = w
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, wk := range d.workers {
		if active[id] == nil {
			wk.cancel()
			delete(d.workers, id)
		}
	}
	for id, w := range active {
		if _, ok := d.workers[id]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		wk := &worker{cancel: cancel}
		d.workers[id] = wk
		cur := w.Cursor
		if a, ok := d.acked[id]; ok && cur.Less(a) {
			cur = a
		}
		go func() {
			d.work(wctx, id, cur)
			cancel()
			d.mu.Lock()
			if d.workers[id] == wk { // ended by itself (paused, gone): the next reconcile decides again
				delete(d.workers, id)
			}
			d.mu.Unlock()
		}()
	}
}

// ack records a delivered cursor for the next commit.
func (d *Dispatcher) ack(id string, cur fsm.EventID) {
	d.mu.Lock()
	if old, ok := d.acked[id]; !ok || old.Less(cur) {
		d.acked[id] = cur
	}
	d.mu.Unlock()
}

// commit writes every cursor that moved since the last commit in one
// entry. A failed commit is retried next time; a lost one costs only
// duplicates after a failover.
func (d *Dispatcher) commit(ctx context.Context) {
	if !d.src.IsLeader() {
		return
	}
	st := d.src.State()
	d.mu.Lock()
	var c fsm.AdvanceWebhooks
	for id, cur := range d.acked {
		w, ok := st.Webhook(id)
		if !ok {
			delete(d.acked, id)
			continue
		}
		if w.Cursor.Less(cur) {
			c.Cursors = append(c.Cursors, fsm.WebhookCursor{ID: id, Through: cur})
		} else {
			delete(d.acked, id)
		}
	}
	d.mu.Unlock()
	if len(c.Cursors) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.src.Commit(cctx, &c); err != nil && ctx.Err() == nil {
		d.cfg.Logger.Debug("webhook cursor commit failed; retried", "err", err)
	}
}

// pause commits a pause of id (with its delivered cursor) and reports it.
func (d *Dispatcher) pause(ctx context.Context, id string, cur fsm.EventID, reason string) {
	c := &fsm.AdvanceWebhooks{Cursors: []fsm.WebhookCursor{{ID: id, Through: cur}},
		Pauses: []fsm.WebhookPause{{ID: id, Reason: reason, At: d.cfg.Now().UnixNano()}}}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.src.Commit(cctx, c); err != nil {
		d.cfg.Logger.Warn("webhook pause not committed; retried", "webhook", id, "err", err)
		return
	}
	d.m.pauses.WithLabelValues(id).Inc()
	d.cfg.Logger.Warn("webhook paused", "webhook", id, "reason", reason)
}

// work delivers one subscription's events in index order until ctx ends,
// the subscription goes away or is paused.
func (d *Dispatcher) work(ctx context.Context, id string, cur fsm.EventID) {
	backoff := d.cfg.BackoffMin
	var failingSince time.Time
	defer d.m.forget(id)
	for ctx.Err() == nil {
		wake := d.src.EventsChanged()
		st := d.src.State()
		w, ok := st.Webhook(id)
		if !ok || w.Paused {
			return
		}
		evs, last, err := st.EventsAfter(cur, 2*d.cfg.MaxBatch)
		if errors.Is(err, fsm.ErrEventsGone) {
			d.pause(ctx, id, cur, "events after the cursor are no longer kept (retention): resynchronise the receiver, then resume")
			return
		}
		d.m.observeLag(id, cur, last, evs, d.cfg.Now())
		if len(evs) == 0 {
			select {
			case <-ctx.Done():
			case <-wake:
				d.linger(ctx)
			case <-time.After(time.Second):
			}
			continue
		}
		batch, through := pick(w, evs, d.cfg.MaxBatch)
		if len(batch) > 0 {
			n, err := d.deliver(ctx, w, batch)
			if n > 0 {
				d.m.deliveries.WithLabelValues(id).Add(float64(n))
			}
			if err != nil {
				if n > 0 { // back-channel: the first n were delivered
					cur = batch[n-1].ID
					d.ack(id, cur)
				}
				if ctx.Err() != nil {
					return
				}
				d.m.failures.WithLabelValues(id).Inc()
				now := d.cfg.Now()
				if failingSince.IsZero() {
					failingSince = now
				}
				if now.Sub(failingSince) >= d.cfg.PauseAfter {
					d.pause(ctx, id, cur, "failing since "+failingSince.UTC().Format(time.RFC3339)+": "+err.Error())
					return
				}
				d.cfg.Logger.Debug("webhook delivery failed; retrying", "webhook", id, "err", err, "backoff", backoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, d.cfg.BackoffMax)
				continue
			}
			failingSince, backoff = time.Time{}, d.cfg.BackoffMin
		}
		cur = through
		d.ack(id, cur)
		if len(batch) < d.cfg.MaxBatch {
			// Not a backlog: let the next events gather rather than send
			// the few that arrived during this call at once (under load
			// there always are some, and a worker that never waited would
			// make a call per handful of logouts).
			d.linger(ctx)
		}
	}
}

// linger waits cfg.Linger (or until ctx ends).
func (d *Dispatcher) linger(ctx context.Context) {
	t := time.NewTimer(d.cfg.Linger)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// pick chooses the events of evs that w takes, at most max, and the id
// the cursor may move to once they are delivered: the last event looked
// at (events w does not take are passed over).
func pick(w *fsm.Webhook, evs []fsm.Event, max int) ([]fsm.Event, fsm.EventID) {
	var out []fsm.Event
	through := evs[len(evs)-1].ID
	for i := range evs {
		if w.Wants(&evs[i]) {
			out = append(out, evs[i])
			if len(out) == max {
				return out, evs[i].ID
			}
		}
	}
	return out, through
}
