package fsm

import "slices"

// App passwords (issue 26): named, random secrets a user makes for
// clients of the seed dialects (Odoo, knox), whose login bodies have no
// field for a second factor. Only the SHA-256 of each is stored (it is
// 128 random bits, like a token). A session made with one names it
// (CreateSession.AppPassword) and the log refuses the session when the
// app password is gone by then, so a revoked one stops working on every
// node at the revocation's index. The session remembers it
// (Session.AppPassword), and the revocation ends every session made with
// it at the same index (DeleteAppPassword narrows: cluster acknowledges it
// once every read-lease holder has applied it).

// MaxAppPasswords bounds a user's app passwords.
const MaxAppPasswords = 20

// AppPassword is one app password of a user.
type AppPassword struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Digest  Digest `json:"digest"`
	Created int64  `json:"created"`
}

// PutAppPassword adds an app password (at most MaxAppPasswords).
type PutAppPassword struct {
	UserID      uint64      `json:"user_id"`
	AppPassword AppPassword `json:"app_password"`
}

// DeleteAppPassword revokes one and ends the user's sessions made with it
// (events with ReasonAppPasswordRevoked); Count 0 when it was not there.
type DeleteAppPassword struct {
	UserID uint64 `json:"user_id"`
	ID     string `json:"id"`
}

func (PutAppPassword) Type() CmdType    { return TypePutAppPassword }
func (DeleteAppPassword) Type() CmdType { return TypeDeleteAppPassword }

func (s *State) applyPutAppPassword(c *PutAppPassword) Result {
	if _, ok := s.users[c.UserID]; !ok {
		return fail(ErrUserNotFound)
	}
	if c.AppPassword.ID == "" {
		return fail(ErrBadCommand)
	}
	f := s.factorsFor(c.UserID)
	for _, ap := range f.AppPasswords {
		if ap.ID == c.AppPassword.ID {
			return Result{UserID: c.UserID, Count: len(f.AppPasswords)} // a retry
		}
	}
	if len(f.AppPasswords) >= MaxAppPasswords {
		return fail(ErrSessionLimit)
	}
	f.AppPasswords = append(f.AppPasswords, c.AppPassword)
	s.putFactors(f)
	return Result{UserID: c.UserID, Count: len(f.AppPasswords)}
}

func (s *State) applyDeleteAppPassword(c *DeleteAppPassword) Result {
	if c.ID == "" {
		return Result{UserID: c.UserID} // names none (and no session has "")
	}
	// The sessions end whether or not the app password is still there: a
	// retry finds it gone and the sessions already ended, and no session
	// can name an app password that is gone (appPasswordGone).
	var ended []*Session
	for _, sess := range s.byUser[c.UserID] {
		if sess.AppPassword == c.ID {
			ended = append(ended, sess)
		}
	}
	sortSessions(ended) // one order on every replica, for the events
	for _, sess := range ended {
		s.dropSession(sess)
	}
	f := s.factorsFor(c.UserID)
	i := slices.IndexFunc(f.AppPasswords, func(ap AppPassword) bool { return ap.ID == c.ID })
	if i < 0 {
		return Result{UserID: c.UserID}
	}
	f.AppPasswords = slices.Delete(f.AppPasswords, i, i+1)
	s.putFactors(f)
	return Result{UserID: c.UserID, Count: 1}
}

// appPasswordGone reports a session made with an app password that the
// user no longer has.
func (s *State) appPasswordGone(c *CreateSession) bool {
	if c.AppPassword == "" {
		return false
	}
	f := s.factors[c.Session.UserID]
	return f == nil || !slices.ContainsFunc(f.AppPasswords, func(ap AppPassword) bool { return ap.ID == c.AppPassword })
}
