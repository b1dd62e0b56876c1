package auth

import (
	"context"
	"errors"
	"log/slog"

	"github.com/sessiond/sessiond/fsm"
)

// Seed is what a new cluster starts with, from the first node's
// configuration. The secrets are never logged.
type Seed struct {
	DefaultDB     string
	AdminPassword string // SESSIOND_ADMIN_PASSWORD
	JWTSecret     []byte // SESSIOND_JWT_KEY / ODOO_JWT_KEY
}

// SeedCluster seeds a new cluster; the node calls it each time it becomes
// leader, and it only acts on what is missing: the default db, the first
// admin, who is the cluster operator (when an admin password was given) and the JWT signing key. Every
// step is idempotent, so a leader change mid-way is harmless. It logs what
// it did (never a secret): these are operator-facing events. Last, it
// reseals keys, and the other sealed values (TOTP secrets, recovery-code
// keys, webhook secrets), stored in the clear or under an old seal secret.
func (s *Service) SeedCluster(ctx context.Context, seed Seed, log *slog.Logger) {
	st := s.node.State()
	if seed.DefaultDB != "" && !st.HasDB(seed.DefaultDB) && len(st.DBs()) == 0 {
		if _, err := s.node.Apply(ctx, &fsm.CreateDB{Name: seed.DefaultDB}); err != nil {
			log.Warn("seeding default db failed", "err", err)
			return
		}
	}
	s.seedAdmin(ctx, seed, log)
	s.seedJWTKey(ctx, seed, log)
	s.ResealKeys(ctx, log)
	s.ResealValues(ctx, log)
}

func (s *Service) seedAdmin(ctx context.Context, seed Seed, log *slog.Logger) {
	if len(s.Users("")) > 0 {
		return
	}
	if seed.AdminPassword == "" {
		log.Warn("no users yet and SESSIOND_ADMIN_PASSWORD is not set: " +
			"restart this node with SESSIOND_ADMIN_PASSWORD=<password> to create user admin")
		return
	}
	db, err := s.ResolveDB("")
	if err != nil {
		log.Warn("seeding admin: no db", "err", err)
		return
	}
	// The first admin is the cluster's operator: on a new cluster the
	// leader has announced the current format before it seeds, so the
	// role passes the format gate.
	first := NewUser{DB: db, Login: "admin", Password: seed.AdminPassword, Name: "Administrator", Admin: true, Operator: true}
	id, err := s.CreateUser(ctx, first)
	if err != nil && !errors.Is(err, fsm.ErrUserExists) {
		// A member that has not announced a format that knows the role
		// (joined by hand, not started yet) holds the role back: the
		// admin is still created, and the operator named later.
		log.Warn("seeding admin as operator failed; creating it as a plain admin: "+
			"grant the role with `sessiond user operator admin` and the cluster key", "err", err)
		first.Operator = false
		if id, err = s.CreateUser(ctx, first); err != nil && !errors.Is(err, fsm.ErrUserExists) {
			log.Warn("seeding admin failed", "err", err)
			return
		}
	}
	log.Info("admin user created", "user_id", id, "db", db, "operator", first.Operator)
}

// seedJWTKey makes sure the keyring can sign. A configured secret is added
// under its derived kid when missing, and made active if no key is. With
// no secret configured and an empty keyring, a random HS256 key is
// generated so the JWT dialect works out of the box. Either key is
// replicated through the Raft log like every keyring entry, since every
// node needs it to sign and verify.
func (s *Service) seedJWTKey(ctx context.Context, seed Seed, log *slog.Logger) {
	st := s.node.State()
	noActive := st.Settings().JWTActiveKid == ""
	if len(seed.JWTSecret) > 0 {
		k, err := KeyFromSecret(seed.JWTSecret, AlgHS256)
		if err == nil {
			if _, ok := st.Key(k.Kid); ok {
				return
			}
			s.seedKey(ctx, k, noActive, "configured", log)
			return
		}
		log.Error("configured JWT key is unusable; it must be at least 32 bytes", "err", err)
	}
	if len(st.Keys()) > 0 {
		return
	}
	k, err := GenerateKey(AlgHS256, s.cfg.Now())
	if err != nil {
		log.Warn("generating JWT key failed", "err", err)
		return
	}
	s.seedKey(ctx, k, true, "generated", log)
}

func (s *Service) seedKey(ctx context.Context, k Key, activate bool, origin string, log *slog.Logger) {
	if err := s.PutKey(ctx, k, activate); err != nil {
		log.Warn("seeding JWT key failed", "kid", k.Kid, "err", err)
		return
	}
	log.Info("JWT key added", "kid", k.Kid, "alg", k.Alg, "origin", origin, "active", activate)
}
