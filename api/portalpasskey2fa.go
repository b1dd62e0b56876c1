package api

import (
	"encoding/json"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// A passkey as the portal's second step (issue 26): after the password,
// an account with TOTP may answer the second step with one of its
// passkeys instead of a code. The assertion names the account's own
// credentials (not discoverable: the user is known), its ceremony is a
// challenge of that user, and finishing it takes both the ceremony and
// the pending sign-in through the log, so either is spent once.

// challengePasskeySecond is the ceremony's challenge kind.
const challengePasskeySecond = "webauthn_2fa"

// passkeySecondOK reports whether the second-step page offers u's
// passkeys (it has some, and a relying party can be named here).
func (s *Server) passkeySecondOK(r *http.Request, u *fsm.User) bool {
	if len(s.svc.Passkeys(u.ID)) == 0 {
		return false
	}
	_, err := s.relyingParty(r)
	return err == nil
}

// pendingSignIn is the browser's pending portal sign-in (its cookie), or
// ErrChallengeGone.
func (s *Server) pendingSignIn(r *http.Request) (string, *fsm.Challenge, *fsm.User, error) {
	c, err := r.Cookie(secondStepCookie)
	if err != nil {
		return "", nil, nil, auth.ErrChallengeGone
	}
	ch, err := s.svc.PeekChallenge(r.Context(), c.Value, challengePortal2FA)
	if err != nil {
		return "", nil, nil, err
	}
	u, ok := s.svc.User(ch.UserID)
	if !ok {
		return "", nil, nil, auth.ErrChallengeGone
	}
	return c.Value, ch, u, nil
}

func (s *Server) portalSecondPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	_, _, u, err := s.pendingSignIn(r)
	var rp *webauthn.WebAuthn
	if err == nil {
		rp, err = s.relyingParty(r)
	}
	var ans beginAnswer
	if err == nil {
		keys := s.svc.Passkeys(u.ID)
		if len(keys) == 0 {
			err = auth.ErrPasskeyUnknown
		} else {
			var assertion *protocol.CredentialAssertion
			var sd *webauthn.SessionData
			assertion, sd, err = rp.BeginLogin(newWAUser(u, keys), webauthn.WithUserVerification(protocol.VerificationPreferred))
			if err == nil {
				ans.PublicKey = assertion.Response
				ans.ChallengeID, err = s.beginCeremony(r, u.ID, challengePasskeySecond, sd)
			}
		}
	}
	if err != nil {
		writeNativeError(w, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) portalSecondPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	pendTok, pend, u, err := s.pendingSignIn(r)
	var amr fsm.AMR
	if err == nil {
		amr, err = s.secondPasskey(r, u)
	}
	if err == nil {
		err = s.svc.TakeChallenge(r.Context(), pendTok) // the pending sign-in, once
	}
	s.audit(r, "second_factor_passkey", portalDialect, u, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	var pd pendingData
	_ = json.Unmarshal(pend.Data, &pd)
	http.SetCookie(w, s.secondStepCookie(r, ""))
	d := s.cookieDomainFor(r)
	ttl, idle := d.Expiration, d.Inactivity
	if pd.Remember {
		ttl, idle = d.RememberMe, d.RememberMe // as finishSignIn
	}
	iss, err := s.svc.CreateSession(r.Context(), u, auth.SessionOptions{Kind: fsm.KindNative, TTL: ttl, Idle: idle,
		Name: portalSessionName, UserAgent: r.UserAgent(), ClientAddr: s.clientAddr(r), AMR: fsm.AMRPwd | amr})
	s.auditLogin(r, portalDialect, u, iss, err)
	s.metrics.login(portalDialect, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	s.signedInJSON(w, r, d, iss.Token, pd.Remember, pd.RD, pd.After)
}

// secondPasskey verifies the body's assertion of one of u's passkeys
// against u's ceremony, spends the ceremony and records the use; the
// methods it adds are hwk and user, and pin when the authenticator
// verified its user.
func (s *Server) secondPasskey(r *http.Request, u *fsm.User) (fsm.AMR, error) {
	in, ch, sd, err := s.readCeremony(r, challengePasskeySecond)
	if err != nil {
		return 0, err
	}
	if ch.UserID != u.ID {
		return 0, auth.ErrChallengeGone // another account's ceremony
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Credential)
	if err != nil {
		return 0, rejected(err)
	}
	rp, err := s.relyingParty(r)
	if err != nil {
		return 0, err
	}
	cred, err := rp.ValidateLogin(newWAUser(u, s.svc.Passkeys(u.ID)), sd, parsed)
	if err != nil {
		return 0, rejected(err)
	}
	if cred.Authenticator.CloneWarning {
		return 0, s.passkeyCloned(r, u, cred.Authenticator.SignCount)
	}
	if err := s.svc.TakeChallenge(r.Context(), in.ChallengeID); err != nil {
		return 0, err
	}
	if err := s.svc.UsePasskey(r.Context(), u.ID, cred.ID, cred.Authenticator.SignCount); err != nil {
		if err == auth.ErrPasskeyCloned {
			err = s.passkeyCloned(r, u, cred.Authenticator.SignCount)
		}
		return 0, err
	}
	amr := fsm.AMRHwk | fsm.AMRUser
	if parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		amr |= fsm.AMRPin
	}
	return amr, nil
}
