package fsm

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Events are derived from applied commands, never proposed: every entry
// that creates or ends a session (or revokes a signing key) appends them
// to a bounded in-memory log as it is applied, so every replica that
// applied the same entries holds the same events, numbered by the entry's
// log index and a sequence within it. Webhook delivery
// (internal/webhook) and the event stream (GET /v1/events) read them;
// nothing in the rest of the state does.
//
// An event carries who and what, never a token, a digest or a password:
// the session's public ID, the user's id and login, the db and dialect.

// Event types.
const (
	EventSessionCreated = "session.created"
	EventSessionEnded   = "session.ended"
	EventKeyRevoked     = "key.revoked"
)

// EventTypes are the types a subscription may name.
var EventTypes = []string{EventSessionCreated, EventSessionEnded, EventKeyRevoked}

// Reasons a session ended (Event.Reason).
const (
	ReasonLogout          = "logout"           // the token's holder, or a revoke by token
	ReasonRevoked         = "revoked"          // revoked by public id (the user's or an admin's)
	ReasonLogoutAll       = "logout_all"       // every session of the user
	ReasonExpired         = "expired"          // absolute or idle lifetime over, by the leader's clock
	ReasonPasswordChanged = "password_changed" // a new password ends every session
	ReasonUserDisabled    = "user_disabled"
	ReasonUserEnabled     = "user_reenabled" // what disabling kept (knox tokens) ends
	ReasonUserDeleted     = "user_deleted"
	// ReasonAppPasswordRevoked: the app password the session was made
	// with was revoked (apppasswords.go).
	ReasonAppPasswordRevoked = "app_password_revoked"
)

// EventID orders events: the log index of the entry that made them, then
// their place within it. Written "index.seq".
type EventID struct {
	Index uint64
	Seq   uint32
}

// Less orders ids.
func (a EventID) Less(b EventID) bool {
	return a.Index < b.Index || (a.Index == b.Index && a.Seq < b.Seq)
}

// String is the id as events carry it: "1042.3".
func (a EventID) String() string {
	return strconv.FormatUint(a.Index, 10) + "." + strconv.FormatUint(uint64(a.Seq), 10)
}

// MarshalText writes String.
func (a EventID) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads ParseEventID.
func (a *EventID) UnmarshalText(b []byte) error {
	id, err := ParseEventID(string(b))
	*a = id
	return err
}

// ErrBadEventID is an event id that is not "index" or "index.seq".
var ErrBadEventID = errors.New("fsm: event id must be a log index, optionally followed by .sequence")

// ParseEventID reads "index.seq", or a bare "index", which stands for the
// last event of that entry (so after=N means "after everything entry N
// made", an X-Sessiond-Index a write answered with).
func ParseEventID(s string) (EventID, error) {
	idx, seq, dot := strings.Cut(s, ".")
	if len(s) > 32 {
		return EventID{}, ErrBadEventID
	}
	i, err := strconv.ParseUint(idx, 10, 64)
	if err != nil {
		return EventID{}, ErrBadEventID
	}
	if !dot {
		return EventID{Index: i, Seq: ^uint32(0)}, nil
	}
	q, err := strconv.ParseUint(seq, 10, 32)
	if err != nil {
		return EventID{}, ErrBadEventID
	}
	return EventID{Index: i, Seq: uint32(q)}, nil
}

// Event is one thing that happened to a session or a key. Values are
// immutable once appended.
type Event struct {
	ID        EventID `json:"id"`
	Type      string  `json:"type"`
	Reason    string  `json:"reason,omitempty"`
	DB        string  `json:"db,omitempty"`
	UserID    uint64  `json:"user_id,omitempty"`
	Login     string  `json:"login,omitempty"`
	SessionID string  `json:"session_id,omitempty"` // the public id, never the token
	Dialect   string  `json:"dialect,omitempty"`
	Kid       string  `json:"kid,omitempty"`
	Time      int64   `json:"time"` // Unix ns, stamped by the leader (see eventLog.at)
}

// DefaultEventRetention is how many events a node keeps when not told
// otherwise: at a few hundred bytes each, tens of MB at most, and hours of
// a busy cluster's sign-outs for a receiver to be down.
const DefaultEventRetention = 100_000

var eventRetention atomic.Int64

func init() { eventRetention.Store(DefaultEventRetention) }

// SetEventRetention bounds the events every state of this process keeps
// (memory and snapshot); older ones are dropped. It is a per-node choice
// (--event-retention): events are derived, so nodes may keep different
// amounts, and a reader asking for a dropped one is told so (ErrEventsGone).
// Zero keeps none: the state then writes the snapshot bytes it wrote
// before events existed.
func SetEventRetention(n int) {
	if n < 0 {
		n = 0
	}
	eventRetention.Store(int64(n))
}

// eventLog is the bounded ring of events. The apply path appends under
// apMu (and mu); readers take only ev.mu.
type eventLog struct {
	mu      sync.RWMutex
	buf     []Event // ring, oldest at start
	start   int
	n       int
	dropped EventID // the newest event dropped for retention, zero if none
	last    EventID // the newest event appended, zero if none

	// The entry being applied (apply path only). live is set while a
	// command applies, so a restore's putSession yields no events.
	live   bool
	index  uint64
	seq    uint32
	at     int64 // the entry's leader-stamped time
	clock  int64 // the latest leader-stamped time seen, for entries without one
	reason string
}

func (l *eventLog) begin(index uint64, at int64, reason string) {
	l.index, l.seq, l.reason, l.live = index, 0, reason, true
	if at > l.clock {
		l.clock = at
	}
	l.at = l.clock
}

func (l *eventLog) add(e Event) {
	e.ID = EventID{Index: l.index, Seq: l.seq}
	l.seq++
	if e.Time == 0 {
		e.Time = l.at
	}
	max := int(eventRetention.Load())
	if max == 0 {
		return // events off (SetEventRetention(0))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.push(e, max)
}

// push appends e, dropping the oldest beyond max. Callers hold l.mu.
// The ring grows towards max in steps, so an idle node does not hold max
// empty events, and is never larger than max.
func (l *eventLog) push(e Event, max int) {
	for l.n > 0 && l.n >= max {
		l.dropped = l.buf[l.start].ID
		l.buf[l.start] = Event{}
		l.start = (l.start + 1) % len(l.buf)
		l.n--
	}
	if l.n == len(l.buf) { // full: grow, linearised
		nc := 2*l.n + 64
		if nc > max {
			nc = max
		}
		if nc < l.n+1 {
			nc = l.n + 1
		}
		nb := make([]Event, l.n+1, nc)
		for i := 0; i < l.n; i++ {
			nb[i] = *l.at_(i)
		}
		l.buf, l.start = nb[:nc], 0
	}
	l.buf[(l.start+l.n)%len(l.buf)] = e
	l.n++
	l.last = e.ID
}

func (l *eventLog) at_(i int) *Event { return &l.buf[(l.start+i)%len(l.buf)] }

// ErrEventsGone means events after the asked id were dropped for
// retention: the reader missed some and must resynchronise.
var ErrEventsGone = errors.New("fsm: events after that id are no longer kept")

// EventsAfter returns up to max events after id, oldest first, and the
// newest id this node holds. It fails with ErrEventsGone when an event
// after id was dropped.
func (s *State) EventsAfter(after EventID, max int) ([]Event, EventID, error) {
	l := &s.ev
	l.mu.RLock()
	defer l.mu.RUnlock()
	if after.Less(l.dropped) {
		return nil, l.last, ErrEventsGone
	}
	// Binary search for the first event after `after`.
	lo, hi := 0, l.n
	for lo < hi {
		m := (lo + hi) / 2
		if after.Less(l.at_(m).ID) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	var out []Event
	for i := lo; i < l.n && len(out) < max; i++ {
		out = append(out, *l.at_(i))
	}
	return out, l.last, nil
}

// EventBounds are the oldest event kept (zero when none), the newest event
// dropped for retention (zero when none) and the newest event.
func (s *State) EventBounds() (oldest, dropped, last EventID) {
	l := &s.ev
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.n > 0 {
		oldest = l.at_(0).ID
	}
	return oldest, l.dropped, l.last
}

// eventCount is a cheap change counter for the FSM's notifier.
func (s *State) lastEvent() EventID {
	l := &s.ev
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.last
}

// Derivation: apply calls beginEvents before each command; putSession and
// dropSession call the hooks below, so every path that adds or removes a
// session yields its event without each applyX knowing.

// beginEvents readies the event log for the command at index, stamped at
// `at` by the leader (raft's AppendedAt; 0 when unknown).
func (s *State) beginEvents(c Command, index uint64, at int64) {
	reason := ""
	switch c := c.(type) {
	case *RevokeSession:
		reason = ReasonLogout
		if c.Digest == nil {
			reason = ReasonRevoked
		}
	case *RevokeUserSessions:
		reason = ReasonLogoutAll
	case *PurgeExpired:
		reason = ReasonExpired
		if c.Now > at {
			at = c.Now
		}
	case *DeleteUser:
		reason = ReasonUserDeleted
	case *DeleteAppPassword:
		reason = ReasonAppPasswordRevoked
	case *UpdateUser:
		switch {
		case c.PasswordHash != nil:
			reason = ReasonPasswordChanged
		case c.Disabled != nil && *c.Disabled:
			reason = ReasonUserDisabled
		default:
			reason = ReasonUserEnabled
		}
	case *CreateSession:
		if c.Session.Created > at {
			at = c.Session.Created
		}
	}
	s.ev.begin(index, at, reason)
}

func (s *State) sessionEvent(typ string, sess *Session) {
	e := Event{Type: typ, DB: sess.DB, UserID: sess.UserID, SessionID: sess.ID, Dialect: sess.Kind.String()}
	if typ == EventSessionEnded {
		e.Reason = s.ev.reason
	}
	if u, ok := s.users[sess.UserID]; ok {
		e.Login = u.Login
		if e.DB == "" {
			e.DB = u.DB
		}
	}
	s.ev.add(e)
}

func (s *State) keyRevokedEvent(kid string) {
	s.ev.add(Event{Type: EventKeyRevoked, Kid: kid})
}

// Events in snapshots: one record per event (recEvent) after a record
// with the newest dropped id and the latest clock (recEventMeta). Both
// are written only when there is something to say, so a state without
// events writes the bytes it always did. They are left out of StateHash:
// retention is per node, so two healthy replicas may keep different tails.

type eventMeta struct {
	Dropped EventID `json:"dropped"`
	Clock   int64   `json:"clock"`
}

func (s *State) captureEvents() (eventMeta, []Event) {
	l := &s.ev
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Event, l.n)
	for i := range out {
		out[i] = *l.at_(i)
	}
	return eventMeta{Dropped: l.dropped, Clock: l.clock}, out
}

func (s *State) loadEventMeta(m eventMeta) {
	s.ev.dropped, s.ev.clock = m.Dropped, m.Clock
}

func (s *State) loadEvent(e Event) {
	max := int(eventRetention.Load())
	l := &s.ev
	if l.n > 0 && !l.last.Less(e.ID) {
		return // out of order: keep the log sorted
	}
	l.push(e, max)
}
