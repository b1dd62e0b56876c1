package faults

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"net/http"
	"sync"
)

// dialectBook remembers, per issued token, the dialect that issued it and
// (native logins) its session ID: a token is presented, validated and
// logged out the way its dialect does it.
type dialectBook struct {
	kinds sync.Map // token → dialect
	sids  sync.Map // token → session ID
}

func (b *dialectBook) kind(tok string) string {
	if k, ok := b.kinds.Load(tok); ok {
		return k.(string)
	}
	return dialNative
}

func (b *dialectBook) sid(tok string) string {
	if s, ok := b.sids.Load(tok); ok {
		return s.(string)
	}
	return ""
}

// pickDialect draws the dialect of a login from the workload's shares.
func (w *Workload) pickDialect() string {
	p := mrand.IntN(100)
	switch {
	case p < w.cfg.KnoxPct:
		return dialKnox
	case p < w.cfg.KnoxPct+w.cfg.OdooPct:
		return dialOdoo
	case p < w.cfg.KnoxPct+w.cfg.OdooPct+w.cfg.JWTPct:
		return dialJWT
	}
	return dialNative
}

// loginFor returns the client call that logs in through dialect.
func (w *Workload) loginFor(dialect string) func(context.Context, int, string, string) (LoginResult, Answer) {
	switch dialect {
	case dialKnox:
		return w.cl.Client.KnoxLogin
	case dialOdoo:
		return w.cl.Client.OdooLogin
	case dialJWT:
		return w.cl.Client.JWTLogin
	}
	return w.cl.Client.Login
}

// servedLevel is the level a node answers a validation asked at level:
// a node never serves a weaker level than its default (api.Server.level:
// a client may only strengthen it), and the answer does not name the
// level. Recording the level asked for would label default-level reads
// "stale" and hide them from the staleness checks.
func (w *Workload) servedLevel(level string) string {
	if level == "consistent" || w.cl.cfg.Consistency == "consistent" {
		return "consistent"
	}
	return "default"
}

// readRoutes are where a token of a dialect can be validated: the native
// session endpoint (native and knox tokens), forward auth and
// introspection (every kind).
func readRoutes(kind string) []string {
	if kind == dialOdoo || kind == dialJWT {
		return []string{"authz", "introspect"}
	}
	return []string{"session", "session", "authz", "introspect"}
}

// read validates tok on node at level through route.
func (w *Workload) read(cctx context.Context, node int, route, tok, level string) Answer {
	kind := w.book.kind(tok)
	q := "?consistency=" + level
	switch route {
	case "authz":
		return w.cl.Client.doRaw(cctx, node, http.MethodGet, "/v1/authz"+q, "", "", credHeader(kind, tok))
	case "introspect":
		a := w.cl.Client.do(cctx, node, http.MethodPost, "/v1/introspect"+q, w.cl.Client.AdminToken, map[string]string{"token": tok}, nil)
		return introspectVerdict(a)
	}
	return w.cl.Client.Validate(cctx, node, tok, level)
}

// ownsDialect reports whether tok can authenticate the native
// /v1/logoutall and /v1/sessions calls (native and knox tokens can).
func (w *Workload) ownsDialect(tok string) bool {
	k := w.book.kind(tok)
	return k == dialNative || k == dialKnox
}

// logoutVia ends tok through its dialect's logout, or by its session ID
// (DELETE /v1/sessions/{id}) for half of the native tokens; it returns
// the answer and how the revocation was made.
func (w *Workload) logoutVia(cctx context.Context, node int, tok string) (Answer, string) {
	kind := w.book.kind(tok)
	if id := w.book.sid(tok); id != "" && mrand.IntN(2) == 0 {
		return w.cl.Client.RevokeByID(cctx, node, tok, id), "by-id"
	}
	via := ""
	if kind != dialNative {
		via = kind
	}
	return w.cl.Client.DialectLogout(cctx, node, kind, tok), via
}

// errDeleteAmbiguous marks a delete answered 404: see deleteUser.
var errDeleteAmbiguous = errors.New("faults: delete answered 404: an earlier attempt may have committed")

// deleteUser deletes u (admin): recorded as a logoutall Via "delete".
func (w *Workload) deleteUser(ctx context.Context, client, node int, u *testUser) bool {
	u.pw.Lock()
	defer u.pw.Unlock()
	unknown := w.endAllWith(ctx, client, node, u, "delete", func(cctx context.Context) Answer {
		a := w.cl.Client.DeleteUser(cctx, node, u.id)
		if a.Status == 404 {
			// The user exists until this call: a 404 means a node's own
			// retry across a leader change found the first attempt
			// committed. Whether it was cannot be told from here, so the
			// outcome is unknown, never "failed" (a failed delete would
			// keep the user's tokens in the model, and their refusal
			// would look like lost logins).
			a.Status, a.Err = 0, errDeleteAmbiguous
		}
		return a
	}, nil)
	u.disabled = true
	return unknown
}
