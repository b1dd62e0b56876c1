package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// restoreWorkers bounds the revocations in flight after a restore: enough
// to fill the leader's batches, few enough not to crowd out logins.
const restoreWorkers = 8

// AfterRestore is what EndRestoredAccess did.
type AfterRestore struct {
	EndedSessions int      `json:"ended_sessions"`
	Users         int      `json:"users_logged_out"`
	NewKid        string   `json:"new_kid,omitempty"`
	RetiredKids   []string `json:"retired_kids,omitempty"`
	RevokedKids   []string `json:"revoked_again_kids,omitempty"`
	// KeptKid is the configured shared-secret key (SESSIOND_JWT_KEY /
	// ODOO_JWT_KEY), which the restore cannot replace: the Odoo JWT
	// dialect's clients verify with it. Its tokens' sessions ended all
	// the same; rotating it means changing that secret.
	KeptKid string `json:"kept_configured_kid,omitempty"`
	// DialectKid is a fresh HS256 key made for the Odoo JWT dialect when
	// the fresh active key is not HMAC (the dialect signs HS256 only) and
	// the dialect had no configured secret to keep.
	DialectKid string `json:"dialect_kid,omitempty"`
}

// State is the node's current replicated state, for a caller that must
// compare it with another (the state a restore replaced).
func (s *Service) State() *fsm.State { return s.node.State() }

// EndRestoredAccess runs after a restore, through existing commands only
// (so a mixed-version cluster applies them alike): it ends every session
// of every user (RevokeUserSessions, so tokens issued before the restore,
// the backup's included, are refused everywhere), then starts a fresh
// signing key and retires the others (PutKey with activation, RetireKey),
// and revokes again every key in revokedBefore (RevokedKids of the
// replaced state). A backup cannot tell a logout made after it from a session
// never ended, so all end. A login in the moments between the restore and
// these revocations ends too. On error the result says how far it got;
// restoring again finishes the job (revocations are idempotent; a second
// rotation only adds one more key).
func (s *Service) EndRestoredAccess(ctx context.Context, revokedBefore []string) (AfterRestore, error) {
	var out AfterRestore
	var err error
	if out.EndedSessions, out.Users, err = s.endAllSessions(ctx); err != nil {
		return out, fmt.Errorf("ending the sessions from before the restore: %w", err)
	}
	revoked := make(map[string]bool, len(revokedBefore))
	for _, kid := range revokedBefore {
		revoked[kid] = true
	}
	if err := s.rotateAfterRestore(ctx, revoked, &out); err != nil {
		return out, fmt.Errorf("rotating the JWT keys after the restore: %w", err)
	}
	return out, nil
}

// endAllSessions proposes RevokeUserSessions for every user holding a
// session, restoreWorkers at a time. The first failure (no leader, say)
// stops the rest: the others would fail alike.
func (s *Service) endAllSessions(parent context.Context) (ended, users int, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	st := s.node.State()
	work := make(chan uint64)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range restoreWorkers {
		wg.Go(func() {
			for uid := range work {
				res, e := s.node.Apply(ctx, &fsm.RevokeUserSessions{
					UserID: uid, Nonce: requestID(), At: s.cfg.Now().UnixNano(),
				})
				mu.Lock()
				switch {
				case e == nil:
					ended += res.Count
					users++
				case errors.Is(e, fsm.ErrUserNotFound): // deleted meanwhile: nothing left to end
				case err == nil:
					err = e
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	for _, u := range st.Users("") {
		if len(st.UserSessions(u.ID)) == 0 {
			continue
		}
		select {
		case work <- u.ID:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		err = parent.Err()
	}
	return ended, users, err
}

// rotateAfterRestore activates a fresh key of the active key's algorithm
// (HS256 when none), retires every other live key but the configured
// shared secret, and revokes again the keys revokedBefore names. When the
// Odoo JWT dialect signed with the configured secret, it is pinned to it
// (jwt_dialect_kid), so the fresh HMAC key does not take the dialect over
// and its clients' shared secret keeps verifying; when it signed with
// another key and the fresh active key is not HMAC, a fresh HS256 key is
// made and pinned for it, so the dialect is never left without a key.
func (s *Service) rotateAfterRestore(ctx context.Context, revokedBefore map[string]bool, out *AfterRestore) error {
	st := s.node.State()
	set := st.Settings()
	alg := AlgHS256
	if k, ok := st.Key(set.JWTActiveKid); ok {
		alg = k.Alg
	}
	dk, dialectErr := dialectKey(st.Keys(), set)
	if dialectErr == nil && dk.Created == 0 && dk.Revoked == 0 && !revokedBefore[dk.Kid] {
		out.KeptKid = dk.Kid
		if err := s.pinDialect(ctx, dk.Kid); err != nil {
			return err
		}
	}
	k, err := s.AddKey(ctx, alg, true)
	if err != nil {
		return err
	}
	out.NewKid = k.Kid
	if dialectErr == nil && out.KeptKid == "" && !isHMAC(alg) {
		hk, err := s.AddKey(ctx, AlgHS256, false)
		if err != nil {
			return err
		}
		out.DialectKid = hk.Kid
		if err := s.pinDialect(ctx, hk.Kid); err != nil {
			return err
		}
	}
	for _, old := range s.node.State().Keys() {
		switch {
		case old.Kid == k.Kid, old.Kid == out.DialectKid:
		case old.Revoked == 0 && revokedBefore[old.Kid]:
			if err := s.RevokeKey(ctx, old.Kid); err != nil {
				return err
			}
			out.RevokedKids = append(out.RevokedKids, old.Kid)
		case old.Retired == 0 && old.Kid != out.KeptKid:
			if err := s.RetireKey(ctx, old.Kid); err != nil {
				return err
			}
			out.RetiredKids = append(out.RetiredKids, old.Kid)
		}
	}
	return nil
}

// pinDialect sets jwt_dialect_kid, the key the Odoo JWT dialect signs
// with, keeping every other setting as this node sees it.
func (s *Service) pinDialect(ctx context.Context, kid string) error {
	set := s.node.State().Settings()
	if set.JWTDialectKid == kid {
		return nil
	}
	set.JWTDialectKid = kid
	_, err := s.SetSettings(ctx, set)
	return err
}

// RevokedKids lists the revoked keys of st: taken from the state a
// restore replaces, before it does, they are the revocations
// EndRestoredAccess makes again (a revoked key is a compromised one), so
// the rest of that state need not be held while it runs.
func RevokedKids(st *fsm.State) []string {
	var out []string
	for _, k := range st.Keys() {
		if k.Revoked != 0 {
			out = append(out, k.Kid)
		}
	}
	return out
}

// CatchUp returns once this node's state holds every write acknowledged
// before the call (a read index from the leader, applied here), so that
// after a restore run by the leader the state read here is the restored
// one (a lone in-memory replica's Sync returns at once).
func (s *Service) CatchUp(ctx context.Context) error {
	return s.node.Sync(ctx)
}

// catchUpWait bounds CatchUpBriefly: the cluster's default read timeout.
const catchUpWait = 2 * time.Second

// CatchUpBriefly is CatchUp for a page or a step that can be shown from
// this node's own state when the leader cannot be reached: it waits at
// most catchUpWait and reports whether the node caught up, rather than
// hang the request for as long as the client waits (ReadIndex retries
// across elections until its context ends).
func (s *Service) CatchUpBriefly(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	return s.node.Sync(ctx) == nil
}
