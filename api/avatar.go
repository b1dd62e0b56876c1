package api

import (
	"fmt"
	"net/http"
	"strconv"
)

// Avatars: jwt_provider's /api/me links to <base URL>/web/avatar/<id>,
// which Odoo serves publicly. sessiond keeps no images; it serves a small
// generated SVG silhouette whose colour depends only on the user id, so
// the image says nothing about the user beyond that the id exists.
func (s *Server) avatarRoutes() {
	s.handle("GET /web/avatar/{id}", s.avatar)
	s.handle("GET /web/avatar/{id}/{size}", s.avatar)
}

const avatarSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="180" height="180" viewBox="0 0 180 180">` +
	`<rect width="180" height="180" fill="hsl(%d,45%%,55%%)"/>` +
	`<circle cx="90" cy="68" r="34" fill="#fff" fill-opacity="0.9"/>` +
	`<path d="M26 180c0-40 29-64 64-64s64 24 64 64z" fill="#fff" fill-opacity="0.9"/></svg>`

func (s *Server) avatar(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err == nil {
		if _, ok := s.svc.User(id); ok {
			h := w.Header()
			h.Set("Content-Type", "image/svg+xml")
			h.Set("Cache-Control", "public, max-age=3600")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(w, avatarSVG, (id*137)%360)
			return
		}
	}
	writeEnvelope(w, http.StatusNotFound, false, "404 Not Found", nil)
}
