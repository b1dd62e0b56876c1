package api

import (
	"context"

	"github.com/sessiond/sessiond/auth"
)

// OnLeader seeds a new cluster; the node calls it each time it becomes
// leader. What to seed and how is auth's (SeedCluster: default db, first
// admin, JWT key, each idempotent); the values come from this node's
// configuration.
func (s *Server) OnLeader(ctx context.Context) {
	s.svc.SeedCluster(ctx, auth.Seed{
		DefaultDB: s.cfg.DefaultDB, AdminPassword: s.cfg.AdminPassword, JWTSecret: s.cfg.JWTSecret,
	}, s.log)
}
