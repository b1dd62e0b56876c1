package fsm

import (
	"sort"
	"sync"
	"sync/atomic"
)

const shardCount = 64

// State is the in-memory store every node keeps. It is built by Apply or
// Restore and read concurrently by request handlers.
//
// Lock order: apMu, then mu, then sessMu, then one shard's mu. apMu is
// held by the apply path for one whole command and by capture, never by a
// reader, so a long command makes snapshots wait but not validations.
// Every write but setIndex's happens under apMu, so the apply path may
// read any field but index without the lock that guards it; readers take
// that lock.
type State struct {
	shards [shardCount]shard

	apMu sync.Mutex // one command at a time; capture sees a whole entry

	// sessMu guards byUser: session-only commands change it without mu.
	sessMu sync.RWMutex
	byUser map[uint64][]*Session

	mu       sync.RWMutex // guards everything below
	users    map[uint64]*User
	byLogin  map[string]uint64   // db + "\x00" + login -> id
	byEmail  map[string][]uint64 // emailKey -> ids, sorted (see emails.go)
	dbs      map[string]struct{}
	nodes    map[string]Node
	keys     map[string]SigningKey
	clients  map[string]Client // service clients (clients.go); nil until the first
	once     onceLog           // request ids of retry-prone writes (once.go)
	settings Settings
	nextUser uint64
	index    uint64 // last log index applied; changes with the state, under mu

	factors    map[uint64]*Factors   // second factors by user (factors.go); nil until the first
	challenges map[Digest]*Challenge // sign-in steps in progress (challenges.go); nil until the first
	passkeys   map[uint64]*Passkeys  // WebAuthn credentials by user (passkeys.go); nil until the first

	sessions atomic.Int64

	// Events and webhooks (events.go, webhooks.go).
	ev            eventLog                      // its own lock; appended on the apply path
	webhooks      map[string]*Webhook           // under mu; nil until the first
	clusterFormat atomic.Pointer[ClusterFormat] // the replicated level (clusterformat.go); nil until set
}

func newState() *State {
	s := &State{
		users:    make(map[uint64]*User),
		byLogin:  make(map[string]uint64),
		byEmail:  make(map[string][]uint64),
		byUser:   make(map[uint64][]*Session),
		dbs:      make(map[string]struct{}),
		nodes:    make(map[string]Node),
		keys:     make(map[string]SigningKey),
		settings: DefaultSettings(),
		nextUser: 1,
	}
	for i := range s.shards {
		s.shards[i].m = newShardMap(0)
	}
	return s
}

func (s *State) shard(d Digest) *shard { return &s.shards[d[0]%shardCount] }

func loginKey(db, login string) string { return db + "\x00" + login }

// Session returns the session with digest d. The returned value must not be
// modified. This is the validation hot path: one shard read lock, no
// allocation.
func (s *State) Session(d Digest) (*Session, bool) {
	sh := s.shard(d)
	sh.mu.RLock()
	sess, ok := sh.get(&d)
	sh.mu.RUnlock()
	return sess, ok
}

// User returns the user with the given ID. The value must not be modified.
func (s *State) User(id uint64) (*User, bool) {
	s.mu.RLock()
	u, ok := s.users[id]
	s.mu.RUnlock()
	return u, ok
}

// UserByLogin finds a user by db and case-folded login.
func (s *State) UserByLogin(db, login string) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byLogin[loginKey(db, login)]
	if !ok {
		return nil, false
	}
	return s.users[id], true
}

// Users lists the users of db (all dbs when db is ""), ordered by ID.
func (s *State) Users(db string) []*User {
	s.mu.RLock()
	out := make([]*User, 0, len(s.users))
	for _, u := range s.users {
		if db == "" || u.DB == db {
			out = append(out, u)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// UserSessions lists a user's sessions, oldest first.
func (s *State) UserSessions(id uint64) []*Session {
	s.sessMu.RLock()
	out := append([]*Session(nil), s.byUser[id]...)
	s.sessMu.RUnlock()
	sortSessions(out)
	return out
}

// DBs lists the declared databases, sorted.
func (s *State) DBs() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.dbs))
	for d := range s.dbs {
		out = append(out, d)
	}
	s.mu.RUnlock()
	sort.Strings(out)
	return out
}

// HasDB reports whether db is declared.
func (s *State) HasDB(db string) bool {
	s.mu.RLock()
	_, ok := s.dbs[db]
	s.mu.RUnlock()
	return ok
}

// Settings returns the current cluster settings.
func (s *State) Settings() Settings {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.settings
}

// Nodes lists member metadata, sorted by ID.
func (s *State) Nodes() []Node {
	s.mu.RLock()
	out := make([]Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Node returns one member's metadata.
func (s *State) Node(id string) (Node, bool) {
	s.mu.RLock()
	n, ok := s.nodes[id]
	s.mu.RUnlock()
	return n, ok
}

// Keys lists the JWT keyring, sorted by creation then kid.
func (s *State) Keys() []SigningKey {
	s.mu.RLock()
	out := make([]SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, k)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created < out[j].Created
		}
		return out[i].Kid < out[j].Kid
	})
	return out
}

// Key returns one signing key by kid.
func (s *State) Key(kid string) (SigningKey, bool) {
	s.mu.RLock()
	k, ok := s.keys[kid]
	s.mu.RUnlock()
	return k, ok
}

// Counts returns the number of users and sessions, for gauges.
func (s *State) Counts() (users, sessions int) {
	s.mu.RLock()
	users = len(s.users)
	s.mu.RUnlock()
	return users, int(s.sessions.Load())
}

// ExpiredSessions returns up to max digests of sessions expired at now, for
// the leader's purge loop.
func (s *State) ExpiredSessions(now int64, max int) []Digest {
	if max <= 0 {
		return nil
	}
	var out []Digest
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		all := sh.each(func(sess *Session) bool {
			if sess.Expired(now) {
				out = append(out, sess.Digest)
			}
			return len(out) < max
		})
		sh.mu.RUnlock()
		if !all {
			return out
		}
	}
	return out
}

func sortSessions(ss []*Session) {
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].Created != ss[j].Created {
			return ss[i].Created < ss[j].Created
		}
		return ss[i].ID < ss[j].ID
	})
}

// putSession and dropSession keep the digest index, the per-user index and
// the counter in step. Callers hold s.apMu; they take s.sessMu themselves.
func (s *State) putSession(sess *Session) {
	sh := s.shard(sess.Digest)
	sh.mu.Lock()
	old, existed := sh.put(sess)
	sh.mu.Unlock()
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	list := s.byUser[sess.UserID]
	if existed {
		for i, o := range list {
			if o == old {
				list[i] = sess
				return
			}
		}
	}
	s.byUser[sess.UserID] = append(list, sess)
	s.sessions.Add(1)
	if s.ev.live {
		s.sessionEvent(EventSessionCreated, sess)
	}
}

func (s *State) dropSession(sess *Session) {
	sh := s.shard(sess.Digest)
	sh.mu.Lock()
	sh.del(&sess.Digest)
	sh.mu.Unlock()
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	list := s.byUser[sess.UserID]
	if i := userSessionIndex(list, sess); i >= 0 {
		list[i] = list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
	}
	if len(list) == 0 {
		delete(s.byUser, sess.UserID)
	} else {
		s.byUser[sess.UserID] = list
	}
	s.sessions.Add(-1)
	if s.ev.live {
		s.sessionEvent(EventSessionEnded, sess)
	}
}

// userSessionIndex finds sess in its user's list. The list holds the
// shards' own pointers (putSession swaps a replaced session's pointer
// too), so comparing pointers finds it without reading the other
// sessions: a user with hundreds of sessions made a logout scan hundreds
// of digests in scattered memory, 3–8 % of every node's CPU in the
// logout benchmark (docs/BENCHMARKS.md, issue 23). The digest comparison
// stays as the fallback for a caller holding a copy.
func userSessionIndex(list []*Session, sess *Session) int {
	for i, o := range list {
		if o == sess {
			return i
		}
	}
	for i, o := range list {
		if o.Digest == sess.Digest {
			return i
		}
	}
	return -1
}

// dropUserSessions ends every session of uid except keepID; it returns how
// many ended.
func (s *State) dropUserSessions(uid uint64, keepID string) int {
	list := append([]*Session(nil), s.byUser[uid]...)
	sortSessions(list) // byUser's order differs after a restore; events must not
	n := 0
	for _, sess := range list {
		if keepID != "" && sess.ID == keepID {
			continue
		}
		s.dropSession(sess)
		n++
	}
	return n
}

// setIndex records a log index that changed nothing in the state (a no-op
// or configuration entry), so snapshots are stamped with it.
func (s *State) setIndex(i uint64) {
	s.mu.Lock()
	if i > s.index {
		s.index = i
	}
	s.mu.Unlock()
}
