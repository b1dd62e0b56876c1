package api

import (
	"errors"

	"github.com/sessiond/sessiond/auth"
)

// dialectProblems lists the dialects that cannot serve, for /readyz: today
// the Odoo JWT dialect without a key to sign with (none left, or one that
// cannot be unsealed). Every login of that dialect would answer 503.
func (s *Server) dialectProblems() []string {
	_, err := s.svc.DialectKey()
	s.noteDialectKey(err)
	if err != nil {
		return []string{dialectJWT + ": " + describe(err)}
	}
	return nil
}

// noteDialectKey logs when the JWT dialect stops being able to sign, and
// when it can again: once per change, not per request, so a dead dialect
// is one clear error line rather than silence or a flood.
func (s *Server) noteDialectKey(err error) {
	if err != nil && !errors.Is(err, auth.ErrNoSigningKey) {
		return // the node could not read (no leader): says nothing of the key
	}
	down := err != nil
	if s.jwtDown.Swap(down) == down {
		return
	}
	if down {
		s.log.Error("the Odoo JWT dialect cannot sign: POST /api/login answers 503 until an HS256 key is added (sessiond keys add --alg HS256)",
			"dialect", dialectJWT, "err", err)
		return
	}
	s.log.Info("the Odoo JWT dialect can sign again", "dialect", dialectJWT)
}
