package fsm

// Request ids of the writes that are not idempotent by their content.
//
// A node retries a write whose outcome it did not learn: the leader that
// took it may have committed it and died before answering
// (cluster/apply.go). Most commands name what they create or end, so a
// second copy changes nothing. Five do not, and applied twice they do
// something nobody asked for, or answer something else:
//
//   - logoutall (RevokeUserSessions) would also end the sessions created
//     between the two copies, logins that were acknowledged after it;
//   - a failed-login record (LoginFailed) would count one failure twice
//     and lock the account early;
//   - a user update (UpdateUser) would apply its fields again over a
//     later change (a lost update), and a password change would end the
//     sessions opened with the new password;
//   - a login (CreateSession) names its session, but a copy applied after
//     the session ended (a logoutall or an admin's revoke by id, between
//     the first copy's commit and the retry) would create it again: a
//     revocation undone. The fault suite found it as a session ended twice
//     in the event stream (pause-leader). Its nonce is the session's ID;
//   - the take of a sign-in step (TakeChallenge) leaves the same state, but
//     its second copy would answer challenge_gone to a finish whose first
//     copy took the step, and the person would have to start again.
//
// Each carries a Nonce chosen by the node before the log, so every retry
// of one request has the same bytes. The state remembers the nonces of the
// ones applied successfully, for OnceWindow after their own time (at most
// OnceMax of them, oldest first out), and an entry whose nonce it
// remembers returns the first answer and changes nothing. The memory is
// part of the state: replicated by the log, written to snapshots as
// recOnce records (snapshot.go) in the order they were applied, so that
// every replica forgets the same ones at the same entry.
//
// A nonce needs FormatV3 (format.go): an older binary would ignore it and
// apply the retry, and its state would differ. Below FormatV3 the node
// sends the old form (WithinFormat), which is what those clusters always
// had.

// OnceWindow is how long after its own time a nonce is remembered: far
// longer than any retry (a node retries until its apply timeout, seconds),
// so that clocks of different nodes may disagree by minutes.
const OnceWindow = int64(10 * 60 * 1e9)

// OnceMax bounds the remembered nonces (about 100 bytes each). Logins and
// failed logins are the high-rate sources: at a thousand a second the
// memory spans a minute, still ten times a retry's reach (a node retries
// for its apply timeout, 5 s by default). Past this count the oldest is
// forgotten early, which makes its retry apply again, as every retry did
// before nonces.
const OnceMax = 1 << 16

// onceRec is one remembered request: its nonce, its time, and the answer
// a retry gets. It is also the snapshot record's JSON.
type onceRec struct {
	Nonce  string `json:"nonce"`
	At     int64  `json:"at"`
	UserID uint64 `json:"user_id,omitempty"`
	Count  int    `json:"count,omitempty"`
}

// onceLog is the remembered nonces in the order they were applied. It is
// written only on the apply path (under apMu and mu) and copied whole by
// capture.
type onceLog struct {
	seen  map[string]onceRec
	order []onceRec // order[head:] are live, oldest first
	head  int
}

// requestOf returns a command's nonce and time, or "" for a command that
// carries none.
func requestOf(c Command) (nonce string, at int64) {
	switch c := c.(type) {
	case *RevokeUserSessions:
		return c.Nonce, c.At
	case *LoginFailed:
		return c.Nonce, c.At
	case *UpdateUser:
		return c.Nonce, c.Now
	case *TakeChallenge:
		return c.Nonce, c.Now
	case *CreateSession:
		if c.Once {
			return sessionNonce + c.Session.ID, c.Session.Created
		}
	}
	return "", 0
}

// sessionNonce prefixes a session's public ID to make the nonce of the
// login that created it: IDs are random and chosen before the log, so the
// ID is the request id, and the prefix keeps it apart from other nonces.
const sessionNonce = "s:"

// applyOnce applies c unless its nonce was applied before, in which case
// it answers as the first time did. Only successes are remembered: a
// refused command changed nothing, so applying its retry is no second
// application.
func (s *State) applyOnce(sp *cmdSpec, c Command, nonce string, at int64) Result {
	s.once.forgetBefore(at - OnceWindow)
	if r, ok := s.once.seen[nonce]; ok {
		res := Result{UserID: r.UserID, Count: r.Count}
		if cs, ok := c.(*CreateSession); ok {
			res.SessionID = cs.Session.ID
		}
		return res
	}
	res := sp.apply(s, c)
	if res.Code == "" {
		s.once.add(onceRec{Nonce: nonce, At: at, UserID: res.UserID, Count: res.Count})
	}
	return res
}

// forgetBefore drops the oldest nonces while their time is before t (the
// times of different nodes' nonces interleave a little; the first younger
// one stops the scan, which only keeps some a little longer).
func (o *onceLog) forgetBefore(t int64) {
	for o.head < len(o.order) && o.order[o.head].At < t {
		o.pop()
	}
}

func (o *onceLog) add(r onceRec) {
	if o.seen == nil {
		o.seen = make(map[string]onceRec)
	}
	if _, dup := o.seen[r.Nonce]; dup {
		return // a restored snapshot that repeats a nonce: keep the first
	}
	for len(o.order)-o.head >= OnceMax {
		o.pop()
	}
	o.seen[r.Nonce] = r
	o.order = append(o.order, r)
}

func (o *onceLog) pop() {
	delete(o.seen, o.order[o.head].Nonce)
	o.order[o.head] = onceRec{}
	o.head++
	if o.head >= len(o.order)/2 { // compact, so the slice does not grow forever
		o.order = append(o.order[:0], o.order[o.head:]...)
		o.head = 0
	}
}

// live is a copy of the remembered nonces, oldest first (for capture).
func (o *onceLog) live() []onceRec {
	if o.head == len(o.order) {
		return nil
	}
	return append([]onceRec(nil), o.order[o.head:]...)
}

// Remembered reports whether the state holds nonce as applied (tests and
// the fault suite's checks).
func (s *State) Remembered(nonce string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.once.seen[nonce]
	return ok
}

// WithinFormat returns cmd in a form a cluster at format level can apply:
// a retry-prone write without its nonce when level is below FormatV3 (so
// not idempotent, as before), a login also without how it was made, any
// other command unchanged. cmd itself is never modified.
func WithinFormat(cmd Command, level int) Command {
	if level >= FormatV3 {
		return cmd
	}
	switch c := cmd.(type) {
	case *RevokeUserSessions:
		if c.Nonce != "" {
			cp := *c
			cp.Nonce, cp.At = "", 0
			return &cp
		}
	case *LoginFailed:
		if c.Nonce != "" {
			cp := *c
			cp.Nonce = ""
			return &cp
		}
	case *UpdateUser:
		if c.Nonce != "" {
			cp := *c
			cp.Nonce = ""
			return &cp
		}
	case *CreateSession:
		// How the session was made (auth time, methods) goes with the
		// mark: a node whose view of the level is newer than the leader's
		// (a downgrade just committed; every member announced FormatV3
		// before the leader raised the level) sets them, and a login
		// refused for them would be refused again on the retry. Nothing
		// below FormatV3 reads them (the second-factor policy needs
		// FormatV3). A session of an app password, or one marked single
		// factor, keeps its mark and is refused rather than weakened.
		if c.Once || c.Session.AuthTime != 0 || c.Session.AMR != 0 {
			cp := *c
			cp.Once, cp.Session.AuthTime, cp.Session.AMR = false, 0, 0
			return &cp
		}
	}
	return cmd
}
