package api

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Passkeys on /v1 (issue 26): WebAuthn registration from a signed-in
// account, the account's list of keys, and (passkeylogin.go) a sign-in
// with no password. go-webauthn does the ceremonies' checks (origin, RP
// id hash, challenge, attestation "none", signatures, flags); what must
// hold across nodes is the replicated state's: a ceremony's session data
// is a single-use challenge (fsm challenges.go), so begin on one node and
// finish on another works and a replayed finish finds it gone, and a
// use's sign count is decided in log order (fsm passkeys.go).

// Challenge kinds of the two ceremonies.
const challengePasskeyRegister = "webauthn_register"

// passkeyCeremonyTTL is how long a begun ceremony may be finished: the
// browser's own timeout for a passkey prompt is of the order of minutes.
const passkeyCeremonyTTL = 5 * time.Minute

func (s *Server) passkeyRoutes() error {
	var err error
	if s.passkeyClones, err = newSignCountRegressions(s.reg); err != nil {
		return err
	}
	s.passkeyBegins = auth.NewAddrLimiter(auth.AddrLimiterConfig{Rate: passkeyBeginRate, Burst: passkeyBeginBurst, MaxEntries: 100000})
	s.handle("GET /v1/me/passkeys", s.passkeyList)
	s.handle("POST /v1/me/passkeys/register/begin", s.passkeyRegisterBegin(s.steppedUp))
	s.handle("POST /v1/me/passkeys/register/finish", s.passkeyRegisterFinish(s.steppedUp))
	s.handle("PATCH /v1/me/passkeys/{id}", s.passkeyRename)
	s.handle("DELETE /v1/me/passkeys/{id}", s.passkeyRemove)
	s.handle("POST /v1/login/passkey/begin", s.passkeyLoginBegin)
	s.handle("POST /v1/login/passkey/finish", s.passkeyLoginFinish)
	return nil
}

// Passkey rows of the error table.
func init() {
	errorTable = append([]struct {
		err error
		apiError
	}{
		{auth.ErrChallengeGone, apiError{400, "challenge_gone"}},
		{auth.ErrBadPasskeyName, apiError{400, "invalid_name"}},
		{auth.ErrPasskeyCloned, apiError{401, "passkey_cloned"}},
		{auth.ErrPasskeyUnknown, apiError{401, "unknown_passkey"}},
		{auth.ErrPasskeyExists, apiError{409, "passkey_exists"}},
		{auth.ErrPasskeyLimit, apiError{409, "passkey_limit"}},
		{errPasskeyRejected, apiError{400, "passkey_rejected"}},
		{errNoRelyingParty, apiError{501, "passkeys_not_configured"}},
	}, errorTable...)
}

// errPasskeyRejected: the authenticator's answer does not verify (wrong
// origin, RP id, challenge, signature, flags) or does not parse.
var errPasskeyRejected = errors.New("api: the passkey's answer was not accepted")

// errNoRelyingParty: no relying-party id can be derived (a node reached
// by IP address with neither --api-url nor --portal-cookie-domain).
var errNoRelyingParty = errors.New("api: passkeys need --api-url or --portal-cookie-domain to name a domain")

// waUser is an account as go-webauthn sees it.
type waUser struct {
	u     *fsm.User
	creds []webauthn.Credential
}

func newWAUser(u *fsm.User, keys []fsm.Passkey) *waUser {
	w := &waUser{u: u}
	for i := range keys {
		w.creds = append(w.creds, toCredential(&keys[i]))
	}
	return w
}

// userHandle is the WebAuthn user.id: the user's number, 8 bytes. It is
// no personal data (the spec's ask), never reused (ids only grow), and
// names the account at a discoverable sign-in's finish.
func userHandle(uid uint64) []byte { return binary.BigEndian.AppendUint64(nil, uid) }

func (w *waUser) WebAuthnID() []byte                         { return userHandle(w.u.ID) }
func (w *waUser) WebAuthnName() string                       { return w.u.Login }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }
func (w *waUser) WebAuthnDisplayName() string {
	if w.u.Name != "" {
		return w.u.Name
	}
	return w.u.Login
}

func toCredential(k *fsm.Passkey) webauthn.Credential {
	c := webauthn.Credential{ID: k.ID, PublicKey: k.PublicKey, AttestationType: k.AttType,
		Flags:         webauthn.CredentialFlagsFromMsgpByte(k.Flags),
		Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount}}
	for _, t := range k.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// relyingParty is the WebAuthn relying party for r. Its id is the
// portal's cookie domain covering the host the browser asked for (one
// sign-in, and one passkey, for the domain and its subdomains), else the
// host of --api-url (BaseURL), else (a dev node with neither) the
// request's host. Origins are BaseURL's, the forward-auth login page's,
// and the page's own when its host is under the cookie domain: an
// assertion made on any other origin is refused, whatever Host a
// request carries.
func (s *Server) relyingParty(r *http.Request) (*webauthn.WebAuthn, error) {
	host := s.portalHost(r)
	self := s.portalScheme(r) + "://" + host
	var origins []string
	for _, u := range []string{s.cfg.BaseURL, s.cfg.AuthzLoginURL} {
		if o := originOf(u); o != "" {
			origins = append(origins, o)
		}
	}
	rpID := ""
	if d := s.cookieDomainFor(r); d.Domain != "" {
		rpID, origins = d.Domain, append(origins, self)
	} else if u, err := url.Parse(s.cfg.BaseURL); err == nil && u.Hostname() != "" {
		rpID = u.Hostname()
	} else {
		rpID, origins = hostOnly(host), append(origins, self)
	}
	rp, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "sessiond", RPOrigins: origins,
		AttestationPreference: protocol.PreferNoAttestation})
	if err != nil {
		return nil, errNoRelyingParty
	}
	return rp, nil
}

// originOf is scheme://host[:port] of an absolute URL, or "".
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// passkeyView is a passkey as listed: never the public key (no secret,
// but nothing a client needs either).
type passkeyView struct {
	ID         string   `json:"id"` // base64url credential id
	Name       string   `json:"name"`
	Created    string   `json:"created"`
	LastUsed   string   `json:"last_used,omitempty"`
	SignCount  uint32   `json:"sign_count"`
	AAGUID     string   `json:"aaguid,omitempty"`
	Transports []string `json:"transports,omitempty"`
}

func passkeyJSON(k *fsm.Passkey) passkeyView {
	v := passkeyView{ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name, SignCount: k.SignCount,
		Created: time.Unix(0, k.Created).UTC().Format(time.RFC3339), Transports: k.Transports}
	if k.LastUsed != 0 {
		v.LastUsed = time.Unix(0, k.LastUsed).UTC().Format(time.RFC3339)
	}
	if len(k.AAGUID) == 16 {
		v.AAGUID = formatUUID(k.AAGUID)
	}
	return v
}

func formatUUID(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

func (s *Server) passkeyList(w http.ResponseWriter, r *http.Request) {
	p, err := s.nativeAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	keys := s.svc.Passkeys(p.User.ID)
	out := make([]passkeyView, 0, len(keys))
	for i := range keys {
		out = append(out, passkeyJSON(&keys[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"passkeys": out})
}

// beginAnswer is what a begin answers: the id of the ceremony's
// challenge (its secret: the finish presents it) and the options for
// navigator.credentials.create/get, as go-webauthn renders them.
type beginAnswer struct {
	ChallengeID string `json:"challenge_id"`
	PublicKey   any    `json:"publicKey"`
}

// stepUpFunc authenticates a caller recent enough to change its
// credentials, or writes the refusal: /v1's bearer (steppedUp) or the
// portal's cookie (portalSteppedUp).
type stepUpFunc func(http.ResponseWriter, *http.Request) (principal, bool)

func (s *Server) passkeyRegisterBegin(caller stepUpFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := caller(w, r)
		if !ok {
			return
		}
		ans, err := s.registerBegin(r, p.User)
		if err != nil {
			writeNativeError(w, err)
			return
		}
		noStore(w)
		writeJSON(w, http.StatusOK, ans)
	}
}

// registerBegin begins a registration for u (whose sign-in is recent):
// /v1's and the account page's.
func (s *Server) registerBegin(r *http.Request, u *fsm.User) (beginAnswer, error) {
	rp, err := s.relyingParty(r)
	if err != nil {
		return beginAnswer{}, err
	}
	wu := newWAUser(u, s.svc.Passkeys(u.ID))
	creation, sd, err := rp.BeginRegistration(wu,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()))
	if err != nil {
		return beginAnswer{}, err
	}
	tok, err := s.beginCeremony(r, u.ID, challengePasskeyRegister, sd)
	s.audit(r, "passkey_register_begin", "native", u, err)
	return beginAnswer{ChallengeID: tok, PublicKey: creation.Response}, err
}

// beginCeremony stores a ceremony's session data as a challenge. The
// data's own expiry is cleared: go-webauthn would compare it with this
// node's wall clock, the challenge's with the service's (one clock for
// every check, a fake one in tests).
func (s *Server) beginCeremony(r *http.Request, uid uint64, kind string, sd *webauthn.SessionData) (string, error) {
	sd.Expires = time.Time{}
	data, err := json.Marshal(sd)
	if err != nil {
		return "", err
	}
	return s.svc.BeginChallenge(r.Context(), uid, kind, data, passkeyCeremonyTTL)
}

// ceremonyBody is a finish's body.
type ceremonyBody struct {
	ChallengeID string          `json:"challenge_id"`
	Name        string          `json:"name,omitempty"`
	RD          string          `json:"rd,omitempty"` // the portal's sign-in: where to go on
	Credential  json.RawMessage `json:"credential"`
}

// readCeremony decodes a finish's body and finds its live challenge of
// kind, taking nothing: bad input is refused before anything is spent.
func (s *Server) readCeremony(r *http.Request, kind string) (ceremonyBody, *fsm.Challenge, webauthn.SessionData, error) {
	var in ceremonyBody
	var sd webauthn.SessionData
	if err := decodeJSON(r, &in); err != nil {
		return in, nil, sd, err
	}
	if in.ChallengeID == "" || len(in.Credential) == 0 {
		return in, nil, sd, fieldError(ErrMissingField, "challenge_id and credential are required")
	}
	if !auth.ValidTokenSyntax(in.ChallengeID, auth.TokenLen) {
		return in, nil, sd, fieldError(ErrBadField, "challenge_id is not one this service issued")
	}
	ch, err := s.svc.PeekChallenge(r.Context(), in.ChallengeID, kind)
	if err != nil {
		return in, nil, sd, err
	}
	if err := json.Unmarshal(ch.Data, &sd); err != nil {
		return in, nil, sd, err
	}
	return in, ch, sd, nil
}

// rejected wraps a go-webauthn refusal: its details (which check failed)
// go to the answer, which helps a client's developer and tells an
// attacker nothing the spec does not.
func rejected(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return fieldError(errPasskeyRejected, "passkey not accepted: "+pe.Details)
	}
	return fieldError(errPasskeyRejected, "passkey not accepted")
}

func (s *Server) passkeyRegisterFinish(caller stepUpFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := caller(w, r)
		if !ok {
			return
		}
		pk, err := s.registerFinish(r, p.User)
		if err != nil {
			writeNativeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, passkeyJSON(pk))
	}
}

// registerFinish verifies and stores the credential of r's body for u
// (whose sign-in is recent). Nothing is spent until the attestation
// verifies: then the challenge is taken through the log (the one finish)
// and the key stored.
func (s *Server) registerFinish(r *http.Request, u *fsm.User) (*fsm.Passkey, error) {
	in, ch, sd, err := s.readCeremony(r, challengePasskeyRegister)
	if err == nil && ch.UserID != u.ID {
		err = auth.ErrChallengeGone // another account's ceremony: not this caller's to finish
	}
	var name string
	if err == nil {
		name, err = auth.CheckPasskeyName(in.Name)
	}
	var cred *webauthn.Credential
	if err == nil {
		cred, err = s.verifyRegistration(r, u, sd, in.Credential)
	}
	if err == nil {
		err = s.svc.TakeChallenge(r.Context(), in.ChallengeID)
	}
	var pk fsm.Passkey
	if err == nil {
		if name == "" {
			name = "passkey " + s.svc.Now().UTC().Format("2006-01-02 15:04")
		}
		pk = fsm.Passkey{ID: cred.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
			AAGUID: cred.Authenticator.AAGUID, Flags: cred.Flags.MsgpByte(), AttType: cred.AttestationType, Name: name}
		for _, t := range cred.Transport {
			pk.Transports = append(pk.Transports, string(t))
		}
		pk.Created, err = s.svc.AddPasskey(r.Context(), u.ID, pk)
	}
	s.audit(r, "passkey_register", "native", u, err)
	if err != nil {
		return nil, err
	}
	return &pk, nil
}

// verifyRegistration checks an attestation against the ceremony.
func (s *Server) verifyRegistration(r *http.Request, u *fsm.User, sd webauthn.SessionData, raw []byte) (*webauthn.Credential, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(raw)
	if err != nil {
		return nil, rejected(err)
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return nil, err
	}
	cred, err := rp.CreateCredential(newWAUser(u, s.svc.Passkeys(u.ID)), sd, parsed)
	if err != nil {
		return nil, rejected(err)
	}
	if len(cred.ID) > fsm.MaxPasskeyIDLen || len(cred.PublicKey) > fsm.MaxPasskeyKeyLen {
		return nil, fieldError(errPasskeyRejected, "passkey not accepted: credential too large")
	}
	return cred, nil
}

// passkeyID reads the {id} of a passkey path (base64url).
func passkeyID(r *http.Request) ([]byte, error) { return b64Passkey(r.PathValue("id")) }

// b64Passkey decodes a credential id as the API and the pages show it.
func b64Passkey(s string) ([]byte, error) {
	id, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(id) == 0 || len(id) > fsm.MaxPasskeyIDLen {
		return nil, fieldError(ErrBadField, "id is not a passkey id (base64url)")
	}
	return id, nil
}

func (s *Server) passkeyRename(w http.ResponseWriter, r *http.Request) {
	p, ok := s.steppedUp(w, r)
	if !ok {
		return
	}
	id, err := passkeyID(r)
	var in struct {
		Name string `json:"name"`
	}
	if err == nil {
		err = decodeJSON(r, &in)
	}
	if err == nil && in.Name == "" {
		err = fieldError(ErrMissingField, "name is required")
	}
	found := false
	if err == nil {
		found, err = s.svc.RenamePasskey(r.Context(), p.User.ID, id, in.Name)
	}
	if err == nil && !found {
		err = ErrNotFound
	}
	s.audit(r, "passkey_rename", "native", p.User, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) passkeyRemove(w http.ResponseWriter, r *http.Request) {
	p, ok := s.steppedUp(w, r)
	if !ok {
		return
	}
	id, err := passkeyID(r)
	found := false
	if err == nil {
		found, err = s.svc.RemovePasskey(r.Context(), p.User.ID, id)
	}
	if err == nil && !found {
		err = ErrNotFound
	}
	s.audit(r, "passkey_remove", "native", p.User, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
