// Package api is sessiond's HTTP surface: one route table for the native
// /v1 API, the three seed dialects (Odoo session, Odoo RESTful JWT,
// knox-style tokens), the cluster's internal endpoints, /healthz and
// /readyz, and /metrics behind a scrape token (MetricsHandler serves them
// without one on the listener cmd gives them).
//
// Handlers decode strictly, validate tokens through one path (syntax check
// before any lookup, digest, consistency barrier, expiry) and map errors to
// status codes in one table (errors.go); each dialect then renders errors
// in its own seed's shape. Handlers never log a token, a password or an
// Authorization header.
//
// api owns no state: users and sessions live in the fsm behind the cluster
// node, passwords and tokens are auth's business.
package api
