package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// The JWT keyring's admin API and the public JWKS. Keys live in the
// replicated state, so a rotation on any node is seen by every node at
// the index it commits at, without a restart.
func (s *Server) keyRoutes() {
	// The keyring signs every db's tokens: the operator's (roles.go).
	s.handle("GET /v1/keys", s.operator(s.listKeys))
	s.handle("POST /v1/keys", s.operator(s.addKey))
	s.handle("DELETE /v1/keys/{kid}", s.operator(s.retireKey))
	s.handle("POST /v1/keys/{kid}/revoke", s.operator(s.revokeKey))
	s.handle("GET /.well-known/jwks.json", s.jwks)
}

// keyJSON shows a key without its secret or private half.
func keyJSON(k auth.Key, activeKid string) map[string]any {
	return map[string]any{
		"kid": k.Kid, "alg": k.Alg, "created": unixOrNil(k.Created),
		"retired": unixOrNil(k.Retired), "active": k.Kid == activeKid,
	}
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, _ principal) {
	keys, active := s.svc.Keys()
	out := []map[string]any{}
	for _, k := range keys {
		out = append(out, keyJSON(k, active))
	}
	var activeOut any
	if active != "" {
		activeOut = active
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out, "active_kid": activeOut})
}

type addKeyBody struct {
	Alg      string `json:"alg"`
	Activate *bool  `json:"activate"`
}

// addKey generates a key ({"alg": HS256|HS384|HS512|EdDSA|RS256}, default
// HS256) and, unless "activate" is false, makes it the signing key: a
// rotation. The previous key keeps verifying its tokens. An empty body
// takes the defaults.
func (s *Server) addKey(w http.ResponseWriter, r *http.Request, p principal) {
	in := addKeyBody{}
	b, err := readBody(r)
	if err == nil && len(bytes.TrimSpace(b)) > 0 {
		if mediaType(r) != "application/json" {
			err = ErrUnsupportedMedia
		} else {
			err = decodeJSONBytes(b, &in)
		}
	}
	if err != nil {
		writeNativeError(w, err)
		return
	}
	if in.Alg == "" {
		in.Alg = auth.AlgHS256
	}
	activate := in.Activate == nil || *in.Activate
	switch in.Alg {
	case auth.AlgHS256, auth.AlgHS384, auth.AlgHS512, auth.AlgEdDSA, auth.AlgRS256:
	default:
		writeNativeError(w, fieldError(ErrBadField, "alg must be one of HS256, HS384, HS512, EdDSA, RS256"))
		return
	}
	before, _ := s.svc.DialectKey()
	k, err := s.svc.AddKey(r.Context(), in.Alg, activate)
	if err != nil {
		s.auditAdmin(r, "key_add", p, 0, err, "alg", in.Alg)
		writeNativeError(w, err)
		return
	}
	s.auditAdmin(r, "key_add", p, 0, nil, "kid", k.Kid, "alg", k.Alg)
	s.log.Info("JWT key added", "kid", k.Kid, "alg", k.Alg, "origin", "admin", "active", activate)
	_, active := s.svc.Keys()
	if activate {
		active = k.Kid
	}
	out := keyJSON(k, active)
	dialectWarning(out, before, s.svc)
	writeJSON(w, http.StatusCreated, out)
}

// retireKey stops a key from signing (auth.Service.RetireKey).
func (s *Server) retireKey(w http.ResponseWriter, r *http.Request, p principal) {
	s.endKey(w, r, p, "retired", "key_retire", s.svc.RetireKey)
}

// revokeKey revokes a key at once (a compromised key): no token it signed
// verifies any more, on any node, from the acknowledgement on.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p principal) {
	s.endKey(w, r, p, "revoked", "key_revoke", s.svc.RevokeKey)
}

// endKey is retiring and revoking alike: the same refusals (the active
// key; an unknown kid, which asked nothing of the cluster and so has no
// audit line), an audit line of event, and 204.
func (s *Server) endKey(w http.ResponseWriter, r *http.Request, p principal, done, event string, end func(context.Context, string) error) {
	kid := r.PathValue("kid")
	err := end(r.Context(), kid)
	switch {
	case errors.Is(err, auth.ErrActiveKey):
		writeNativeError(w, fieldError(ErrBadField, "the active key cannot be "+done+"; add a new active key first (POST /v1/keys)"))
		return
	case errors.Is(err, fsm.ErrKeyNotFound):
		writeNativeError(w, err)
		return
	}
	s.auditAdmin(r, event, p, 0, err, "kid", kid)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// jwks publishes the public halves of the asymmetric keys (RFC 7517);
// HMAC keys, whose secret is the whole key, are never listed.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := s.svc.JWKS()
	if err != nil {
		s.log.Error("building jwks failed", "err", err)
		writeNativeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
