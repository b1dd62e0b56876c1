package api

import (
	_ "embed"
	"net/http"
)

// openapiDoc is the OpenAPI 3.1 description of every public route: the
// native API, the three dialects, the JWKS, health, readiness and metrics.
// It is a hand-kept file in the repository, embedded so that a node serves
// the description of exactly the build it runs; api/openapi_test.go ties
// it to the route table both ways and validates real answers against it.
//
//go:embed openapi.json
var openapiDoc []byte

// openapi serves the document. It is public like the routes it describes:
// it names no user, key or node.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	w.Write(openapiDoc)
}
