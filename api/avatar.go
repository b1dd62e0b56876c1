package api

import (
	"fmt"
	"net/http"
	"strconv"
)

// Avatars: jwt_provider's /api/me links to <base URL>/web/avatar/<id>.
// sessiond keeps no images; it serves a small generated SVG silhouette
// whose colour depends only on the user id. Even so, answering by id
// told anyone which user ids exist (finding L7), so an avatar needs a
// session (any dialect's token, or the Odoo session cookie a browser
// sends with an <img>) of the same db as the user: no session is 401, a
// user of another db is 404, like a user that does not exist.
func (s *Server) avatarRoutes() {
	s.handle("GET /web/avatar/{id}", s.avatar)
	s.handle("GET /web/avatar/{id}/{size}", s.avatar)
}

const avatarSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="180" height="180" viewBox="0 0 180 180">` +
	`<rect width="180" height="180" fill="hsl(%d,45%%,55%%)"/>` +
	`<circle cx="90" cy="68" r="34" fill="#fff" fill-opacity="0.9"/>` +
	`<path d="M26 180c0-40 29-64 64-64s64 24 64 64z" fill="#fff" fill-opacity="0.9"/></svg>`

func (s *Server) avatar(w http.ResponseWriter, r *http.Request) {
	p, err := s.authzPrincipal(r)
	if err != nil {
		st := lookupError(err).status
		if st == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		} else {
			st = http.StatusUnauthorized
		}
		writeEnvelope(w, st, false, http.StatusText(st), nil)
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err == nil {
		if u, ok := s.svc.User(id); ok && u.DB == p.User.DB {
			h := w.Header()
			h.Set("Content-Type", "image/svg+xml")
			h.Set("Cache-Control", "private, max-age=3600") // per session now: no shared cache
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(w, avatarSVG, (id*137)%360)
			return
		}
	}
	writeEnvelope(w, http.StatusNotFound, false, "404 Not Found", nil)
}
