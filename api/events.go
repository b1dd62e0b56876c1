package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/fsm"
	"github.com/sessiond/sessiond/internal/webhook"
)

// The event stream (docs/EVENTS.md): GET /v1/events?after=<id> answers the
// events after id, waiting up to ?timeout= seconds for one when there are
// none (long poll); with Accept: text/event-stream it keeps streaming
// Server-Sent Events, resuming from Last-Event-ID. Any node serves it from
// its own state. An admin sees its db's events (and key revocations), the
// operator every db's.

// ErrEventsGone is an after id older than what the node still keeps.
var ErrEventsGone = errors.New("api: events after that id are no longer kept; resynchronise, then read from oldest_id")

// Long-poll bounds.
const (
	defaultEventWait = 25 * time.Second
	maxEventWait     = 60 * time.Second
	maxEventLimit    = 1000
	sseHeartbeat     = 15 * time.Second
)

func (s *Server) eventRoutes() {
	s.handle("GET /v1/events", s.admin(s.events))
}

// eventQuery is a parsed request.
type eventQuery struct {
	after fsm.EventID
	wait  time.Duration
	limit int
}

func (s *Server) parseEventQuery(r *http.Request) (eventQuery, error) {
	q := eventQuery{wait: defaultEventWait, limit: 100}
	v := r.URL.Query()
	after := v.Get("after")
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		after = h // an SSE reconnect: the browser sends what it last saw
	}
	if after != "" {
		id, err := fsm.ParseEventID(after)
		if err != nil {
			return q, fieldError(ErrBadField, "after: "+err.Error())
		}
		if applied := s.node.AppliedIndex(); id.Index > applied {
			return q, fieldError(ErrBadField, "after: "+strconv.FormatUint(id.Index, 10)+
				" is beyond this node's applied index "+strconv.FormatUint(applied, 10))
		}
		q.after = id
	}
	if t := v.Get("timeout"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxEventWait {
			return q, fieldError(ErrBadField, "timeout: seconds from 0 to 60")
		}
		q.wait = time.Duration(n) * time.Second
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxEventLimit {
			return q, fieldError(ErrBadField, "limit: from 1 to 1000")
		}
		q.limit = n
	}
	return q, nil
}

// visible filters evs to what p may see.
func visible(p principal, evs []fsm.Event) []fsm.Event {
	if isOperator(p) {
		return evs
	}
	out := evs[:0:0]
	for _, e := range evs {
		if e.Type == fsm.EventKeyRevoked || canManageDB(p, e.DB) {
			out = append(out, e)
		}
	}
	return out
}

// gone answers 410 with the oldest id still kept.
func (s *Server) gone(w http.ResponseWriter) {
	oldest, _, _ := s.svc.EventBounds()
	writeJSON(w, http.StatusGone, map[string]any{"error": "events_gone", "message": ErrEventsGone.Error(),
		"oldest_id": oldest.String()})
}

// next waits until events after q.after exist (or the wait ends) and
// returns those p may see, with the id to continue after.
func (s *Server) nextEvents(ctx context.Context, p principal, after fsm.EventID, limit int, wait time.Duration) ([]fsm.Event, fsm.EventID, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		ch := s.node.FSM().EventsChanged()
		evs, _, err := s.svc.EventsAfter(after, limit)
		if err != nil {
			return nil, after, err
		}
		if len(evs) > 0 {
			next := evs[len(evs)-1].ID
			if evs = visible(p, evs); len(evs) > 0 {
				return evs, next, nil
			}
			after = next // nothing of p's: look further
			continue
		}
		select {
		case <-ch:
		case <-deadline.C:
			return nil, after, nil
		case <-ctx.Done():
			return nil, after, ctx.Err()
		}
	}
}

func (s *Server) events(w http.ResponseWriter, r *http.Request, p principal) {
	q, err := s.parseEventQuery(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		s.streamEvents(w, r, p, q)
		return
	}
	// The wait outlives the server's write timeout: extend it for this call.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(q.wait + 10*time.Second))
	evs, next, err := s.nextEvents(r.Context(), p, q.after, q.limit, q.wait)
	switch {
	case errors.Is(err, fsm.ErrEventsGone):
		s.gone(w)
		return
	case err != nil:
		return // the client went away
	}
	if evs == nil {
		evs = []fsm.Event{}
	}
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{"events": evs, "next": next.String()})
}

// streamEvents serves Server-Sent Events until the client leaves: each
// event's SSE id is its event id, so a reconnect's Last-Event-ID resumes
// right after it.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, p principal, q eventQuery) {
	if _, _, err := s.svc.EventsAfter(q.after, 1); errors.Is(err, fsm.ErrEventsGone) {
		s.gone(w)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	after := q.after
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(sseHeartbeat + 10*time.Second))
		evs, next, err := s.nextEvents(r.Context(), p, after, q.limit, sseHeartbeat)
		if err != nil {
			if errors.Is(err, fsm.ErrEventsGone) { // fell behind retention while connected
				w.Write([]byte("event: gone\ndata: {\"error\":\"events_gone\"}\n\n"))
				rc.Flush()
			}
			return
		}
		var b []byte
		for i := range evs {
			data, _ := json.Marshal(&evs[i])
			b = append(b, "id: "+evs[i].ID.String()+"\nevent: "+evs[i].Type+"\ndata: "...)
			b = append(append(b, data...), "\n\n"...)
		}
		if len(evs) == 0 {
			b = append(b, ": keep-alive\n\n"...)
		}
		after = next
		if _, err := w.Write(b); err != nil || rc.Flush() != nil {
			return
		}
	}
}

// eventsSource adapts the server to the dispatcher: the node's state and
// leadership, commits through auth.
type eventsSource struct{ s *Server }

func (e eventsSource) State() *fsm.State              { return e.s.svc.EventState() }
func (e eventsSource) EventsChanged() <-chan struct{} { return e.s.node.FSM().EventsChanged() }
func (e eventsSource) IsLeader() bool                 { return e.s.node.IsLeader() }
func (e eventsSource) Commit(ctx context.Context, c *fsm.AdvanceWebhooks) error {
	return e.s.svc.CommitWebhooks(ctx, c)
}

// eventsSigner adapts auth to the dispatcher: secrets, and logout tokens
// issued under the configured issuer.
type eventsSigner struct{ s *Server }

func (e eventsSigner) WebhookSecret(w *fsm.Webhook) ([]byte, error) { return e.s.svc.WebhookSecret(w) }
func (e eventsSigner) LogoutToken(w *fsm.Webhook, ev *fsm.Event, now time.Time) (string, error) {
	return e.s.svc.LogoutToken(e.s.issuer(), w.ClientID, ev, now)
}

// issuer is the iss of logout tokens: --events-issuer, else the base URL,
// else "sessiond".
func (s *Server) issuer() string {
	switch {
	case s.cfg.EventsIssuer != "":
		return s.cfg.EventsIssuer
	case s.cfg.BaseURL != "":
		return s.cfg.BaseURL
	}
	return "sessiond"
}

// startEvents runs the webhook dispatcher until Close.
func (s *Server) startEvents() {
	wc := s.cfg.Webhooks
	wc.Logger = s.log.With("component", "webhook")
	wc.Registry = s.reg
	d := webhook.New(wc, eventsSource{s}, eventsSigner{s})
	ctx, cancel := context.WithCancel(context.Background())
	s.stopEvents = cancel
	go d.Run(ctx)
}

// Close stops the server's background work (the webhook dispatcher).
func (s *Server) Close() {
	if s.stopEvents != nil {
		s.stopEvents()
	}
}
