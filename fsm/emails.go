package fsm

import "strings"

// The e-mail index: every address a user answers to, per db, so that no
// two accounts of one db hold the same address (a registration claiming
// another account's address would otherwise be reported as that address
// by /api/me). It is derived data: Restore rebuilds it from the users, so
// the snapshot format does not change.
//
// A key maps to a list of user IDs, not one: a snapshot written before the
// rule may hold duplicates, and they must keep working (edit, delete)
// without the index losing the other holder. New duplicates are refused.

// emailKey is the index key of addr in db. Addresses are folded to ASCII
// lower case only: Unicode case tables change between Go releases, and two
// binaries of one cluster must fold alike (auth normalises the rest before
// the log).
func emailKey(db, addr string) string { return db + "\x00" + asciiLower(addr) }

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// addressKeys are the index keys of a user: its e-mail, and its login when
// the login is an address (a dialect shows the login as the e-mail when
// the e-mail is empty). At most two, without repeats.
func addressKeys(db, login, email string) []string {
	var out []string
	if email != "" {
		out = append(out, emailKey(db, email))
	}
	if strings.Contains(login, "@") {
		if k := emailKey(db, login); len(out) == 0 || out[0] != k {
			out = append(out, k)
		}
	}
	return out
}

// emailTaken reports whether any of keys is held by a user other than self.
func (s *State) emailTaken(keys []string, self uint64) bool {
	for _, k := range keys {
		for _, id := range s.byEmail[k] {
			if id != self {
				return true
			}
		}
	}
	return false
}

// indexEmails adds u's addresses; unindexEmails removes them. The lists
// stay sorted by ID so that every replica holds the same index.
func (s *State) indexEmails(u *User) {
	for _, k := range addressKeys(u.DB, u.Login, u.Email) {
		list := s.byEmail[k]
		i := 0
		for i < len(list) && list[i] < u.ID {
			i++
		}
		if i < len(list) && list[i] == u.ID {
			continue
		}
		list = append(list, 0)
		copy(list[i+1:], list[i:])
		list[i] = u.ID
		s.byEmail[k] = list
	}
}

func (s *State) unindexEmails(u *User) {
	for _, k := range addressKeys(u.DB, u.Login, u.Email) {
		list := s.byEmail[k]
		out := list[:0]
		for _, id := range list {
			if id != u.ID {
				out = append(out, id)
			}
		}
		if len(out) == 0 {
			delete(s.byEmail, k)
		} else {
			s.byEmail[k] = out
		}
	}
}

// liveSessions counts uid's sessions not expired at now: the session cap
// counts what a user can still use, at the command's own time, so every
// replica counts alike whether or not the purge has run.
func (s *State) liveSessions(uid uint64, now int64) int {
	n := 0
	for _, sess := range s.byUser[uid] {
		if !sess.Expired(now) {
			n++
		}
	}
	return n
}
