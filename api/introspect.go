package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// RFC 7662 token introspection (POST /v1/introspect).
//
// Callers: a service client (POST /v1/clients) by client_secret_basic
// (HTTP Basic over the form-urlencoded id and secret, RFC 6749 §2.3.1)
// or client_secret_post (client_id and client_secret in the body); an
// admin's Bearer token; or the cluster key. The body is
// application/x-www-form-urlencoded (§2.1) or JSON: token, optional
// token_type_hint (ignored: a token's shape says what it is).
//
// A client's failures are answered as RFC 6749 §5.2 says
// ({"error": "invalid_client"}, 401 with WWW-Authenticate); an admin's as
// the rest of the native API. Any token that is not active — unknown,
// expired, revoked, malformed, of a disabled user, or of another db for a
// db-bound client — is {"active": false} and nothing else (§2.2).

// introspectCaller is who asked: a client, or an admin / cluster-key
// holder (client nil).
type introspectCaller struct {
	client *fsm.Client
	oauth  bool // answer errors in RFC 6749's shape
}

// oauthError is an RFC 6749 §5.2 error answer.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="sessiond"`)
	}
	noStore(w)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// basicClient reads client_secret_basic credentials: both parts are
// form-urlencoded before base64 (RFC 6749 §2.3.1).
func basicClient(r *http.Request) (id, secret string, present bool, err error) {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	if id, err = url.QueryUnescape(u); err == nil {
		secret, err = url.QueryUnescape(p)
	}
	if err != nil {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	return id, secret, true, nil
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r, fromForm)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	caller, ok := s.introspectAuth(w, r, p)
	if !ok {
		return
	}
	tok, _, err := p.value("token")
	if err != nil || tok == "" {
		if caller.oauth {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		} else {
			writeNativeError(w, fieldError(ErrMissingField, "token is required"))
		}
		return
	}
	pr, err := s.validateCredential(r, introspectCredential(tok), kindsAny)
	if err != nil {
		if lookupError(err).status == http.StatusServiceUnavailable {
			writeNativeError(w, err) // cannot tell yet: not a verdict on the token
			return
		}
		writeInactive(w)
		return
	}
	if c := caller.client; c != nil && c.DB != "" && c.DB != pr.Session.DB {
		writeInactive(w)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, introspection(pr))
}

func writeInactive(w http.ResponseWriter) {
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{"active": false})
}

// introspectAuth finds the caller, or answers the refusal and returns
// false. RFC 6749 §2.3 forbids more than one client authentication
// method in one request.
func (s *Server) introspectAuth(w http.ResponseWriter, r *http.Request, p params) (introspectCaller, bool) {
	id, secret, basic, err := basicClient(r)
	if err != nil {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return introspectCaller{}, false
	}
	postID, hasPost, errID := p.value("client_id")
	postSecret, _, errSecret := p.value("client_secret")
	if errID != nil || errSecret != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "client_id and client_secret must be strings")
		return introspectCaller{}, false
	}
	switch {
	case basic && hasPost:
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method")
		return introspectCaller{}, false
	case hasPost:
		id, secret, basic = postID, postSecret, true
	}
	if basic {
		c, err := s.svc.AuthenticateClient(r.Context(), id, secret)
		if errors.Is(err, auth.ErrBadClient) {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
			return introspectCaller{}, false
		}
		if err != nil {
			writeNativeError(w, err)
			return introspectCaller{}, false
		}
		return introspectCaller{client: &c, oauth: true}, true
	}
	if byKey(r) {
		return introspectCaller{}, true
	}
	if r.Header.Get("Authorization") == "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication required")
		return introspectCaller{}, false
	}
	admin, err := s.adminAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return introspectCaller{}, false
	}
	if !isOperator(admin) {
		// An admin sees its own db's tokens, as a client bound to it.
		return introspectCaller{client: &fsm.Client{DB: admin.User.DB}}, true
	}
	return introspectCaller{}, true
}

// introspectionView is an active token's answer: RFC 7662 §2.2's fields
// that sessiond has (scope, client_id, aud and iss are not: tokens carry
// none), then sessiond's own (uid, sid, db, dialect).
type introspectionView struct {
	Active    bool   `json:"active"`
	Username  string `json:"username"`
	TokenType string `json:"token_type"`
	Exp       int64  `json:"exp,omitempty"` // absent for a token that never expires (knox without TOKEN_TTL)
	Iat       int64  `json:"iat"`
	Sub       string `json:"sub"`
	Jti       string `json:"jti"`
	UID       uint64 `json:"uid"`
	SID       string `json:"sid"`
	DB        string `json:"db"`
	Dialect   string `json:"dialect"`
	// AuthTime and AMR: when and how the user last proved who they are
	// (OpenID Connect's claims of the same names; RFC 8176 values).
	AuthTime int64    `json:"auth_time"`
	AMR      []string `json:"amr"`
}

// introspection renders an active token. exp is when it stops being
// active if unused: the earlier of its absolute and idle deadlines.
//
// sid is the session's public id (auth.PublicID), the one /v1/sessions
// lists and forward auth sends. jti is RFC 7662 §2.2's "identifier for
// the token, as defined in JWT": for a JWT that is the token's own jti
// claim, which the caller holds already (it sent the token, whose payload
// is only base64), so echoing it gives away nothing and lets a resource
// server match the claim it reads itself; it is never the session's id,
// and the store keeps only its digest. An opaque token has no claim, so
// its jti is the public id, as before.
func introspection(p principal) introspectionView {
	sess := p.Session
	exp := sess.ExpiresAt
	if sess.IdleTimeout > 0 {
		if idle := sess.LastRefresh + sess.IdleTimeout; exp == 0 || idle < exp {
			exp = idle
		}
	}
	sid := auth.PublicID(sess)
	jti := sid
	if p.JTI != "" {
		jti = p.JTI
	}
	return introspectionView{
		Active: true, Username: p.User.Login, TokenType: "Bearer",
		Exp: exp / 1e9, Iat: sess.Created / 1e9, Sub: strconv.FormatUint(p.User.ID, 10), Jti: jti,
		UID: p.User.ID, SID: sid, DB: sess.DB, Dialect: sess.Kind.String(),
		AuthTime: sess.AuthAt() / 1e9, AMR: sess.Methods().Names(),
	}
}
