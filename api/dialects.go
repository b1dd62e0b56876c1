package api

import "net/http"

// dialectRoutes registers the seed dialects (Odoo session, Odoo RESTful
// JWT, knox). Placeholder until the dialect handlers land.
func (s *Server) dialectRoutes() {}

// validateJWT validates an Odoo RESTful JWT. Placeholder.
func (s *Server) validateJWT(r *http.Request, tok string) (principal, error) {
	return principal{}, ErrInvalidToken
}

// seedJWTKey puts the configured JWT key into the keyring. Placeholder.
func (s *Server) seedJWTKey(ctx interface{}) {}
