package fsm

import "crypto/sha256"

// apply changes the state by one command at a log index. It holds s.apMu
// for the whole command, so a capture (snapshot, backup, state hash) sees
// the state between two entries. Most commands also hold s.mu for writing
// for their whole run; the session-only ones (sessionOnly) never take it,
// so a refresh of 50k sessions does not stall the user lookup every
// validation makes (they meet only on one shard lock per session). The
// index moves even when the command fails: a failure is still an applied
// entry.
func (s *State) apply(c Command, index uint64) Result { return s.applyAt(c, index, 0) }

// applyAt is apply for an entry the leader stamped at `at` (Unix ns, 0 when
// unknown): the time its events carry (events.go).
func (s *State) applyAt(c Command, index uint64, at int64) Result {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	sp := specOf(c.Type())
	if sp == nil {
		s.setIndex(index)
		return fail(ErrBadCommand)
	}
	if s.gated(c) {
		s.setIndex(index)
		return fail(ErrFormatGated)
	}
	s.beginEvents(c, index, at)
	defer func() { s.ev.live = false }()
	if sessionOnly(c) {
		res := sp.apply(s, c)
		s.setIndex(index)
		return res
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if index > s.index {
		s.index = index
	}
	if nonce, at := requestOf(c); nonce != "" {
		return s.applyOnce(sp, c, nonce, at)
	}
	return sp.apply(s, c)
}

// sessionOnly reports the commands that write nothing s.mu guards: they
// change session shards (under each shard's lock) and byUser (under
// s.sessMu), and only read the rest. Reading without s.mu is safe here
// because every write to the state happens on the apply path, which holds
// s.apMu. A command added here must keep to that.
func sessionOnly(c Command) bool {
	switch c.(type) {
	case *RefreshSessions, *PurgeExpired:
		return true
	}
	return false
}

// Each applyX below runs under s.apMu, and under s.mu unless sessionOnly,
// called by apply through the commands table. They must stay deterministic (see the package doc) and must not
// edit a value reachable from the state: they store a modified copy.

func (s *State) applyDeleteUser(c *DeleteUser) Result {
	u, ok := s.users[c.UserID]
	if !ok {
		return fail(ErrUserNotFound)
	}
	n := s.dropUserSessions(u.ID, "")
	delete(s.users, u.ID)
	delete(s.byLogin, loginKey(u.DB, u.Login))
	s.unindexEmails(u)
	delete(s.factors, u.ID)
	delete(s.passkeys, u.ID)
	for id, ch := range s.challenges {
		if ch.UserID == u.ID {
			delete(s.challenges, id)
		}
	}
	return Result{UserID: u.ID, Count: n}
}

func (s *State) applyRevokeUserSessions(c *RevokeUserSessions) Result {
	if _, ok := s.users[c.UserID]; !ok {
		return fail(ErrUserNotFound)
	}
	return Result{UserID: c.UserID, Count: s.dropUserSessions(c.UserID, c.KeepID)}
}

// applyPurgeExpired re-checks each listed session against c.Now, so a
// session refreshed after the leader chose the list survives.
func (s *State) applyPurgeExpired(c *PurgeExpired) Result {
	n := 0
	for i, d := range c.Digests {
		batchYield(i)
		if sess, ok := s.shard(d).get(&d); ok && sess.Expired(c.Now) {
			s.dropSession(sess)
			n++
		}
	}
	return Result{Count: n}
}

// applyRefreshSessions only moves a deadline forward and never revives an
// expired session: refreshes are batched, so one may arrive late.
func (s *State) applyRefreshSessions(c *RefreshSessions) Result {
	n := 0
	for i, r := range c.Refreshes {
		batchYield(i)
		sess, ok := s.shard(r.Digest).get(&r.Digest)
		if !ok || r.At <= sess.LastRefresh || sess.Expired(r.At) {
			continue
		}
		cp := *sess
		cp.LastRefresh = r.At
		if exp, ok := s.knoxSlide(sess, r.At); ok {
			cp.ExpiresAt = exp
		}
		s.putSession(&cp)
		n++
	}
	return Result{Count: n}
}

func (s *State) applyResetFailures(c *ResetFailures) Result {
	u, ok := s.users[c.UserID]
	if !ok {
		return fail(ErrUserNotFound)
	}
	cp := *u
	cp.FailedLogins, cp.LastFailure, cp.LockedUntil = 0, 0, 0
	s.users[u.ID] = &cp
	return Result{UserID: u.ID}
}

func (s *State) applySetSettings(c *SetSettings) Result {
	s.settings = c.Settings
	return Result{}
}

func (s *State) applyPutNode(c *PutNode) Result {
	if c.Node.ID == "" {
		return fail(ErrBadCommand)
	}
	s.nodes[c.Node.ID] = c.Node
	return Result{}
}

func (s *State) applyRemoveNode(c *RemoveNode) Result {
	delete(s.nodes, c.ID)
	return Result{}
}

// applyPutKey accepts the same key twice (a retried command) but never a
// different secret under a kid already in use: tokens signed with the old
// secret would stop verifying.
func (s *State) applyPutKey(c *PutKey) Result {
	if c.Key.Kid == "" {
		return fail(ErrBadCommand)
	}
	if old, ok := s.keys[c.Key.Kid]; ok && string(old.Secret) != string(c.Key.Secret) {
		return fail(ErrKeyExists)
	}
	s.keys[c.Key.Kid] = c.Key
	if c.Activate {
		s.settings.JWTActiveKid = c.Key.Kid
	}
	return Result{}
}

// applyResealKey swaps the sealed material only if the key still holds
// what the reseal was computed from; anything else (already resealed, or
// replaced by a restore) is left alone, so a retried reseal is harmless.
func (s *State) applyResealKey(c *ResealKey) Result {
	k, ok := s.keys[c.Kid]
	if !ok {
		return fail(ErrKeyNotFound)
	}
	if len(c.Secret) == 0 {
		return fail(ErrBadCommand)
	}
	if sha256.Sum256(k.Secret) == c.From {
		k.Secret = c.Secret
		s.keys[c.Kid] = k
	}
	return Result{}
}

// applyRetireKey keeps the first retirement time, so a retried retire does
// not extend the key's life.
func (s *State) applyRetireKey(c *RetireKey) Result {
	k, ok := s.keys[c.Kid]
	if !ok {
		return fail(ErrKeyNotFound)
	}
	if k.Retired == 0 {
		k.Retired = c.At
	}
	if c.Revoke && k.Revoked == 0 {
		k.Revoked = c.At
		s.keyRevokedEvent(k.Kid)
	}
	s.keys[c.Kid] = k
	if s.settings.JWTActiveKid == c.Kid {
		s.settings.JWTActiveKid = ""
	}
	return Result{}
}

func (s *State) applyCreateDB(c *CreateDB) Result {
	if c.Name == "" {
		return fail(ErrBadCommand)
	}
	s.dbs[c.Name] = struct{}{}
	return Result{}
}

func (s *State) applyCreateUser(c *CreateUser) Result {
	if c.DB == "" || c.Login == "" || c.PasswordHash == "" {
		return fail(ErrBadCommand)
	}
	if id, ok := s.byLogin[loginKey(c.DB, c.Login)]; ok {
		if u := s.users[id]; c.Nonce != "" && u.Nonce == c.Nonce {
			return Result{UserID: id} // a retry of the create that made it
		}
		return fail(ErrUserExists)
	}
	if s.emailTaken(addressKeys(c.DB, c.Login, c.Email), 0) {
		return fail(ErrEmailExists)
	}
	id := s.nextUser
	s.nextUser++
	u := &User{
		ID: id, DB: c.DB, Login: c.Login, Email: c.Email, Name: c.Name,
		CompanyID: c.CompanyID, CompanyName: c.CompanyName,
		PasswordHash: c.PasswordHash, Admin: c.Admin, Operator: c.Operator, EmailUnverified: c.EmailUnverified,
		Created: c.Now, PasswordChanged: c.Now, Version: 1, Nonce: c.Nonce,
	}
	s.users[id] = u
	s.byLogin[loginKey(c.DB, c.Login)] = id
	s.indexEmails(u)
	s.dbs[c.DB] = struct{}{}
	return Result{UserID: id}
}

// applyUpdateUser ends the user's sessions when the password changes or the
// user is disabled: both mean "whoever holds a token may no longer be them".
func (s *State) applyUpdateUser(c *UpdateUser) Result {
	u, ok := s.users[c.UserID]
	if !ok {
		return fail(ErrUserNotFound)
	}
	if c.PasswordHash != nil && *c.PasswordHash == "" {
		return fail(ErrBadCommand)
	}
	cp := *u
	setIf(&cp.Name, c.Name)
	setIf(&cp.Email, c.Email)
	if cp.Email != u.Email && s.emailTaken(addressKeys(cp.DB, cp.Login, cp.Email), u.ID) {
		return fail(ErrEmailExists)
	}
	setIf(&cp.Admin, c.Admin)
	setIf(&cp.Operator, c.Operator)
	setIf(&cp.Disabled, c.Disabled)
	setIf(&cp.EmailUnverified, c.EmailUnverified)
	endSessions := c.Disabled != nil && cp.Disabled
	if c.PasswordHash != nil {
		cp.PasswordHash, cp.PasswordChanged = *c.PasswordHash, c.Now
		cp.Version++
		endSessions = true
	}
	s.unindexEmails(u)
	s.users[u.ID] = &cp
	s.indexEmails(&cp)
	n := 0
	switch {
	case endSessions && c.PasswordHash == nil: // disabled: knox's tokens stay, refused as inactive
		n = s.dropUserSessionsUnless(u.ID, keepOnDisable)
	case endSessions:
		n = s.dropUserSessions(u.ID, "")
	case u.Disabled && !cp.Disabled: // re-enabled: what disabling kept ends now
		n = s.dropUserSessions(u.ID, "")
	}
	return Result{UserID: u.ID, Count: n}
}

// setIf applies an optional field of an update: nil leaves dst alone.
func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (s *State) applyCreateSession(c *CreateSession) Result {
	in := c.Session
	if in.ID == "" || in.UserID == 0 {
		return fail(ErrBadCommand)
	}
	if old, ok := s.shard(in.Digest).get(&in.Digest); ok {
		if old.ID == in.ID {
			return Result{UserID: old.UserID, SessionID: old.ID} // retried
		}
		return fail(ErrSessionConflict)
	}
	u, ok := s.users[in.UserID]
	switch {
	case !ok:
		return fail(ErrUserNotFound)
	case u.Disabled:
		return fail(ErrUserDisabled)
	case c.UserVersion != 0 && c.UserVersion != u.Version:
		return fail(ErrStaleUser)
	}
	if s.needsSecondFactor(c, u) {
		return fail(ErrSecondFactorNeeded)
	}
	if s.appPasswordGone(c) {
		return fail(ErrStaleUser)
	}
	if lim := s.settings.TokenLimitPerUser; lim > 0 && in.Kind == KindKnox && s.liveKnox(u.ID, in.Created) >= lim {
		return fail(ErrSessionLimit)
	}
	if max := s.settings.MaxSessionsPerUser; max > 0 && s.liveSessions(u.ID, in.Created) >= max {
		return fail(ErrSessionLimit)
	}
	sess := in
	if sess.LastRefresh == 0 {
		sess.LastRefresh = sess.Created
	}
	sess.DB = u.DB
	sess.AppPassword = c.AppPassword // what DeleteAppPassword ends
	s.putSession(&sess)
	s.rememberAddr(u, c.TrustAddr)
	return Result{UserID: u.ID, SessionID: sess.ID}
}

// rememberAddr records addr as a known client network of u, most recent
// first and at most MaxKnownAddrs. Users are replaced, never mutated.
func (s *State) rememberAddr(u *User, addr string) {
	if addr == "" || (len(u.KnownAddrs) > 0 && u.KnownAddrs[0] == addr) {
		return
	}
	cp := *u
	cp.KnownAddrs = make([]string, 0, MaxKnownAddrs)
	cp.KnownAddrs = append(cp.KnownAddrs, addr)
	for _, a := range u.KnownAddrs {
		if a != addr && len(cp.KnownAddrs) < MaxKnownAddrs {
			cp.KnownAddrs = append(cp.KnownAddrs, a)
		}
	}
	s.users[u.ID] = &cp
}

func (s *State) applyRevokeSession(c *RevokeSession) Result {
	var found []*Session
	switch {
	case c.Digest != nil:
		if sess, _ := s.shard(*c.Digest).get(c.Digest); sess != nil {
			found = append(found, sess)
		}
	case c.ID != "":
		// IDs are chosen before the log and should be unique, but a command
		// cannot be trusted to keep them so: every match is revoked, which
		// gives the same outcome on every replica whatever its list order.
		for _, list := range s.candidates(c.UserID) {
			for _, x := range list {
				if x.ID == c.ID {
					found = append(found, x)
				}
			}
		}
	default:
		return fail(ErrBadCommand)
	}
	sortSessions(found) // one order on every replica, for the events
	res := Result{}
	for _, sess := range found {
		if c.UserID != 0 && sess.UserID != c.UserID {
			continue
		}
		s.dropSession(sess)
		res.UserID, res.SessionID = sess.UserID, sess.ID
		res.Count++
	}
	return res
}

// candidates returns the per-user session lists to search: one user's, or
// every user's when uid is 0 (an admin revoking by ID).
func (s *State) candidates(uid uint64) [][]*Session {
	if uid != 0 {
		return [][]*Session{s.byUser[uid]}
	}
	out := make([][]*Session, 0, len(s.byUser))
	for _, l := range s.byUser {
		out = append(out, l)
	}
	return out
}

func (s *State) applyLoginFailed(c *LoginFailed) Result {
	u, ok := s.users[c.UserID]
	if !ok {
		return fail(ErrUserNotFound)
	}
	cp := *u
	if c.Window > 0 && cp.LastFailure != 0 && c.At-cp.LastFailure > c.Window {
		cp.FailedLogins = 0
	}
	cp.FailedLogins++
	cp.LastFailure = c.At
	if c.Threshold > 0 && int(cp.FailedLogins) >= c.Threshold {
		cp.LockedUntil = c.At + c.LockFor
		cp.FailedLogins = 0
	}
	s.users[u.ID] = &cp
	return Result{UserID: u.ID, Count: int(cp.FailedLogins)}
}
