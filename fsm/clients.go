package fsm

import "sort"

// Client is a service client (a resource server introspecting tokens, a
// gateway): an id and the SHA-256 of its secret, bound to one db or, with
// DB "", cluster-wide. The secret is 256 random bits chosen by auth, so a
// fast unsalted digest is enough (as for tokens): nothing in the state or
// the log lets anyone authenticate as the client.
type Client struct {
	ID           string `json:"id"`
	Name         string `json:"name,omitempty"`
	DB           string `json:"db,omitempty"` // "" = every db
	SecretDigest Digest `json:"secret_digest"`
	Created      int64  `json:"created"`
}

// PutClient adds a service client. A retry of the same command (same id
// and digest) succeeds; another client under an id in use is refused.
type PutClient struct {
	Client Client `json:"client"`
}

// DeleteClient removes a service client; Count is 0 when it was not there.
type DeleteClient struct {
	ID string `json:"id"`
}

// Type implementations.
func (PutClient) Type() CmdType    { return TypePutClient }
func (DeleteClient) Type() CmdType { return TypeDeleteClient }

func (s *State) applyPutClient(c *PutClient) Result {
	if c.Client.ID == "" {
		return fail(ErrBadCommand)
	}
	if old, ok := s.clients[c.Client.ID]; ok && old.SecretDigest != c.Client.SecretDigest {
		return fail(ErrKeyExists)
	}
	if s.clients == nil {
		s.clients = make(map[string]Client)
	}
	s.clients[c.Client.ID] = c.Client
	return Result{Count: 1}
}

func (s *State) applyDeleteClient(c *DeleteClient) Result {
	if _, ok := s.clients[c.ID]; !ok {
		return Result{}
	}
	delete(s.clients, c.ID)
	s.dropClientWebhooks(c.ID)
	return Result{Count: 1}
}

// Client returns one service client by id.
func (s *State) Client(id string) (Client, bool) {
	s.mu.RLock()
	c, ok := s.clients[id]
	s.mu.RUnlock()
	return c, ok
}

// Clients lists the service clients, sorted by id.
func (s *State) Clients() []Client {
	s.mu.RLock()
	out := make([]Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// liveKnox counts uid's knox sessions not expired at now: knox's token
// limit counts the user's unexpired tokens only (views.py,
// filter(expiry__gt=now)), judged at the command's own timestamp so that
// every replica counts alike and an expired token stops counting the
// moment it expires, not when the leader's purge removes it. Unlike
// upstream, a token without expiry counts (SQL's NULL > now is false, so
// upstream never counts them: with TOKEN_TTL None its limit never bites).
func (s *State) liveKnox(uid uint64, now int64) int {
	n := 0
	for _, sess := range s.byUser[uid] {
		if sess.Kind == KindKnox && !sess.Expired(now) {
			n++
		}
	}
	return n
}

// knoxSlide is knox's AUTO_REFRESH for a use at `at`: the session's
// absolute expiry moves to at+KnoxTTL when that is later than it is now
// by more than KnoxMinRefreshInterval (knox's renew_token). It reads only
// the replicated settings, so every replica slides alike.
func (s *State) knoxSlide(sess *Session, at int64) (int64, bool) {
	set := s.settings
	if !set.KnoxAutoRefresh || sess.Kind != KindKnox || sess.ExpiresAt == 0 || set.KnoxTTL <= 0 {
		return 0, false
	}
	next := at + set.KnoxTTL
	if next-sess.ExpiresAt <= set.KnoxMinRefreshInterval || next <= sess.ExpiresAt {
		return 0, false
	}
	return next, true
}

// keepOnDisable reports the sessions a disabled user keeps: knox tokens,
// so that they are answered "User inactive or deleted." as knox answers
// (its tokens outlive is_active = False). They never validate while the
// user is disabled, and re-enabling the user ends them, so none comes
// back to life.
func keepOnDisable(sess *Session) bool { return sess.Kind == KindKnox }

// dropUserSessionsUnless ends every session of uid that keep does not
// spare; it returns how many ended.
func (s *State) dropUserSessionsUnless(uid uint64, keep func(*Session) bool) int {
	list := append([]*Session(nil), s.byUser[uid]...)
	sortSessions(list) // byUser's order differs after a restore; events must not
	n := 0
	for _, sess := range list {
		if !keep(sess) {
			s.dropSession(sess)
			n++
		}
	}
	return n
}
