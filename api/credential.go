package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// The one place that finds a request's token and says what it is. Every
// validating path (native whoami and the rest of /v1, forward auth,
// introspection, the knox, Odoo and JWT dialects) asks here, so a token
// gets one verdict wherever it is sent. Four copies of this logic used to
// disagree (code review 2.8: a prefixed knox token was refused by forward
// auth and active at introspection; a native token passed forward auth
// under knox's Token scheme).
//
// The rule: the carrier names the dialect, and the dialect names the
// session kinds the token may belong to.
//
//	Authorization: Bearer    any dialect's token, told apart by its shape
//	                         (one session store): 64 hex native or knox,
//	                         a knox TOKEN_PREFIX + 64 hex knox, 40 hex an
//	                         Odoo sid, anything else a JWT
//	Authorization: Token     knox's scheme: knox tokens only, prefixed or not
//	X-Openerp-Session-Id,    Odoo's carriers: Odoo sids only
//	session_id cookie/param
//	introspection's token    as Bearer (RFC 7662's body carries no scheme)
//	another scheme (Basic)   not a sessiond credential; only the JWT
//	                         dialect reads any scheme as Bearer, as
//	                         jwt_provider's parse_request does
//
// A session of a kind the carrier does not allow is answered as an
// unknown token: no oracle for which kinds exist. Nothing here allocates
// on the Bearer path, which every native validation takes.

// carriers is the set of places a path reads a token from.
type carriers uint8

const (
	fromBearer       carriers = 1 << iota // Authorization: Bearer
	fromToken                             // Authorization: Token (knox)
	fromAnyScheme                         // Authorization: <any> <token>, read as Bearer (JWT dialect)
	fromOdooParam                         // ?session_id= (only on the Odoo dialect's routes: urlSecret refuses it elsewhere)
	fromOdooHeader                        // X-Openerp-Session-Id
	fromOdooCookie                        // Cookie: session_id
	fromPortalCookie                      // the login portal's cookie (portalcookie.go), after every other carrier

	fromOdoo = fromOdooParam | fromOdooHeader | fromOdooCookie
)

// The paths' carriers.
const (
	nativeCarriers = fromBearer
	authzCarriers  = fromBearer | fromToken | fromOdooHeader | fromOdooCookie | fromPortalCookie
	knoxCarriers   = fromToken
	jwtCarriers    = fromAnyScheme
	odooCarriers   = fromOdoo
)

// kinds is a set of session kinds.
type kinds uint8

func kindsOf(ks ...fsm.Kind) kinds {
	var s kinds
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

func (s kinds) has(k fsm.Kind) bool { return k < 8 && s&(1<<k) != 0 }

var (
	kindsAny    = kindsOf(fsm.KindNative, fsm.KindOdoo, fsm.KindJWT, fsm.KindKnox)
	kindsOpaque = kindsOf(fsm.KindNative, fsm.KindKnox) // 64 hex
	kindsKnox   = kindsOf(fsm.KindKnox)
	kindsOdoo   = kindsOf(fsm.KindOdoo)
	kindsJWT    = kindsOf(fsm.KindJWT)
)

// credential is a token found on a request and what the rule makes of it.
type credential struct {
	dialect string // metrics and audit label
	tok     string // what is validated: a knox prefix removed
	n       int    // hex length of an opaque token; 0 for a JWT
	kinds   kinds  // the session kinds it may name
}

// findToken finds the token a request carries on the carriers in from:
// Authorization first, then the Odoo param, header and cookie. A sessiond
// scheme with a bad token is refused, never retried with the cookie; an
// Authorization header of a scheme the path does not read is passed over
// (a Basic header meant for the app behind forward auth). No token at
// all is ErrNoCredentials.
func findToken(r *http.Request, from carriers) (credential, error) {
	if h := r.Header.Get("Authorization"); h != "" && from&(fromBearer|fromToken|fromAnyScheme) != 0 {
		scheme, tok, err := splitAuthorization(h)
		switch {
		case from&fromAnyScheme != 0:
			if tok == "" {
				return credential{}, ErrInvalidToken
			}
			return shapeOf(tok), nil // jwt_provider: whatever the scheme, even with trailing words
		case strings.EqualFold(scheme, "Bearer") && from&fromBearer != 0:
			if err != nil {
				return credential{}, ErrInvalidToken
			}
			return shapeOf(tok), nil
		case strings.EqualFold(scheme, "Token") && from&fromToken != 0:
			if err != nil {
				return credential{}, err // knox's own messages; they wrap ErrInvalidToken
			}
			return credential{dialect: dialectKnox, tok: knoxStrip(tok), n: auth.TokenLen, kinds: kindsKnox}, nil
		case from&fromBearer != 0 && from&fromOdoo == 0:
			// The native API reads only Bearer: another scheme is a
			// token it cannot use.
			return credential{}, ErrInvalidToken
		case from&fromOdoo == 0:
			// knox: a header of another scheme is no knox credential
			// (DRF: "credentials were not provided").
			return credential{}, ErrNoCredentials
		}
	}
	if sid := odooSIDFrom(r, from); sid != "" {
		return credential{dialect: dialectOdoo, tok: sid, n: auth.SIDLen, kinds: kindsOdoo}, nil
	}
	return credential{}, ErrNoCredentials
}

// introspectCredential is introspection's token: RFC 7662's body carries
// no scheme, so it is read as a Bearer token.
func introspectCredential(tok string) credential { return shapeOf(tok) }

// shapeOf tells a Bearer token's dialect by its shape.
func shapeOf(tok string) credential {
	switch {
	case auth.ValidTokenSyntax(tok, auth.TokenLen):
		return credential{dialect: dialectNative, tok: tok, n: auth.TokenLen, kinds: kindsOpaque}
	case auth.ValidTokenSyntax(tok, auth.SIDLen):
		return credential{dialect: dialectOdoo, tok: tok, n: auth.SIDLen, kinds: kindsOdoo}
	case knoxPrefixed(tok):
		return credential{dialect: dialectKnox, tok: tok[len(tok)-auth.TokenLen:], n: auth.TokenLen, kinds: kindsKnox}
	}
	return credential{dialect: dialectJWT, tok: tok, kinds: kindsJWT}
}

// knoxPrefixed reports a knox TOKEN_PREFIX (1 to knox's 10 printable
// characters) before 64 hex. Any prefix is accepted, not only the one
// configured now: tokens minted under an earlier prefix keep working
// (upstream stores the prefix with each token). The prefix is not
// secret; only the hex part is digested.
func knoxPrefixed(tok string) bool {
	n := len(tok) - auth.TokenLen
	if n <= 0 || n > knoxMaxPrefix || !auth.ValidTokenSyntax(tok[n:], auth.TokenLen) {
		return false
	}
	for i := 0; i < n; i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return false
		}
	}
	return true
}

// knoxStrip removes a knox TOKEN_PREFIX; a token without one is returned
// as it is (and its syntax is checked before any lookup).
func knoxStrip(tok string) string {
	if knoxPrefixed(tok) {
		return tok[len(tok)-auth.TokenLen:]
	}
	return tok
}

// splitAuthorization splits an Authorization header as knox's
// TokenAuthentication does: words separated by ASCII whitespace, the
// first the scheme, exactly one more the token. tok is the second word
// even when more follow (errKnoxSpaces), for the JWT dialect's reading.
// It allocates nothing.
func splitAuthorization(h string) (scheme, tok string, err error) {
	scheme, rest := nextWord(h)
	tok, rest = nextWord(rest)
	switch {
	case tok == "":
		return scheme, "", errKnoxEmptyHeader
	case rest != "":
		if extra, _ := nextWord(rest); extra != "" {
			return scheme, tok, errKnoxSpaces
		}
	}
	return scheme, tok, nil
}

// nextWord returns the first word of s and what follows it.
func nextWord(s string) (word, rest string) {
	i := 0
	for i < len(s) && isASCIISpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isASCIISpace(s[j]) {
		j++
	}
	return s[i:j], s[j:]
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// odooSIDFrom finds an Odoo session id as Odoo does, on the carriers in
// from: the query parameter session_id, then the X-Openerp-Session-Id
// header, then the session_id cookie; the first non-empty one wins.
func odooSIDFrom(r *http.Request, from carriers) string {
	if from&fromOdooParam != 0 && r.URL.RawQuery != "" { // parsing a query allocates: most requests carry none
		if v := r.URL.Query().Get(odooSIDParam); v != "" {
			return v
		}
	}
	if from&fromOdooHeader != 0 {
		if v := r.Header.Get(odooSIDHeader); v != "" {
			return v
		}
	}
	if from&fromOdooCookie != 0 && r.Header.Get("Cookie") != "" {
		if c, err := r.Cookie(odooCookie); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// authenticate finds the request's token on from and validates it for a
// path that serves the session kinds in serves: the one entry of every
// validating path.
func (s *Server) authenticate(r *http.Request, from carriers, serves kinds) (principal, credential, error) {
	c, err := findToken(r, from)
	if errors.Is(err, ErrNoCredentials) && from&fromPortalCookie != 0 {
		if tok := s.portalToken(r); tok != "" {
			c, err = portalCredential(tok), nil
		}
	}
	if err != nil {
		return principal{}, c, err
	}
	p, err := s.validateCredential(r, c, serves)
	return p, c, err
}

// validateCredential validates a found token at the request's level and
// refuses a session of a kind neither its carrier nor the path allows, as
// an unknown token (and counted as a miss).
func (s *Server) validateCredential(r *http.Request, c credential, serves kinds) (principal, error) {
	level, err := s.level(r)
	if err != nil {
		return principal{}, err
	}
	if c.kinds&serves == 0 {
		// Not of a shape this path reads (a native token at the JWT
		// dialect): refused before any lookup.
		s.metrics.validation(c.dialect, level, resMalformed)
		return principal{}, auth.ErrTokenMalformed
	}
	var p principal
	if c.n > 0 {
		p, err = s.svc.ValidateToken(r.Context(), level, c.tok, c.n)
	} else {
		p, err = s.svc.ValidateJWT(r.Context(), level, c.tok)
	}
	if err == nil && !(c.kinds & serves).has(p.Session.Kind) {
		p, err = principal{}, auth.ErrTokenUnknown
	}
	s.metrics.validation(c.dialect, level, validationResult(err))
	return p, err
}
