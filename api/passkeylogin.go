package api

import (
	"encoding/binary"
	"errors"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Passwordless sign-in with a discoverable credential (issue 26). The
// begin names no account (the authenticator picks the key, and the
// assertion's user handle names its owner), so its challenge belongs to
// no user (fsm.ChallengePasskeyLogin, bounded). The finish verifies the
// assertion against the owner's stored key, takes the challenge through
// the log (a replayed finish, on any node, finds it gone), then records
// the use: the log refuses a sign count that did not move forward.

// signCountRegressions is sessiond_webauthn_sign_count_regressions_total.
func newSignCountRegressions(reg prometheus.Registerer) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sessiond_webauthn_sign_count_regressions_total",
		Help: "Passkey sign-ins refused because the key's signature counter did not move forward (a cloned key, or a replay)."})
	return c, reg.Register(c)
}

func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	ans, err := s.loginBegin(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, ans)
}

// The per-address budget of passwordless begins. Each begin is a write
// to every replica's state, by anyone, so one address gets
// passkeyBeginBurst in a row and then one every two seconds per node:
// too few to churn the fsm.MaxAnonChallenges live challenges (1024 over
// five minutes) out from under honest sign-ins.
const (
	passkeyBeginBurst = 20
	passkeyBeginRate  = 0.5
)

// loginBegin begins a passwordless sign-in: /v1's and the portal's.
func (s *Server) loginBegin(r *http.Request) (beginAnswer, error) {
	if ok, wait := s.passkeyBegins.Take(s.clientAddr(r), s.svc.Now()); !ok {
		return beginAnswer{}, &auth.RetryError{Err: auth.ErrThrottled, After: wait}
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return beginAnswer{}, err
	}
	assertion, sd, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return beginAnswer{}, err
	}
	tok, err := s.beginCeremony(r, 0, fsm.ChallengePasskeyLogin, sd)
	return beginAnswer{ChallengeID: tok, PublicKey: assertion.Response}, err
}

func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	iss, u, _, err := s.passkeySignIn(r, auth.SessionOptions{Kind: fsm.KindNative, UserAgent: r.UserAgent()})
	s.auditLogin(r, "passkey", u, iss, err)
	if err != nil {
		s.metrics.login("native", err)
		writeNativeError(w, err)
		return
	}
	s.metrics.login("native", nil)
	noStore(w)
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": iss.Token, "token_type": "Bearer",
		"session": sessionJSON(&iss.Session, true), "user": userJSON(u),
	})
}

// passkeySignIn is a passwordless finish from the body of r, for /v1 and
// the portal: a session of o's kind, made with amr hwk and user (pin too:
// user verification is required).
// The third answer is the body's rd (the portal's; /v1 sends none).
func (s *Server) passkeySignIn(r *http.Request, o auth.SessionOptions) (auth.Issued, *fsm.User, string, error) {
	in, _, sd, err := s.readCeremony(r, fsm.ChallengePasskeyLogin)
	if err != nil {
		return auth.Issued{}, nil, "", err
	}
	iss, u, err := s.passkeyAssert(r, in, sd, o)
	return iss, u, in.RD, err
}

func (s *Server) passkeyAssert(r *http.Request, in ceremonyBody, sd webauthn.SessionData, o auth.SessionOptions) (auth.Issued, *fsm.User, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Credential)
	if err != nil {
		return auth.Issued{}, nil, rejected(err)
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return auth.Issued{}, nil, err
	}
	var owner *fsm.User
	lookup := func(rawID, handle []byte) (webauthn.User, error) {
		if len(handle) != 8 {
			return nil, auth.ErrPasskeyUnknown
		}
		u, pk, err := s.svc.PasskeyOwner(r.Context(), binary.BigEndian.Uint64(handle), rawID)
		if err != nil {
			return nil, err
		}
		owner = u
		return newWAUser(u, []fsm.Passkey{*pk}), nil
	}
	cred, err := rp.ValidateDiscoverableLogin(lookup, sd, parsed)
	if err != nil {
		if errors.Is(err, auth.ErrPasskeyUnknown) {
			return auth.Issued{}, owner, auth.ErrPasskeyUnknown
		}
		return auth.Issued{}, owner, rejected(err)
	}
	if cred.Authenticator.CloneWarning {
		return auth.Issued{}, owner, s.passkeyCloned(r, owner, cred.Authenticator.SignCount)
	}
	if err := s.svc.TakeChallenge(r.Context(), in.ChallengeID); err != nil {
		return auth.Issued{}, owner, err
	}
	o.AMR = fsm.AMRHwk | fsm.AMRUser | fsm.AMRPin
	o.ClientAddr = s.clientAddr(r)
	iss, err := s.svc.PasskeyLogin(r.Context(), owner, cred.ID, cred.Authenticator.SignCount, o)
	if errors.Is(err, auth.ErrPasskeyCloned) {
		err = s.passkeyCloned(r, owner, cred.Authenticator.SignCount)
	}
	return iss, owner, err
}

// passkeyCloned flags a sign count that went backwards: an audit line
// (the user, never the key's material) and the metric; the sign-in is
// refused.
func (s *Server) passkeyCloned(r *http.Request, u *fsm.User, got uint32) error {
	s.passkeyClones.Inc()
	s.audit(r, "passkey_sign_count_regression", "passkey", u, auth.ErrPasskeyCloned)
	s.log.Warn("passkey sign count did not move forward; refused (cloned key?)", "user_id", u.ID, "sign_count", got)
	return auth.ErrPasskeyCloned
}
