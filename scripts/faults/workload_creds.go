package faults

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// The credentials workload: besides sessions, a JWT signing key and a
// service client are credentials whose revocation must be final on every
// node once acknowledged (docs/RELIABILITY.md P2). Two loops run beside
// the workers, one round every CredsEvery:
//
//   - keys: add a new HS256 key and activate it (the JWT dialect moves to
//     it: Setup unpins the dialect), log the workload's key user in
//     through the JWT dialect, then revoke every older key of ours; after
//     an acknowledged revocation, validate the tokens that key signed at
//     once on the faulted node (followUp). Every JWT of the workload is
//     signed by one of these keys, so each revocation ends the JWTs of
//     every user: P1 leaves those out, P2-key checks them all.
//   - clients: create a service client, authenticate it once, delete it,
//     and authenticate it again at once on the faulted node and another.

// AddKey adds an HS256 key through node and activates it; kid is "" when
// the outcome is not known to be a success.
func (c *Client) AddKey(ctx context.Context, node int) (kid string, a Answer) {
	a = c.do(ctx, node, http.MethodPost, "/v1/keys", c.AdminToken, map[string]any{"alg": "HS256", "activate": true}, nil)
	var out struct {
		Kid string `json:"kid"`
	}
	if a.Status == http.StatusCreated && json.Unmarshal(a.Body, &out) == nil {
		kid = out.Kid
	}
	return kid, a
}

// RevokeKey revokes kid at once (POST /v1/keys/{kid}/revoke).
func (c *Client) RevokeKey(ctx context.Context, node int, kid string) Answer {
	return c.do(ctx, node, http.MethodPost, "/v1/keys/"+url.PathEscape(kid)+"/revoke", c.AdminToken, nil, nil)
}

// CreateClient creates a service client through node; id is "" unless
// it was created.
func (c *Client) CreateClient(ctx context.Context, node int, name string) (id, secret string, a Answer) {
	a = c.do(ctx, node, http.MethodPost, "/v1/clients", c.AdminToken, map[string]any{"name": name}, nil)
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if a.Status == http.StatusCreated && json.Unmarshal(a.Body, &out) == nil {
		id, secret = out.ID, out.Secret
	}
	return id, secret, a
}

// DeleteClient deletes a service client (admin).
func (c *Client) DeleteClient(ctx context.Context, node int, id string) Answer {
	return c.do(ctx, node, http.MethodDelete, "/v1/clients/"+url.PathEscape(id), c.AdminToken, nil, nil)
}

// ClientIntrospect introspects a token as the service client id
// (client_secret_basic): 200 means the node accepted the client, 401
// that it refused it.
func (c *Client) ClientIntrospect(ctx context.Context, node int, id, secret, level string) Answer {
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	return c.doRaw(ctx, node, http.MethodPost, "/v1/introspect?consistency="+level, "application/x-www-form-urlencoded",
		"token=not-a-token", map[string]string{"Authorization": "Basic " + basic})
}

// setupCreds unpins the JWT dialect's key, so that the key loop's new
// active key signs the dialect's tokens, and creates the key loop's user.
// It runs in Setup, through node 0, which answered the settings the suite
// set before (a settings change is a whole replacement, read here).
func (w *Workload) setupCreds(ctx context.Context) error {
	if w.cfg.CredsEvery <= 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	a := w.cl.Client.PatchSettings(cctx, 0, map[string]any{"jwt_dialect_kid": ""})
	cancel()
	if a.Status != http.StatusOK {
		return errors.New("faults: unpinning the JWT dialect key: " + string(a.Body))
	}
	u, err := w.createUser(ctx)
	w.keyUser = u
	return err
}

// credsLoops runs the key and client loops until ctx ends.
func (w *Workload) credsLoops(ctx context.Context) {
	if w.cfg.CredsEvery <= 0 || w.keyUser == nil {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { w.keyLoop(ctx, mrand.New(mrand.NewPCG(11, uint64(time.Now().UnixNano())))) })
	wg.Go(func() { w.clientLoop(ctx, mrand.New(mrand.NewPCG(12, uint64(time.Now().UnixNano())))) })
	wg.Wait()
}

func (w *Workload) keyLoop(ctx context.Context, r *mrand.Rand) {
	u := w.keyUser
	client := w.rec.NewClient()
	var ours []string // our keys not known to be revoked, oldest first; the last is the newest
	for sleepCtx(ctx, w.cfg.CredsEvery) {
		cctx, cancel := w.opCtx(ctx)
		kid, _ := w.cl.Client.AddKey(cctx, w.otherNode(r))
		cancel()
		if kid == "" {
			continue // not known to be active: revoke nothing this round
		}
		ours = append(ours, kid)
		for range 2 {
			w.loginOpVia(ctx, client, w.otherNode(r), u, dialJWT)
		}
		var keep []string
		for _, old := range ours[:len(ours)-1] {
			op := w.revokeKey(ctx, client, w.otherNode(r), u, old)
			switch op.Result {
			case OK:
				w.probeKey(ctx, client, op, u, r)
				continue
			case Unknown:
				client = w.rec.NewClient()
			}
			keep = append(keep, old) // refused or unknown: again next round (revoking twice is harmless)
		}
		ours = append(keep, kid)
	}
}

// revokeKey revokes kid through node and records it.
func (w *Workload) revokeKey(ctx context.Context, client, node int, u *testUser, kid string) Op {
	op := w.begin(client, KeyRevoke, u, node)
	op.Kid = kid
	cctx, cancel := w.opCtx(ctx)
	a := w.cl.Client.RevokeKey(cctx, node, kid)
	cancel()
	w.finish(&op, a)
	op.Result = writeOutcome(a, http.StatusNoContent)
	if op.Result == Unknown {
		op.Return = Open
	}
	w.rec.Add(op)
	return op
}

// probeKey validates, right after the revocation op was acknowledged,
// the key user's recent tokens that the key signed, at the default level
// on the faulted node and on another: a lease holder that had not applied
// the revocation answers from its own state there.
func (w *Workload) probeKey(ctx context.Context, client int, op Op, u *testUser, r *mrand.Rand) {
	u.mu.Lock()
	toks := append([]string(nil), u.tokens...)
	u.mu.Unlock()
	for _, tok := range toks {
		if jwtKid(tok) != op.Kid {
			continue
		}
		u.revoke(tok)
		for _, node := range w.probeNodes(r) {
			w.validate(ctx, client, node, u, tok, "default")
		}
	}
}

// otherNode is a node the nemesis is not faulting, for the loops' admin
// writes: a write through an isolated node only times out.
func (w *Workload) otherNode(r *mrand.Rand) int {
	n := r.IntN(w.nodes)
	if w.Target != nil {
		if t := w.Target(); t >= 0 && t < w.nodes && n == t {
			n = (n + 1 + r.IntN(max(w.nodes-1, 1))) % w.nodes
		}
	}
	return n
}

// probeNodes are where a revocation is checked right after its
// acknowledgement: the faulted node, when there is one, and another.
func (w *Workload) probeNodes(r *mrand.Rand) []int {
	out := []int{r.IntN(w.nodes)}
	if w.Target != nil {
		if t := w.Target(); t >= 0 && t < w.nodes && t != out[0] {
			out = append(out, t)
		}
	}
	return out
}

func (w *Workload) clientLoop(ctx context.Context, r *mrand.Rand) {
	u := w.keyUser // ops name a user; the client loop's are its own kinds
	client := w.rec.NewClient()
	for sleepCtx(ctx, w.cfg.CredsEvery) {
		node := w.otherNode(r)
		cctx, cancel := w.opCtx(ctx)
		id, secret, _ := w.cl.Client.CreateClient(cctx, node, "fz-client")
		cancel()
		if id == "" {
			continue
		}
		w.mu.Lock()
		w.passwords = append(w.passwords, secret) // P7: never at rest or in a log
		w.mu.Unlock()
		w.clientAuth(ctx, client, w.otherNode(r), u, id, secret)
		del := w.begin(client, ClientDelete, u, node)
		del.Token = id
		cctx, cancel = w.opCtx(ctx)
		a := w.cl.Client.DeleteClient(cctx, node, id)
		cancel()
		if a.Status == http.StatusNotFound {
			// Created and acknowledged, deleted by nobody else: a 404 is
			// the node's own retry finding the first attempt committed.
			a.Status, a.Err = 0, errDeleteAmbiguous
		}
		w.finish(&del, a)
		del.Result = writeOutcome(a, http.StatusNoContent)
		if del.Result == Unknown {
			del.Return = Open
			client = w.rec.NewClient()
		}
		w.rec.Add(del)
		if del.Result == OK {
			for _, o := range w.probeNodes(r) {
				w.clientAuth(ctx, client, o, u, id, secret)
			}
		}
	}
}

// clientAuth authenticates service client id on node and records it: OK
// with Valid when accepted, OK when refused, Unknown otherwise.
func (w *Workload) clientAuth(ctx context.Context, client, node int, u *testUser, id, secret string) {
	op := w.begin(client, ClientAuth, u, node)
	op.Token, op.Level = id, "default"
	cctx, cancel := w.opCtx(ctx)
	a := w.cl.Client.ClientIntrospect(cctx, node, id, secret, "default")
	cancel()
	w.finish(&op, a)
	switch a.Status {
	case http.StatusOK:
		op.Result, op.Valid = OK, true
	case http.StatusUnauthorized:
		op.Result = OK
	default:
		op.Result = Unknown
	}
	w.rec.Add(op)
}
