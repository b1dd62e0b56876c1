package api

import (
	"context"
	"errors"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// OnLeader seeds a new cluster; the node calls it each time it becomes
// leader, and it only acts on what is missing: the default db, the first
// admin (when SESSIOND_ADMIN_PASSWORD was given) and the configured JWT
// key. Every step is idempotent, so a leader change mid-way is harmless.
func (s *Server) OnLeader(ctx context.Context) {
	st := s.node.FSM().State()
	if s.cfg.DefaultDB != "" && !st.HasDB(s.cfg.DefaultDB) && len(st.DBs()) == 0 {
		if _, err := s.node.Apply(ctx, &fsm.CreateDB{Name: s.cfg.DefaultDB}); err != nil {
			s.log.Warn("seeding default db failed", "err", err)
			return
		}
	}
	s.seedAdmin(ctx)
	s.seedJWTKey(ctx)
}

func (s *Server) seedAdmin(ctx context.Context) {
	st := s.node.FSM().State()
	if len(st.Users("")) > 0 {
		return
	}
	if s.cfg.AdminPassword == "" {
		s.log.Warn("no users yet and SESSIOND_ADMIN_PASSWORD is not set: " +
			"restart this node with SESSIOND_ADMIN_PASSWORD=<password> to create user admin")
		return
	}
	db, err := s.svc.ResolveDB("")
	if err != nil {
		s.log.Warn("seeding admin: no db", "err", err)
		return
	}
	id, err := s.svc.CreateUser(ctx, auth.NewUser{DB: db, Login: "admin", Password: s.cfg.AdminPassword, Name: "Administrator", Admin: true})
	if err != nil && !errors.Is(err, fsm.ErrUserExists) {
		s.log.Warn("seeding admin failed", "err", err)
		return
	}
	s.log.Info("admin user created", "user_id", id, "db", db)
}
