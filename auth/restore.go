package auth

import (
	"fmt"
	"strings"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// StateSummary counts what a state holds, and the newest time stamped in
// it. Backups carry no creation time of their own, but every value in the
// state was stamped by a leader's clock before the log, so the newest of
// those stamps bounds the backup's age from below.
type StateSummary struct {
	Users    int       `json:"users"`
	Sessions int       `json:"sessions"`
	Clients  int       `json:"clients"`
	Keys     int       `json:"keys"`
	Newest   time.Time `json:"newest_change"` // zero: nothing stamped
}

// Summarize counts st and finds its newest stamp. It walks every session,
// so it is for one-off use (a restore), not for a request path.
func Summarize(st *fsm.State) StateSummary {
	var newest int64
	later := func(ts ...int64) {
		for _, t := range ts {
			newest = max(newest, t)
		}
	}
	var sum StateSummary
	for _, u := range st.Users("") {
		sum.Users++
		later(u.Created, u.PasswordChanged, u.LastFailure)
		for _, s := range st.UserSessions(u.ID) {
			sum.Sessions++
			later(s.Created, s.LastRefresh)
		}
	}
	for _, k := range st.Keys() {
		sum.Keys++
		later(k.Created, k.Retired, k.Revoked)
	}
	for _, c := range st.Clients() {
		sum.Clients++
		later(c.Created)
	}
	if newest > 0 {
		sum.Newest = time.Unix(0, newest).UTC()
	}
	return sum
}

// Revival counts what restoring a backup over the current state brings
// back: each is something the current state has ended or changed since
// the backup was taken, and the backup has as it was.
type Revival struct {
	Sessions     int `json:"sessions"`        // live in the backup, gone now (logged out, revoked)
	DeletedUsers int `json:"deleted_users"`   // in the backup, deleted since
	OldPasswords int `json:"old_passwords"`   // password changed since: the old one works again
	AdminRights  int `json:"admin_rights"`    // admin in the backup, not now
	ReEnabled    int `json:"reenabled_users"` // disabled since, enabled in the backup
	Clients      int `json:"deleted_clients"` // service clients deleted since
	RevokedKeys  int `json:"revoked_keys"`    // JWT keys revoked since
	RetiredKeys  int `json:"retired_keys"`    // JWT keys retired (not revoked) since
	LostUsers    int `json:"users_lost"`      // created since: not in the backup
	LostSessions int `json:"sessions_lost"`   // created since: not in the backup
}

// RestoreReport is what an operator is told before and after a restore:
// the two states side by side, the backup's least age, and what it
// revives.
type RestoreReport struct {
	Backup     StateSummary `json:"backup"`
	Current    StateSummary `json:"current"`
	AgeAtLeast string       `json:"age_at_least,omitempty"` // now - Backup.Newest, "" when unknown
	BringsBack Revival      `json:"brings_back"`
}

// CompareRestore reports what restoring backup over current would bring
// back, judged at now.
func CompareRestore(backup, current *fsm.State, now time.Time) RestoreReport {
	rep := RestoreReport{Backup: Summarize(backup), Current: Summarize(current)}
	if !rep.Backup.Newest.IsZero() {
		rep.AgeAtLeast = now.Sub(rep.Backup.Newest).Truncate(time.Second).String()
	}
	b := &rep.BringsBack
	nowNs := now.UnixNano()
	for _, bu := range backup.Users("") {
		cu, ok := current.User(bu.ID)
		switch {
		case !ok:
			b.DeletedUsers++
		case bu.Version < cu.Version:
			b.OldPasswords++
		}
		if ok && bu.Admin && !cu.Admin {
			b.AdminRights++
		}
		if ok && !bu.Disabled && cu.Disabled {
			b.ReEnabled++
		}
		for _, s := range backup.UserSessions(bu.ID) {
			if _, live := current.Session(s.Digest); !live && !s.Expired(nowNs) {
				b.Sessions++
			}
		}
	}
	for _, cu := range current.Users("") {
		if _, ok := backup.User(cu.ID); !ok {
			b.LostUsers++
		}
		for _, s := range current.UserSessions(cu.ID) {
			if _, ok := backup.Session(s.Digest); !ok {
				b.LostSessions++
			}
		}
	}
	for _, c := range backup.Clients() {
		if _, ok := current.Client(c.ID); !ok {
			b.Clients++
		}
	}
	for _, bk := range backup.Keys() {
		ck, ok := current.Key(bk.Kid)
		switch {
		case !ok:
		case bk.Revoked == 0 && ck.Revoked != 0:
			b.RevokedKeys++
		case bk.Retired == 0 && ck.Retired != 0:
			b.RetiredKeys++
		}
	}
	return rep
}

// Warning says in one paragraph what the restore replaces and brings
// back, and what it does about it (keep: --keep-sessions was given).
func (r RestoreReport) Warning(keep bool) string {
	var w strings.Builder
	age := "of unknown age"
	if r.AgeAtLeast != "" {
		age = "at least " + r.AgeAtLeast + " old (its newest change: " + r.Backup.Newest.Format(time.RFC3339) + ")"
	}
	fmt.Fprintf(&w, "The backup is %s. It holds %d users, %d sessions, %d service clients and %d JWT keys; "+
		"the cluster holds %d, %d, %d and %d now. ", age,
		r.Backup.Users, r.Backup.Sessions, r.Backup.Clients, r.Backup.Keys,
		r.Current.Users, r.Current.Sessions, r.Current.Clients, r.Current.Keys)
	b := r.BringsBack
	fmt.Fprintf(&w, "It brings back %d ended sessions, %d deleted users, %d old passwords, %d admin rights, "+
		"%d disabled users enabled, %d deleted service clients, %d revoked and %d retired JWT keys, "+
		"and loses %d users and %d sessions made since. ",
		b.Sessions, b.DeletedUsers, b.OldPasswords, b.AdminRights, b.ReEnabled, b.Clients, b.RevokedKeys, b.RetiredKeys,
		b.LostUsers, b.LostSessions)
	if keep {
		w.WriteString("With --keep-sessions every session and token in the backup stays valid. ")
	} else {
		w.WriteString("After the restore every session and token issued before it is ended, a fresh JWT signing key is activated " +
			"and the other keys retired, and keys revoked before the restore are revoked again (--keep-sessions keeps the backup's sessions). ")
	}
	w.WriteString("Passwords, deleted service clients and admin rights come back as they were in the backup: change or remove them again.")
	return w.String()
}
