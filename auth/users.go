package auth

import (
	"context"

	"github.com/sessiond/sessiond/fsm"
)

// User is the local state's user with that id.
func (s *Service) User(id uint64) (*fsm.User, bool) { return s.node.State().User(id) }

// Users lists the users of db ("" = every db).
func (s *Service) Users(db string) []*fsm.User { return s.node.State().Users(db) }

// Counts is the number of users and sessions in local state.
func (s *Service) Counts() (users, sessions int) { return s.node.State().Counts() }

// Settings are the replicated settings in force on this node.
func (s *Service) Settings() fsm.Settings { return s.node.State().Settings() }

// UserChanges are the fields an admin may change; nil leaves a field as it
// is. A new password or disabling ends every session of the user at the
// index it commits at.
type UserChanges struct {
	Name, Email, Password *string
	Admin, Disabled       *bool
	Operator              *bool // the cluster operator role (only an operator grants it: api)
	Unlock                bool  // clear failed-login counters and any lock
	// EmailVerified marks the address verified (true) or not (false):
	// fsm.User.EmailUnverified, which forward auth honours.
	EmailVerified *bool
}

// UpdateUser applies an admin's changes in order (password, profile,
// unlock) and returns the user as this node sees it afterwards.
func (s *Service) UpdateUser(ctx context.Context, uid uint64, c UserChanges) (*fsm.User, error) {
	if c.Password != nil {
		if err := s.SetPassword(ctx, uid, *c.Password); err != nil {
			return nil, err
		}
	}
	var unverified *bool
	if c.EmailVerified != nil {
		v := !*c.EmailVerified
		unverified = &v
	}
	if c.Name != nil || c.Email != nil || c.Admin != nil || c.Disabled != nil || c.Operator != nil || unverified != nil {
		if _, err := s.node.Apply(ctx, &fsm.UpdateUser{
			UserID: uid, Name: c.Name, Email: c.Email, Admin: c.Admin, Disabled: c.Disabled, Operator: c.Operator,
			EmailUnverified: unverified, Now: s.cfg.Now().UnixNano(), Nonce: requestID(),
		}); err != nil {
			return nil, err
		}
	}
	if c.Unlock {
		if _, err := s.node.Apply(ctx, &fsm.ResetFailures{UserID: uid}); err != nil {
			return nil, err
		}
	}
	u, ok := s.User(uid)
	if !ok {
		return nil, fsm.ErrUserNotFound
	}
	return u, nil
}

// DeleteUser removes the account and all its sessions.
func (s *Service) DeleteUser(ctx context.Context, uid uint64) error {
	_, err := s.node.Apply(ctx, &fsm.DeleteUser{UserID: uid})
	return err
}

// SetSettings replaces the replicated settings and returns them as this
// node sees them after the commit.
func (s *Service) SetSettings(ctx context.Context, st fsm.Settings) (fsm.Settings, error) {
	if _, err := s.node.Apply(ctx, &fsm.SetSettings{Settings: st}); err != nil {
		return fsm.Settings{}, err
	}
	return s.Settings(), nil
}

// Registration is a self-service sign-up (the Odoo JWT dialect's
// /api/register): the login is the e-mail address.
type Registration struct {
	Email, Name, Password string
	ClientAddr            string
}

// Register creates an account for a stranger: only when signup is
// enabled, within the address's registration budget (charged for every
// attempt, before any hashing; see regbudget.go), in the default db. The
// login and the e-mail are the address; the FSM refuses one another
// account of the db already holds (fsm.ErrEmailExists), so two concurrent
// registrations through two nodes cannot both win.
func (s *Service) Register(ctx context.Context, r Registration) (*fsm.User, error) {
	if !s.Settings().SignupEnabled {
		return nil, ErrSignupDisabled
	}
	if ok, wait := s.register.Take(r.ClientAddr, s.cfg.Now()); !ok {
		return nil, &RetryError{Err: ErrThrottled, After: wait}
	}
	db, err := s.ResolveDB("")
	if err != nil {
		return nil, err
	}
	if _, taken := s.node.State().UserByLogin(db, r.Email); taken {
		return nil, ErrLoginTaken
	}
	// Nobody verified the address: forward auth keeps it from apps
	// (fsm.User.EmailUnverified, finding N13).
	id, err := s.CreateUser(ctx, NewUser{DB: db, Login: r.Email, Email: r.Email, Name: r.Name, Password: r.Password,
		EmailUnverified: true})
	if err != nil {
		return nil, err
	}
	u, ok := s.User(id)
	if !ok {
		return nil, ErrNotVisible
	}
	return u, nil
}

// Unlock clears the account's failed-login count and any spent guess
// budget: the break-glass for an account whose budget strangers keep
// spending (the owner from a known network is never refused anyway).
func (s *Service) Unlock(ctx context.Context, db, login string) (*fsm.User, error) {
	u, err := s.FindUser(db, login)
	if err != nil {
		return nil, err
	}
	return s.UpdateUser(ctx, u.ID, UserChanges{Unlock: true})
}

// FindUser finds an account by db ("" = the default) and login, as a
// login would: the break-glass routes name users so.
func (s *Service) FindUser(db, login string) (*fsm.User, error) {
	login, err := NormalizeLogin(login)
	if err != nil {
		return nil, err
	}
	if db, err = s.ResolveDB(db); err != nil {
		return nil, err
	}
	u, ok := s.node.State().UserByLogin(db, login)
	if !ok {
		return nil, fsm.ErrUserNotFound
	}
	return u, nil
}
